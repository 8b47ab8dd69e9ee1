"""The two stages of SupCon + MixUp (Hu et al., BioCAS 2023) as objectives for the shared trainer.

Stage 1 (:class:`SupConObjective`) trains the encoder with the supervised contrastive loss on two
views of every item; stage 2 (:class:`LinearProbe`) trains a linear classifier on the frozen encoder,
with cross-entropy or MixUp. :class:`ProjectionClassifier` is the classifier of the paper's public code,
which reads the normalised projection instead of the encoder's features.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from respkit.losses import mixed_cross_entropy
from respkit.mix import MixUp


class SupConObjective(nn.Module):
    """Stage 1: ``loss(projector(encoder(view)), labels)`` over the views of a batch ``([B, V, 1, F, T], [B])``.

    ``loss`` takes ``[B, V, E]`` projections and ``[B]`` labels (:class:`respkit.losses.SupCon`, or any loss
    with that contract); ``scale`` multiplies it: the public code's SupContrast loss carries ``τ / base_τ``
    (0.1 / 0.07), which under SGD is a 1.43 times larger step.
    """

    def __init__(self, model: nn.Module, projector: nn.Module, loss: nn.Module, scale: float = 1.0) -> None:
        super().__init__()
        self.model, self.projector, self.loss, self.scale = model, projector, loss, scale

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        views, y = batch
        batch_size, n_views = views.shape[:2]
        features = self.model.forward_features(views.flatten(0, 1))  # type: ignore[operator]  # [B·V, D], item-major
        z = self.projector(features).view(batch_size, n_views, -1)  # [B, V, E]; SupCon normalises
        return {"loss": self.scale * self.loss(z, y)}


class ProjectionClassifier(nn.Module):
    """A linear classifier on the L2-normalised projection ``[B, E]`` rather than on the encoder features.

    The public code's stage 2 (its ``PRS_classifier``): the frozen stage-1 network, projection head
    included, followed by ``head``. Same interface as respkit's classifiers (``forward_features``,
    ``forward_head``, ``head``), so :class:`LinearProbe` and the evaluation code take it unchanged.
    """

    def __init__(self, model: nn.Module, projector: nn.Module, embedding_dim: int, n_classes: int) -> None:
        super().__init__()
        self.model, self.projector = model, projector
        self.head = nn.Linear(embedding_dim, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projector(self.model.forward_features(x)), dim=-1)  # type: ignore[operator]  # [B, E]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class LinearProbe(nn.Module):
    """Stage 2: train only ``model.head`` on the frozen encoder, with cross-entropy or MixUp.

    The encoder's weights are frozen *and*, with ``encoder_mode="eval"``, it stays in eval mode whatever
    ``train()`` says: in train mode its BatchNorm layers would normalise with each batch's statistics and
    keep updating their running ones from the fine-tuning batches (MixUp's blends included), so the
    encoder that is evaluated would not be the one SupCon trained. ``encoder_mode="train"`` is the public
    code's behaviour, kept for the comparison.

    MixUp (Zhang et al. 2018) blends two items, ``λ·a + (1 − λ)·a[perm]``, and the loss mixes the two
    targets' cross-entropies. ``mix="input"`` blends the clips before the encoder, as the paper describes;
    ``mix="features"`` blends the encoder's features of clean clips, which the head then sees exactly as
    the encoder makes them for real sounds.
    """

    def __init__(
        self,
        model: nn.Module,
        mixup: MixUp | None = None,
        *,
        mix: Literal["input", "features"] = "input",
        encoder_mode: Literal["eval", "train"] = "eval",
    ) -> None:
        super().__init__()
        if mix not in ("input", "features") or encoder_mode not in ("eval", "train"):
            raise ValueError(
                f"mix must be 'input' or 'features' and encoder_mode 'eval' or 'train', "
                f"got {mix!r} and {encoder_mode!r}"
            )
        self.model, self.mixup, self.mix, self.encoder_mode = model, mixup, mix, encoder_mode
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in model.head.parameters():  # type: ignore[union-attr]
            parameter.requires_grad_(True)

    def train(self, mode: bool = True) -> LinearProbe:
        super().train(mode)
        if self.encoder_mode == "eval":
            self.model.eval()  # the head is a Linear layer: eval mode changes nothing for it
        return self

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        mix = self.mixup(x) if self.mixup is not None and self.mix == "input" else None
        with torch.no_grad():
            features = self.model.forward_features(mix.mixed if mix is not None else x)  # type: ignore[operator]  # [B, D]
        if self.mixup is not None and self.mix == "features":
            mix = self.mixup(features)
            features = mix.mixed
        logits = self.model.forward_head(features)  # type: ignore[operator]
        if mix is None:
            return {"loss": F.cross_entropy(logits, y)}
        return {"loss": mixed_cross_entropy(logits, y, mix.perm, mix.lam), "lam": mix.lam}
