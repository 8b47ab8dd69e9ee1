"""Fixed Gaussian smoothing of feature maps: the spectral-aware regularisation of Lung-SRAD.

Lung-SRAD (Interspeech 2026) finds that a few intermediate blocks of the DASS state-space backbone
carry the most mid-to-high spatial-frequency energy in their feature maps (measured with the
relative log amplitude of :mod:`respkit.analysis`), and regularises exactly those blocks with a
depthwise Gaussian blur, kernel 5, sigma 3: a fixed low-pass filter, no learned weights.

The kernel is the normalised 2-D Gaussian

    g[i, j] = exp(-((i - c)^2 + (j - c)^2) / (2 sigma^2)) / sum_{i,j} exp(...),   c = (k - 1) / 2,

applied to every channel separately (a depthwise convolution). Borders use replicate padding, so a
constant map stays exactly constant (the weights sum to 1) and maps of any size, even 1 x 1, work.

The module works on channels-last maps ``[B, H, W, C]``, the layout of the DASS blocks it sits in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GaussianSmoothing", "gaussian_kernel2d"]


def gaussian_kernel2d(kernel_size: int, sigma: float) -> Tensor:
    """The normalised ``[kernel_size, kernel_size]`` Gaussian kernel (sums to 1)."""
    offsets = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g1 = torch.exp(-(offsets**2) / (2 * sigma**2))
    g2 = torch.outer(g1, g1)  # separable: g(i, j) = g1(i) g1(j)
    return (g2 / g2.sum()).float()


class GaussianSmoothing(nn.Module):
    """Depthwise Gaussian blur of a channels-last map ``[B, H, W, C] -> [B, H, W, C]``."""

    weight: torch.Tensor  # the [C, 1, k, k] kernel, a buffer

    def __init__(self, channels: int, kernel_size: int = 5, sigma: float = 3.0) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.channels, self.kernel_size, self.sigma = channels, kernel_size, sigma
        weight = gaussian_kernel2d(kernel_size, sigma).expand(channels, 1, kernel_size, kernel_size)
        # a fixed filter, not a parameter; non-persistent so that checkpoints do not change
        self.register_buffer("weight", weight.contiguous(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        pad = self.kernel_size // 2
        x = x.permute(0, 3, 1, 2)  # [B, C, H, W]
        x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        x = F.conv2d(x, self.weight.to(x.dtype), groups=self.channels)
        return x.permute(0, 2, 3, 1)  # [B, H, W, C]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}, sigma={self.sigma}"
