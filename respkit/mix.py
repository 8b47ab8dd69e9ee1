"""MixUp and Patch-Mix: mixing two samples of a batch, and remembering how, for the loss.

* :class:`MixUp` (Zhang et al., ICLR 2018) — ``λ·x + (1 − λ)·x[perm]`` with ``λ ~ Beta(α, α)``; used to
  fine-tune the linear classifier of the SupCon recipe (Hu et al., BioCAS 2023, α = 1).
* :class:`PatchMix` (Bae et al., Interspeech 2023) — on the patch grid ``[B, H, W, D]`` of an audio
  transformer (``H`` patches along frequency, ``W`` along time), replace a set of patches by the
  patches of a permuted partner, at the same positions for the whole batch. The ``λ`` that counts is
  the fraction of patches that stayed: ``1 − mixed / total``.

  ``mode="random"``: any patch positions (Patch-Mix CL). ``mode="time"``: whole time columns (Patch-Mix's
  time-domain variant). ``mode="freq"``: whole frequency rows. With ``contiguous=True`` the columns or
  rows form one segment: the Dual-Axis Patch-Mix of Lung-SRAD (Interspeech 2026).

Both return a :class:`MixResult`; the partner of item ``i`` is ``perm[i]``, and the targets follow as
``lam·loss(y) + (1 − lam)·loss(y[perm])`` (:func:`respkit.losses.mixed_cross_entropy`). A model's
``forward_features(x, mix=...)`` wants a callable returning the mixed grid: keep the result, pass its
``.mixed`` on (e.g. ``lambda p: keep(patch_mix(p)).mixed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from respkit.augment.random import randint, random_permutation, sample_beta


@dataclass
class MixResult:
    """What a mix did. ``mixed``: the mixed tensor (input's shape); ``perm``: ``[B]`` partner indices;
    ``lam``: the share of each item that is its own; ``mask``: ``[H, W]`` bool, True where the partner's
    patch was taken (Patch-Mix only)."""

    mixed: Tensor
    perm: Tensor
    lam: float
    mask: Tensor | None = None


class MixUp(nn.Module):
    """MixUp: ``mixed = lam·x + (1 − lam)·x[perm]``, one ``lam ~ Beta(alpha, alpha)`` per batch.

    ``x`` is any ``[B, ...]`` tensor (waveforms, spectrograms, features). Apply it to training batches
    only: evaluation must see clean inputs.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> MixResult:
        if x.dim() < 1 or x.shape[0] < 1:
            raise ValueError(f"x must be a non-empty batch [B, ...], got shape {tuple(x.shape)}")
        lam = sample_beta(self.alpha, generator)
        perm = random_permutation(x.shape[0], generator, x.device)
        return MixResult(mixed=lam * x + (1 - lam) * x[perm], perm=perm, lam=lam)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


PATCH_MIX_MODES = ("random", "time", "freq")


class PatchMix(nn.Module):
    """Patch-Mix on a patch grid ``[B, H, W, D]`` (``H`` frequency patches, ``W`` time patches).

    ``λ0 ~ Beta(alpha, alpha)``; the number of mixed units is ``round((1 − λ0)·units)``, where a unit
    is a patch (``"random"``, ``H·W`` units), a time column (``"time"``, ``W``) or a frequency row
    (``"freq"``, ``H``). The units are a random subset, or one segment at a random start when
    ``contiguous`` (time/freq only). The same positions are mixed for every item; item ``i`` takes
    them from ``perm[i]``. The returned ``lam = 1 − mask.mean()`` is the effective share kept.
    """

    def __init__(self, mode: str = "random", alpha: float = 1.0, contiguous: bool = False) -> None:
        super().__init__()
        if mode not in PATCH_MIX_MODES:
            raise ValueError(f"mode must be one of {PATCH_MIX_MODES}, got {mode!r}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if contiguous and mode == "random":
            raise ValueError("contiguous=True needs mode='time' or 'freq' (random patches have no order)")
        self.mode = mode
        self.alpha = alpha
        self.contiguous = contiguous

    def _units(self, total: int, count: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """Bool ``[total]`` with ``count`` True entries: a random subset, or a random segment."""
        chosen = torch.zeros(total, dtype=torch.bool, device=device)
        if self.contiguous:
            start = int(randint(0, total - count, 1, generator=generator).item())
            chosen[start : start + count] = True
        else:
            chosen[random_permutation(total, generator, device)[:count]] = True
        return chosen

    def forward(self, patches: Tensor, generator: torch.Generator | None = None) -> MixResult:
        if patches.dim() != 4:
            raise ValueError(f"patches must be [batch, H (freq), W (time), dim], got shape {tuple(patches.shape)}")
        batch, height, width, _ = patches.shape
        device = patches.device
        lam0 = sample_beta(self.alpha, generator)
        total = {"random": height * width, "time": width, "freq": height}[self.mode]
        units = self._units(total, round((1 - lam0) * total), generator, device)
        if self.mode == "random":
            mask = units.view(height, width)  # [H, W]
        elif self.mode == "time":
            mask = units[None, :].expand(height, width)  # whole columns
        else:
            mask = units[:, None].expand(height, width)  # whole rows
        perm = random_permutation(batch, generator, device)
        mixed = torch.where(mask[None, :, :, None], patches[perm], patches)  # [B, H, W, D]
        lam = 1.0 - mask.float().mean().item()
        return MixResult(mixed=mixed, perm=perm, lam=lam, mask=mask)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, alpha={self.alpha}, contiguous={self.contiguous}"
