"""A sampler that draws every class equally often, for imbalanced data such as SPRSound events."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


class ClassBalancedSampler(WeightedRandomSampler):
    """Draw items with replacement, with weight 1 / (count of the item's class).

    Each class then fills about the same share of an epoch (Hu et al. 2023 on SPRSound).

    Args:
        labels: one class index per item (``ds.labels``).
        num_samples: draws per epoch; default ``len(labels)``.
        generator: a ``torch.Generator`` for reproducible draws.
    """

    def __init__(
        self, labels: Sequence[int], num_samples: int | None = None, generator: torch.Generator | None = None
    ) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.ndim != 1 or len(labels) == 0 or labels.min() < 0:
            raise ValueError("ClassBalancedSampler needs a non-empty 1-D sequence of class indices >= 0")
        counts = np.bincount(labels)
        weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)
        super().__init__(weights, num_samples or len(labels), replacement=True, generator=generator)
