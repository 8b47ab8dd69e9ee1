"""The two stages of SupCon + MixUp (Hu et al., BioCAS 2023) as objectives for the shared trainer.

Stage 1 (:class:`SupConObjective`) trains the encoder with the supervised contrastive loss on two
views of every item; stage 2 (:class:`LinearProbe`) trains a linear classifier on the frozen encoder,
with cross-entropy or MixUp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from respkit.losses import SupCon, mixed_cross_entropy
from respkit.mix import MixUp


class SupConObjective(nn.Module):
    """Stage 1: ``SupCon(normalize(projector(encoder(view))))`` over the views of a batch ``([B, V, 1, F, T], [B])``."""

    def __init__(self, model: nn.Module, projector: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model, self.projector, self.loss = model, projector, SupCon(temperature)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        views, y = batch
        batch_size, n_views = views.shape[:2]
        features = self.model.forward_features(views.flatten(0, 1))  # [B·V, D], item-major
        z = F.normalize(self.projector(features), dim=-1).view(batch_size, n_views, -1)  # [B, V, 128]
        return {"loss": self.loss(z, y)}


class LinearProbe(nn.Module):
    """Stage 2: train only ``model.head`` on the frozen encoder, with cross-entropy or MixUp.

    The encoder's weights are frozen *and* it stays in eval mode whatever ``train()`` says: in train
    mode its BatchNorm layers would keep updating their running statistics from the fine-tuning
    batches (MixUp's blends included), so the encoder that is evaluated would not be the one SupCon
    trained. MixUp mixes the input clips (``λ·x + (1 − λ)·x[perm]``, Zhang et al. 2018) and the loss
    mixes the two targets' cross-entropies.
    """

    def __init__(self, model: nn.Module, mixup: MixUp | None = None) -> None:
        super().__init__()
        self.model, self.mixup = model, mixup
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in model.head.parameters():
            parameter.requires_grad_(True)

    def train(self, mode: bool = True) -> LinearProbe:
        super().train(mode)
        self.model.eval()  # the head is a Linear layer: eval mode changes nothing for it
        return self

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        mix = self.mixup(x) if self.mixup is not None else None
        with torch.no_grad():
            features = self.model.forward_features(mix.mixed if mix is not None else x)  # [B, D]
        logits = self.model.forward_head(features)
        if mix is None:
            return {"loss": F.cross_entropy(logits, y)}
        return {"loss": mixed_cross_entropy(logits, y, mix.perm, mix.lam), "lam": mix.lam}
