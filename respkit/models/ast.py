"""Audio Spectrogram Transformer (AST; Gong, Chung & Glass, Interspeech 2021, arXiv 2104.01778).

AST is a DeiT vision transformer (Touvron et al., ICML 2021) read over a log-mel spectrogram:

1. **Patches.** A ``Conv2d(1, D, kernel 16, stride 10)`` cuts the ``[B, 1, F, T]`` spectrogram
   into overlapping 16x16 patches (6 rows/frames of overlap) and embeds each one:
   ``[B, H, W, D]`` with ``H = (F - 16) // 10 + 1`` patches along frequency and
   ``W = (T - 16) // 10 + 1`` along time; 128 mels x 798 frames (8 s) give 12 x 79 = 948 patches.
   This is where ``mix`` (Patch-Mix, Bae et al., Interspeech 2023) acts.
2. **Tokens.** The grid is flattened frequency-major (patch ``h * W + w``), a class token and a
   distillation token are put in front, and learned positional embeddings are added.
3. **Encoder.** timm's DeiT transformer blocks and final LayerNorm (``VisionTransformerDistilled``
   from ``timm.models.deit``; respkit does not re-implement attention).
4. **Feature and head.** The feature is the mean of the class and distillation tokens
   (``num_features = D``); the head is ``LayerNorm -> Linear`` (AST's ``mlp_head``).

Positional embeddings are stored for one grid (``pos_embed_size``, by default the input's; 12 x 101
for the AudioSet checkpoint, trained on 1024 frames) and adapted to the input's grid at forward
time the way AST adapts pretrained ones: an axis that shrinks is centre-cropped, an axis that grows
is interpolated bilinearly (:func:`resize_pos_embed`).

Pretrained weights (``create_model("ast_base", pretrained=...)``):

* ``"imagenet"``: timm's ``deit_base_distilled_patch16_384`` (``deit_small_distilled_patch16_224``
  for ``ast_small``), downloaded by timm. As in AST, the RGB patch filters are summed into one
  channel (a grey image copied to RGB gives the same response) and the 24 x 24 positional grid is
  cropped/interpolated to the audio grid once, at load time.
* ``"audioset"``: AST fine-tuned on AudioSet (mAP 0.4593), the Hugging Face conversion
  ``MIT/ast-finetuned-audioset-10-10-0.4593``, fetched and cached by
  :mod:`respkit.models.pretrained` and mapped by :func:`convert_hf_state_dict`.

Differences from Hugging Face's ``ASTModel``: it takes ``[B, T, F]`` and transposes it to
``[B, 1, F, T]`` itself (respkit takes ``[B, 1, F, T]`` like every respkit model), and its
configuration uses ``layer_norm_eps=1e-12`` where the original timm-based AST (and respkit) use
1e-6 in the encoder and PyTorch's default 1e-5 in the head.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import timm
import torch
import torch.nn.functional as F
from timm.models import adapt_input_conv
from timm.models.deit import VisionTransformerDistilled
from torch import nn

from respkit.features import fbank_frames
from respkit.models.heads import SpectrogramClassifier
from respkit.models.pretrained import load_state_dict_checked, load_weights
from respkit.models.registry import register_model

Mix = Callable[[torch.Tensor], torch.Tensor]  # patch grid [B, H, W, D] -> [B, H, W, D]

NUM_PREFIX_TOKENS = 2  # class token, distillation token
AUDIOSET_POS_EMBED_SIZE = (128, 1024)  # (mels, frames) the AudioSet checkpoint was trained on: 12 x 101
AUDIOSET_NUM_CLASSES = 527


def grid_size(size: int, patch_size: int = 16, stride: int = 10) -> int:
    """Number of patches along an axis of ``size`` bins: ``(size - patch_size) // stride + 1``."""
    return (size - patch_size) // stride + 1


class AudioPatchEmbed(nn.Module):
    """Overlapping patch embedding, ``[B, C, F, T] -> [B, H, W, D]`` (channels last).

    Built by timm's ``VisionTransformer`` through its ``embed_layer`` argument (hence the
    timm-style signature); ``img_size`` is the (F, T) size the positional embeddings are made for.
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        patch_size: int = 16,
        in_chans: int = 1,
        embed_dim: int = 768,
        bias: bool = True,
        dynamic_img_pad: bool = False,
        stride: int = 10,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if dynamic_img_pad:
            raise ValueError("AudioPatchEmbed does not pad; overlapping patches cover any size >= patch_size")
        self.patch_size, self.stride = patch_size, stride
        self.grid_size = (grid_size(img_size[0], patch_size, stride), grid_size(img_size[1], patch_size, stride))
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=patch_size, stride=stride, bias=bias, device=device, dtype=dtype
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # [B, D, H, W] -> [B, H, W, D]


def resize_pos_embed(
    pos_embed: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int], num_prefix_tokens: int = 2
) -> torch.Tensor:
    """Adapt positional embeddings ``[1, prefix + H0*W0, D]`` to a ``new_grid`` (H, W), as AST does.

    The prefix tokens' embeddings are kept. On the grid, each axis that shrinks keeps its central
    ``new`` positions (from ``old // 2 - new // 2``, AST's cut); then, if an axis grows, the grid is
    resized bilinearly (``align_corners=False``). The same grid is returned unchanged.
    """
    if tuple(old_grid) == tuple(new_grid):
        return pos_embed
    (h0, w0), (h, w) = old_grid, new_grid
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    if grid.shape[1] != h0 * w0:
        raise ValueError(f"pos_embed holds {grid.shape[1]} grid positions, not {h0}x{w0}")
    grid = grid.reshape(1, h0, w0, -1).permute(0, 3, 1, 2)  # [1, D, H0, W0]
    if h <= h0:
        grid = grid[:, :, h0 // 2 - h // 2 : h0 // 2 - h // 2 + h]
    if w <= w0:
        grid = grid[:, :, :, w0 // 2 - w // 2 : w0 // 2 - w // 2 + w]
    if grid.shape[-2:] != (h, w):
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)  # [1, H*W, D]
    return torch.cat([prefix, grid], dim=1)


class AST(SpectrogramClassifier):
    """Audio Spectrogram Transformer on timm's ``VisionTransformerDistilled`` (see module docstring).

    Args:
        num_classes: classes of the ``LayerNorm -> Linear`` head; 0 for no head.
        n_mels, input_frames: the expected input size ``F x T`` (default: 128 bins, the 798 frames of
            8 s, :func:`respkit.features.fbank_frames`); they set the positional grid unless
            ``pos_embed_size`` is given (other input sizes still work).
        embed_dim, depth, num_heads: transformer size (DeiT-base: 768, 12, 12).
        patch_size, stride: patch side and hop on both axes (AST: 16 and 10).
        in_chans: input channels.
        pos_embed_size: ``(F, T)`` the positional embeddings are stored for, e.g. ``(128, 1024)``
            for the AudioSet checkpoint; inputs of another size use :func:`resize_pos_embed`.
        drop_path_rate: stochastic depth of the encoder blocks.

    Shapes: ``[B, in_chans, F, T] -> patches [B, H, W, D] -> features [B, D] -> logits [B, C]``.
    """

    accepts_mix = True
    takes_input_size = True

    def __init__(
        self,
        num_classes: int = 4,
        n_mels: int = 128,
        input_frames: int = fbank_frames(8.0),
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        patch_size: int = 16,
        stride: int = 10,
        in_chans: int = 1,
        pos_embed_size: tuple[int, int] | None = None,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.num_classes, self.n_mels, self.input_frames = num_classes, n_mels, input_frames
        self.embed_dim, self.depth, self.num_heads = embed_dim, depth, num_heads
        self.patch_size, self.stride, self.in_chans = patch_size, stride, in_chans
        self.pos_embed_size = tuple(pos_embed_size or (n_mels, input_frames))
        self.drop_path_rate = drop_path_rate
        if min(self.pos_embed_size) < patch_size:
            raise ValueError(
                f"pos_embed_size {self.pos_embed_size} is smaller than one {patch_size}x{patch_size} patch"
            )
        # timm's DeiT: cls_token, dist_token, pos_embed, patch_embed (ours), blocks, norm (eps 1e-6).
        # num_classes=0 leaves timm's own heads as Identity; AST's head is self.head.
        self.vit = VisionTransformerDistilled(
            img_size=self.pos_embed_size,
            patch_size=patch_size,
            in_chans=in_chans,
            num_classes=0,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=4.0,
            qkv_bias=True,
            drop_path_rate=drop_path_rate,
            embed_layer=partial(AudioPatchEmbed, stride=stride),
        )
        self.num_features = embed_dim
        self.head = (
            nn.Sequential(OrderedDict(norm=nn.LayerNorm(embed_dim), fc=nn.Linear(embed_dim, num_classes)))
            if num_classes > 0
            else nn.Identity()
        )

    @property
    def input_size(self) -> tuple[int, int]:
        """``(n_mels, input_frames)``: the fbank size the model was built for."""
        return self.n_mels, self.input_frames

    def patch_grid(self, n_freq: int, n_frames: int) -> tuple[int, int]:
        """``(H, W)`` patches of an ``n_freq x n_frames`` input: 128 x 798 gives 12 x 79."""
        return grid_size(n_freq, self.patch_size, self.stride), grid_size(n_frames, self.patch_size, self.stride)

    @property
    def pos_grid(self) -> tuple[int, int]:
        """The (H, W) patch grid the stored positional embeddings belong to."""
        return self.vit.patch_embed.grid_size

    def patch_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Spectrogram ``[B, C, F, T]`` -> patch grid ``[B, H, W, D]`` (no tokens, no positions)."""
        self.check_input(x, min_size=self.patch_size)
        return self.vit.patch_embed(x)

    def forward_features(self, x: torch.Tensor, mix: Mix | None = None) -> torch.Tensor:
        """Spectrogram ``[B, C, F, T]`` -> feature ``[B, D]``; ``mix`` edits the patch grid first."""
        vit = self.vit
        patches = self.patch_embed(x)  # [B, H, W, D]
        if mix is not None:
            mixed = mix(patches)
            if mixed.shape != patches.shape:
                raise ValueError(f"mix must keep the patch grid shape {tuple(patches.shape)}, got {tuple(mixed.shape)}")
            patches = mixed
        b, h, w, d = patches.shape
        assert vit.pos_embed is not None and vit.cls_token is not None  # DeiT always has both
        pos = resize_pos_embed(vit.pos_embed, self.pos_grid, (h, w), NUM_PREFIX_TOKENS)  # [1, 2 + H*W, D]
        tokens = torch.cat(
            [vit.cls_token.expand(b, -1, -1), vit.dist_token.expand(b, -1, -1), patches.reshape(b, h * w, d)],
            dim=1,
        )  # [B, 2 + H*W, D], frequency-major patch order
        tokens = vit.pos_drop(tokens + pos)
        tokens = vit.norm(vit.blocks(tokens))  # [B, 2 + H*W, D]
        return (tokens[:, 0] + tokens[:, 1]) / 2  # [B, D]

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, n_mels={self.n_mels}, input_frames={self.input_frames}, "
            f"embed_dim={self.embed_dim}, depth={self.depth}, num_heads={self.num_heads}, "
            f"patch_size={self.patch_size}, stride={self.stride}, in_chans={self.in_chans}, "
            f"pos_embed_size={self.pos_embed_size}, drop_path_rate={self.drop_path_rate}"
        )


# ---------------------------------------------------------------------------------------------
# Weight conversion

# Hugging Face key (after the "audio_spectrogram_transformer." prefix) -> respkit key.
_HF_GLOBAL = {
    "embeddings.cls_token": "vit.cls_token",
    "embeddings.distillation_token": "vit.dist_token",
    "embeddings.position_embeddings": "vit.pos_embed",
    "embeddings.patch_embeddings.projection.weight": "vit.patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "vit.patch_embed.proj.bias",
    "layernorm.weight": "vit.norm.weight",
    "layernorm.bias": "vit.norm.bias",
    "classifier.layernorm.weight": "head.norm.weight",
    "classifier.layernorm.bias": "head.norm.bias",
    "classifier.dense.weight": "head.fc.weight",
    "classifier.dense.bias": "head.fc.bias",
}
# Inside encoder layer N. The checkpoint files on the Hub use the transformers-4 names (left);
# transformers 5 renamed the modules (right of "|"); both are accepted.
_HF_LAYER = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
    "intermediate.dense": "mlp.fc1", "mlp.fc1": "mlp.fc1",
    "output.dense": "mlp.fc2", "mlp.fc2": "mlp.fc2",
}  # fmt: skip
_HF_QKV = {
    "attention.attention.query": 0, "attention.q_proj": 0,
    "attention.attention.key": 1, "attention.k_proj": 1,
    "attention.attention.value": 2, "attention.v_proj": 2,
}  # fmt: skip
_HF_LAYER_KEY = re.compile(r"(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)")


def convert_hf_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a Hugging Face ``ASTModel`` / ``ASTForAudioClassification`` state dict to respkit's AST.

    Works for any size. Separate query/key/value projections are concatenated into timm's fused
    ``attn.qkv`` (rows ``[q; k; v]``). The patch order needs no change: transformers transposes
    its ``[B, T, F]`` input to ``[B, 1, F, T]`` before the same convolution, so its positional
    embeddings are on the same frequency-major ``H x W`` grid as respkit's.

    Raises:
        ValueError: listing the keys it does not understand, or layers with an incomplete q/k/v.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[int, torch.Tensor]] = {}  # (layer, weight|bias) -> {0: q, 1: k, 2: v}
    unknown: list[str] = []
    for key, value in state_dict.items():
        k = key.removeprefix("audio_spectrogram_transformer.")
        if k in _HF_GLOBAL:
            out[_HF_GLOBAL[k]] = value
            continue
        match = _HF_LAYER_KEY.fullmatch(k)
        if match is None:
            unknown.append(key)
            continue
        layer, name, kind = match.groups()
        if name in _HF_QKV:
            qkv.setdefault((layer, kind), {})[_HF_QKV[name]] = value
        elif name in _HF_LAYER:
            out[f"vit.blocks.{layer}.{_HF_LAYER[name]}.{kind}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"not a Hugging Face AST state dict; unknown keys: {', '.join(unknown)}")
    for (layer, kind), parts in qkv.items():
        if sorted(parts) != [0, 1, 2]:
            found = [("query", "key", "value")[i] for i in sorted(parts)]
            raise ValueError(f"layer {layer}: attention {kind} has only {found} of query/key/value")
        out[f"vit.blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts[0], parts[1], parts[2]], dim=0)
    return out


def convert_deit_state_dict(
    state_dict: dict[str, torch.Tensor], pos_grid: tuple[int, int], in_chans: int = 1
) -> dict[str, torch.Tensor]:
    """Map a timm DeiT-distilled (image) state dict to respkit's AST with positions for ``pos_grid``.

    The patch filters are adapted to ``in_chans`` by timm (1 channel: the sum over RGB, as AST);
    the square positional grid is cropped/interpolated by :func:`resize_pos_embed`; the image
    heads (``head``, ``head_dist``) are dropped.
    """
    out = {}
    for key, value in state_dict.items():
        if key.startswith(("head.", "head_dist.")):
            continue
        if key == "patch_embed.proj.weight":
            value = adapt_input_conv(in_chans, value)
        elif key == "pos_embed":
            side = int(round((value.shape[1] - NUM_PREFIX_TOKENS) ** 0.5))
            value = resize_pos_embed(value, (side, side), pos_grid, NUM_PREFIX_TOKENS)
        out[f"vit.{key}"] = value
    return out


def load_pretrained(model: AST, source: str, deit_name: str | None = None) -> None:
    """Load ``"imagenet"`` (timm ``deit_name``) or ``"audioset"`` weights into ``model``, in place.

    The head keeps its fresh initialisation unless it matches the checkpoint's (AudioSet's 527
    classes); this function downloads (timm, or :mod:`respkit.models.pretrained`).
    """
    if source == "imagenet":
        if deit_name is None:
            raise ValueError("this AST size has no ImageNet DeiT counterpart; use ast_small or ast_base")
        deit = timm.create_model(deit_name, pretrained=True)
        state = convert_deit_state_dict(deit.state_dict(), model.pos_grid, model.in_chans)
    elif source == "audioset":
        state = convert_hf_state_dict(load_weights("ast_audioset"))
        if model.num_classes != AUDIOSET_NUM_CLASSES:
            state = {k: v for k, v in state.items() if not k.startswith("head.")}
    else:
        raise ValueError(f"pretrained must be None, 'imagenet' or 'audioset', got {source!r}")
    load_state_dict_checked(model, state, allow_missing=("head.",))


# ---------------------------------------------------------------------------------------------
# Registered sizes

_SIZES = {  # name: (embed_dim, depth, num_heads, timm ImageNet DeiT with the same trunk)
    "ast_tiny": (192, 4, 3, None),
    "ast_small": (384, 12, 6, "deit_small_distilled_patch16_224"),
    "ast_base": (768, 12, 12, "deit_base_distilled_patch16_384"),
}


def _create_ast(name: str, pretrained: str | None, **kwargs) -> AST:
    """The AST of size ``name``; ``embed_dim``, ``depth`` and ``num_heads`` in ``kwargs`` override it (as timm's
    factories allow), for random weights only: released weights have the published size."""
    embed_dim, depth, num_heads, deit_name = _SIZES[name]
    size: dict[str, Any] = {"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads}
    overridden = sorted(k for k in size if k in kwargs and kwargs[k] != size[k])
    if pretrained and overridden:
        raise ValueError(f"{name}: weights {pretrained!r} have the published size; drop {', '.join(overridden)}")
    size |= {k: kwargs.pop(k) for k in list(size) if k in kwargs}
    if pretrained == "audioset":
        if name != "ast_base":
            raise ValueError("AudioSet weights exist for ast_base only")
        kwargs.setdefault("pos_embed_size", AUDIOSET_POS_EMBED_SIZE)
    model = AST(**size, **kwargs)
    if pretrained:
        load_pretrained(model, pretrained, deit_name)
    return model


@register_model
def ast_tiny(pretrained: str | None = None, **kwargs) -> AST:
    """A 4-layer AST (dim 192, 3 heads, about 2 M parameters) for quick CPU runs and tests.

    Not a published size: DeiT-tiny has the same width but 12 layers, so there are no weights.
    """
    return _create_ast("ast_tiny", pretrained, **kwargs)


@register_model
def ast_small(pretrained: str | None = None, **kwargs) -> AST:
    """AST on DeiT-small (dim 384, 12 layers, 6 heads, about 22 M parameters)."""
    return _create_ast("ast_small", pretrained, **kwargs)


@register_model
def ast_base(pretrained: str | None = None, **kwargs) -> AST:
    """AST as published: DeiT-base distilled (dim 768, 12 layers, 12 heads, about 86 M parameters)."""
    return _create_ast("ast_base", pretrained, **kwargs)
