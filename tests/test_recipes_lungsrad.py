"""Chapter 5's Lung-SRAD recipes: the paper's protocol, the objective's parts, and short runs on the simulator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from respkit.analysis import FeatureRecorder
from respkit.experiments import run_experiment
from respkit.metrics import sprsound_score
from respkit.models.smoothing import GaussianSmoothing
from respkit.recipes import common, get_recipe
from respkit.recipes.lungsrad import LungSRADConfig, input_batch, load_trained_model
from respkit.recipes.patchmix import build_model, load_features
from respkit.runs import RunArtifacts, work_folder
from respkit.train import PatchMixCL, predict

VARIANTS = ("finetune", "spectral", "time", "freq", "full")
TINY = {
    "duration": 1.0,
    "batch_size": 4,
    "epoch_items": 8,
    "max_train": 24,
    "max_val": 16,
    "max_test": 12,
    "train.epochs": 2,
    "train.select_metric": "score",
}


def test_full_profile_is_the_papers_protocol_on_icbhi():
    """Every stated hyper-parameter of Lung-SRAD (REFERENCES.md), variant by variant."""
    expected = {  # spectral_reg, time_mix, freq_mix: the cumulative ablation
        "finetune": (False, False, False),
        "spectral": (True, False, False),
        "time": (True, True, False),
        "freq": (True, False, True),
        "full": (True, True, True),
    }
    for name, flags in expected.items():
        config = get_recipe(f"lungsrad.{name}").Config.for_profile("full")
        assert (config.spectral_reg, config.time_mix, config.freq_mix) == flags, name
        assert (config.dataset, config.model, config.batch_size, config.temperature) == ("icbhi", "dass_small", 16, 0.2)
        assert config.train.lr == 5e-5 and config.train.optimizer == "adam" and config.train.select_metric == "score"
        assert config.duration == 8.0 and config.n_mels == 128 and config.frames == 798
        assert (config.freq_mask, config.time_mask) == (48, 160)
        assert (config.spectral_stage, config.spectral_blocks) == (2, (2, 3))
        assert config.max_train is None and config.train.max_steps_per_epoch is None
        assert not config.allow_random_init
    ast = get_recipe("lungsrad.ast").Config.for_profile("full")
    assert (ast.model, ast.pretrained, ast.spectral_reg, ast.time_mix) == ("ast_base", "audioset", False, False)
    quick = get_recipe("lungsrad.ast").Config.for_profile("quick")
    assert (quick.model, quick.dataset, quick.task) == ("ast_tiny", "sprsound", "1-1")


def test_full_profile_reads_the_dass_weights_path_and_checks_it(monkeypatch, tmp_path):
    weights = tmp_path / "DASS_small.pth"
    weights.write_bytes(b"")
    monkeypatch.setenv("RESPKIT_DASS_WEIGHTS", str(weights))
    assert get_recipe("lungsrad.full").Config.for_profile("full").pretrained == str(weights)
    monkeypatch.setenv("RESPKIT_DASS_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        get_recipe("lungsrad.full").Config.for_profile("full")
    with pytest.raises(ValueError, match="has none"):
        LungSRADConfig(model="ast_tiny", spectral_reg=True)


def test_full_profile_refuses_random_weights_unless_told(monkeypatch, simulated, tmp_path):
    monkeypatch.delenv("RESPKIT_DASS_WEIGHTS", raising=False)
    with pytest.raises(ValueError, match="allow_random_init"):
        run_experiment("lungsrad.full", profile="full", data=simulated, out_dir=tmp_path)


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
    model = build_model(replace(config, pretrained=str(path)), 4, str(path))
    for key, value in model.state_dict().items():
        if key.startswith("head."):
            assert value.shape[0] == 4
        else:
            torch.testing.assert_close(value, source.state_dict()[key], msg=key)


def test_spectral_reg_smooths_the_configured_blocks_only():
    config = LungSRADConfig.for_profile("quick")
    plain = build_model(config, 2)
    smoothed = build_model(replace(config, spectral_reg=True), 2)
    where = [
        f"{i}.{j}"
        for i, stage in enumerate(smoothed.stages)
        for j, block in enumerate(stage.blocks)
        if isinstance(block.smooth, GaussianSmoothing)
    ]
    assert where == ["2.0", "2.1"]
    assert not any(isinstance(m, GaussianSmoothing) for m in plain.modules())
    assert (smoothed.stages[2].blocks[0].smooth.kernel_size, smoothed.stages[2].blocks[0].smooth.sigma) == (3, 0.44)


def coarsest_pattern_kept(smoothing: GaussianSmoothing, height: int, width: int) -> float:
    """The share of a map's coarsest pattern along frequency (one half cosine over the rows) left by the blur."""
    pattern = torch.cos(torch.pi * (torch.arange(height) + 0.5) / height)  # the lowest DCT mode of the rows
    x = pattern[:, None].expand(height, width).reshape(1, height, width, 1).expand(1, height, width, smoothing.channels)
    return float((smoothing(x) * x).sum() / (x * x).sum())


@pytest.mark.parametrize("profile", ["quick", "cpu"])
def test_small_profiles_smooth_as_much_as_the_paper_does_on_its_map(profile):
    """The kernel counts cells of the smoothed map. The paper's (5, σ 3) keeps 0.88 of its 8 x 50 map's coarsest
    frequency pattern; on a small profile's 2-row map it keeps 0.22 per block, and the stage outputs its mean
    (every quick seed then answered one class). Each profile's kernel must keep the paper's share of its own map."""

    def smoothed_map(config):
        model = build_model(config, 2).eval()
        with FeatureRecorder(model, lambda name, m: isinstance(m, GaussianSmoothing)) as rec, torch.no_grad():
            model(torch.zeros(1, 1, config.n_mels, config.frames))
        name = next(iter(rec.outputs))
        return model.get_submodule(name), rec.outputs[name].shape[1:3]

    paper = replace(get_recipe("lungsrad.spectral").Config.for_profile("full"), pretrained=None, allow_random_init=True)
    paper_smoothing, paper_map = smoothed_map(paper)
    assert tuple(paper_map) == (8, 50) and (paper_smoothing.kernel_size, paper_smoothing.sigma) == (5, 3.0)
    paper_share = coarsest_pattern_kept(paper_smoothing, *paper_map)
    assert paper_share == pytest.approx(0.88, abs=0.01)

    config = get_recipe("lungsrad.spectral").Config.for_profile(profile)
    smoothing, small_map = smoothed_map(config)
    assert small_map[0] == 2  # 32 mel bins, four halvings
    assert coarsest_pattern_kept(GaussianSmoothing(1, 5, 3.0), *small_map) < 0.25  # the paper's kernel here
    assert coarsest_pattern_kept(smoothing, *small_map) == pytest.approx(paper_share, abs=0.02)


def batch(n=6, n_mels=32, frames=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, n_mels, frames, generator=g), torch.tensor([0, 1, 2, 3, 0, 1][:n])


def test_objective_without_axes_is_cross_entropy():
    config = replace(LungSRADConfig.for_profile("quick"), freq_mask=0, time_mask=0)
    model = build_model(config, 4).eval()
    out = config.objective(model)(batch())
    assert set(out) == {"loss", "ce"}
    x, y = batch()
    torch.testing.assert_close(out["loss"], F.cross_entropy(model(x), y))


def test_objective_adds_each_axis_with_its_weight():
    """loss = CE + α_t L_time + α_f L_freq; with α = 0 only CE is left, yet each term is still reported."""
    config = replace(LungSRADConfig.for_profile("quick"), time_mix=True, freq_mix=True, alpha_time=0.5, alpha_freq=2.0)
    model = build_model(config, 4)
    objective = config.objective(model)
    torch.manual_seed(0)
    out = objective(batch())
    assert set(out) == {"loss", "ce", "cl_time", "cl_freq", "lam_time", "lam_freq"}
    torch.testing.assert_close(out["loss"].detach(), out["ce"] + 0.5 * out["cl_time"] + 2.0 * out["cl_freq"])
    # The contrastive terms are cross-entropies over the batch: between 0 and far above log(B) only if wrong.
    assert 0 < out["cl_time"] < 10 and 0 < out["cl_freq"] < 10
    out["loss"].backward()
    for axis in ("time", "freq"):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.projectors[axis].parameters())
    zero = PatchMixCL(model, objective.mixers, {"time": 0.0, "freq": 0.0}, temperature=0.2)
    out = zero(batch())
    torch.testing.assert_close(out["loss"], out["ce"], check_device=False)


def test_objective_mixes_contiguous_segments_on_the_patch_grid():
    """The hook sees the [B, F/4, T/4, C] grid of DASS and receives one contiguous run of columns or rows."""
    config = replace(LungSRADConfig.for_profile("quick"), time_mix=True, freq_mix=True)
    objective = config.objective(build_model(config, 4))
    seen = {}
    for axis, mixer in objective.mixers.items():
        original = mixer.forward

        def record(patches, axis=axis, original=original):
            seen[axis] = (patches.shape, original(patches))
            return seen[axis][1]

        mixer.forward = record
    torch.manual_seed(3)
    objective(batch(frames=64))
    for axis, (shape, result) in seen.items():
        assert shape == (6, 8, 16, 8)  # 32 mels / 4, 64 frames / 4, the quick DASS's first width
        lines = result.mask.any(0) if axis == "time" else result.mask.any(1)  # the mixed columns / rows
        assert torch.equal(
            result.mask,
            lines[None, :].expand_as(result.mask) if axis == "time" else lines[:, None].expand_as(result.mask),
        )
        positions = torch.nonzero(lines).flatten()
        if len(positions):
            assert positions[-1] - positions[0] + 1 == len(positions)  # one segment
        assert result.lam == pytest.approx(1 - lines.float().mean().item())


@pytest.fixture(scope="module")
def runs(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    # Two seeds of one variant show that the held-out patients do not depend on the seed.
    return {
        name: run_experiment(
            f"lungsrad.{name}",
            profile="quick",
            seeds=(1, 2) if name == "full" else (1,),
            data=simulated,
            out_dir=out,
            overrides=TINY,
        )
        for name in (*VARIANTS, "ast")
    }


def test_every_variant_reports_the_official_score_of_the_held_out_patients(simulated, runs):
    """The saved predictions cover the (subsampled) held-out patients, the same for both seeds, and the
    metrics are their SPRSound score."""
    val = common.splits(simulated, LungSRADConfig.for_profile("quick").replace(max_val=16), duration=1.0).val
    for name, results in runs.items():
        for seed, metrics in zip(results["seeds"], results["metrics_per_seed"]):
            artifacts = RunArtifacts.of(results, seed)
            np.testing.assert_array_equal(artifacts.predictions["val"].y_true, val.labels)
            np.testing.assert_array_equal(artifacts.groups["val"], val.groups)
            p = artifacts.predictions["val"]
            assert metrics["score"] == pytest.approx(sprsound_score(p.y_true, p.y_pred, "1-1")["score"]), name
            assert len(artifacts.history.train) == 2 and metrics["best_epoch"] == artifacts.history.best_epoch
        if name in ("time", "freq", "full"):
            assert ("cl_time" in artifacts.history.train[0]) == (name != "freq")
            assert ("cl_freq" in artifacts.history.train[0]) == (name != "time")


def test_saved_weights_reproduce_the_held_out_predictions(simulated, runs):
    """load_trained_model rebuilds the selected model (smoothing included) from the results file alone."""
    results = runs["full"]
    model = load_trained_model(results, seed=1)
    assert any(isinstance(m, GaussianSmoothing) for m in model.modules())
    config = replace(LungSRADConfig.for_profile("quick"), duration=1.0, max_train=24, max_val=16, max_test=12)
    val = load_features(simulated, config).val
    predictions = predict(model, common.eval_loader(val, config), "cpu")
    np.testing.assert_array_equal(predictions.y_pred, RunArtifacts.of(results, 1).predictions["val"].y_pred)
    assert (work_folder(results, seed=1) / "train" / "last.pt").is_file()  # the trainer's checkpoint, for resuming


def test_input_batch_is_the_models_input(simulated):
    config = replace(LungSRADConfig.for_profile("quick"), duration=1.0)
    x, y = input_batch(config, simulated, n=8)
    assert x.shape == (len(y), 1, 32, config.frames) and 4 <= len(y) <= 8
    assert set(y.tolist()) <= {0, 1}
