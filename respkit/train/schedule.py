"""Learning-rate schedule: linear warm-up, then a cosine decay to a floor, stepped every batch.

The factor that multiplies the peak learning rate after ``step`` optimizer steps is::

    warm-up  (step < W):     (step + 1) / W
    cosine   (W <= step):    r + (1 - r) * (1 + cos(pi * (step - W) / (T - W))) / 2

with ``W`` warm-up steps, ``T`` total steps and ``r = min_lr_ratio``. The first step already trains
(at ``lr / W``, not at 0), the peak is reached at step ``W``, and the factor reaches ``r`` after the
last step (``step = T``). Stepping per batch rather than per epoch keeps short ``quick`` runs smooth.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(step: int, *, total_steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """The learning-rate multiplier after ``step`` optimizer steps (see the module docstring)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_steps: int, min_lr_ratio: float
) -> LambdaLR:
    """A :class:`LambdaLR` following :func:`warmup_cosine_factor`; call ``.step()`` after every optimizer step."""
    factor = partial(
        warmup_cosine_factor, total_steps=total_steps, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio
    )
    return LambdaLR(optimizer, factor)
