"""DASS: an audio VMamba (2-D selective-scan state-space model) on spectrograms.

DASS (Bhati et al., "Distilled Audio State Space Models Are Stronger and More Duration-Scalable
Learners", SLT 2024, arXiv 2407.04082) is VMamba (Liu et al. 2024, arXiv 2401.10166) trained on
AudioSet fbanks with knowledge distillation from AST. Lung-SRAD (Interspeech 2026) fine-tunes it on
ICBHI, adding Gaussian smoothing inside chosen blocks (``spectral_reg``) and Dual-Axis Patch-Mix.
This file rebuilds the network for reading, with parameter names that follow the released code.

Architecture (DASS's VMamba configuration: ``patchembed v2``, ``downsample v3``, ``forward_type
v05_noz``, ``ssm_d_state 1``, ``ssm_ratio 1.0``, ``ssm_conv_bias False``, ``mlp_ratio 4``)::

    x [B, 1, F, T]
    patch_embed: Conv2d(1->48, 3x3, s2) LN GELU Conv2d(48->96, 3x3, s2) LN   -> [B, F/4, T/4, 96]
    (mix)                                                                     Patch-Mix acts here
    stages[i] (i = 0..3): depth_i x VSSBlock(dims[i]), then (i < 3) downsample:
                          Conv2d(dims[i] -> dims[i+1], 3x3, s2) LN            -> half the grid
    norm (LN) -> mean over the grid -> head Linear                            -> logits [B, classes]

Orientation. DASS's own wrapper takes ``[B, T, F]`` fbanks and transposes them to ``[B, 1, F, T]``
before the VMamba, so its grid has frequency along H (rows) and time along W (columns): exactly
respkit's convention, and the ``[B, 1, F, T]`` input needs no transpose. A 128-bin, 798-frame input
gives a 32 x 200 patch grid (then 16 x 100, 8 x 50, 4 x 25). There is no positional embedding:
the scans and the depthwise convolution know where they are.

VSSBlock (channels-last ``[B, H, W, C]``)::

    x = x + DropPath(SS2D(LN(x)));   x = x + DropPath(MLP(LN(x)))   (then the optional smoothing)

SS2D, the 2-D selective scan, with ``d_inner = ssm_ratio * C``, ``K = 4`` directions,
``R = ceil(C / 16)`` (dt rank), ``N = d_state``::

    x = SiLU(DWConv3x3(in_proj(x)))                       [B, d_inner, H, W]
    xs = the map flattened four ways                      [B, K, d_inner, L = H W]
         k=0 row-major (along time, row after row), k=1 column-major (along frequency),
         k=2, k=3 the same two reversed
    (dt, B, C) = x_proj_weight[k] @ xs[k]                 [B, K, R + 2N, L]
    delta = dt_projs_weight[k] @ dt                       [B, K, d_inner, L]
    y = selective_scan(xs, delta, A = -exp(A_logs), B, C, Ds, delta_bias = dt_projs_bias, softplus)
    y = sum of the four directions, each put back in row-major order   [B, H, W, d_inner]
    out = out_proj(out_norm(y))                           (times SiLU(z) when ``gate``)

DASS uses VMamba's ``_noz`` variant: ``in_proj`` gives ``d_inner`` channels and there is no output
gate. ``gate=True`` gives the original Mamba/VMamba gate (``in_proj`` to ``2 d_inner`` = x, z and
``y * SiLU(z)``); released DASS checkpoints need ``gate=False``.

Sizes. ``dass_small``: depths [2, 2, 8, 2], dims 96/192/384/768 (about 30 M parameters; the paper's
count), drop path 0.2; ``dass_medium``: depths [2, 2, 20, 2] (about 49 M), drop path 0.3;
``dass_tiny``: a CPU-sized model for tests and the quick profile.

Spectral regularisation. Lung-SRAD smooths "the stage-2 blocks 2 and 3". With DASS's depths the
second stage has only two blocks, so we read the indices as the released code names blocks,
0-based: ``layers.2.blocks.2`` and ``layers.2.blocks.3``, i.e. blocks 2 and 3 of the third stage
(384 channels, eight blocks). That is the default of ``spectral_reg={}``; any stage and blocks can be
chosen: ``spectral_reg={"stage": 2, "blocks": (2, 3), "kernel_size": 5, "sigma": 3.0}``. The
smoothing (:class:`~respkit.models.smoothing.GaussianSmoothing`) is applied to the block's output,
after both residual branches, so that the block's recorded output is the regularised map.

Checkpoints. Released DASS weights (``DASS_small.pth``) are the state dict of a ``DataParallel``
wrapper around ``DASS``, whose VMamba is ``self.v``; :func:`convert_dass_state_dict` maps them:

    ======================================== =========================================
    released key                             respkit key
    ======================================== =========================================
    ``module.v.`` prefix (also ``v.``)       (removed)
    ``patch_embed.0`` / ``.2``               ``patch_embed.conv1`` / ``.norm1``
    ``patch_embed.5`` / ``.7``               ``patch_embed.conv2`` / ``.norm2``
    ``layers.N.blocks.M.*``                  ``stages.N.blocks.M.*`` (same names inside:
                                             norm, op.in_proj, op.conv2d, op.x_proj_weight,
                                             op.dt_projs_weight, op.dt_projs_bias, op.A_logs,
                                             op.Ds, op.out_norm, op.out_proj, norm2,
                                             mlp.fc1, mlp.fc2)
    ``layers.N.downsample.1`` / ``.3``       ``stages.N.downsample.conv`` / ``.norm``
    ``classifier.norm`` / ``classifier.head`` ``norm`` / ``head``
    ======================================== =========================================

VMamba's ``LayerNorm2d`` and ``Linear2d`` (channels-first) hold the same tensors as ``LayerNorm`` and
``Linear``, so the channels-last modules here load them unchanged. An ImageNet VMamba stem with
three input channels is adapted by summing its filters over the channels, as DASS does.

Pretrained weights. The DASS authors release ``DASS_small.pth`` and ``DASS_medium.pth`` (AudioSet,
527 classes, 128-bin fbanks of :class:`respkit.features.ASTFbank`) but no download URL that
respkit could fetch and verify, so ``pretrained`` is the path of such a file:
``create_model("dass_small", pretrained="DASS_small.pth", num_classes=4)``. The file is loaded
strictly (:func:`load_dass_checkpoint`); the head comes along only when its classes match the
model's, as for AST, so a new task keeps a fresh head.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_
from torch import Tensor, nn

from respkit.models.heads import SpectrogramClassifier, classifier_head
from respkit.models.registry import register_model
from respkit.models.scan import selective_scan
from respkit.models.smoothing import GaussianSmoothing

__all__ = ["DASS", "SS2D", "VSSBlock", "convert_dass_state_dict", "load_dass_checkpoint", "load_pretrained"]

K_DIRECTIONS = 4


class PatchEmbed(nn.Module):
    """VMamba's "v2" stem: two stride-2 3x3 convolutions, ``[B, in, F, T] -> [B, F/4, T/4, dim]``."""

    def __init__(self, in_chans: int, dim: int, stem_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, stem_channels, kernel_size=3, stride=2, padding=1)
        self.norm1 = nn.LayerNorm(stem_channels)
        self.conv2 = nn.Conv2d(stem_channels, dim, kernel_size=3, stride=2, padding=1)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(self.conv1(x).permute(0, 2, 3, 1))  # [B, F/2, T/2, stem]
        x = F.gelu(x).permute(0, 3, 1, 2)
        return self.norm2(self.conv2(x).permute(0, 2, 3, 1))  # [B, F/4, T/4, dim]


class Downsample(nn.Module):
    """VMamba's "v3" downsample: Conv2d 3x3 stride 2 then LN, ``[B, H, W, C] -> [B, H/2, W/2, C_out]``."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, out_dim, kernel_size=3, stride=2, padding=1)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


def cross_scan(x: Tensor) -> Tensor:
    """The four scan orders of a map ``[B, D, H, W]`` -> ``[B, 4, D, H*W]``."""
    rows = x.flatten(2)  # row-major: along W (time) within each row
    cols = x.transpose(2, 3).flatten(2)  # column-major: along H (frequency) within each column
    forward = torch.stack([rows, cols], dim=1)  # [B, 2, D, L]
    return torch.cat([forward, forward.flip(-1)], dim=1)


def cross_merge(ys: Tensor, height: int, width: int) -> Tensor:
    """Inverse of :func:`cross_scan`, summing the directions: ``[B, 4, D, L] -> [B, D, H, W]``."""
    ys = ys[:, :2] + ys[:, 2:].flip(-1)  # undo the reversals
    batch, _, dim, _ = ys.shape
    rows = ys[:, 0].reshape(batch, dim, height, width)
    cols = ys[:, 1].reshape(batch, dim, width, height).transpose(2, 3)
    return rows + cols


class SS2D(nn.Module):
    """The 2-D selective scan of VMamba on a channels-last map ``[B, H, W, C] -> [B, H, W, C]``."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 1,
        ssm_ratio: float = 1.0,
        dt_rank: int | None = None,
        d_conv: int = 3,
        conv_bias: bool = False,
        gate: bool = False,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        self.d_model, self.d_state, self.gate = d_model, d_state, gate
        self.d_inner = d_inner = int(ssm_ratio * d_model)
        self.dt_rank = dt_rank = dt_rank or math.ceil(d_model / 16)
        k = K_DIRECTIONS
        self.in_proj = nn.Linear(d_model, d_inner * (2 if gate else 1), bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=(d_conv - 1) // 2, groups=d_inner, bias=conv_bias)
        self.x_proj_weight = nn.Parameter(torch.empty(k, dt_rank + 2 * d_state, d_inner))  # [K, R+2N, d_inner]
        self.dt_projs_weight = nn.Parameter(torch.empty(k, d_inner, dt_rank))  # [K, d_inner, R]
        self.dt_projs_bias = nn.Parameter(torch.empty(k, d_inner))  # [K, d_inner]
        self.A_logs = nn.Parameter(torch.empty(k * d_inner, d_state))  # [K d_inner, N]
        self.Ds = nn.Parameter(torch.empty(k * d_inner))  # [K d_inner]
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self._reset_ssm_parameters(dt_min, dt_max, dt_init_floor)

    @torch.no_grad()
    def _reset_ssm_parameters(self, dt_min: float, dt_max: float, dt_init_floor: float) -> None:
        """Mamba's initialisation: S4D-real A = -(1..N), D = 1, softplus(dt bias) log-uniform in [dt_min, dt_max]."""
        nn.init.uniform_(self.x_proj_weight, -(self.d_inner**-0.5), self.d_inner**-0.5)
        nn.init.uniform_(self.dt_projs_weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        log_dt = torch.rand_like(self.dt_projs_bias) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        dt = log_dt.exp().clamp(min=dt_init_floor)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus
        self.A_logs.copy_(torch.log(torch.arange(1, self.d_state + 1, dtype=torch.float32)).expand_as(self.A_logs))
        self.Ds.fill_(1.0)

    def forward(self, x: Tensor) -> Tensor:
        batch, height, width, _ = x.shape
        length, k = height * width, K_DIRECTIONS
        x = self.in_proj(x)  # [B, H, W, d_inner (x2 with the gate)]
        if self.gate:
            x, z = x.chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))  # [B, d_inner, H, W]
        xs = cross_scan(x)  # [B, K, d_inner, L]
        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)  # [B, K, R+2N, L]
        dts, Bs, Cs = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight)  # [B, K, d_inner, L]
        ys: torch.Tensor = selective_scan(  # type: ignore[assignment]  # one tensor without the last state
            xs.reshape(batch, -1, length),  # [B, K d_inner, L]
            dts.reshape(batch, -1, length),
            -torch.exp(self.A_logs.float()),  # [K d_inner, N]
            Bs.contiguous(),  # [B, K, N, L]: one group per direction
            Cs.contiguous(),
            self.Ds.float(),
            delta_bias=self.dt_projs_bias.flatten().float(),
            delta_softplus=True,
        )
        y = cross_merge(ys.view(batch, k, self.d_inner, length), height, width)  # [B, d_inner, H, W]
        y = self.out_norm(y.permute(0, 2, 3, 1))  # [B, H, W, d_inner]
        if self.gate:
            y = y * F.silu(z)
        return self.out_proj(y)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_inner={self.d_inner}, d_state={self.d_state}, "
            f"dt_rank={self.dt_rank}, gate={self.gate}"
        )


class VSSBlock(nn.Module):
    """A visual state-space block: SS2D and MLP branches with pre-norm residuals, optional smoothing."""

    def __init__(
        self,
        dim: int,
        drop_path: float = 0.0,
        mlp_ratio: float = 4.0,
        smoothing: nn.Module | None = None,
        **ssm_kwargs,
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.op = SS2D(dim, **ssm_kwargs)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        self.smooth = smoothing if smoothing is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:  # [B, H, W, C]
        x = x + self.drop_path(self.op(self.norm(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return self.smooth(x)


class Stage(nn.Module):
    """``depth`` VSS blocks at one resolution, then the downsample to the next (Identity for the last)."""

    def __init__(self, blocks: list[VSSBlock], downsample: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.blocks(x))


def _stride2(size: int) -> int:
    """Output size of a 3x3, stride-2, padding-1 convolution: ``ceil(size / 2)``."""
    return (size - 1) // 2 + 1


class DASS(SpectrogramClassifier):
    """DASS / audio VMamba classifier on spectrograms ``[B, 1, F, T]`` (see the module docstring).

    Any input size works (no positional embedding); ``num_classes=0`` leaves the head out.
    """

    accepts_mix = True
    supports_spectral_reg = True

    def __init__(
        self,
        num_classes: int = 4,
        depths: Sequence[int] = (2, 2, 8, 2),
        dims: Sequence[int] = (96, 192, 384, 768),
        in_chans: int = 1,
        stem_channels: int | None = None,
        d_state: int = 1,
        ssm_ratio: float = 1.0,
        mlp_ratio: float = 4.0,
        gate: bool = False,
        drop_path_rate: float = 0.2,
        spectral_reg: dict | None = None,
    ) -> None:
        super().__init__()
        if len(depths) != len(dims):
            raise ValueError(f"depths {depths} and dims {dims} differ in length")
        self.depths, self.dims = tuple(depths), tuple(dims)
        self.num_classes, self.in_chans, self.d_state, self.ssm_ratio = num_classes, in_chans, d_state, ssm_ratio
        self.mlp_ratio, self.gate, self.drop_path_rate = mlp_ratio, gate, drop_path_rate
        self.stem_channels = stem_channels or dims[0] // 2
        self.spectral_reg = _spectral_reg_config(spectral_reg, self.depths)
        self.num_features = dims[-1]

        self.patch_embed = PatchEmbed(in_chans, dims[0], self.stem_channels)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # stochastic depth grows linearly
        self.stages = nn.ModuleList()
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            blocks = []
            for j in range(depth):
                smoothing = None
                if self.spectral_reg and i == self.spectral_reg["stage"] and j in self.spectral_reg["blocks"]:
                    smoothing = GaussianSmoothing(dim, self.spectral_reg["kernel_size"], self.spectral_reg["sigma"])
                drop_path = rates[sum(depths[:i]) + j]
                blocks.append(
                    VSSBlock(dim, drop_path, mlp_ratio, smoothing, d_state=d_state, ssm_ratio=ssm_ratio, gate=gate)
                )
            downsample = Downsample(dim, dims[i + 1]) if i + 1 < len(dims) else nn.Identity()
            self.stages.append(Stage(blocks, downsample))
        self.norm = nn.LayerNorm(self.num_features)
        self.head = classifier_head(self.num_features, num_classes)
        self.apply(_init_weights)

    def patch_grid(self, n_freq: int, n_frames: int) -> tuple[int, int]:
        """``(H, W)`` after the two stride-2 stem convolutions, ``ceil(F / 4) x ceil(T / 4)``:
        128 x 798 gives 32 x 200."""
        return _stride2(_stride2(n_freq)), _stride2(_stride2(n_frames))

    def forward_features(self, x: Tensor, mix: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """``[B, 1, F, T] -> [B, num_features]``; ``mix`` acts on the patch grid ``[B, F/4, T/4, dims[0]]``."""
        self.check_input(x)
        x = self.patch_embed(x)  # [B, H, W, C]
        if mix is not None:
            mixed = mix(x)
            if mixed.shape != x.shape:
                raise ValueError(f"mix must keep the patch grid shape {tuple(x.shape)}, got {tuple(mixed.shape)}")
            x = mixed
        for stage in self.stages:
            x = stage(x)  # [B, H/2^i, W/2^i, dims[i+1]]
        return self.norm(x).mean(dim=(1, 2))  # [B, num_features]

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, depths={self.depths}, dims={self.dims}, in_chans={self.in_chans}, "
            f"stem_channels={self.stem_channels}, d_state={self.d_state}, ssm_ratio={self.ssm_ratio}, "
            f"mlp_ratio={self.mlp_ratio}, gate={self.gate}, drop_path_rate={self.drop_path_rate}, "
            f"spectral_reg={self.spectral_reg}"
        )


def _spectral_reg_config(spectral_reg: dict | None, depths: tuple[int, ...]) -> dict | None:
    """Fill the defaults (stage 2, blocks (2, 3), kernel 5, sigma 3) and check the blocks exist."""
    if spectral_reg is None:
        return None
    unknown = set(spectral_reg) - {"stage", "blocks", "kernel_size", "sigma"}
    if unknown:
        raise ValueError(f"unknown spectral_reg keys: {sorted(unknown)}")
    config = {"stage": 2, "blocks": (2, 3), "kernel_size": 5, "sigma": 3.0, **spectral_reg}
    config["blocks"] = tuple(config["blocks"])
    stage = config["stage"]
    if not 0 <= stage < len(depths) or any(not 0 <= b < depths[stage] for b in config["blocks"]):
        raise ValueError(f"spectral_reg {config} names blocks that do not exist with depths {depths}")
    return config


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


_PREFIXES = ("module.v.", "module.", "v.")
_RENAMES = (  # (released prefix, respkit prefix), applied after the layer renaming
    ("patch_embed.0.", "patch_embed.conv1."),
    ("patch_embed.2.", "patch_embed.norm1."),
    ("patch_embed.5.", "patch_embed.conv2."),
    ("patch_embed.7.", "patch_embed.norm2."),
    ("classifier.norm.", "norm."),
    ("classifier.head.", "head."),
)


def _convert_key(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    if key.startswith("layers."):
        _, n, rest = key.split(".", 2)
        rest = rest.replace("downsample.1.", "downsample.conv.").replace("downsample.3.", "downsample.norm.")
        return f"stages.{n}.{rest}"
    for old, new in _RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def convert_dass_state_dict(state_dict: dict[str, Tensor], in_chans: int = 1) -> dict[str, Tensor]:
    """Rename a released DASS / VMamba state dict to respkit's names (table in the module docstring).

    A stem trained on 3-channel images is summed over its input channels when ``in_chans == 1``.
    """
    converted = {_convert_key(k): v for k, v in state_dict.items()}
    stem = converted.get("patch_embed.conv1.weight")
    if stem is not None and stem.shape[1] != in_chans and in_chans == 1:
        converted["patch_embed.conv1.weight"] = stem.sum(dim=1, keepdim=True)
    return converted


def load_dass_checkpoint(model: DASS, state_dict: dict[str, Tensor], load_head: bool = True) -> DASS:
    """Load released DASS weights into ``model`` strictly, after :func:`convert_dass_state_dict`.

    With ``load_head=False`` the classifier head is left as initialised (a new task's classes).
    Raises ``KeyError`` naming every missing or unexpected key, and ``ValueError`` naming every
    shape mismatch, instead of loading a partial model.
    """
    converted = convert_dass_state_dict(state_dict, model.in_chans)
    expected = model.state_dict()
    if not load_head:
        converted = {k: v for k, v in converted.items() if not k.startswith("head.")}
        expected = {k: v for k, v in expected.items() if not k.startswith("head.")}
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    if missing or unexpected:
        raise KeyError(f"DASS checkpoint does not match the model: missing {missing}, unexpected {unexpected}")
    mismatched = [
        f"{k}: {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in converted.items()
        if v.shape != expected[k].shape
    ]
    if mismatched:
        raise ValueError("DASS checkpoint shapes differ from the model: " + "; ".join(mismatched))
    model.load_state_dict(converted, strict=load_head)
    return model


def load_pretrained(model: DASS, path: str | os.PathLike) -> DASS:
    """Load the checkpoint file ``path`` (released layout, e.g. ``DASS_small.pth``) into ``model``.

    The head is loaded when the checkpoint's has the model's shape (same classes) and kept fresh
    otherwise; every other tensor must match (:func:`load_dass_checkpoint` names what does not).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"DASS pretrained= takes the path of a checkpoint file (DASS_small.pth), got {path!r}")
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"pretrained={str(path)!r}: no such file; DASS takes the path of a released checkpoint "
            "(DASS_small.pth / DASS_medium.pth from the DASS authors), or None for random weights"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)  # training checkpoints wrap the weights
    own_head = model.state_dict().get("head.weight")
    their_head = convert_dass_state_dict(state, model.in_chans).get("head.weight")
    same_head = own_head is not None and their_head is not None and their_head.shape == own_head.shape
    return load_dass_checkpoint(model, state, load_head=same_head)


def _create_dass(pretrained: str | os.PathLike | None, **kwargs) -> DASS:
    model = DASS(**kwargs)
    if pretrained:
        load_pretrained(model, pretrained)
    return model


@register_model
def dass_small(pretrained: str | os.PathLike | None = None, **kwargs) -> DASS:
    """DASS-small: depths [2, 2, 8, 2], dims 96..768, about 30 M parameters (``DASS_small.pth``)."""
    return _create_dass(
        pretrained, **{"depths": (2, 2, 8, 2), "dims": (96, 192, 384, 768), "drop_path_rate": 0.2, **kwargs}
    )


@register_model
def dass_medium(pretrained: str | os.PathLike | None = None, **kwargs) -> DASS:
    """DASS-medium: depths [2, 2, 20, 2], dims 96..768, about 49 M parameters (``DASS_medium.pth``)."""
    return _create_dass(
        pretrained, **{"depths": (2, 2, 20, 2), "dims": (96, 192, 384, 768), "drop_path_rate": 0.3, **kwargs}
    )


@register_model
def dass_tiny(pretrained: str | os.PathLike | None = None, **kwargs) -> DASS:
    """A CPU-sized DASS for tests and the quick profile: depths [1, 1, 2, 1], dims 32..256.

    Nothing is released at this size; ``pretrained`` loads a checkpoint of its shape saved earlier.
    """
    return _create_dass(
        pretrained, **{"depths": (1, 1, 2, 1), "dims": (32, 64, 128, 256), "drop_path_rate": 0.0, **kwargs}
    )
