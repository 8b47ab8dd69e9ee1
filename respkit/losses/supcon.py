"""Supervised contrastive loss (Khosla et al., NeurIPS 2020), used by the SupCon + MixUp recipe on SPRSound.

Every view of every item is an anchor. Its positives are the *other* views whose item has the same
label (including its own other views); everything except itself is in the denominator. With ``N = B·V``
views, ``s_ij = f_i·f_j / τ``, ``A(i) = {j ≠ i}`` and ``P(i) = {j ≠ i : label_j = label_i}``::

    ℓ_i = −1/|P(i)| · Σ_{p ∈ P(i)} [ s_ip − log Σ_{a ∈ A(i)} exp(s_ia) ]          (L_out of the paper)
    L   = mean of ℓ_i over the anchors with |P(i)| > 0

Anchors without any positive (a single-view batch in which their class occurs once) are left out of
the mean instead of dividing by zero, the NaN of the popular reference implementation; if no anchor
has a positive the loss is an exact zero that still carries a graph, so ``backward()`` works.
With ``labels=None`` each item is its own class: SimCLR's NT-Xent for two views.

The reference code also multiplies the loss by ``τ / base_temperature``; that constant factor is left
out here (it is 1 when ``base_temperature = τ``). The SupCon recipe uses τ = 0.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SupCon(nn.Module):
    """Supervised contrastive loss: ``loss(features, labels=None)``.

    Args (forward):
        features: ``[batch, n_views, dim]``, the projections as the network gives them, e.g.
            ``projector(encoder(x))``; the loss L2-normalises each vector (as every contrastive loss of
            respkit does with its embeddings).
        labels: ``[batch]`` integer class of each item, or ``None`` (each item its own class:
            positives are the other views of the same item).

    Returns:
        Scalar tensor: the mean of ``ℓ_i`` over the ``batch·n_views`` anchors that have at least one
        positive (see the module docstring); ``0`` (differentiable) if none has.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        if features.dim() != 3:
            raise ValueError(f"features must be [batch, n_views, dim], got shape {tuple(features.shape)}")
        batch, n_views, _ = features.shape
        features = F.normalize(features, dim=-1)  # cosine similarities below
        if labels is None:
            labels = torch.arange(batch, device=features.device)
        elif labels.shape != (batch,):
            raise ValueError(f"labels must be [batch] = [{batch}], got shape {tuple(labels.shape)}")
        labels = labels.to(features.device)

        # Views in view-major order, as the reference: row v·B + i is view v of item i.
        flat = features.transpose(0, 1).reshape(batch * n_views, -1)  # [N, D]
        item_labels = labels.repeat(n_views)  # [N]
        logits = flat @ flat.T / self.temperature  # [N, N]
        self_mask = torch.eye(len(flat), dtype=torch.bool, device=flat.device)
        positive = (item_labels[:, None] == item_labels[None, :]) & ~self_mask  # [N, N]

        # log Σ_{a ≠ i} exp(s_ia), stable: logsumexp subtracts the row maximum itself.
        log_denominator = torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
        log_prob = logits - log_denominator  # [N, N], finite
        n_positive = positive.sum(dim=1)  # [N]
        has_positive = n_positive > 0
        # Mean log-probability of the positives, only for anchors that have some.
        mean_log_prob = (log_prob * positive).sum(dim=1)[has_positive] / n_positive[has_positive]
        if mean_log_prob.numel() == 0:
            return logits.sum() * 0.0
        return -mean_log_prob.mean()

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
