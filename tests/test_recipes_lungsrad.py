"""Chapter 5's Lung-SRAD recipes: the paper's protocol, the objective's parts, and short runs on the simulator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from respkit.experiments import run_experiment, work_folder
from respkit.metrics import icbhi_score
from respkit.models.smoothing import GaussianSmoothing
from respkit.recipes import common, get_recipe
from respkit.recipes.lungsrad import (
    LungSRADConfig,
    build_features,
    build_model,
    build_objective,
    input_batch,
    input_frames,
    load_artifacts,
    load_trained_model,
)
from respkit.train import PatchMixCL, TrainConfig, predict

VARIANTS = ("finetune", "spectral", "time", "freq", "full")
TINY = {
    "duration": 1.0, "n_mels": 32, "batch_size": 4, "max_train": 24, "max_test": 16, "spec_time_width": 10,
    "val_fraction": 0.1,
    "train": TrainConfig(epochs=2, lr=1e-3, amp=False, max_steps_per_epoch=1, log_every=1, select_metric="score"),
}


def test_full_profile_is_the_papers_protocol():
    """Every stated hyper-parameter of Lung-SRAD (REFERENCES.md), variant by variant."""
    flags = {name: get_recipe(f"lungsrad.{name}").Config.for_profile("full") for name in VARIANTS}
    expected = {  # spectral_reg, time_mix, freq_mix: the cumulative ablation
        "finetune": (False, False, False), "spectral": (True, False, False), "time": (True, True, False),
        "freq": (True, False, True), "full": (True, True, True),
    }
    for name, config in flags.items():
        assert (config.spectral_reg, config.time_mix, config.freq_mix) == expected[name], name
        assert config.model == "dass_small" and config.batch_size == 16 and config.temperature == 0.2
        assert config.train.lr == 5e-5 and config.train.optimizer == "adam" and config.train.select_metric == "score"
        assert config.duration == 8.0 and config.n_mels == 128 and input_frames(config) == 798
        assert (config.spec_freq_width, config.spec_time_width) == (48, 160)
        assert (config.spectral_stage, config.spectral_blocks) == (2, (2, 3))
        assert config.max_train is None and config.max_test is None and config.train.max_steps_per_epoch is None
    ast = get_recipe("lungsrad.ast").Config.for_profile("full")
    assert (ast.model, ast.pretrained, ast.spectral_reg, ast.time_mix) == ("ast_base", "audioset", False, False)
    assert get_recipe("lungsrad.ast").Config.for_profile("quick").model == "ast_tiny"


def test_full_profile_reads_the_dass_weights_path_and_checks_it(monkeypatch, tmp_path):
    weights = tmp_path / "DASS_small.pth"
    weights.write_bytes(b"")
    monkeypatch.setenv("RESPKIT_DASS_WEIGHTS", str(weights))
    assert get_recipe("lungsrad.full").Config.for_profile("full").pretrained == str(weights)
    monkeypatch.setenv("RESPKIT_DASS_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        get_recipe("lungsrad.full").Config.for_profile("full")
    with pytest.raises(ValueError, match="not a DASS"):
        LungSRADConfig(model="ast_tiny", spectral_reg=True)


def test_released_dass_weights_are_loaded_without_their_head(tmp_path):
    """A checkpoint saved under the released names (module.v.layers...) loads into the backbone; the head stays new."""
    config = replace(LungSRADConfig.for_profile("quick"), spectral_reg=True)
    torch.manual_seed(1)
    source = build_model(config, num_classes=527)
    released = {}
    for key, value in source.state_dict().items():
        key = key.replace("stages.", "layers.").replace("downsample.conv.", "downsample.1.")
        key = key.replace("downsample.norm.", "downsample.3.").replace("patch_embed.conv1.", "patch_embed.0.")
        key = key.replace("patch_embed.norm1.", "patch_embed.2.").replace("patch_embed.conv2.", "patch_embed.5.")
        key = key.replace("patch_embed.norm2.", "patch_embed.7.")
        key = "classifier." + key if key.split(".")[0] in ("norm", "head") else key
        released["module.v." + key] = value
    path = tmp_path / "DASS_tiny.pth"
    torch.save(released, path)
    torch.manual_seed(2)
    model = build_model(replace(config, pretrained=str(path)), num_classes=4)
    for key, value in model.state_dict().items():
        if key.startswith("head."):
            assert value.shape[0] == 4
        else:
            torch.testing.assert_close(value, source.state_dict()[key], msg=key)


def test_spectral_reg_smooths_the_configured_blocks_only():
    config = LungSRADConfig.for_profile("quick")
    plain = build_model(config)
    smoothed = build_model(replace(config, spectral_reg=True))
    where = [f"{i}.{j}" for i, stage in enumerate(smoothed.stages) for j, block in enumerate(stage.blocks)
             if isinstance(block.smooth, GaussianSmoothing)]
    assert where == ["2.0", "2.1"]
    assert not any(isinstance(m, GaussianSmoothing) for m in plain.modules())
    assert (smoothed.stages[2].blocks[0].smooth.kernel_size, smoothed.stages[2].blocks[0].smooth.sigma) == (5, 3.0)


def batch(n=6, n_mels=32, frames=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, n_mels, frames, generator=g), torch.tensor([0, 1, 2, 3, 0, 1][:n])


def test_objective_without_axes_is_cross_entropy():
    config = replace(LungSRADConfig.for_profile("quick"), spec_freq_width=0, spec_time_width=0)
    model = build_model(config).eval()
    objective = build_objective(config, model)
    x, y = batch()
    out = objective((x, y))
    assert set(out) == {"loss", "ce"}
    torch.testing.assert_close(out["loss"], F.cross_entropy(model(x), y))


def test_objective_adds_each_axis_with_its_weight():
    """loss = CE + α_t L_time + α_f L_freq; with α = 0 only CE is left, yet each term is still reported."""
    config = replace(LungSRADConfig.for_profile("quick"), time_mix=True, freq_mix=True, alpha_time=0.5,
                     alpha_freq=2.0)
    model = build_model(config)
    objective = build_objective(config, model)
    x, y = batch()
    torch.manual_seed(0)
    out = objective((x, y))
    assert set(out) == {"loss", "ce", "cl_time", "cl_freq", "lam_time", "lam_freq"}
    torch.testing.assert_close(out["loss"].detach(), out["ce"] + 0.5 * out["cl_time"] + 2.0 * out["cl_freq"])
    # The contrastive terms are cross-entropies over the batch: between 0 and far above log(B) only if wrong.
    assert 0 < out["cl_time"] < 10 and 0 < out["cl_freq"] < 10
    out["loss"].backward()
    for axis in ("time", "freq"):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.contrastive[axis].parameters())
    zero = PatchMixCL(model, objective.mixers, {"time": 0.0, "freq": 0.0}, temperature=0.2)
    out = zero((x, y))
    torch.testing.assert_close(out["loss"], out["ce"], check_device=False)


def test_objective_mixes_contiguous_segments_on_the_patch_grid():
    """The hook sees the [B, F/4, T/4, C] grid of DASS and receives one contiguous run of columns or rows."""
    config = replace(LungSRADConfig.for_profile("quick"), time_mix=True, freq_mix=True)
    objective = build_objective(config, build_model(config))
    seen = {}
    for axis, mixer in objective.mixers.items():
        original = mixer.forward

        def record(patches, axis=axis, original=original):
            seen[axis] = (patches.shape, original(patches))
            return seen[axis][1]

        mixer.forward = record
    x, y = batch(frames=64)
    torch.manual_seed(3)
    objective((x, y))
    for axis, (shape, result) in seen.items():
        assert shape == (6, 8, 16, 32)  # 32 mels / 4, 64 frames / 4, dass_tiny's first width
        lines = result.mask.any(0) if axis == "time" else result.mask.any(1)  # the mixed columns / rows
        assert torch.equal(result.mask, lines[None, :].expand_as(result.mask) if axis == "time"
                           else lines[:, None].expand_as(result.mask))
        positions = torch.nonzero(lines).flatten()
        if len(positions):
            assert positions[-1] - positions[0] + 1 == len(positions)  # one segment
        assert result.lam == pytest.approx(1 - lines.float().mean().item())


@pytest.fixture(scope="module")
def runs(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {name: run_experiment(f"lungsrad.{name}", profile="quick", seeds=(1,), data=simulated, out_dir=out,
                                 overrides=TINY)
            for name in (*VARIANTS, "ast")}


def test_every_variant_reports_the_official_score_of_the_test_side(simulated, runs):
    """The saved predictions cover the (subsampled) official test side, and the metrics are its ICBHI score."""
    _, _, test = common.icbhi_splits(simulated, duration=1.0, seed=1, max_test=16, val_fraction=0.1)
    for name, results in runs.items():
        artifacts = load_artifacts(results, seed=1)
        np.testing.assert_array_equal(artifacts.predictions.y_true, test.labels)
        metrics = results["metrics_per_seed"][0]
        expected = icbhi_score(artifacts.predictions.y_true, artifacts.predictions.y_pred)
        assert metrics == pytest.approx(expected), name
        assert len(artifacts.history.train) == 2 and len(artifacts.history.eval) == 2
        if name in ("time", "freq", "full"):
            assert ("cl_time" in artifacts.history.train[0]) == (name != "freq")
            assert ("cl_freq" in artifacts.history.train[0]) == (name != "time")


def test_saved_weights_reproduce_the_test_predictions(simulated, runs):
    """load_trained_model rebuilds the selected model (smoothing included) from the results file alone."""
    results = runs["full"]
    model = load_trained_model(results, seed=1)
    assert any(isinstance(m, GaussianSmoothing) for m in model.modules())
    config = replace(LungSRADConfig.for_profile("quick"), **{k: v for k, v in TINY.items() if k != "train"})
    _, _, test = common.icbhi_splits(simulated, transform=build_features(config), duration=1.0, seed=1, max_test=16,
                                     val_fraction=0.1)
    predictions = predict(model, common.make_loader(test, 8, train=False), "cpu")
    np.testing.assert_array_equal(predictions.y_pred, load_artifacts(results, seed=1).predictions.y_pred)
    assert (work_folder(results, seed=1) / "last.pt").is_file()  # the trainer's checkpoint, for resuming


def test_input_batch_is_the_models_input(simulated):
    config = replace(LungSRADConfig.for_profile("quick"), n_mels=32, duration=1.0)
    x, y = input_batch(config, simulated, n=8)
    assert x.shape == (len(y), 1, 32, input_frames(config)) and 4 <= len(y) <= 8
    assert set(y.tolist()) <= {0, 1, 2, 3}

