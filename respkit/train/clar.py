"""CLAR's network and objective (Al-Tahan & Mohsenzadeh, AISTATS 2021): one loss for chapter 2's three recipes.

:class:`CLARNetwork` is features -> encoder -> projection head -> classifier on the projection, where
CLAR puts it; :class:`CLARObjective` is ``CE + contrastive_weight · NT-Xent``, each term computed where
the batch has its stream (labelled events for CE, all events for NT-Xent). The recipes in
:mod:`respkit.recipes.clar` choose which streams each method draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from respkit.augment import TwoViews
from respkit.losses import NTXent
from respkit.models import ProjectionHead


def standardize(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Each item's channels to zero mean and unit variance over (freq, time): ``[B, C, F, T]`` in and out.

    CLAR's channels have different units (dB and radians); per-item statistics put them on one scale
    without statistics fitted on a split, at the price of the absolute level (recording gains vary anyway).
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True, correction=0)
    return (x - mean) / (std + eps)


class CLARNetwork(nn.Module):
    """Waveform -> features -> encoder -> projection head -> classifier (Al-Tahan & Mohsenzadeh 2021).

    Args:
        features: waveform ``[B, 1, L]`` -> spectrogram ``[B, C, F, T]``.
        encoder: a respkit model built with ``num_classes=0`` (``forward`` gives ``[B, D]``).
        num_classes: classifier outputs.
        projection_dim: size of the projection ``z`` (CLAR: 128); the hidden layer has ``D`` units.

    ``project(wave) -> z [B, projection_dim]`` is what NT-Xent compares; ``forward(wave) -> logits
    [B, num_classes]`` is ``classifier(z)``: CLAR's classifier sits on the projection.
    """

    def __init__(self, features: nn.Module, encoder: nn.Module, num_classes: int, projection_dim: int) -> None:
        super().__init__()
        self.features = features
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.num_features, encoder.num_features, projection_dim)  # type: ignore[arg-type]
        self.classifier = nn.Linear(projection_dim, num_classes)

    def spectrogram(self, wave: Tensor) -> Tensor:
        """``[B, 1, L]`` -> standardised ``[B, C, F, T]``, in float32 (dB of tiny powers needs it, even under AMP)."""
        with torch.autocast(wave.device.type, enabled=False):
            return standardize(self.features(wave.float()))

    def project(self, wave: Tensor) -> Tensor:
        return self.projector(self.encoder(self.spectrogram(wave)))  # [B, projection_dim]

    def forward(self, wave: Tensor) -> Tensor:
        return self.classifier(self.project(wave))  # [B, num_classes]


class CLARObjective(nn.Module):
    """The loss of all three recipes: ``CE + contrastive_weight · NT-Xent``, each term where the batch has its stream.

    A batch is a dict with one or both streams:

    * ``"labelled"``: ``(wave [B, 1, L], y [B])`` -> CE of the network on one augmented view;
    * ``"unlabelled"``: ``wave [B, 1, L]`` (no labels) -> NT-Xent between two augmented views' projections.

    Returns ``{"loss", "ce", "acc"}`` and/or ``{"ntxent"}`` for the terms present.
    """

    def __init__(
        self, network: CLARNetwork, augment: nn.Module, temperature: float = 0.5, contrastive_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.network = network
        self.augment = augment
        self.views = TwoViews(augment)
        self.ntxent = NTXent(temperature)
        self.contrastive_weight = contrastive_weight

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        if not batch.keys() & {"labelled", "unlabelled"} or batch.keys() - {"labelled", "unlabelled"}:
            raise KeyError(f"a CLAR batch has the keys 'labelled' and/or 'unlabelled', got {sorted(batch)}")
        out: dict[str, Tensor] = {}
        loss = torch.zeros((), device=next(self.parameters()).device)
        if "labelled" in batch:
            wave, y = batch["labelled"]
            logits = self.network(self._augment(self.augment, wave))  # [B, C]
            out["ce"] = F.cross_entropy(logits, y)
            out["acc"] = (logits.argmax(dim=1) == y).float().mean()
            loss = loss + out["ce"]
        if "unlabelled" in batch:
            view1, view2 = self._augment(self.views, batch["unlabelled"])  # 2 x [B, 1, L]
            # One pass over both views: BatchNorm normalises them together, as in SimCLR.
            z1, z2 = self.network.project(torch.cat([view1, view2])).chunk(2)  # 2 x [B, proj]
            out["ntxent"] = self.ntxent(z1, z2)
            loss = loss + self.contrastive_weight * out["ntxent"]
        return {"loss": loss, **out}

    @staticmethod
    def _augment(transform: nn.Module, wave: Tensor) -> Any:
        """Signal processing in float32 also under AMP (phase vocoders and resampling, not matrix work)."""
        with torch.autocast(wave.device.type, enabled=False):
            return transform(wave.float())
