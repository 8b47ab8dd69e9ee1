"""A convolutional recurrent network (CRNN) for sound event detection: one probability per class and frame.

The DCASE detection baselines since 2017 (Cakir et al., "Convolutional recurrent neural networks for
polyphonic sound event detection", IEEE/ACM TASLP 25(6), 2017) share one shape, followed here:

1. a per-bin batch norm of the log-mel input (PANNs' ``bn0``): each mel bin is standardised with its own
   training statistics, so the network needs no hand-made feature normalisation;
2. conv blocks ``Conv3x3 -> BatchNorm -> ReLU -> MaxPool(p, 1)`` that pool over **frequency only**: the time
   axis keeps every frame, so each output frame is still the input frame it came from;
3. a bidirectional GRU over the frames of the flattened ``channels x remaining bins`` vectors, which sees
   the context on both sides of a frame (a crackle's neighbours, the breath it sits in);
4. a linear head per frame: logits ``[B, C, T]`` (a sigmoid per class gives multi-label activity).

Unlike :class:`respkit.models.heads.SpectrogramClassifier` it outputs one row of logits per frame, not per
clip; the frame targets come from :func:`respkit.detection.targets.events_to_frames`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from respkit.models.registry import register_model


def _freq_block(c_in: int, c_out: int, pool: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),  # BN carries the bias
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d((pool, 1)),  # frequency only: T frames in, T frames out
    )


class CRNN(nn.Module):
    """Conv blocks pooling over frequency, a bidirectional GRU, a linear frame head.

    Args:
        num_classes: detection classes (rows of the frame targets).
        n_mels: mel bins of the input; the per-bin input norm and the GRU's input width depend on it.
        widths: output channels of the conv blocks.
        pools: frequency pooling of each block; ``n_mels`` must be divisible by their product.
        hidden: GRU hidden size per direction.
        rnn_layers: stacked GRU layers.
        drop_rate: dropout after the convolutions and before the head.

    Shapes: ``forward(spec [B, 1, n_mels, T]) -> logits [B, num_classes, T]``; any ``T >= 1``.
    """

    def __init__(
        self,
        num_classes: int = 2,
        n_mels: int = 64,
        widths: tuple[int, ...] = (32, 64, 64),
        pools: tuple[int, ...] = (4, 4, 2),
        hidden: int = 64,
        rnn_layers: int = 1,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__()
        if len(widths) != len(pools) or not widths:
            raise ValueError(f"widths and pools need one entry per block, got {widths} and {pools}")
        if n_mels % math.prod(pools):
            raise ValueError(f"n_mels={n_mels} is not divisible by the frequency pooling {math.prod(pools)}")
        self.num_classes, self.n_mels, self.widths, self.pools = num_classes, n_mels, tuple(widths), tuple(pools)
        self.hidden, self.rnn_layers, self.drop_rate = hidden, rnn_layers, drop_rate
        self.bn0 = nn.BatchNorm1d(n_mels)
        channels = (1, *widths)
        self.blocks = nn.Sequential(*[_freq_block(a, b, p) for a, b, p in zip(channels[:-1], channels[1:], pools)])
        self.drop = nn.Dropout(drop_rate)
        self.rnn = nn.GRU(
            widths[-1] * (n_mels // math.prod(pools)),
            hidden,
            num_layers=rnn_layers,
            batch_first=True,
            bidirectional=True,
        )
        self.head = nn.Linear(2 * hidden, num_classes)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if spec.ndim != 4 or spec.shape[1] != 1 or spec.shape[2] != self.n_mels:
            raise ValueError(f"expected a spectrogram batch [B, 1, {self.n_mels}, T], got {tuple(spec.shape)}")
        x = self.bn0(spec[:, 0]).unsqueeze(1)  # [B, 1, F, T], each bin standardised
        x = self.drop(self.blocks(x))  # [B, widths[-1], F / prod(pools), T]
        x = x.flatten(1, 2).transpose(1, 2)  # [B, T, widths[-1] * F']
        x, _ = self.rnn(x)  # [B, T, 2 * hidden]
        return self.head(self.drop(x)).transpose(1, 2)  # [B, C, T]

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, n_mels={self.n_mels}, widths={self.widths}, pools={self.pools}, "
            f"hidden={self.hidden}, rnn_layers={self.rnn_layers}, drop_rate={self.drop_rate}"
        )


@register_model
def crnn(pretrained: str | None = None, **kwargs) -> CRNN:
    """:class:`CRNN` with the default sizes (override any as keyword arguments); no pretrained weights."""
    if pretrained:
        raise ValueError(f"crnn has no pretrained weights (got pretrained={pretrained!r})")
    return CRNN(**kwargs)
