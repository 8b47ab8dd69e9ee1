"""Augmentations: CLAR's waveform transforms, SpecAugment, crops and flips, and their composition.

Every transform is an ``nn.Module`` taking a batch (waveforms ``[B, 1, samples]``, spectrograms
``[B, 1, F, T]``) and an optional ``generator``; parameters are random per item. See
:mod:`respkit.augment.waveform` for the conventions and :mod:`respkit.augment.random` for the draws.
"""

from respkit.augment.compose import CLAR_AUGMENTATIONS, Compose, RandomApply, TwoViews, clar_augmentation
from respkit.augment.spectrogram import RandomCrop, RandomTimeFlip, SpecAugment
from respkit.augment.waveform import (
    FADE_SHAPES,
    NOISE_COLORS,
    ColoredNoise,
    Fade,
    PitchShift,
    TimeMask,
    TimeShift,
    TimeStretch,
    WhiteNoise,
)

__all__ = [
    "CLAR_AUGMENTATIONS",
    "FADE_SHAPES",
    "NOISE_COLORS",
    "ColoredNoise",
    "Compose",
    "Fade",
    "PitchShift",
    "RandomApply",
    "RandomCrop",
    "RandomTimeFlip",
    "SpecAugment",
    "TimeMask",
    "TimeShift",
    "TimeStretch",
    "TwoViews",
    "WhiteNoise",
    "clar_augmentation",
]
