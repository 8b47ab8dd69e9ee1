"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., ICML 2020), used by CLAR.

Two views ``z1[i]`` and ``z2[i]`` of each of ``B`` items give ``2B`` anchors. For an anchor, its other
view is the positive and the remaining ``2B − 2`` embeddings are negatives::

    ℓ(a) = −log( exp(sim(a, a⁺)/τ) / Σ_{k ≠ a} exp(sim(a, k)/τ) ),   sim = cosine similarity

and the loss is the mean of ``ℓ`` over all ``2B`` anchors. CLAR uses τ = 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NTXent(nn.Module):
    """NT-Xent loss: ``loss(z1, z2)`` with ``z1, z2`` of shape ``[batch, dim]``, paired by row.

    The embeddings are L2-normalised inside (they need not be on input). Returns a scalar: the mean
    loss over the ``2·batch`` anchors. Needs ``batch >= 2`` (otherwise there is no negative).
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        if z1.dim() != 2 or z1.shape != z2.shape:
            raise ValueError(
                f"z1 and z2 must both be [batch, dim] with the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}"
            )
        batch = z1.shape[0]
        if batch < 2:
            raise ValueError(f"NT-Xent needs a batch of at least 2 pairs (negatives), got {batch}")
        z = F.normalize(torch.cat([z1, z2]), dim=1)  # [2B, D]
        logits = z @ z.T / self.temperature  # [2B, 2B]
        # An anchor is not its own negative: -inf drops it from the log-sum-exp of cross_entropy.
        logits = logits.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
        # Anchor i (first view) has its positive at i + B, and anchor i + B at i.
        target = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
        return F.cross_entropy(logits, target)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
