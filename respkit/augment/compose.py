"""Putting augmentations together: sequences, random application, two views, and CLAR's menu.

* :class:`Compose` — apply transforms in order, passing the ``generator`` on (an ``nn.Sequential``).
* :class:`RandomApply` — apply a transform to each item with probability ``p``.
* :class:`TwoViews` — two independently augmented views of a batch, the input of NT-Xent and SupCon.
* :data:`CLAR_AUGMENTATIONS` and :func:`clar_augmentation` — the seven augmentations of CLAR
  (Al-Tahan & Mohsenzadeh, AISTATS 2021) by name, for the chapter's ablation over pairs
  (the paper's best pair is fade + time masking).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from respkit.augment.random import rand
from respkit.augment.waveform import (
    ColoredNoise,
    Fade,
    PitchShift,
    TimeMask,
    TimeShift,
    TimeStretch,
    WhiteNoise,
)


def call_with_generator(transform: nn.Module, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """``transform(x, generator=generator)`` when the transform takes one, else ``transform(x)``.

    So that torchaudio's own transforms (e.g. ``MelSpectrogram``) can sit in the same pipeline.
    """
    if "generator" in inspect.signature(transform.forward).parameters:
        return transform(x, generator=generator)
    return transform(x)


class Compose(nn.Sequential):
    """Apply ``transforms`` in order; each random one draws from the same ``generator``, in turn."""

    def __init__(self, *transforms: nn.Module) -> None:
        super().__init__(*transforms)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for transform in self:
            x = call_with_generator(transform, x, generator)
        return x


class RandomApply(nn.Module):
    """Apply ``transform`` to each item of the batch independently with probability ``p``.

    The transform runs only on the chosen items and must keep their shape. The first dimension
    is the batch (a single item ``[1, samples]`` is a batch of one).
    """

    def __init__(self, transform: nn.Module, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.transform = transform
        self.p = p

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        chosen = rand((x.shape[0],), generator=generator, device=x.device) < self.p  # [B]
        if not chosen.any():
            return x
        out = x.clone()
        out[chosen] = call_with_generator(self.transform, x[chosen], generator)
        return out

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TwoViews(nn.Module):
    """Return two views of the batch, each augmented by ``transform`` with its own random draws.

    ``view1, view2 = TwoViews(t)(x)``; for SupCon, stack the encoded views as ``[B, 2, dim]``.
    """

    def __init__(self, transform: nn.Module) -> None:
        super().__init__()
        self.transform = transform

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        return (call_with_generator(self.transform, x, generator), call_with_generator(self.transform, x, generator))


# name -> factory(sample_rate) with CLAR's default ranges (Al-Tahan & Mohsenzadeh, AISTATS 2021).
CLAR_AUGMENTATIONS: dict[str, Callable[[int], nn.Module]] = {
    "pitch_shift": lambda sample_rate: PitchShift(sample_rate),
    "fade": lambda sample_rate: Fade(),
    "white_noise": lambda sample_rate: WhiteNoise(),
    "colored_noise": lambda sample_rate: ColoredNoise(),
    "time_mask": lambda sample_rate: TimeMask(),
    "time_shift": lambda sample_rate: TimeShift(sample_rate),
    "time_stretch": lambda sample_rate: TimeStretch(),
}


def clar_augmentation(names: Sequence[str], sample_rate: int) -> Compose:
    """The CLAR augmentations ``names`` (keys of :data:`CLAR_AUGMENTATIONS`), applied in that order."""
    unknown = [n for n in names if n not in CLAR_AUGMENTATIONS]
    if unknown:
        raise KeyError(f"unknown CLAR augmentation(s) {unknown}; choose from {sorted(CLAR_AUGMENTATIONS)}")
    return Compose(*(CLAR_AUGMENTATIONS[n](sample_rate) for n in names))
