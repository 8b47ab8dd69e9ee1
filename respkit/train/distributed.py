"""Data-parallel training under ``torchrun``: the plumbing the trainer needs, kept out of its loop.

``torchrun --nproc_per_node N -m respkit run <recipe> ...`` starts N copies of the same program with
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and a rendezvous address in their environment. Every copy builds
the same recipe, model and loader (same seed), and the trainer, through this module,

* joins the process group (:func:`setup`: gloo on the CPU, NCCL on GPUs, one GPU per process);
* wraps the objective in ``DistributedDataParallel`` (:func:`wrap`), which averages the gradients of
  all ranks during ``backward()``;
* gives each rank its share of every batch (:func:`shard_loader`): all ranks draw the same global
  batches of the recipe's size B, and rank r trains on the r-th slice of B/N items of each;
* averages the numbers it logs over the ranks (:func:`average`), keeps buffers equal
  (:func:`broadcast_buffers`) and writes checkpoints on rank 0 only (:func:`is_main`).

Why N processes train like one process with the same global batch: each rank's loss is the mean over
its B/N items, DDP averages the N gradients, and the mean of equal-sized means is the mean over the
whole batch. What differs is float rounding (the sum is taken in another order), BatchNorm statistics
on the CPU (per rank; on GPUs the objective's BatchNorm layers are made :class:`torch.nn.SyncBatchNorm`),
and random draws: every rank holds the same generator state (that is what keeps their batches in step),
so dropout and augmentations draw the same numbers on each rank's different items. Equal numbers are
therefore promised for deterministic objectives, the same training in distribution for the others.

Without ``torchrun`` (``WORLD_SIZE`` unset or 1) every function here returns its input unchanged.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader


def world_size() -> int:
    """How many processes train together (``torchrun`` sets ``WORLD_SIZE``; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def rank() -> int:
    """This process's index among them (0 without ``torchrun``)."""
    return int(os.environ.get("RANK", 0))


def enabled() -> bool:
    return world_size() > 1


def is_main() -> bool:
    """Whether this process writes files (checkpoints, results): rank 0, or the only process."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group (once per process) and return this rank's device: its own GPU on CUDA."""
    if not enabled():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # The address, rank and world size come from the environment torchrun sets.
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(objective: nn.Module, device: torch.device) -> nn.Module:
    """The objective as a ``DistributedDataParallel`` replica; without ``torchrun``, the objective itself.

    The objective keeps its own parameters (DDP shares them), so optimizer, checkpoints and evaluation
    go on using the bare objective; only the training forward pass goes through the replica.
    """
    if not enabled():
        return objective
    if device.type == "cuda":  # BatchNorm over the global batch, as in one process (not available on the CPU)
        nn.SyncBatchNorm.convert_sync_batchnorm(objective)  # replaces the layers in place
    # An objective may hold parameters that some steps do not use (SupCon's stage 1 carries the head
    # that stage 2 trains; CLAR's batches may lack a stream): DDP must look for them.
    return DistributedDataParallel(
        objective, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
    )


def shard_loader(loader: Any) -> Any:
    """This rank's share of every batch of ``loader`` (a ``DataLoader``); without ``torchrun``, ``loader``.

    The new loader draws the same global batches as ``loader`` would in one process (same sampler, same
    generator) and serves this rank's slice of each (:class:`respkit.data.sampler.BatchShardSampler`).
    Its length is the number of full global batches: a last incomplete one is dropped on every rank.
    """
    if not enabled():
        return loader
    from respkit.data.sampler import BatchShardSampler  # here: the trainer does not otherwise import the datasets

    if not isinstance(loader, DataLoader) or loader.batch_size is None:
        raise TypeError(
            f"under torchrun the trainer shards a torch DataLoader with a batch_size; got {type(loader).__name__}. "
            "Train this recipe in one process, or give it a DataLoader"
        )
    return DataLoader(
        loader.dataset,
        batch_sampler=BatchShardSampler(loader.sampler, loader.batch_size, rank(), world_size()),  # type: ignore[arg-type]
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers,
    )


def average(outputs: dict[str, Any]) -> dict[str, Any]:
    """The mean over ranks of each number in ``outputs`` (floats or 0-d tensors): the global batch's values.

    Equal shards make the mean of the ranks' means the mean over the global batch. One collective per call.
    """
    if not enabled():
        return outputs
    device = outputs["loss"].device  # NCCL reduces tensors on the GPU
    values = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in outputs.values()])
    dist.all_reduce(values)
    return dict(zip(outputs, values / world_size()))


@torch.no_grad()
def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every rank, so that all ranks evaluate the same model."""
    if enabled():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def shutdown() -> None:
    """Wait for every rank, then leave the process group (a no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
