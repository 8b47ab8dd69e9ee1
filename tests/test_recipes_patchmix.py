"""Chapter 4's recipes: the paper's protocol in ``full``, no download in ``quick``, losses computed by hand,
and each recipe run end to end on a small simulated ICBHI."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from respkit.augment import SpecAugment
from respkit.data.locate import DataSource, DatasetLocation
from respkit.data.synthetic import write_icbhi
from respkit.experiments import run_experiment
from respkit.mix import PatchMix
from respkit.models import ast as ast_module
from respkit.models import create_model
from respkit.models.ast import grid_size
from respkit.recipes import get_recipe
from respkit.recipes import patchmix
from respkit.recipes.patchmix import Config, build_objective, fbank_frames, load_artifacts
from respkit.train import PatchMixCE, PatchMixCL


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to fetch weights fails the test: quick runs and tests must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(ast_module, "load_pretrained", refuse)


def test_full_profile_is_the_papers_protocol():
    config = Config.for_profile("full")
    assert (config.model, config.pretrained, config.duration) == ("ast_base", "audioset", 8.0)
    assert (config.freq_mask, config.time_mask, config.mix_mode, config.mix_alpha) == (48, 160, "random", 1.0)
    assert (config.temperature, config.cl_weight, config.projector_dim, config.batch_size) == (0.06, 1.0, 768, 8)
    assert config.selection == "val" and config.max_train is None
    train = config.train
    assert (train.epochs, train.lr, train.optimizer, train.weight_decay) == (50, 5e-5, "adam", 1e-6)
    assert (train.min_lr_ratio, train.weight_averaging, train.warmup_epochs, train.amp) == (1e-3, 0.5, 0.0, True)
    assert train.select_metric == "score"
    # 8 s at 16 kHz: 798 frames, a 12 x 79 patch grid.
    assert fbank_frames(8.0) == 798 and (grid_size(128), grid_size(798)) == (12, 79)


def test_quick_profile_needs_no_weights_and_builds_offline():
    config = Config.for_profile("quick")
    assert config.pretrained is None and config.model == "ast_tiny"
    for method in patchmix.METHODS:
        objective = build_objective(config, method)  # would fail through no_network if it loaded weights
        assert objective.model.input_frames == fbank_frames(config.duration)


def test_full_recipe_loads_audioset_weights_on_their_grid(monkeypatch):
    calls = []
    monkeypatch.setattr(ast_module, "load_pretrained", lambda model, source, deit: calls.append((source, model)))
    objective = build_objective(Config.for_profile("full"), "cl")
    (source, model), = calls
    assert source == "audioset" and model is objective.model
    assert model.pos_grid == (12, 101)  # AudioSet's positions (1024 frames), cut to 12 x 79 at forward time
    (name, contrastive), = objective.contrastive.items()
    assert name == "patch" and objective.mixers["patch"].mode == "random" and objective.weights == {"patch": 1.0}
    assert contrastive.projector[0].in_features == 768 and contrastive.temperature == 0.06


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="selection"):
        Config(selection="best")
    with pytest.raises(ValueError, match="duration"):
        Config(duration=0.1)
    with pytest.raises(ValueError, match="profile"):
        Config.for_profile("huge")
    with pytest.raises(ValueError, match="weights must name the mixers"):
        PatchMixCL(create_model("ast_tiny", n_mels=32, input_frames=40), {"patch": PatchMix()}, {"time": 1.0})
    with pytest.raises(ValueError, match="method"):
        build_objective(Config.for_profile("quick"), "mixup")


# --------------------------------------------------------------------------------------------------
# The three losses, recomputed by hand with the same random draws.

@pytest.fixture
def tiny_batch():
    torch.manual_seed(0)
    model = create_model("ast_tiny", num_classes=4, n_mels=32, input_frames=60)  # grid 2 x 5
    x = torch.randn(6, 1, 32, 60)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    return model, x, y


def make_objective(model, method):
    augment = SpecAugment(freq_width=8, time_width=10)
    if method == "mix_ce":
        return PatchMixCE(model, PatchMix("random"), augment)
    mixers = {"patch": PatchMix("random")} if method == "cl" else {}
    return PatchMixCL(model, mixers, {name: 0.7 for name in mixers}, augment, temperature=0.1, projector_dim=16)


def mix_by_hand(model, x, seed):
    """SpecAugment then Patch-Mix with the draws the objective makes after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    augmented = SpecAugment(freq_width=8, time_width=10)(x)
    result = PatchMix("random")(model.patch_embed(augmented))
    return augmented, result


def test_finetune_loss_is_cross_entropy_on_the_augmented_input(tiny_batch):
    model, x, y = tiny_batch
    torch.manual_seed(3)
    out = make_objective(model, "finetune")((x, y))
    torch.manual_seed(3)
    augmented = SpecAugment(freq_width=8, time_width=10)(x)
    assert not torch.equal(augmented, x)
    logp = model(augmented).log_softmax(dim=1)
    assert out["loss"].item() == pytest.approx(-logp[torch.arange(6), y].mean().item(), rel=1e-5)


def test_mixed_cross_entropy_weighs_both_labels_by_the_kept_fraction(tiny_batch):
    model, x, y = tiny_batch
    torch.manual_seed(4)
    out = make_objective(model, "mix_ce")((x, y))
    augmented, mix = mix_by_hand(model, x, 4)
    assert 0 < mix.mask.sum() < mix.mask.numel()  # a real mix at this seed
    logp = model.forward_head(model.forward_features(augmented, mix=lambda p: mix.mixed)).log_softmax(dim=1)
    rows = torch.arange(6)
    expected = -(mix.lam * logp[rows, y] + (1 - mix.lam) * logp[rows, y[mix.perm]]).mean()
    assert out["lam"].item() == pytest.approx(1 - mix.mask.float().mean().item())
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_contrastive_objective_is_ce_plus_weighted_patch_mix_loss(tiny_batch):
    model, x, y = tiny_batch
    objective = make_objective(model, "cl")
    torch.manual_seed(5)
    out = objective((x, y))
    augmented, mix = mix_by_hand(model, x, 5)
    z = model.forward_features(augmented)
    ce = F.cross_entropy(model.forward_head(z), y)
    z_mixed = model.forward_features(augmented, mix=lambda p: mix.mixed)
    # The paper's equation, term by term: anchors are the clean features, queries the projected mixed ones.
    anchors = F.normalize(z, dim=1)
    queries = F.normalize(objective.contrastive["patch"].projector(z_mixed), dim=1)
    cl = 0.0
    for i in range(6):
        sims = queries[i] @ anchors.T / 0.1
        cl -= mix.lam * sims[i] + (1 - mix.lam) * sims[mix.perm[i]] - torch.logsumexp(sims, dim=0)
    cl = cl / 6
    assert out["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert out["cl_patch"].item() == pytest.approx(cl.item(), rel=1e-4)
    assert out["lam_patch"].item() == pytest.approx(mix.lam)
    assert out["loss"].item() == pytest.approx(ce.item() + 0.7 * cl.item(), rel=1e-4)


# --------------------------------------------------------------------------------------------------
# The recipes end to end on a small simulated ICBHI.

@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulated ICBHI (about 40 cycles) and a feature cache shared by this module's runs."""
    folder = tmp_path_factory.mktemp("sim")
    root = write_icbhi(folder / "icbhi", n_patients=8, seed=1, cycles_per_recording=(2, 4))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RESPKIT_CACHE", str(folder / "cache"))
        yield DataSource(icbhi=DatasetLocation("icbhi", root, "simulator"),
                         sprsound=DatasetLocation("sprsound", folder / "sprsound", "simulator"))


TINY = {"duration": 1.0, "time_mask": 20, "batch_size": 4, "max_train": 16,
        "train.epochs": 2, "train.max_steps_per_epoch": 2}


def recomputed_scores(y_true, y_pred):
    """ICBHI Sp / Se / Score by their definitions (REFERENCES.md)."""
    normal, abnormal = y_true == 0, y_true != 0
    sp = np.mean(y_pred[normal] == 0)
    se = np.mean(y_pred[abnormal] == y_true[abnormal])
    return sp, se, (sp + se) / 2


@pytest.mark.parametrize("method", patchmix.METHODS)
def test_recipe_runs_and_reports_the_official_score_of_its_predictions(simulated, tmp_path, method):
    name = f"patchmix.{method}"
    assert get_recipe(name).method == method
    results = run_experiment(name, profile="quick", data=simulated, out_dir=tmp_path / "runs", overrides=TINY)
    metrics = results["metrics_per_seed"][0]
    predictions, history = load_artifacts(results)
    y_true, y_pred = predictions["y_true"], predictions["y_pred"]
    assert len(y_true) > 0 and predictions["scores"].shape == (len(y_true), 4)
    assert np.array_equal(y_pred, predictions["scores"].argmax(axis=1))
    sp, se, score = recomputed_scores(y_true, y_pred)
    assert (metrics["sp"], metrics["se"], metrics["score"]) == pytest.approx((sp, se, score))
    # The kept epoch is the best on validation, and that is the score it reports.
    val_scores = history.metric("score")
    assert len(val_scores) == 2 and metrics["best_epoch"] == int(np.argmax(val_scores))
    assert metrics["selection_score"] == pytest.approx(max(val_scores))
    assert len(history.step_loss) == 4 and all(np.isfinite(history.step_loss))
    lam = {"mix_ce": "lam", "cl": "lam_patch"}.get(method)  # the logged share kept by the mix
    if lam is not None:
        assert all(0 <= epoch[lam] <= 1 for epoch in history.train)


def test_test_set_selection_is_explicit_and_picks_the_best_test_epoch(simulated, tmp_path):
    results = run_experiment("patchmix.cl", profile="quick", data=simulated, out_dir=tmp_path / "runs",
                             overrides={**TINY, "selection": "test"})
    assert results["config"]["selection"] == "test"  # recorded in the results file
    metrics = results["metrics_per_seed"][0]
    _, history = load_artifacts(results)
    # Selected on the test set itself: the reported test score is the best epoch's, by construction.
    assert metrics["score"] == pytest.approx(max(history.metric("score")))
    assert metrics["selection_score"] == pytest.approx(metrics["score"])


def test_load_artifacts_names_a_missing_work_folder(tmp_path):
    fake = {"path": str(tmp_path / "patchmix.cl-full-0123abcd.json"), "seeds": [0]}
    with pytest.raises(FileNotFoundError, match="seed0"):
        load_artifacts(fake)

