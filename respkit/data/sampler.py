"""Samplers: every class equally often (imbalanced data such as SPRSound events), and one process's share of a batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler, WeightedRandomSampler


class ClassBalancedSampler(WeightedRandomSampler):
    """Draw items with replacement, with weight 1 / (count of the item's class) ** ``power``.

    With ``power=1`` each class fills about the same share of an epoch (Hu et al. 2023 on SPRSound); with
    ``power=0.5`` (square-root balancing) a class's share grows with the square root of its count, a middle
    way between balance and the data's own frequencies (0). Under ``torchrun`` the trainer shards its draw
    with :class:`BatchShardSampler`.

    Args:
        labels: one class index per item (``ds.labels``).
        num_samples: draws per epoch; default ``len(labels)``.
        generator: a ``torch.Generator`` for reproducible draws.
        power: how fully to balance, from 0 (as the data comes) to 1 (every class alike).
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        num_samples: int | None = None,
        generator: torch.Generator | None = None,
        power: float = 1.0,
    ) -> None:
        classes = np.asarray(labels, dtype=np.int64)
        if classes.ndim != 1 or len(classes) == 0 or classes.min() < 0:
            raise ValueError("ClassBalancedSampler needs a non-empty 1-D sequence of class indices >= 0")
        if not 0 <= power <= 1:
            raise ValueError(f"power must be in [0, 1], got {power}")
        counts = np.bincount(classes)
        weights = torch.as_tensor(1.0 / counts[classes] ** float(power), dtype=torch.double)
        # torch's stubs say Sequence[float]; it takes (and converts to) a tensor of weights
        super().__init__(weights, num_samples or len(classes), replacement=True, generator=generator)  # type: ignore[arg-type]


class BatchShardSampler(Sampler[list[int]]):
    """Process ``rank``'s slice of every batch that ``sampler`` draws, for data-parallel training.

    Every process holds the same ``sampler`` in the same random state, so all of them draw the same
    sequence of indices. It is cut into global batches of ``batch_size``, and process ``rank`` of
    ``world_size`` takes positions ``[rank·b, (rank + 1)·b)`` of each, ``b = batch_size / world_size``.
    The slices are disjoint and together are exactly the batch one process would train on. torch's
    ``DistributedSampler`` instead splits the dataset before drawing, which cannot reproduce a weighted
    draw with replacement such as :class:`ClassBalancedSampler`'s, nor one process's batches.

    A last incomplete global batch is dropped: equal slices are what make the average of the ranks'
    gradients the gradient of the global batch.

    Args:
        sampler: any sampler of indices (``loader.sampler``: random, sequential, class-balanced).
        batch_size: the global batch; must divide evenly over ``world_size``.
        rank, world_size: this process and how many share each batch.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, rank: int, world_size: int) -> None:
        if batch_size % world_size:
            raise ValueError(
                f"a batch of {batch_size} does not split evenly over {world_size} processes; "
                f"choose a batch size divisible by {world_size}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        self.sampler, self.batch_size = sampler, batch_size
        self.shard = batch_size // world_size
        self.start = rank * self.shard

    def __iter__(self) -> Iterator[list[int]]:
        # Every index is drawn on every rank, so all ranks' samplers stay in the same random state.
        batch: list[int] = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield batch[self.start : self.start + self.shard]
                batch = []

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size  # type: ignore[arg-type]
