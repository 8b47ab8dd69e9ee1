"""The contrastive loss of Patch-Mix CL (Bae et al., Interspeech 2023), also used per axis by Lung-SRAD.

A Patch-Mix sample is a share ``λ`` of item ``i`` and ``1 − λ`` of its partner ``perm[i]``. Its
feature, passed through a projector, is the *query*; the features of the clean batch, with the
gradient stopped, are the *anchors*. The query should find its two sources among the anchors in
proportion ``λ : 1 − λ``::

    a = normalise(stop_grad(z_clean))            [B, D]
    q = normalise(projector(z_mixed))            [B, D]   (the projector is the objective's)
    logits = q @ aᵀ / τ                          [B, B]
    L_CL = mean_i −[ λ · log_softmax(logits)_{i,i} + (1 − λ) · log_softmax(logits)_{i,perm[i]} ]

(the two weights add up when ``perm[i] == i``). The projector is Linear(D, H) → BatchNorm1d → ReLU →
Linear(H, D); the paper uses D = H = 768, τ = 0.06 and adds ``α·L_CL`` (α = 1) to the classification loss.
Lung-SRAD uses τ = 0.2.

Like every contrastive loss of respkit (:class:`~respkit.losses.NTXent`, :class:`~respkit.losses.SupCon`), it
takes embeddings as they come out of the network and normalises them itself, and it holds no weights: the
projector belongs to the objective (:class:`respkit.train.PatchMixCL`), which the trainer optimises.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from respkit.losses.mixed import mixed_cross_entropy


class PatchMixContrastiveLoss(nn.Module):
    """``forward(z_clean, query, perm, lam) -> scalar`` (see the module docstring).

    Args (forward):
        z_clean: ``[B, D]`` features of the clean inputs (detached inside: no gradient flows to them).
        query: ``[B, D]`` the projected features of the Patch-Mix inputs, ``projector(z_mixed)``.
        perm: ``[B]`` partner indices of the mix (``MixResult.perm``).
        lam: effective share of the own item (``MixResult.lam``), a float or a ``[B]`` tensor.
    """

    def __init__(self, temperature: float = 0.06) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z_clean: Tensor, query: Tensor, perm: Tensor, lam: float | Tensor) -> Tensor:
        if z_clean.dim() != 2 or z_clean.shape != query.shape:
            raise ValueError(
                f"z_clean and query must both be [batch, dim], got {tuple(z_clean.shape)} and {tuple(query.shape)}"
            )
        anchor = F.normalize(z_clean.detach(), dim=1)  # [B, D], stop-gradient
        query = F.normalize(query, dim=1)  # [B, D]
        logits = query @ anchor.T / self.temperature  # [B, B]
        # The batch index is the "class": target i with weight λ, perm[i] with 1 − λ.
        own = torch.arange(len(logits), device=logits.device)
        return mixed_cross_entropy(logits, own, perm.to(logits.device), lam)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def patchmix_projector(dim: int = 768, hidden: int = 768) -> nn.Sequential:
    """The Patch-Mix CL projector ``[B, D] -> [B, D]``: Linear(D, H) → BatchNorm1d → ReLU → Linear(H, D)."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))
