"""Registry, the shared classifier interface, the small CNN, ResNet18, the projection head and the
pretrained-weight cache (exercised with local file:// URLs: no network)."""

import hashlib

import pytest
import timm
import torch
from safetensors.torch import save_file

from respkit.models import ProjectionHead, create_model, list_models, model_class, pretrained, register_model
from respkit.models.cnn import SmallCNN
from respkit.models.heads import SpectrogramClassifier
from respkit.models.pretrained import WeightFile, load_state_dict_checked, load_weights, weight_path


def test_registry_lists_every_family():
    assert {"cnn_small", "resnet18", "ast_tiny", "ast_small", "ast_base"} <= set(list_models())
    with pytest.raises(KeyError, match="unknown model 'resnet19'"):
        create_model("resnet19")


# One cheap configuration per classifier family, for the checks that build every family.
CHEAP = {"cnn_small": {}, "resnet18": {"width": 8}, "ast_tiny": {"n_mels": 32, "input_frames": 48}, "dass_tiny": {}}
# Detectors answer per frame (``[B, C, T]``), not per clip: they are not SpectrogramClassifiers.
DETECTORS = {"crnn": {"n_mels": 32, "widths": (4, 8), "pools": (4, 2), "hidden": 8}}


def test_every_family_has_a_cheap_configuration_here():
    assert {model_class(name) for name in CHEAP | DETECTORS} == {model_class(name) for name in list_models()}


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detectors_answer_every_frame_and_have_no_weights_to_load(name):
    model = create_model(name, num_classes=3, **DETECTORS[name])
    assert type(model) is model_class(name) and not isinstance(model, SpectrogramClassifier)
    assert model(torch.randn(2, 1, 32, 17)).shape == (2, 3, 17)
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model(name, pretrained="audioset")


def test_every_factory_takes_pretrained_and_a_falsy_value_means_random_weights():
    for name in CHEAP:
        for falsy in (None, False, ""):
            assert isinstance(create_model(name, pretrained=falsy, **CHEAP[name]), SpectrogramClassifier)

    def no_weights_argument(num_classes=4) -> SmallCNN:
        return SmallCNN(num_classes)

    with pytest.raises(TypeError, match="must take a pretrained= argument"):
        register_model(no_weights_argument)
    assert "no_weights_argument" not in list_models()


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_model_class_is_what_create_model_builds(name):
    assert type(create_model(name, **CHEAP[name])) is model_class(name)


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_capability_flags_tell_the_truth(name):
    """What each family says it can do (accepts_mix, supports_spectral_reg, takes_input_size), it does."""
    family = model_class(name)
    model = create_model(name, num_classes=3, **CHEAP[name]).eval()
    x = torch.randn(2, 1, 32, 48)  # [B, 1, F, T]
    if family.accepts_mix:
        seen = []
        with torch.no_grad():
            plain = model.forward_features(x)
            same = model.forward_features(x, mix=lambda grid: seen.append(grid.shape) or grid)
        torch.testing.assert_close(same, plain)
        assert tuple(seen[0][1:3]) == model.patch_grid(32, 48)  # the grid the callable saw: [B, H, W, D]
    else:
        with pytest.raises(TypeError):
            model.forward_features(x, mix=lambda grid: grid)
        with pytest.raises(TypeError, match="no patch grid"):
            model.patch_grid(32, 48)
    if family.supports_spectral_reg:
        create_model(name, spectral_reg={"stage": 0, "blocks": (0,)}, **CHEAP[name])
    else:
        with pytest.raises(TypeError):
            create_model(name, spectral_reg={}, **CHEAP[name])
    assert model.input_size == ((32, 48) if family.takes_input_size else None)


@pytest.mark.parametrize(
    "name, in_chans, size, num_features",
    [("cnn_small", 1, (64, 100), 256), ("cnn_small", 3, (32, 48), 256), ("resnet18", 1, (64, 64), 512),
     ("resnet18", 3, (64, 64), 512)],
)  # fmt: skip
def test_classifier_interface(name, in_chans, size, num_features):
    model = create_model(name, num_classes=4, in_chans=in_chans).eval()
    x = torch.randn(2, in_chans, *size)  # [B, C, F, T]
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
    assert model.num_features == num_features and features.shape == (2, num_features)
    assert logits.shape == (2, 4)
    torch.testing.assert_close(logits, model.forward_head(features), atol=0, rtol=0)


@pytest.mark.parametrize("name", ["cnn_small", "resnet18"])
def test_no_head_returns_features(name):
    model = create_model(name, num_classes=0).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_features(x), atol=0, rtol=0)


def test_resnet18_is_timms_resnet18():
    model = create_model("resnet18", num_classes=3).eval()
    reference = timm.create_model("resnet18", num_classes=3, in_chans=1).eval()
    state = {k.removeprefix("backbone."): v for k, v in model.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = state.pop("head.weight"), state.pop("head.bias")
    reference.load_state_dict(state, strict=True)
    x = torch.randn(2, 1, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=0)
        torch.testing.assert_close(
            model.forward_features(x), reference.forward_head(reference.forward_features(x), pre_logits=True)
        )
    assert reference.conv1.in_channels == 1 and model.backbone.conv1.in_channels == 1


def test_small_cnn_structure_and_pooling():
    model = SmallCNN(num_classes=2, widths=(4, 8, 16, 32)).eval()
    assert len(model.blocks) == 4
    kinds = [type(m).__name__ for m in model.blocks[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    x = torch.randn(3, 1, 64, 96)
    with torch.no_grad():
        maps = model.blocks(x)  # [B, 32, 4, 6]
        assert maps.shape == (3, 32, 4, 6)
        torch.testing.assert_close(model.forward_features(x), maps.mean(dim=(2, 3)))
    assert "widths=(4, 8, 16, 32)" in repr(model)
    with pytest.raises(ValueError, match="cnn_small has no pretrained weights"):
        create_model("cnn_small", pretrained="imagenet")


@pytest.mark.parametrize("name", ["cnn_small", "resnet18"])
def test_bad_input_is_explained(name):
    model = create_model(name)
    with pytest.raises(ValueError, match=r"expects a spectrogram batch \[B, 1, F, T\]"):
        model(torch.randn(1, 64, 64))
    with pytest.raises(ValueError, match="built for in_chans=1, got 3 channels"):
        model(torch.randn(1, 3, 64, 64))


def test_small_cnn_rejects_inputs_too_small_to_pool():
    with pytest.raises(ValueError, match="at least 16 frequency rows"):
        create_model("cnn_small")(torch.randn(1, 1, 8, 64))


# --- projection head -----------------------------------------------------------------------------


def test_projection_head_is_the_documented_mlp():
    head = ProjectionHead(6, 5, 3).eval()
    lin1, relu, lin2 = head.net
    assert isinstance(relu, torch.nn.ReLU)
    x = torch.randn(4, 6)
    expected = lin2(torch.relu(lin1(x)))
    torch.testing.assert_close(head(x), expected, atol=0, rtol=0)
    assert not torch.allclose(head(x).norm(dim=1), torch.ones(4))  # not normalised


def test_projection_head_variants():
    patch_mix = ProjectionHead(8, 8, 8, batch_norm=True)  # Linear -> BN -> ReLU -> Linear
    assert [type(m).__name__ for m in patch_mix.net] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    deep = ProjectionHead(8, 16, 4, n_layers=3)
    assert [m.out_features for m in deep.net if isinstance(m, torch.nn.Linear)] == [16, 16, 4]
    linear = ProjectionHead(8, 16, 4, n_layers=1)
    assert len(linear.net) == 1 and linear(torch.randn(2, 8)).shape == (2, 4)
    assert "n_layers=3, batch_norm=False" in repr(deep)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        ProjectionHead(8, 8, 8, n_layers=0)
    with pytest.raises(ValueError, match=r"expects \[B, 8\]"):
        deep(torch.randn(2, 7))


# --- pretrained weight files ---------------------------------------------------------------------


@pytest.fixture
def weight_file(tmp_path, monkeypatch):
    """A safetensors file served from a file:// URL, registered as 'toy', and an empty cache."""
    source = tmp_path / "remote" / "toy.safetensors"
    source.parent.mkdir()
    tensors = {"w": torch.arange(6.0).reshape(2, 3)}
    save_file(tensors, str(source))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setenv("RESPKIT_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.setitem(
        pretrained.WEIGHTS, "toy", WeightFile("toy.safetensors", source.as_uri(), digest, "a test tensor")
    )
    return source, digest, tensors


def test_download_verifies_and_caches(weight_file, tmp_path):
    source, _, tensors = weight_file
    path = weight_path("toy")
    assert path == tmp_path / "cache" / "toy.safetensors" and path.read_bytes() == source.read_bytes()
    assert list(path.parent.iterdir()) == [path]  # no .part file left behind
    source.unlink()  # now served from the cache only
    assert torch.equal(load_weights("toy")["w"], tensors["w"])


def test_checksum_mismatch_leaves_nothing(weight_file, monkeypatch, tmp_path):
    source, _, _ = weight_file
    monkeypatch.setitem(pretrained.WEIGHTS, "toy", WeightFile("toy.safetensors", source.as_uri(), "0" * 64, "x"))
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        weight_path("toy")
    assert list((tmp_path / "cache").iterdir()) == []


def test_offline_error_says_what_to_do(weight_file, monkeypatch, tmp_path):
    missing = (tmp_path / "nowhere.safetensors").as_uri()
    monkeypatch.setitem(pretrained.WEIGHTS, "toy", WeightFile("toy.safetensors", missing, None, "x"))
    with pytest.raises(RuntimeError) as err:
        weight_path("toy")
    message = str(err.value)
    assert missing in message and str(tmp_path / "cache" / "toy.safetensors") in message
    assert "RESPKIT_WEIGHTS" in message
    assert list((tmp_path / "cache").iterdir()) == []
    with pytest.raises(FileNotFoundError, match="not cached"):
        weight_path("toy", download=False)
    with pytest.raises(KeyError, match="unknown weight file"):
        weight_path("nope")


def test_torch_save_files_load_too(tmp_path, monkeypatch):
    source = tmp_path / "toy.pt"
    torch.save({"w": torch.ones(2)}, source)
    monkeypatch.setenv("RESPKIT_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.setitem(pretrained.WEIGHTS, "toy", WeightFile("toy.pt", source.as_uri(), None, "x"))
    assert torch.equal(load_weights("toy")["w"], torch.ones(2))


def test_load_state_dict_checked():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    good = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    load_state_dict_checked(model, good)
    assert torch.equal(model[1].weight, torch.full((1, 2), 0.5))
    partial_state = {k: v for k, v in good.items() if not k.startswith("1.")}
    load_state_dict_checked(model, partial_state, allow_missing=("1.",))
    bad = dict(good, **{"0.weight": torch.zeros(2, 4), "2.bias": torch.zeros(1)})
    del bad["1.bias"]
    with pytest.raises(ValueError) as err:
        load_state_dict_checked(model, bad)
    message = str(err.value)
    assert "missing (1): 1.bias" in message and "unexpected (1): 2.bias" in message
    assert "0.weight: checkpoint (2, 4) vs model (2, 3)" in message


def test_narrow_resnet18_scales_every_stage():
    model = create_model("resnet18", num_classes=2, width=16).eval()
    assert model.num_features == 128 and "width=16" in repr(model)
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].out_channels == 64  # timm's plain stem keeps its width
    assert {c.out_channels for c in convs[1:]} == {16, 32, 64, 128}
    # About a sixteenth of the standard network's weights (the stem and the first stage's input stay wider).
    standard = sum(p.numel() for p in create_model("resnet18", num_classes=2).parameters())
    narrow = sum(p.numel() for p in model.parameters())
    assert 0.05 < narrow / standard < 0.08
    with pytest.raises(ValueError, match="width"):
        create_model("resnet18", width=16, pretrained="imagenet")
