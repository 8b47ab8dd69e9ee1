"""AST: parity with Hugging Face transformers' implementation, weight conversion, positional
embedding adaptation, the Patch-Mix hook, input checks. Tiny random models only (no downloads)."""

import re

import pytest
import torch
import torch.nn.functional as F
from timm.models.deit import VisionTransformerDistilled
from transformers import ASTConfig, ASTForAudioClassification, ASTModel

from respkit.models import ast as ast_module
from respkit.models import create_model
from respkit.models.ast import AST, convert_deit_state_dict, convert_hf_state_dict, grid_size, resize_pos_embed
from respkit.models.pretrained import load_state_dict_checked

FRAMES = 100  # grid 12 x 9
TINY = dict(embed_dim=64, depth=2, num_heads=2)


def randomise_(model: torch.nn.Module, seed: int = 0) -> None:
    """Every parameter random: transformers initialises tokens and positions to zero and
    LayerNorms to (1, 0), which would hide a wrong patch order or a swapped norm."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def hf_config(num_labels: int = 3) -> ASTConfig:
    config = ASTConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,  # 4 x hidden, the MLP ratio of DeiT/AST
        num_mel_bins=128,
        max_length=FRAMES,
        patch_size=16,
        frequency_stride=10,
        time_stride=10,
        layer_norm_eps=1e-6,  # timm's (and the original AST's) encoder eps; transformers defaults to 1e-12
        hidden_act="gelu",  # exact GELU, like timm's nn.GELU
        num_labels=num_labels,
    )
    config._attn_implementation = "eager"  # the plain reference path
    return config


def to_hf_input(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0].transpose(1, 2)  # respkit [B, 1, F, T] -> transformers [B, T, F]


@pytest.fixture(scope="module")
def spectrogram() -> torch.Tensor:
    return torch.randn(2, 1, 128, FRAMES, generator=torch.Generator().manual_seed(1))  # [B, 1, F, T]


@pytest.fixture(scope="module")
def hf_classifier() -> ASTForAudioClassification:
    torch.manual_seed(0)
    model = ASTForAudioClassification(hf_config()).eval()
    randomise_(model)
    return model


# --- parity with transformers ------------------------------------------------------------------


def test_features_match_transformers_ast_model(spectrogram):
    torch.manual_seed(0)
    reference = ASTModel(hf_config()).eval()
    randomise_(reference, seed=3)
    model = AST(num_classes=0, n_mels=128, input_frames=FRAMES, **TINY).eval()
    model.load_state_dict(convert_hf_state_dict(reference.state_dict()), strict=True)
    with torch.no_grad():
        expected = reference(to_hf_input(spectrogram)).pooler_output  # mean of cls and dist tokens
        features = model.forward_features(spectrogram)
    assert features.shape == (2, 64)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=0)


def test_logits_match_transformers_classifier(spectrogram, hf_classifier):
    model = AST(num_classes=3, n_mels=128, input_frames=FRAMES, **TINY).eval()
    model.load_state_dict(convert_hf_state_dict(hf_classifier.state_dict()), strict=True)
    # transformers' head LayerNorm uses the config eps; AST's mlp_head (and respkit) PyTorch's 1e-5.
    model.head.norm.eps = hf_classifier.config.layer_norm_eps
    with torch.no_grad():
        expected = hf_classifier(to_hf_input(spectrogram)).logits
        logits = model(spectrogram)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)


def test_a_wrong_patch_order_would_be_caught(spectrogram, hf_classifier):
    """The parity test is sensitive to the grid convention: transposing the positions breaks it."""
    model = AST(num_classes=3, n_mels=128, input_frames=FRAMES, **TINY).eval()
    state = convert_hf_state_dict(hf_classifier.state_dict())
    pos = state["vit.pos_embed"]
    grid = pos[:, 2:].reshape(1, 12, 9, -1).transpose(1, 2).reshape(1, 108, -1)  # time-major order
    state["vit.pos_embed"] = torch.cat([pos[:, :2], grid], dim=1)
    model.load_state_dict(state, strict=True)
    model.head.norm.eps = hf_classifier.config.layer_norm_eps
    with torch.no_grad():
        assert not torch.allclose(model(spectrogram), hf_classifier(to_hf_input(spectrogram)).logits, atol=1e-3)


# The checkpoint files on the Hub use the transformers-4 module names; transformers 5 renamed them.
_TO_TRANSFORMERS_4 = [
    (r"\.layers\.(\d+)\.", r".encoder.layer.\1."),
    (r"attention\.q_proj", "attention.attention.query"),
    (r"attention\.k_proj", "attention.attention.key"),
    (r"attention\.v_proj", "attention.attention.value"),
    (r"attention\.o_proj", "attention.output.dense"),
    (r"mlp\.fc1", "intermediate.dense"),
    (r"mlp\.fc2", "output.dense"),
]


def to_transformers_4(key: str) -> str:
    for pattern, replacement in _TO_TRANSFORMERS_4:
        key = re.sub(pattern, replacement, key)
    return key


def hf_key(state: dict, key: str) -> str:
    """``key`` in transformers-5 naming, or its transformers-4 name if that is what ``state`` uses."""
    return key if key in state else to_transformers_4(key)


def test_transformers_4_key_names_convert_identically(hf_classifier):
    state = hf_classifier.state_dict()
    legacy = {to_transformers_4(key): value for key, value in state.items()}
    assert "audio_spectrogram_transformer.encoder.layer.1.attention.attention.query.weight" in legacy
    assert "audio_spectrogram_transformer.encoder.layer.1.output.dense.bias" in legacy
    new, old = convert_hf_state_dict(state), convert_hf_state_dict(legacy)
    assert new.keys() == old.keys()
    assert all(torch.equal(new[k], old[k]) for k in new)


def test_qkv_fused_in_query_key_value_order(hf_classifier):
    state = hf_classifier.state_dict()
    fused = convert_hf_state_dict(state)["vit.blocks.0.attn.qkv.weight"]  # [3D, D]
    prefix = "audio_spectrogram_transformer.layers.0.attention."
    assert torch.equal(fused[:64], state[hf_key(state, prefix + "q_proj.weight")])
    assert torch.equal(fused[64:128], state[hf_key(state, prefix + "k_proj.weight")])
    assert torch.equal(fused[128:], state[hf_key(state, prefix + "v_proj.weight")])


def test_conversion_errors_name_the_keys(hf_classifier):
    state = dict(hf_classifier.state_dict())
    state["audio_spectrogram_transformer.pooler.dense.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="pooler.dense.weight"):
        convert_hf_state_dict(state)
    state = dict(hf_classifier.state_dict())
    del state[hf_key(state, "audio_spectrogram_transformer.layers.1.attention.k_proj.bias")]
    with pytest.raises(ValueError, match=r"layer 1: attention bias has only \['query', 'value'\]"):
        convert_hf_state_dict(state)


def test_mismatched_state_dict_lists_offending_keys(hf_classifier):
    state = convert_hf_state_dict(hf_classifier.state_dict())
    model = AST(num_classes=3, n_mels=128, input_frames=200, **TINY)  # grid 12 x 19: other pos_embed
    del state["vit.blocks.1.norm2.bias"]
    state["vit.extra"] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        load_state_dict_checked(model, state)
    message = str(err.value)
    assert "missing (1): vit.blocks.1.norm2.bias" in message
    assert "unexpected (1): vit.extra" in message
    assert "vit.pos_embed: checkpoint (1, 110, 64) vs model (1, 230, 64)" in message


# --- positional embeddings ---------------------------------------------------------------------


def test_grid_matches_reference_facts():
    assert (grid_size(128), grid_size(798), grid_size(1024)) == (12, 79, 101)
    model = AST(num_classes=0, input_frames=798, **TINY)
    assert model.pos_grid == (12, 79)
    assert model.vit.pos_embed.shape == (1, 2 + 12 * 79, 64)
    assert model.patch_embed(torch.zeros(1, 1, 128, 798)).shape == (1, 12, 79, 64)  # [B, H, W, D]
    assert AST(num_classes=0, pos_embed_size=(128, 1024), **TINY).pos_grid == (12, 101)  # AudioSet


def test_resize_pos_embed_same_grid_is_identity():
    pos = torch.randn(1, 2 + 12 * 9, 8)
    assert resize_pos_embed(pos, (12, 9), (12, 9)) is pos


def test_resize_pos_embed_crops_centre_like_ast():
    pos = torch.randn(1, 2 + 12 * 101, 8)
    out = resize_pos_embed(pos, (12, 101), (12, 79))  # AudioSet grid -> 8 s input
    grid = pos[:, 2:].reshape(1, 12, 101, 8)
    assert torch.equal(out[:, :2], pos[:, :2])  # cls and dist untouched
    assert torch.equal(out[:, 2:].reshape(1, 12, 79, 8), grid[:, :, 11:90])  # AST: 50 - 79 // 2 = 11


def test_resize_pos_embed_interpolates_growing_axis_bilinearly():
    pos = torch.randn(1, 2 + 24 * 24, 8)
    out = resize_pos_embed(pos, (24, 24), (12, 79))  # ImageNet DeiT-384 grid -> audio grid
    grid = pos[:, 2:].reshape(1, 24, 24, 8).permute(0, 3, 1, 2)[:, :, 6:18]  # rows cropped: 12 - 6 = 6
    expected = F.interpolate(grid, size=(12, 79), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, 2:], expected.permute(0, 2, 3, 1).reshape(1, 12 * 79, 8), atol=0, rtol=0)


def test_other_input_lengths_use_adapted_positions(spectrogram):
    model = AST(num_classes=0, n_mels=128, input_frames=FRAMES, **TINY).eval()
    randomise_(model, seed=5)
    short = spectrogram[..., :56]  # grid 12 x 5 (crop of 12 x 9)
    twin = AST(num_classes=0, n_mels=128, input_frames=56, **TINY).eval()
    state = model.state_dict()
    state["vit.pos_embed"] = resize_pos_embed(state["vit.pos_embed"], (12, 9), (12, 5))
    twin.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(short), twin.forward_features(short), atol=0, rtol=0)
        long = model.forward_features(torch.randn(2, 1, 128, 400))  # grid 12 x 39, interpolated
    assert long.shape == (2, 64) and torch.isfinite(long).all()


def test_imagenet_deit_conversion():
    deit = VisionTransformerDistilled(img_size=224, patch_size=16, num_classes=10, **TINY)  # 14 x 14 grid
    randomise_(deit, seed=7)
    model = AST(num_classes=3, n_mels=128, input_frames=FRAMES, **TINY)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    state = convert_deit_state_dict(deit.state_dict(), model.pos_grid, in_chans=1)
    load_state_dict_checked(model, state, allow_missing=("head.",))
    # RGB filters summed (AST): a grey image through DeiT's first patch = one channel through AST's.
    patch = torch.randn(1, 1, 16, 16)
    torch.testing.assert_close(
        model.vit.patch_embed.proj(patch), deit.patch_embed.proj(patch.expand(1, 3, 16, 16)), atol=1e-5, rtol=1e-5
    )
    pos = deit.pos_embed[:, 2:].reshape(1, 14, 14, 64)[:, 1:13, 3:12]  # centre crop 14 -> 12 and 14 -> 9
    assert torch.equal(model.vit.pos_embed[:, 2:].reshape(1, 12, 9, 64), pos)
    assert torch.equal(model.vit.blocks[1].attn.qkv.weight, deit.blocks[1].attn.qkv.weight)
    assert all(torch.equal(v, head[k]) for k, v in model.head.state_dict().items())  # head kept fresh


def test_audioset_loading_path(monkeypatch):
    """load_pretrained(..., "audioset") on a tiny stand-in for the Hub checkpoint (no download)."""
    config = hf_config(num_labels=527)
    config.max_length = 1024  # the AudioSet grid, 12 x 101
    reference = ASTForAudioClassification(config).eval()
    randomise_(reference, seed=11)
    monkeypatch.setattr(ast_module, "load_weights", lambda name: reference.state_dict())
    x = torch.randn(1, 1, 128, 798)
    for num_classes in (527, 4):
        model = AST(num_classes=num_classes, pos_embed_size=(128, 1024), **TINY).eval()
        fresh_head = {k: v.clone() for k, v in model.head.state_dict().items()}
        ast_module.load_pretrained(model, "audioset")
        positions = reference.state_dict()["audio_spectrogram_transformer.embeddings.position_embeddings"]
        assert torch.equal(model.vit.pos_embed, positions)
        kept = all(torch.equal(v, fresh_head[k]) for k, v in model.head.state_dict().items())
        assert kept == (num_classes == 4)  # AudioSet's 527-way head is kept only when it fits
        with torch.no_grad():
            assert torch.isfinite(model(x)).all()  # 12 x 79 input: centre 79 of the 101 columns


# --- the Patch-Mix hook --------------------------------------------------------------------------


def test_identity_mix_changes_nothing_and_sees_the_grid(spectrogram):
    model = AST(num_classes=0, n_mels=128, input_frames=FRAMES, **TINY).eval()
    seen = []

    def identity(patches):
        seen.append(patches.shape)
        return patches

    with torch.no_grad():
        torch.testing.assert_close(
            model.forward_features(spectrogram, mix=identity), model.forward_features(spectrogram), atol=0, rtol=0
        )
    assert seen == [torch.Size([2, 12, 9, 64])]  # [B, H, W, D]


def test_a_mix_that_moves_patches_changes_the_output(spectrogram):
    model = AST(num_classes=0, n_mels=128, input_frames=FRAMES, **TINY).eval()
    with torch.no_grad():
        clean = model.forward_features(spectrogram)
        swapped = model.forward_features(spectrogram, mix=lambda p: p.flip(0))  # swap the two items' patches
        reversed_time = model.forward_features(spectrogram, mix=lambda p: p.flip(2))
    # Swapping all patches between items before positions are added swaps the outputs exactly.
    torch.testing.assert_close(swapped, clean.flip(0), atol=1e-6, rtol=0)
    assert not torch.allclose(reversed_time, clean, atol=1e-3)
    with pytest.raises(ValueError, match="mix must keep the patch grid shape"):
        model.forward_features(spectrogram, mix=lambda p: p[:, :, :4])


# --- interface and bad input ---------------------------------------------------------------------


def test_registered_sizes_and_interface():
    tiny = create_model("ast_tiny", num_classes=5, input_frames=200)
    assert (tiny.embed_dim, tiny.depth, tiny.num_heads, tiny.num_features) == (192, 4, 3, 192)
    x = torch.randn(2, 1, 128, 200)
    with torch.no_grad():
        torch.testing.assert_close(tiny(x), tiny.forward_head(tiny.forward_features(x)), atol=0, rtol=0)
    assert tiny(x).shape == (2, 5)
    small = create_model("ast_small", num_classes=0)
    assert (small.embed_dim, small.depth, small.num_heads, small.pos_grid) == (384, 12, 6, (12, 79))
    assert isinstance(small.head, torch.nn.Identity)
    assert "pos_embed_size=(128, 798)" in repr(small)


def test_pretrained_choices_are_checked():
    with pytest.raises(ValueError, match="AudioSet weights exist for ast_base only"):
        create_model("ast_tiny", pretrained="audioset")
    with pytest.raises(ValueError, match="no ImageNet DeiT counterpart"):
        create_model("ast_tiny", pretrained="imagenet")
    with pytest.raises(ValueError, match="pretrained must be None"):
        create_model("ast_tiny", pretrained="imagenet21k")


def test_bad_input_is_explained():
    model = AST(num_classes=2, n_mels=128, input_frames=FRAMES, **TINY)
    with pytest.raises(ValueError, match=r"expects a spectrogram batch \[B, 1, F, T\]"):
        model(torch.randn(2, 128, FRAMES))
    with pytest.raises(ValueError, match="built for in_chans=1, got 3 channels"):
        model(torch.randn(2, 3, 128, FRAMES))
    with pytest.raises(ValueError, match="at least 16 frequency rows and time frames"):
        model(torch.randn(2, 1, 128, 10))


def test_factories_take_size_overrides_as_timm_does():
    """``create_model("ast_tiny", embed_dim=..., depth=..., num_heads=...)`` builds that size; released
    weights keep the published size, so overriding it with ``pretrained`` is refused by name."""
    model = create_model("ast_tiny", num_classes=2, embed_dim=32, depth=1, num_heads=2, n_mels=32, input_frames=64)
    assert (model.embed_dim, model.depth, len(model.vit.blocks)) == (32, 1, 1)
    assert model(torch.randn(1, 1, 32, 64)).shape == (1, 2)
    with pytest.raises(ValueError, match="published size; drop depth"):
        create_model("ast_base", pretrained="audioset", depth=2)
