"""ResNet18 on spectrograms: the encoder of the SupCon + MixUp recipe (Hu et al., BioCAS 2023)
and of CLAR (Al-Tahan & Mohsenzadeh, AISTATS 2021).

The network is timm's ``resnet18`` (He et al., CVPR 2016), not a re-implementation: timm builds
it with the requested input channels and, for ``pretrained="imagenet"``, downloads the ImageNet
weights and adapts the first convolution to 1 channel by summing its RGB filters. respkit only
wraps it in the shared classifier interface: ``forward_features`` returns the globally pooled
512-d vector, and the head is a separate ``Linear`` so that a contrastive recipe can use the
encoder alone (``num_classes=0``). ``width`` narrows the four residual stages (timm's ``channels``)
for quick CPU runs; timm's plain stem keeps its 64 channels whatever the width.
"""

from __future__ import annotations

import timm
import torch

from respkit.models.heads import SpectrogramClassifier, classifier_head
from respkit.models.registry import register_model


class ResNet(SpectrogramClassifier):
    """A timm ResNet encoder (global average pooled) plus a linear head.

    Args:
        variant: timm model name, e.g. ``"resnet18"``.
        num_classes: size of the linear head; 0 for none.
        in_chans: input channels (1 for a spectrogram or MFCC, 3 for CLAR's stacked input).
        pretrained: ``None`` or any falsy value (random init) or ``"imagenet"`` (timm's weights,
            downloaded by timm).
        width: channels of the first residual stage; the four stages have ``width·(1, 2, 4, 8)``.
            64 is the standard network (and the only width with pretrained weights).

    Shapes: ``[B, in_chans, F, T] -> features [B, 8·width] -> logits [B, num_classes]``.
    """

    def __init__(
        self,
        variant: str = "resnet18",
        num_classes: int = 4,
        in_chans: int = 1,
        pretrained: str | None = None,
        width: int = 64,
    ) -> None:
        super().__init__()
        pretrained = pretrained or None
        if pretrained not in (None, "imagenet"):
            raise ValueError(f"pretrained must be None or 'imagenet', got {pretrained!r}")
        if width < 1 or (pretrained is not None and width != 64):
            raise ValueError(f"width must be a positive channel count (64 with pretrained weights), got {width}")
        self.variant, self.pretrained, self.width = variant, pretrained, width
        self.num_classes, self.in_chans = num_classes, in_chans
        # Only a non-standard width is passed on, so the default builds exactly timm's network.
        narrow = {} if width == 64 else {"channels": tuple(width * m for m in (1, 2, 4, 8))}
        # num_classes=0: timm replaces its fc by Identity, so the backbone returns pooled features.
        self.backbone = timm.create_model(
            variant,
            pretrained=pretrained == "imagenet",
            num_classes=0,
            in_chans=in_chans,
            **narrow,  # type: ignore[arg-type]
        )
        self.num_features = self.backbone.num_features  # type: ignore[assignment]
        self.head = classifier_head(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.backbone(x)  # [B, 8·width] (conv stages, then global average pool)

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, num_classes={self.num_classes}, in_chans={self.in_chans}, "
            f"pretrained={self.pretrained!r}, width={self.width}"
        )


@register_model
def resnet18(pretrained: str | None = None, num_classes: int = 4, in_chans: int = 1, width: int = 64) -> ResNet:
    """ResNet18 (11 M parameters at width 64), ``8·width``-d features."""
    return ResNet("resnet18", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, width=width)
