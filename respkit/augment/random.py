"""Random draws for augmentations and mixes: every random number of :mod:`respkit.augment` and
:mod:`respkit.mix` comes from here, so they all follow one convention.

* Randomness comes from an optional ``generator`` (a ``torch.Generator``); without one, from torch's
  global RNG, which the trainer seeds every epoch.
* A draw happens on the generator's own device and is then moved to the data's ``device``, so a CPU
  generator also drives a CUDA batch and one seed gives the same numbers wherever the data lives.
* Transforms draw their parameters **per item** (one draw per batch row), mixes once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def rand(
    shape: Sequence[int], *, generator: torch.Generator | None = None, device: torch.device | None = None
) -> Tensor:
    """Uniform draws in [0, 1) of ``shape``, from ``generator`` (or the global RNG), returned on ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(tuple(shape), generator=generator, device=source).to(device)


def randn(
    shape: Sequence[int], *, generator: torch.Generator | None = None, device: torch.device | None = None
) -> Tensor:
    """Standard normal draws of ``shape``; same device rules as :func:`rand`."""
    source = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=source).to(device)


def uniform(
    low: float, high: float, n: int, *, generator: torch.Generator | None = None, device: torch.device | None = None
) -> Tensor:
    """``n`` floats uniform in [low, high) (all equal to ``low`` when ``low == high``)."""
    return low + (high - low) * rand((n,), generator=generator, device=device)


def randint(
    low: int | Tensor,
    high: int | Tensor,
    n: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> Tensor:
    """``n`` integers uniform in [low, high], both ends included; ``low``/``high`` may be ``[n]`` tensors."""
    u = rand((n,), generator=generator, device=device)
    low_t = torch.as_tensor(low, device=device)
    high_t = torch.as_tensor(high, device=device)
    # floor(low + u * (count)) with u < 1 stays <= high; the clamp guards float rounding at u ≈ 1.
    value = torch.floor(low_t + u * (high_t - low_t + 1)).long()
    return torch.minimum(value, high_t.long())


def random_permutation(n: int, generator: torch.Generator | None = None, device: torch.device | None = None) -> Tensor:
    """A uniformly random permutation of ``0 .. n-1`` (sorting i.i.d. uniforms), as a long tensor on ``device``."""
    return rand((n,), generator=generator, device=device).argsort()


def sample_beta(alpha: float, generator: torch.Generator | None = None) -> float:
    """One draw of ``Beta(alpha, alpha)``, reproducible through ``generator`` (or torch's global RNG).

    ``torch.distributions.Beta`` takes no generator, so a seed is drawn from ours and fed to NumPy's.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    device = generator.device if generator is not None else None
    seed = int(torch.randint(2**62, (1,), generator=generator, device=device).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))
