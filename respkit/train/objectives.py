"""Training objectives: modules that turn a batch into a loss (and a few numbers to log).

An objective holds everything that is trained (model, projector, extra heads), so the trainer
optimises ``objective.parameters()`` and needs no special case per method. Chapters add their own
objectives (SupCon, Patch-Mix CL, ...) next to their recipes; the plain supervised one lives here.
"""

from __future__ import annotations

import torch
from torch import nn


class Supervised(nn.Module):
    """Cross-entropy (or any ``loss(logits, y)``) on ``(x, y)`` batches.

    Returns ``{"loss": scalar, "acc": batch accuracy}``; the accuracy stays a tensor so that logging
    it does not wait for the GPU (the trainer reads it back every ``log_every`` steps).
    """

    def __init__(self, model: nn.Module, loss: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss = loss if loss is not None else nn.CrossEntropyLoss()

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.model(x)  # (B, C)
        return {"loss": self.loss(logits, y), "acc": (logits.argmax(dim=1) == y).float().mean()}
