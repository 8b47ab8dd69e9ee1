"""What sits on top of an encoder: the classifier interface all respkit models share, and the
projection head of contrastive learning.

:class:`SpectrogramClassifier` fixes the interface of ``docs/ARCHITECTURE.md`` once, so that the
CNN, the ResNet and the AST only say how they turn a spectrogram ``[B, C, F, T]`` into features
``[B, D]``::

    forward(x)            = forward_head(forward_features(x))   # [B, num_classes]
    forward_features(x)   -> [B, num_features]
    forward_head(feature) = head(feature)                       # identity when num_classes == 0

:class:`ProjectionHead` is the small MLP that maps encoder features into the space where a
contrastive loss compares them (SimCLR, Chen et al. 2020; CLAR, Al-Tahan & Mohsenzadeh 2021;
SupCon, Khosla et al. 2020; Patch-Mix CL, Bae et al. 2023). It returns *unnormalised* vectors:
every respkit contrastive loss L2-normalises its inputs itself, so the head stays a plain MLP
and the same features can also feed a loss that wants raw vectors.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class SpectrogramClassifier(nn.Module):
    """Base class of respkit's classifiers (see the module docstring for the interface).

    Subclasses set ``in_chans``, ``num_features``, ``num_classes`` and ``head`` in ``__init__``
    and implement :meth:`forward_features`, calling :meth:`check_input` first.

    The class attributes below say what a family can do, so that a recipe asks the model
    (``respkit.models.model_class(name).accepts_mix``) instead of testing its name; they are
    class-level because a recipe checks its configuration before it builds anything.
    """

    in_chans: int
    num_features: int
    num_classes: int
    head: nn.Module

    accepts_mix: ClassVar[bool] = False
    """``forward_features(x, mix=...)`` applies a Patch-Mix callable to the patch grid ``[B, H, W, D]``."""
    supports_spectral_reg: ClassVar[bool] = False
    """The constructor takes ``spectral_reg`` (Lung-SRAD's Gaussian smoothing inside chosen blocks)."""
    takes_input_size: ClassVar[bool] = False
    """The constructor takes ``n_mels`` and ``input_frames``: some parameters (positional embeddings)
    are made for that input size, so the recipe must pass the size its features produce."""

    @property
    def input_size(self) -> tuple[int, int] | None:
        """``(F, T)`` the model was built for; ``None`` when any size works (convolutions, pooling, scans)."""
        return None

    def patch_grid(self, n_freq: int, n_frames: int) -> tuple[int, int]:
        """``(H, W)`` of the patch grid that ``mix`` sees for an ``n_freq x n_frames`` input."""
        raise TypeError(f"{type(self).__name__} has no patch grid (accepts_mix is False)")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Features ``[B, num_features]`` -> logits ``[B, num_classes]`` (features if no head)."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spectrogram ``[B, in_chans, F, T]`` -> logits ``[B, num_classes]``."""
        return self.forward_head(self.forward_features(x))

    def check_input(self, x: torch.Tensor, min_size: int = 1) -> None:
        """Raise a ``ValueError`` naming the problem unless ``x`` is ``[B, in_chans, F, T]``
        with ``F, T >= min_size``."""
        if x.dim() != 4:
            raise ValueError(
                f"{type(self).__name__} expects a spectrogram batch [B, {self.in_chans}, F, T], "
                f"got a tensor of shape {tuple(x.shape)}; add the batch/channel axes with "
                "x.unsqueeze(0) / x.unsqueeze(1)"
            )
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"{type(self).__name__} was built for in_chans={self.in_chans}, "
                f"got {x.shape[1]} channels (input shape {tuple(x.shape)})"
            )
        if min(x.shape[2:]) < min_size:
            raise ValueError(
                f"{type(self).__name__} needs at least {min_size} frequency rows and time frames, "
                f"got F={x.shape[2]}, T={x.shape[3]}"
            )


def classifier_head(num_features: int, num_classes: int) -> nn.Module:
    """``Linear(num_features, num_classes)``, or ``Identity`` when ``num_classes == 0``."""
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    return nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()


class ProjectionHead(nn.Module):
    """MLP projector for contrastive learning: ``n_layers`` linear layers with ReLU between them.

    ``in_dim -> hidden_dim -> ... -> hidden_dim -> out_dim``; with ``batch_norm`` a BatchNorm1d
    sits before each ReLU. The output is **not** normalised (the losses normalise).

    Configurations from the papers:

    * CLAR and SupCon (ResNet18): ``ProjectionHead(512, 512, 128)``.
    * Patch-Mix CL (AST): ``ProjectionHead(768, 768, 768, batch_norm=True)``, i.e.
      Linear -> BN -> ReLU -> Linear.

    Args:
        in_dim: encoder feature size.
        hidden_dim: width of the hidden layers (unused when ``n_layers == 1``).
        out_dim: size of the projected vectors.
        n_layers: number of linear layers, at least 1 (1 is a linear projection).
        batch_norm: add BatchNorm1d before every hidden ReLU.

    Shapes: ``[B, in_dim] -> [B, out_dim]``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, n_layers: int = 2, batch_norm: bool = False) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        self.n_layers, self.batch_norm = n_layers, batch_norm
        dims = [in_dim] + [hidden_dim] * (n_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < n_layers - 1:  # hidden layer
                if batch_norm:
                    layers.append(nn.BatchNorm1d(d_out))
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"ProjectionHead expects [B, {self.in_dim}], got {tuple(x.shape)}")
        return self.net(x)  # [B, out_dim], not normalised

    def extra_repr(self) -> str:
        return (
            f"in_dim={self.in_dim}, hidden_dim={self.hidden_dim}, out_dim={self.out_dim}, "
            f"n_layers={self.n_layers}, batch_norm={self.batch_norm}"
        )
