"""Spectrogram augmentations and the view-making crops and flips of the SupCon recipe.

* :class:`SpecAugment` — frequency and time masks (Park et al., Interspeech 2019) as used by Patch-Mix
  CL (Bae et al., Interspeech 2023) and Lung-SRAD: 2 frequency masks up to 48 bins, 2 time masks up
  to 160 frames, filled with the spectrogram's mean.
* :class:`RandomCrop` and :class:`RandomTimeFlip` — the two view-making augmentations of the SupCon +
  MixUp ResNet on SPRSound (Hu et al., BioCAS 2023). They act along one axis of any ``[B, ..., time]``
  tensor, so they serve waveforms ``[B, 1, samples]`` as well as spectrograms ``[B, 1, F, T]``.

The first dimension is always the batch (an item ``[1, ...]`` is a batch of one); random parameters
are per item and come from the ``generator`` argument of ``forward`` (see :mod:`respkit.augment.random`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from respkit.augment.random import rand, randint
from respkit.augment.waveform import trim_or_pad_end


class SpecAugment(nn.Module):
    """Mask ``freq_masks`` bands of up to ``freq_width`` bins and ``time_masks`` spans of up to ``time_width`` frames.

    Input ``[B, C, F, T]`` (or one item ``[C, F, T]``). For each mask and each item, a width ``w`` is
    drawn uniformly from ``0 .. min(width, size)`` and a start from ``0 .. size - w``; masks may overlap.
    Masked cells take ``fill``: ``"mean"`` (the item's mean over channels, frequency and time, taken
    before masking — the Patch-Mix recipe) or a number. All channels of an item share the masks.

    ``torchaudio.transforms.FrequencyMasking``/``TimeMasking`` draw the same widths and starts but only
    from torch's global RNG, so they cannot follow respkit's ``generator`` convention; the masking
    itself is a comparison with ``arange``.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 48,
        time_masks: int = 2,
        time_width: int = 160,
        fill: str | float = "mean",
    ) -> None:
        super().__init__()
        if min(freq_masks, freq_width, time_masks, time_width) < 0:
            raise ValueError("freq_masks, freq_width, time_masks and time_width must be >= 0")
        if isinstance(fill, str) and fill != "mean":
            raise ValueError(f"fill must be 'mean' or a number, got {fill!r}")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.fill = fill

    def _masks(
        self, count: int, width: int, size: int, batch: int, generator: torch.Generator | None, device: torch.device
    ) -> Tensor:
        """Union of ``count`` random spans along an axis of ``size``: bool ``[B, size]``."""
        position = torch.arange(size, device=device)
        masked = torch.zeros(batch, size, dtype=torch.bool, device=device)
        for _ in range(count):
            w = randint(0, min(width, size), batch, generator=generator, device=device)  # [B]
            start = randint(0, size - w, batch, generator=generator, device=device)  # [B]
            masked |= (position >= start[:, None]) & (position < (start + w)[:, None])
        return masked

    def forward(self, spectrogram: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if spectrogram.dim() not in (3, 4):
            raise ValueError(
                f"spectrogram must be [batch, channels, freq, time] or [channels, freq, time], "
                f"got shape {tuple(spectrogram.shape)}"
            )
        x = spectrogram if spectrogram.dim() == 4 else spectrogram.unsqueeze(0)  # [B, C, F, T]
        batch, _, n_freq, n_time = x.shape
        freq = self._masks(self.freq_masks, self.freq_width, n_freq, batch, generator, x.device)  # [B, F]
        time = self._masks(self.time_masks, self.time_width, n_time, batch, generator, x.device)  # [B, T]
        masked = freq[:, None, :, None] | time[:, None, None, :]  # [B, 1, F, T]
        value = (
            x.mean(dim=(1, 2, 3), keepdim=True)
            if self.fill == "mean"
            else torch.as_tensor(float(self.fill), dtype=x.dtype, device=x.device)
        )
        out = torch.where(masked, value, x)
        return out if spectrogram.dim() == 4 else out.squeeze(0)

    def extra_repr(self) -> str:
        return (
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, time_masks={self.time_masks}, "
            f"time_width={self.time_width}, fill={self.fill!r}"
        )


def _check_axis(x: Tensor, dim: int, name: str) -> int:
    """Validate a ``[B, ...]`` input and a non-batch ``dim``; return ``dim`` as a non-negative index."""
    if x.dim() < 2:
        raise ValueError(f"{name} expects a batch [B, ..., time] of rank >= 2, got shape {tuple(x.shape)}")
    axis = dim % x.dim() if -x.dim() <= dim < x.dim() else None
    if axis is None or axis == 0:
        raise ValueError(f"dim={dim} must name a non-batch axis of a rank-{x.dim()} input")
    return axis


class RandomCrop(nn.Module):
    """Cut a random window of ``length`` along ``dim`` from each item; zero-pad on the right when shorter.

    Offsets are drawn per item, uniformly over every window that fits. An input no longer than
    ``length`` is returned padded (the same for every item: nothing to choose).
    """

    def __init__(self, length: int, dim: int = -1) -> None:
        super().__init__()
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = length
        self.dim = dim

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        axis = _check_axis(x, self.dim, "RandomCrop")
        last = x.movedim(axis, -1)  # [B, ..., S]
        size = last.shape[-1]
        if size <= self.length:
            return trim_or_pad_end(last, self.length).movedim(-1, axis)
        offset = randint(0, size - self.length, x.shape[0], generator=generator, device=x.device)  # [B]
        index = offset[:, None] + torch.arange(self.length, device=x.device)  # [B, length]
        index = index.view(x.shape[0], *([1] * (last.dim() - 2)), self.length)
        crop = last.gather(-1, index.expand(*last.shape[:-1], self.length))
        return crop.movedim(-1, axis)

    def extra_repr(self) -> str:
        return f"length={self.length}, dim={self.dim}"


class RandomTimeFlip(nn.Module):
    """Reverse each item along ``dim`` (time) with probability ``p``, independently per item."""

    def __init__(self, p: float = 0.5, dim: int = -1) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p
        self.dim = dim

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        axis = _check_axis(x, self.dim, "RandomTimeFlip")
        flip = rand((x.shape[0],), generator=generator, device=x.device) < self.p  # [B]
        return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(axis), x)

    def extra_repr(self) -> str:
        return f"p={self.p}, dim={self.dim}"
