"""DASS: sizes, forward, the mix hook, gradients, SS2D against a per-direction reference, checkpoints."""

import pytest
import torch
import torch.nn.functional as F

from respkit.models import create_model
from respkit.models.dass import SS2D, convert_dass_state_dict, cross_merge, cross_scan, load_dass_checkpoint
from respkit.models.scan import selective_scan_ref
from respkit.models.smoothing import GaussianSmoothing


def tiny(**kwargs):
    torch.manual_seed(0)
    return create_model("dass_tiny", **kwargs).eval()


def test_parameter_counts_match_the_paper():
    small = sum(p.numel() for p in create_model("dass_small", num_classes=527).parameters())
    assert abs(small - 30e6) / 30e6 < 0.15, small
    medium = sum(p.numel() for p in create_model("dass_medium", num_classes=527).parameters())
    assert abs(medium - 49e6) / 49e6 < 0.15, medium


def test_forward_shapes_and_patch_grid_orientation():
    model = tiny(num_classes=3)
    x = torch.randn(2, 1, 64, 40)  # [B, 1, F, T]
    seen = {}
    features = model.forward_features(x, mix=lambda g: seen.setdefault("grid", g))
    assert seen["grid"].shape == (2, 16, 10, 32)  # [B, F/4, T/4, dims[0]]: frequency along H
    assert features.shape == (2, model.num_features) and model.num_features == 256
    logits = model(x)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    torch.testing.assert_close(model.forward_head(features), logits)


def test_identity_mix_is_no_mix_and_a_real_mix_changes_the_output():
    model = tiny()
    x = torch.randn(2, 1, 32, 32)
    plain = model.forward_features(x)
    torch.testing.assert_close(model.forward_features(x, mix=lambda g: g), plain)
    assert not torch.allclose(model.forward_features(x, mix=lambda g: g.flip(0)), plain)


def test_gradients_reach_every_parameter():
    model = tiny(gate=True).train()
    model(torch.randn(2, 1, 64, 48)).logsumexp(-1).sum().backward()  # last stage 2 x 2: A matters
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, no_grad


def test_cross_scan_orders_and_merge():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)  # [B, D, H, W]
    xs = cross_scan(x)
    assert torch.equal(xs[0, 0, 0], x[0, 0].flatten())  # row-major
    assert torch.equal(xs[0, 1, 0], x[0, 0].t().flatten())  # column-major
    assert torch.equal(xs[0, 2], xs[0, 0].flip(-1)) and torch.equal(xs[0, 3], xs[0, 1].flip(-1))
    torch.testing.assert_close(cross_merge(xs, 3, 4), 4 * x)


@pytest.mark.parametrize("gate", [False, True])
def test_ss2d_equals_four_separate_reference_scans(gate):
    """Each direction k is an ordinary Mamba scan with its own x_proj, dt_proj, A, D: redo it by hand."""
    torch.manual_seed(0)
    op = SS2D(8, d_state=2, gate=gate).double()
    with torch.no_grad():
        op.A_logs.normal_(0, 0.5)
        op.Ds.normal_()
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)  # [B, H, W, C]
    h = op.in_proj(x)
    xin, z = h.chunk(2, -1) if gate else (h, None)
    xin = F.silu(op.conv2d(xin.permute(0, 3, 1, 2)))  # [B, d, H, W]
    seqs = [xin.flatten(2), xin.transpose(2, 3).flatten(2)]
    seqs += [s.flip(-1) for s in seqs]
    d, r, n = op.d_inner, op.dt_rank, op.d_state
    ys = []
    for k, u in enumerate(seqs):
        dbl = torch.einsum("cd,bdl->bcl", op.x_proj_weight[k], u)
        dt, B, C = dbl[:, :r], dbl[:, r : r + n], dbl[:, r + n :]
        delta = torch.einsum("dr,brl->bdl", op.dt_projs_weight[k], dt)
        ys.append(
            selective_scan_ref(
                u,
                delta,
                -op.A_logs[k * d : (k + 1) * d].exp(),
                B,
                C,
                op.Ds[k * d : (k + 1) * d],
                delta_bias=op.dt_projs_bias[k],
                delta_softplus=True,
            )
        )
    rows = ys[0] + ys[2].flip(-1)
    cols = ys[1] + ys[3].flip(-1)
    y = rows.view(2, d, 3, 5) + cols.view(2, d, 5, 3).transpose(2, 3)
    y = op.out_norm(y.permute(0, 2, 3, 1))
    if gate:
        y = y * F.silu(z)
    torch.testing.assert_close(op(x), op.out_proj(y))


def released_state_dict(model):
    """respkit -> released DASS names, written out independently of the converter (the inverse table)."""
    inverse = {
        "patch_embed.conv1.": "patch_embed.0.",
        "patch_embed.norm1.": "patch_embed.2.",
        "patch_embed.conv2.": "patch_embed.5.",
        "patch_embed.norm2.": "patch_embed.7.",
        "norm.": "classifier.norm.",
        "head.": "classifier.head.",
    }
    out = {}
    for key, value in model.state_dict().items():
        new = key
        if key.startswith("stages."):
            new = "layers." + key[len("stages.") :]
            new = new.replace("downsample.conv.", "downsample.1.").replace("downsample.norm.", "downsample.3.")
        else:
            for old, rel in inverse.items():
                if key.startswith(old):
                    new = rel + key[len(old) :]
        out["module.v." + new] = value.clone()
    return out


def test_released_checkpoint_loads_strictly_and_reproduces_outputs():
    source = tiny()
    sd = released_state_dict(source)
    assert "module.v.layers.2.blocks.1.op.x_proj_weight" in sd and "module.v.layers.0.downsample.1.weight" in sd
    assert sd["module.v.layers.0.blocks.0.op.x_proj_weight"].shape == (4, 2 + 2 * 1, 32)  # [K, R + 2N, d_inner]
    target = create_model("dass_tiny").eval()
    load_dass_checkpoint(target, sd)
    x = torch.randn(1, 1, 32, 32)
    torch.testing.assert_close(target(x), source(x))


def test_checkpoint_errors_name_the_keys():
    sd = released_state_dict(tiny())
    sd.pop("module.v.layers.1.blocks.0.op.Ds")
    sd["module.v.layers.9.extra"] = torch.zeros(1)
    with pytest.raises(KeyError, match=r"stages\.1\.blocks\.0\.op\.Ds.*stages\.9\.extra"):
        load_dass_checkpoint(tiny(), sd)
    sd = released_state_dict(tiny(num_classes=527))
    with pytest.raises(ValueError, match="head.weight"):
        load_dass_checkpoint(tiny(num_classes=4), sd)
    load_dass_checkpoint(tiny(num_classes=4), sd, load_head=False)  # a new task keeps its own head


def test_three_channel_stem_is_summed():
    sd = released_state_dict(tiny())
    stem = torch.randn(16, 3, 3, 3)
    sd["module.v.patch_embed.0.weight"] = stem
    torch.testing.assert_close(convert_dass_state_dict(sd)["patch_embed.conv1.weight"], stem.sum(1, keepdim=True))


def test_spectral_reg_places_smoothing_and_keeps_checkpoints():
    small = create_model("dass_small", spectral_reg={})
    smoothed = [
        f"{i}.{j}"
        for i, stage in enumerate(small.stages)
        for j, block in enumerate(stage.blocks)
        if isinstance(block.smooth, GaussianSmoothing)
    ]
    assert smoothed == ["2.2", "2.3"]  # released names layers.2.blocks.2 and .3 (see the module docstring)
    model = tiny(spectral_reg={"stage": 1, "blocks": [0], "sigma": 1.0})
    assert model.stages[1].blocks[0].smooth.sigma == 1.0
    assert set(model.state_dict()) == set(tiny().state_dict())
    with pytest.raises(ValueError, match="do not exist"):
        tiny(spectral_reg={})  # dass_tiny's third stage has 2 blocks, not 4


def test_pretrained_path_loads_the_checkpoint_and_keeps_a_fresh_head_for_new_classes(tmp_path):
    source = tiny(num_classes=527)  # AudioSet's classes, like DASS_small.pth
    path = tmp_path / "DASS_tiny.pth"
    torch.save({"state_dict": released_state_dict(source)}, path)  # a training checkpoint wraps the weights
    same = create_model("dass_tiny", pretrained=str(path), num_classes=527).eval()
    x = torch.randn(1, 1, 32, 32)
    torch.testing.assert_close(same(x), source(x))  # head included: the classes match
    torch.manual_seed(1)
    new_task = create_model("dass_tiny", pretrained=path, num_classes=4).eval()
    torch.testing.assert_close(new_task.forward_features(x), source.forward_features(x))
    assert new_task.head.weight.shape == (4, 256)
    torch.manual_seed(1)
    torch.testing.assert_close(new_task.head.weight, create_model("dass_tiny", num_classes=4).head.weight)


def test_pretrained_errors_say_what_dass_takes(tmp_path):
    with pytest.raises(FileNotFoundError, match="DASS_small.pth"):
        create_model("dass_tiny", pretrained=tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="no such file"):
        create_model("dass_small", pretrained="audioset")  # a weight name of AST, not a file
    with pytest.raises(ValueError, match="path of a checkpoint file"):
        create_model("dass_tiny", pretrained=True)


def test_dass_is_a_spectrogram_classifier():
    with pytest.raises(ValueError, match="built for in_chans=1, got 3 channels"):
        tiny()(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"expects a spectrogram batch \[B, 1, F, T\]"):
        tiny()(torch.randn(1, 32, 32))
    features_only = tiny(num_classes=0)
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(features_only(x), features_only.forward_features(x), atol=0, rtol=0)
    with pytest.raises(ValueError, match="mix must keep the patch grid shape"):
        tiny().forward_features(x, mix=lambda grid: grid[:, :2])
