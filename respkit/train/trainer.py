"""The training loop: one :class:`Trainer` for every chapter.

What is trained is an *objective*: an ``nn.Module`` that holds the model (and any projector or extra
head) and maps a batch to ``{"loss": scalar tensor, **other numbers to log}``. The trainer optimises all
of its trainable parameters, so a contrastive loss with its own projector needs no special case.

Reproducibility rests on one rule: at the start of epoch ``e`` torch's global generator is reseeded
from ``(config.seed, e)`` (:func:`epoch_seed`). Shuffling (a ``DataLoader`` without its own generator
draws its permutation from the global generator when iteration starts), dropout and augmentations
therefore depend only on the seed, the epoch and the weights. That is what lets a run resumed from
the checkpoint after epoch ``k`` end with exactly the weights of an uninterrupted run (bit for bit on
the CPU; on CUDA only as far as its kernels are deterministic).

Checkpoints (``checkpoint_dir/last.pt``) are written atomically after every epoch; ``fit()`` resumes
from one when it exists and was written under the same configuration ("load the checkpoint if it
exists, else train"), and refuses one written under a different configuration.

Under ``torchrun`` the same loop trains data-parallel, one process per device, each on its slice of
every batch; the plumbing is in :mod:`respkit.train.distributed`, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from respkit import __version__
from respkit.files import atomic_save
from respkit.profiles import select_device, show_progress
from respkit.train import distributed
from respkit.train.checkpoint import load_checkpoint, rng_state, set_rng_state
from respkit.train.config import TrainConfig, config_fingerprint
from respkit.train.schedule import warmup_cosine

CHECKPOINT_NAME = "last.pt"


@dataclass
class History:
    """What happened during :meth:`Trainer.fit`, as plain lists (plot them directly; ``to_dict()`` is JSON).

    Epochs and steps count from 0.

    Attributes:
        step_loss, step_lr: the loss and the learning rate of every optimizer step.
        train: per epoch, the mean of each number the objective returned (``"loss"`` included).
        eval: per epoch, what ``evaluate()`` returned (empty dicts without ``evaluate``).
        best_epoch: the epoch whose weights were kept for ``select_metric`` (``None`` without one).
    """

    step_loss: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    train: list[dict[str, float]] = field(default_factory=list)
    eval: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None

    @property
    def epoch_loss(self) -> list[float]:
        """The mean training loss of every epoch."""
        return [epoch["loss"] for epoch in self.train]

    def metric(self, name: str) -> list[float]:
        """One evaluation metric across epochs, e.g. ``history.metric("score")``."""
        return [epoch[name] for epoch in self.eval]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        return cls(**data)


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of one epoch: a well-mixed function of ``(seed, epoch)`` (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) tuple, list or dict to ``device``; leave everything else alone."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def build_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer``, at the peak learning rate (the schedule scales it)."""
    params = list(params)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class StepAveraging:
    """Patch-Mix CL's weight averaging: after each optimizer step, ``w ← β·w_before + (1 − β)·w_after``.

    The public Patch-Mix code copies the state dict before every step and, after the step, loads
    ``β · old + (1 − β) · new`` back into the model, which keeps training from the averaged weights.
    So this is not a separate "EMA model" evaluated beside the live one (as in timm's ``ModelEma``):
    the averaged weights *are* the model, and they are what is evaluated, selected and saved. With
    β = 0.5 every update is, in effect, halved.

    As in that code, every floating-point entry of the state dict is averaged: parameters and buffers
    such as BatchNorm running statistics. Integer buffers (BatchNorm's step counter) keep their new value.
    """

    def __init__(self, module: nn.Module, beta: float) -> None:
        self.beta = beta
        # keep_vars=True gives the live tensors; deduplicate tied weights so none is averaged twice.
        unique = {id(t): t for t in module.state_dict(keep_vars=True).values() if t.is_floating_point()}
        self.live = [t.detach() for t in unique.values()]
        self.before = [t.clone() for t in self.live]

    @torch.no_grad()
    def remember(self) -> None:
        """Call before the step's forward pass (it updates BatchNorm statistics, which are averaged too)."""
        for before, live in zip(self.before, self.live):
            before.copy_(live)

    @torch.no_grad()
    def average(self) -> None:
        """Call just after ``optimizer.step()``: ``live.lerp_(before, β) = (1 − β)·live + β·before``."""
        for before, live in zip(self.before, self.live):
            live.lerp_(before, self.beta)


class Trainer:
    """Trains an objective under a :class:`TrainConfig`.

    Args:
        objective: module mapping a batch to ``{"loss": tensor, **numbers}`` (floats or 0-d tensors).
        config: the optimisation settings.
        device: where to train (default: :func:`respkit.profiles.select_device`).
        checkpoint_dir: where ``last.pt`` is written after every epoch and resumed from; ``None``: no checkpoints.
        progress: show a tqdm progress bar with the live loss; default :func:`respkit.profiles.show_progress`.

    After :meth:`fit`, the objective holds the weights of the best epoch for ``config.select_metric``
    (a copy kept in :attr:`best_state`), or of the last epoch when no metric is selected.

    The trainer calls ``objective.train()`` at the start of every epoch. An objective with a frozen part
    (e.g. a linear probe over a frozen encoder) should override ``train(mode)`` to keep that part in
    eval mode, so that its BatchNorm statistics do not drift.
    """

    def __init__(
        self,
        objective: nn.Module,
        config: TrainConfig,
        *,
        device: str | torch.device | None = None,
        checkpoint_dir: str | Path | None = None,
        progress: bool | None = None,
    ) -> None:
        self.config = config
        self.device = distributed.setup(select_device(device))  # under torchrun: joins the group, picks this rank's GPU
        self.objective = objective.to(self.device)
        # What a training step calls: a DistributedDataParallel replica under torchrun, else the objective itself.
        self.replica = distributed.wrap(self.objective, self.device)
        self.checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
        self.progress = show_progress() if progress is None else progress
        self.params = [p for p in self.objective.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, config)
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None  # built by fit(): needs the loader length
        # Mixed precision only on CUDA; bfloat16 needs no loss scaling, float16 does.
        self.amp_dtype: torch.dtype | None = None
        if config.amp and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.averaging = (
            StepAveraging(self.objective, config.weight_averaging) if config.weight_averaging is not None else None
        )
        self.history = History()
        self.best_state: dict[str, torch.Tensor] | None = None

    # ----------------------------------------------------------------------------------------------
    def fit(self, train_loader: Iterable, evaluate: Callable[[], Mapping[str, float]] | None = None) -> History:
        """Train for ``config.epochs`` epochs (resuming from ``last.pt`` if there is one) and return the history.

        ``train_loader`` is any iterable with a ``len()`` (a ``DataLoader``): the schedule needs the
        number of steps. ``evaluate()`` is called after every epoch and returns a dict of metrics; it must leave the
        objective's weights alone (:func:`respkit.train.predict` does, and restores train mode).
        """
        cfg = self.config
        if cfg.select_metric is not None and evaluate is None:
            raise ValueError(f"select_metric={cfg.select_metric!r} needs an evaluate() function")
        train_loader = distributed.shard_loader(train_loader)  # under torchrun: this rank's slice of each batch
        steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
        if cfg.max_steps_per_epoch is not None:
            steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
        if steps_per_epoch == 0:
            raise ValueError("the training loader is empty")
        self.scheduler = warmup_cosine(
            self.optimizer,
            total_steps=cfg.epochs * steps_per_epoch,
            warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
            min_lr_ratio=cfg.min_lr_ratio,
        )
        start_epoch = 0
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            start_epoch = self._resume(steps_per_epoch)

        bar = tqdm(
            total=cfg.epochs * steps_per_epoch,
            initial=start_epoch * steps_per_epoch,
            disable=not self.progress or not distributed.is_main(),
            dynamic_ncols=True,
        )
        with bar:
            for epoch in range(start_epoch, cfg.epochs):
                bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
                train_means = self._train_epoch(train_loader, epoch, steps_per_epoch, bar)
                distributed.broadcast_buffers(self.objective)  # every rank evaluates rank 0's model
                metrics = {k: float(v) for k, v in evaluate().items()} if evaluate is not None else {}
                self._end_epoch(epoch, train_means, metrics, steps_per_epoch)
                bar.set_postfix(loss=f"{train_means['loss']:.4g}", **{k: f"{v:.4g}" for k, v in metrics.items()})

        if self.best_state is not None:
            self.objective.load_state_dict(self.best_state)
        if cfg.recompute_batchnorm:
            self._recompute_batchnorm(train_loader, steps_per_epoch)
        return self.history

    @torch.no_grad()
    def _recompute_batchnorm(self, loader: Iterable, steps: int) -> None:
        """Running statistics of every BatchNorm in train mode, averaged over one epoch of batches (no step taken).

        Seeded like an epoch after the last, so a resumed run recomputes the very same statistics. Layers that
        the objective keeps in eval mode (a frozen encoder under a linear probe) keep theirs.
        """
        self.objective.train()
        layers = [m for m in self.objective.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
        momenta = [layer.momentum for layer in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the pass, not a moving one
        torch.manual_seed(epoch_seed(self.config.seed, self.config.epochs))
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            for batch in islice(loader, steps):
                self.replica(to_device(batch, self.device))
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum

    # ----------------------------------------------------------------------------------------------
    def _train_epoch(self, loader: Iterable, epoch: int, steps: int, bar: tqdm) -> dict[str, float]:
        # Reseed before iter(loader): that is when a shuffling DataLoader draws its permutation.
        torch.manual_seed(epoch_seed(self.config.seed, epoch))
        self.objective.train()
        sums: dict[str, float] = {}
        pending: list[tuple[dict[str, Any], float]] = []  # step outputs not yet read back from the device
        for step, batch in enumerate(islice(loader, steps)):
            pending.append(self._step(batch))
            if (step + 1) % self.config.log_every == 0 or step + 1 == steps:
                # Reading numbers back waits for the device, so it happens only every log_every steps.
                first = step + 1 - len(pending)
                for offset, (outputs, lr) in enumerate(pending):
                    values = {k: float(v) for k, v in outputs.items()}
                    if not math.isfinite(values["loss"]):
                        s = first + offset
                        raise FloatingPointError(
                            f"loss became NaN/inf at epoch {epoch}, step {s} (global step {epoch * steps + s}): "
                            f"loss={values['loss']}, lr={lr:.3g}; try a lower lr, grad_clip, or check that batch"
                        )
                    self.history.step_loss.append(values["loss"])
                    self.history.step_lr.append(lr)
                    for key, value in values.items():
                        sums[key] = sums.get(key, 0.0) + value
                bar.update(len(pending))
                bar.set_postfix(loss=f"{self.history.step_loss[-1]:.4g}", lr=f"{pending[-1][1]:.2e}")
                pending.clear()
        return {key: total / steps for key, total in sums.items()}

    def _step(self, batch: Any) -> tuple[dict[str, Any], float]:
        """One optimizer step; returns the objective's outputs (detached, still on the device) and the lr used."""
        batch = to_device(batch, self.device)
        if self.averaging is not None:
            self.averaging.remember()  # before the forward pass, which updates BatchNorm statistics
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            outputs = self.replica(batch)
        loss = outputs["loss"]
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.averaging is not None:
            self.averaging.average()
        self.scheduler.step()  # type: ignore[union-attr]  # fit() built it before the first step
        detached = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in outputs.items()}
        return distributed.average(detached), lr  # under torchrun: the global batch's numbers

    def _end_epoch(
        self, epoch: int, train_means: dict[str, float], metrics: dict[str, float], steps_per_epoch: int
    ) -> None:
        self.history.train.append(train_means)
        self.history.eval.append(metrics)
        name = self.config.select_metric
        if name is not None:
            if name not in metrics:
                raise KeyError(f"select_metric {name!r} is not among evaluate()'s keys {sorted(metrics)}")
            best = self.history.best_epoch
            if best is None or metrics[name] > self.history.eval[best][name]:
                self.history.best_epoch = epoch
                # A copy, not a reference: the live state dict keeps changing as training goes on.
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.objective.state_dict().items()}
        if self.checkpoint_path is not None and distributed.is_main():
            atomic_save(self._checkpoint(epoch, steps_per_epoch), self.checkpoint_path)

    # ----------------------------------------------------------------------------------------------
    def _checkpoint(self, epoch: int, steps_per_epoch: int) -> dict[str, Any]:
        # With weight averaging the averaged weights are the objective's weights (see StepAveraging),
        # so saving the objective saves them; StepAveraging's own buffers are refilled before every step.
        return {
            "respkit_version": __version__,
            "fingerprint": config_fingerprint(self.config),
            "config": dataclasses.asdict(self.config),
            "steps_per_epoch": steps_per_epoch,
            "epoch": epoch,
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),  # type: ignore[union-attr]  # built by fit()
            "scaler": self.scaler.state_dict(),
            "history": self.history.to_dict(),
            "best_state": self.best_state,
            "rng": rng_state(),
            "world_size": distributed.world_size(),
        }

    def _resume(self, steps_per_epoch: int) -> int:
        """Restore everything from ``last.pt``; return the first epoch still to train."""
        path = self.checkpoint_path
        assert path is not None, "resuming needs a checkpoint_dir"  # fit() resumes only when one is set
        ckpt = load_checkpoint(path)
        if ckpt["fingerprint"] != config_fingerprint(self.config):
            now = dataclasses.asdict(self.config)
            changed = [f"{k}: {v!r} -> {now.get(k)!r}" for k, v in ckpt["config"].items() if now.get(k) != v]
            raise ValueError(
                f"{path} was written under a different training config ({'; '.join(changed)}); "
                "delete it or choose another checkpoint_dir to start afresh"
            )
        if ckpt.get("world_size", 1) != distributed.world_size():
            # Each rank draws its dropout and augmentations from the same generator, so N processes do not
            # train as M would: resuming with another count would not continue the same run.
            raise ValueError(
                f"{path} was written by {ckpt.get('world_size', 1)} process(es), this run has "
                f"{distributed.world_size()}: resume with the same torchrun --nproc_per_node, "
                "or delete it to start afresh"
            )
        if ckpt["steps_per_epoch"] != steps_per_epoch:
            raise ValueError(
                f"{path} was written with {ckpt['steps_per_epoch']} steps per epoch, this loader gives "
                f"{steps_per_epoch}: a different dataset or batch size; delete it to start afresh"
            )
        self.objective.load_state_dict(ckpt["objective"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])  # type: ignore[union-attr]  # built by fit()
        self.scaler.load_state_dict(ckpt["scaler"])
        self.history = History.from_dict(ckpt["history"])
        self.best_state = ckpt["best_state"]
        set_rng_state(ckpt["rng"])
        if self.progress:
            tqdm.write(f"resumed from {path}: {ckpt['epoch'] + 1} of {self.config.epochs} epochs were done")
        return ckpt["epoch"] + 1
