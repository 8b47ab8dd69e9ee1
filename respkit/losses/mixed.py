"""Cross-entropy against two targets mixed with weight λ: the loss of MixUp and Patch-Mix.

For a sample made of a share ``lam`` of item ``i`` and ``1 − lam`` of item ``perm[i]``::

    loss = mean_i [ lam_i · CE(logits_i, y_i) + (1 − lam_i) · CE(logits_i, y_perm[i]) ]

(Zhang et al., ICLR 2018). Because CE is linear in the target distribution, this equals CE against the
soft target ``lam·onehot(y) + (1 − lam)·onehot(y[perm])``. Patch-Mix CL (Bae et al., Interspeech 2023)
found it did not help on ICBHI, where one crackle makes a whole cycle abnormal; its contrastive loss
(:class:`respkit.losses.PatchMixContrastiveLoss`) reuses it with the batch indices as classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def mixed_cross_entropy(logits: Tensor, y: Tensor, perm: Tensor, lam: float | Tensor) -> Tensor:
    """``mean(lam · CE(logits, y) + (1 − lam) · CE(logits, y[perm]))``.

    Args:
        logits: ``[B, C]`` unnormalised scores.
        y: ``[B]`` integer class of each item.
        perm: ``[B]`` index of each item's mixing partner (``y[perm]`` are the partners' classes).
        lam: share of the own item, a float or a ``[B]`` tensor (one per item) in [0, 1].

    Returns:
        Scalar tensor, the mean over the batch.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be [batch, classes], got shape {tuple(logits.shape)}")
    batch = logits.shape[0]
    if y.shape != (batch,) or perm.shape != (batch,):
        raise ValueError(f"y and perm must be [batch] = [{batch}], got y {tuple(y.shape)} and perm {tuple(perm.shape)}")
    lam_t = torch.as_tensor(lam, dtype=logits.dtype, device=logits.device)
    if lam_t.dim() > 1 or (lam_t.dim() == 1 and lam_t.shape[0] != batch):
        raise ValueError(f"lam must be a float or a [batch] = [{batch}] tensor, got shape {tuple(lam_t.shape)}")
    own = F.cross_entropy(logits, y, reduction="none")  # [B]
    partner = F.cross_entropy(logits, y[perm], reduction="none")  # [B]
    return (lam_t * own + (1 - lam_t) * partner).mean()
