"""Losses of the book's methods: NT-Xent (CLAR), SupCon, Patch-Mix contrastive loss, mixed cross-entropy.

All take batches first and return a scalar mean; shapes and conventions are in each docstring.
"""

from respkit.losses.mixed import mixed_cross_entropy
from respkit.losses.ntxent import NTXent
from respkit.losses.patchmix import PatchMixContrastiveLoss, patchmix_projector
from respkit.losses.supcon import SupCon

__all__ = ["NTXent", "PatchMixContrastiveLoss", "SupCon", "mixed_cross_entropy", "patchmix_projector"]
