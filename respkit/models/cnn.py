"""A small convolutional network: the chapter-1 baseline and the model of quick CPU runs.

Four blocks of ``Conv3x3 -> BatchNorm -> ReLU -> MaxPool2x2`` halve the spectrogram four times
while the channels grow (32, 64, 128, 256 by default); global average pooling then gives one
256-d vector per clip whatever the input's size. Nothing is borrowed from a paper on purpose:
it is the honest floor the pretrained models of later chapters have to beat, and it trains in
minutes on a CPU (about 0.4 M parameters).

``in_chans=3`` takes CLAR's three-channel input (STFT magnitude, phase, log-mel).
"""

from __future__ import annotations

import torch
from torch import nn

from respkit.models.heads import SpectrogramClassifier, classifier_head
from respkit.models.registry import register_model


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),  # BN carries the bias
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallCNN(SpectrogramClassifier):
    """Four conv-BN-ReLU-pool blocks and global average pooling.

    Args:
        num_classes: size of the linear head; 0 for none (``forward`` returns features).
        in_chans: input channels (1 for a spectrogram, 3 for CLAR's stacked input).
        widths: output channels of the four blocks; ``num_features = widths[-1]``.
        drop_rate: dropout before the head.

    Shapes: ``[B, in_chans, F, T] -> features [B, widths[-1]] -> logits [B, num_classes]``;
    ``F`` and ``T`` must be at least 16 (four 2x poolings).
    """

    def __init__(
        self,
        num_classes: int = 4,
        in_chans: int = 1,
        widths: tuple[int, int, int, int] = (32, 64, 128, 256),
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths must give the channels of 4 blocks, got {widths}")
        self.num_classes, self.in_chans, self.widths = num_classes, in_chans, tuple(widths)
        self.drop_rate = drop_rate
        self.num_features = widths[-1]
        channels = (in_chans, *widths)
        self.blocks = nn.Sequential(*[_conv_block(a, b) for a, b in zip(channels[:-1], channels[1:])])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(drop_rate), classifier_head(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, min_size=16)
        x = self.blocks(x)  # [B, widths[-1], F/16, T/16]
        return self.pool(x).flatten(1)  # [B, widths[-1]]

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, in_chans={self.in_chans}, widths={self.widths}, "
            f"drop_rate={self.drop_rate}"
        )


@register_model
def cnn_small(pretrained: str | None = None, **kwargs) -> SmallCNN:
    """:class:`SmallCNN` with the default widths; there are no pretrained weights (``pretrained`` must be falsy)."""
    if pretrained:
        raise ValueError(f"cnn_small has no pretrained weights (got pretrained={pretrained!r})")
    return SmallCNN(**kwargs)
