"""ResNet18 on spectrograms: the encoder of the SupCon + MixUp recipe (Hu et al., BioCAS 2023)
and of CLAR (Al-Tahan & Mohsenzadeh, AISTATS 2021).

The network is timm's ``resnet18`` (He et al., CVPR 2016), not a re-implementation: timm builds
it with the requested input channels and, for ``pretrained="imagenet"``, downloads the ImageNet
weights and adapts the first convolution to 1 channel by summing its RGB filters. respkit only
wraps it in the shared classifier interface: ``forward_features`` returns the globally pooled
512-d vector, and the head is a separate ``Linear`` so that a contrastive recipe can use the
encoder alone (``num_classes=0``).
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
        pretrained: ``None`` (random init) or ``"imagenet"`` (timm's weights, downloaded by timm).

    Shapes: ``[B, in_chans, F, T] -> features [B, 512] -> logits [B, num_classes]``.
    """

    def __init__(
        self, variant: str = "resnet18", num_classes: int = 4, in_chans: int = 1, pretrained: str | None = None
    ) -> None:
        super().__init__()
        if pretrained not in (None, "imagenet"):
            raise ValueError(f"pretrained must be None or 'imagenet', got {pretrained!r}")
        self.variant, self.pretrained = variant, pretrained
        self.num_classes, self.in_chans = num_classes, in_chans
        # num_classes=0: timm replaces its fc by Identity, so the backbone returns pooled features.
        self.backbone = timm.create_model(
            variant, pretrained=pretrained == "imagenet", num_classes=0, in_chans=in_chans
        )
        self.num_features = self.backbone.num_features
        self.head = classifier_head(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.backbone(x)  # [B, 512] (conv stages, then global average pool)

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, num_classes={self.num_classes}, in_chans={self.in_chans}, "
            f"pretrained={self.pretrained!r}"
        )


@register_model
def resnet18(pretrained: str | None = None, num_classes: int = 4, in_chans: int = 1) -> ResNet:
    """ResNet18 (11 M parameters), 512-d features."""
    return ResNet("resnet18", num_classes=num_classes, in_chans=in_chans, pretrained=pretrained)
