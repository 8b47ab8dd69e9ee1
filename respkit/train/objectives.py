"""Training objectives: modules that turn a batch into a loss (and a few numbers to log).

An objective holds everything that is trained (model, projectors, extra heads), so the trainer
optimises ``objective.parameters()`` and needs no special case per method. Objectives used by a
single chapter live next to its recipe (SupCon, CLAR); the ones here are shared:

* :class:`Supervised` — cross-entropy on ``(x, y)``: every chapter's baseline.
* :class:`PatchMixCL` — cross-entropy plus one Patch-Mix contrastive loss per mixer: Patch-Mix CL
  (chapter 4, one random-patch mixer) and Lung-SRAD's Dual-Axis Patch-Mix (chapter 5, a time and a
  frequency mixer). With no mixer it is plain fine-tuning.
* :class:`PatchMixCE` — the mixed cross-entropy on Patch-Mixed inputs (chapter 4's negative result).

The Patch-Mix objectives need a model with ``forward_features(x, mix=None) -> [B, D]`` (``mix`` is
applied to the patch grid ``[B, H, W, D]``), ``forward_head(z)`` and ``num_features``: the AST and
DASS of :mod:`respkit.models`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from respkit.losses import PatchMixContrastiveLoss, mixed_cross_entropy, patchmix_projector
from respkit.mix import MixResult, PatchMix


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


def mixed_features(model: nn.Module, x: Tensor, mixer: PatchMix) -> tuple[Tensor, MixResult]:
    """Features ``[B, D]`` of ``x`` with its patch grid mixed by ``mixer``, and what the mix did."""
    done: list[MixResult] = []

    def mix(patches: Tensor) -> Tensor:  # [B, H, W, D] -> [B, H, W, D]
        done.append(mixer(patches))
        return done[-1].mixed

    return model.forward_features(x, mix=mix), done[0]  # type: ignore[operator]


class PatchMixCL(nn.Module):
    """Cross-entropy on the clean batch plus a Patch-Mix contrastive loss for each mixer ``k``::

        L = CE(head(f(x)), y) + Σ_k α_k · L_CL(f(x), f(mix_k(x)), perm_k, λ_k)

    ``f`` is the model's ``forward_features`` and ``mix_k`` a :class:`~respkit.mix.PatchMix` on its
    patch grid; each mixer has its own projector (:func:`~respkit.losses.patchmix_projector`, hidden width
    ``projector_dim``, default the feature width) and :class:`~respkit.losses.PatchMixContrastiveLoss`. Patch-Mix CL is
    ``{"patch": PatchMix("random")}`` with τ = 0.06; Lung-SRAD is ``{"time": ..., "freq": ...}`` with
    contiguous segments and τ = 0.2; ``mixers={}`` is plain fine-tuning.

    ``augment`` (SpecAugment) acts on the batch first, and every pass of the step sees the same
    augmented batch, as in the public code, where augmentation happens in the data loader. Use the
    objective for training only: evaluation calls the model directly on clean inputs.

    ``forward((x [B, 1, F, T], y [B])) -> {"loss", "ce", "cl_<k>", "lam_<k>"}`` (one ``cl``/``lam``
    pair per mixer, for logging).
    """

    def __init__(
        self,
        model: nn.Module,
        mixers: Mapping[str, PatchMix] | None = None,
        weights: Mapping[str, float] | None = None,
        augment: nn.Module | None = None,
        temperature: float = 0.06,
        projector_dim: int | None = None,
    ) -> None:
        super().__init__()
        mixers = dict(mixers or {})
        weights = {name: 1.0 for name in mixers} if weights is None else dict(weights)
        if set(weights) != set(mixers):
            raise ValueError(f"weights must name the mixers {sorted(mixers)}, got {sorted(weights)}")
        dim = model.num_features
        self.model, self.augment, self.weights = model, augment, weights
        self.mixers = nn.ModuleDict(mixers)
        self.projectors = nn.ModuleDict({name: patchmix_projector(dim, projector_dim or dim) for name in mixers})  # type: ignore[arg-type]
        self.contrastive = PatchMixContrastiveLoss(temperature)

    def forward(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        z = self.model.forward_features(x)  # type: ignore[operator]  # [B, D], clean
        loss = ce = F.cross_entropy(self.model.forward_head(z), y)  # type: ignore[operator]
        logged = {"ce": ce.detach()}
        for name, mixer in self.mixers.items():
            z_mixed, mix = mixed_features(self.model, x, mixer)  # type: ignore[arg-type]  # a PatchMix; [B, D]
            cl = self.contrastive(z, self.projectors[name](z_mixed), mix.perm, mix.lam)
            loss = loss + self.weights[name] * cl
            logged |= {f"cl_{name}": cl.detach(), f"lam_{name}": torch.tensor(mix.lam)}
        return {"loss": loss, **logged}


class PatchMixCE(nn.Module):
    """Mixed cross-entropy on Patch-Mixed inputs: ``λ·CE(head(f̃), y) + (1 − λ)·CE(head(f̃), y[perm])``.

    ``f̃`` is the feature of the input whose patch grid ``mixer`` mixed; ``augment`` acts first, as in
    :class:`PatchMixCL`. ``forward((x, y)) -> {"loss", "lam"}``.
    """

    def __init__(self, model: nn.Module, mixer: PatchMix, augment: nn.Module | None = None) -> None:
        super().__init__()
        self.model, self.mixer, self.augment = model, mixer, augment

    def forward(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        z_mixed, mix = mixed_features(self.model, x, self.mixer)
        loss = mixed_cross_entropy(self.model.forward_head(z_mixed), y, mix.perm, mix.lam)  # type: ignore[operator]
        return {"loss": loss, "lam": torch.tensor(mix.lam)}
