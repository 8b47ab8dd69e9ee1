"""The objective of a frame-level event detector: binary cross-entropy per class and frame.

Event detection is multi-label (a Wheeze+Crackle span is a CAS and a DAS frame at once), so each class of
each frame is its own yes/no question, scored by a sigmoid and binary cross-entropy, averaged over classes
and frames::

    L = mean_{b, c, t} BCE(sigmoid(z[b, c, t]), y[b, c, t])

Adventitious frames are rare (about one in ten of SPRSound's training frames): ``pos_weight`` multiplies the
loss of the positive targets (torch's ``BCEWithLogitsLoss(pos_weight=...)``), so that the rare class is
not learnt as "never"; 1 is the plain loss. The thresholds that turn probabilities into events are chosen
afterwards, on validation patients (:mod:`respkit.detection.tuning`), which absorbs the calibration shift
this weight causes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FrameBCE(nn.Module):
    """Frame-wise binary cross-entropy of a detector on ``(spec [B, 1, F, T], targets [B, C, T])`` batches.

    ``model(spec)`` must return logits ``[B, C, T]`` (:class:`respkit.models.crnn.CRNN`). Returns
    ``{"loss": scalar, "frame_acc": share of class-frames decided right at probability 0.5}``.
    """

    def __init__(self, model: nn.Module, pos_weight: float = 1.0) -> None:
        super().__init__()
        if pos_weight <= 0:
            raise ValueError(f"pos_weight must be > 0, got {pos_weight}")
        self.model, self.pos_weight = model, pos_weight

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        spec, targets = batch
        logits = self.model(spec)  # [B, C, T]
        if logits.shape != targets.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and frame targets {tuple(targets.shape)} differ")
        weight = torch.tensor(self.pos_weight, device=logits.device, dtype=logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)
        return {"loss": loss, "frame_acc": ((logits > 0) == (targets > 0.5)).float().mean()}

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight}"
