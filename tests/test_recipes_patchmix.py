"""Chapter 4's recipes: the paper's protocol in ``full``, no download in ``quick``, losses computed by hand,
and each recipe run end to end on the simulator with tiny settings."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from respkit.augment import SpecAugment
from respkit.experiments import run_experiment
from respkit.features import fbank_frames
from respkit.mix import PatchMix
from respkit.models import ast as ast_module
from respkit.models import create_model
from respkit.models.ast import grid_size
from respkit.recipes import get_recipe, patchmix
from respkit.recipes.patchmix import PatchMixConfig, build_model
from respkit.runs import RunArtifacts
from respkit.train import PatchMixCE, PatchMixCL


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to fetch weights fails the test: quick runs and tests must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(ast_module, "load_pretrained", refuse)


def test_full_profile_is_the_papers_protocol_on_icbhi():
    for method in patchmix.METHODS:
        config = get_recipe(f"patchmix.{method}").Config.for_profile("full")
        assert config.method == method and (config.dataset, config.task) == ("icbhi", None)
        assert (config.model, config.pretrained) == ("ast_base", "audioset")
        assert (config.duration, config.sample_rate) == (8.0, 16000)
        assert (config.n_mels, config.frame_shift_ms, config.standardize) == (128, 10.0, False)
        assert (config.freq_mask, config.time_mask, config.mix_mode, config.mix_alpha) == (48, 160, "random", 1.0)
        assert (config.temperature, config.cl_weight, config.projector_dim, config.batch_size) == (0.06, 1.0, 768, 8)
        assert config.selection == "valid" and config.max_train is None and not config.balanced
        train = config.train
        assert (train.epochs, train.lr, train.optimizer, train.weight_decay) == (50, 5e-5, "adam", 1e-6)
        assert (train.min_lr_ratio, train.weight_averaging, train.warmup_epochs, train.amp) == (1e-3, 0.5, 0.0, True)
        assert train.select_metric == "score"
    # 8 s at 16 kHz: 798 frames, a 12 x 79 patch grid.
    assert config.frames == fbank_frames(8.0) == 798 and (grid_size(128), grid_size(798)) == (12, 79)


def test_quick_profile_learns_on_sprsound_events_without_weights():
    config = PatchMixConfig.for_profile("quick")
    assert (config.dataset, config.task, config.pretrained, config.balanced) == ("sprsound", "1-1", None, True)
    assert config.frames == 1 + (12000 - 200) // 160  # 1.5 s at 8 kHz, 25 ms windows every 20 ms
    model = build_model(config, num_classes=2)  # would fail through no_network if it loaded weights
    assert (model.embed_dim, model.depth, model.input_size) == (64, 2, (32, config.frames))
    for method in patchmix.METHODS:
        objective = get_recipe(f"patchmix.{method}").Config.for_profile("quick").objective(model)
        assert isinstance(objective, PatchMixCE if method == "mix_ce" else PatchMixCL)


def test_full_recipe_loads_audioset_weights_on_their_grid(monkeypatch):
    calls = []
    monkeypatch.setattr(ast_module, "load_pretrained", lambda model, source, deit: calls.append((source, model)))
    config = PatchMixConfig.for_profile("full")
    model = build_model(config, 4, config.pretrained)
    objective = config.objective(model)
    ((source, loaded),) = calls
    assert source == "audioset" and loaded is model is objective.model
    assert model.pos_grid == (12, 101)  # AudioSet's positions (1024 frames), cut to 12 x 79 at forward time
    ((name, projector),) = objective.projectors.items()
    assert name == "patch" and objective.mixers["patch"].mode == "random" and objective.weights == {"patch": 1.0}
    assert projector[0].in_features == 768 and objective.contrastive.temperature == 0.06


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="method"):
        PatchMixConfig(method="mixup")
    with pytest.raises(ValueError, match="fewer than one patch"):
        PatchMixConfig(duration=0.1)
    with pytest.raises(ValueError, match="accept_mix"):
        PatchMixConfig(model="cnn_small")
    with pytest.raises(ValueError, match="profile"):
        PatchMixConfig.for_profile("huge")
    with pytest.raises(ValueError, match="weights must name the mixers"):
        PatchMixCL(create_model("ast_tiny", n_mels=32, input_frames=40), {"patch": PatchMix()}, {"time": 1.0})


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
    config = PatchMixConfig(method=method, freq_mask=8, time_mask=10, temperature=0.1, projector_dim=16, cl_weight=0.7)
    return config.objective(model)


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
    queries = F.normalize(objective.projectors["patch"](z_mixed), dim=1)
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
# The recipes end to end on the simulator, with tiny settings.

TINY = {
    "duration": 1.0,
    "model_kwargs": {"embed_dim": 16, "depth": 1, "num_heads": 2},
    "batch_size": 8,
    "epoch_items": 16,
    "max_train": 48,
    "max_val": 24,
    "max_test": 16,
    "train.epochs": 2,
}


def official_score(y_true, y_pred):
    """SPRSound task 1-1 by its definition (REFERENCES.md): Se, Sp, their mean and harmonic mean."""
    sp, se = np.mean(y_pred[y_true == 0] == 0), np.mean(y_pred[y_true == 1] == 1)
    harmonic = 2 * se * sp / (se + sp) if se + sp else 0.0
    return sp, se, ((se + sp) / 2 + harmonic) / 2


@pytest.mark.parametrize("method", patchmix.METHODS)
def test_recipe_reports_the_official_score_of_its_predictions(simulated, tmp_path, method):
    results = run_experiment(f"patchmix.{method}", profile="quick", data=simulated, out_dir=tmp_path, overrides=TINY)
    metrics, artifacts = results["metrics_per_seed"][0], RunArtifacts.of(results)
    assert set(artifacts.predictions) == {"valid", "val", "inter", "intra"}
    for split, prefix in [("val", ""), ("inter", "inter_")]:
        p = artifacts.predictions[split]
        assert len(p.y_true) > 0 and p.scores.shape == (len(p.y_true), 2)
        assert np.array_equal(p.y_pred, p.scores.argmax(axis=1))
        sp, se, score = official_score(p.y_true, p.y_pred)
        reported = (metrics[f"{prefix}sp"], metrics[f"{prefix}se"], metrics[f"{prefix}score"])
        assert reported == pytest.approx((sp, se, score))
        assert metrics[f"{prefix}floor"] == pytest.approx(0.25)  # always normal: Sp 1, Se 0
    history = artifacts.history
    assert metrics["best_epoch"] == 1 and history.best_epoch is None  # quick keeps the last epoch
    assert history.eval[-1]["score"] == pytest.approx(metrics["score"])
    assert len(history.step_loss) == 4 and all(np.isfinite(history.step_loss))  # 2 epochs of 16 items / 8
    lam = {"mix_ce": "lam", "cl": "lam_patch"}.get(method)  # the logged share kept by the mix
    if lam is not None:
        assert all(0 <= epoch[lam] <= 1 for epoch in history.train)


def test_seeds_differ_in_training_only_not_in_held_out_patients(simulated, tmp_path):
    """Two seeds score the same held-out patients and items (split_seed), yet train differently."""
    results = run_experiment(
        "patchmix.cl", profile="quick", seeds=(0, 1), data=simulated, out_dir=tmp_path, overrides=TINY
    )
    first, second = RunArtifacts.of(results, 0), RunArtifacts.of(results, 1)
    for split in ("val", "inter", "intra"):
        np.testing.assert_array_equal(first.groups[split], second.groups[split])
        np.testing.assert_array_equal(first.predictions[split].y_true, second.predictions[split].y_true)
    assert not np.allclose(first.predictions["val"].scores, second.predictions["val"].scores)
    assert first.history.step_loss != second.history.step_loss


def test_test_set_selection_is_explicit_and_picks_the_best_test_epoch(simulated, tmp_path):
    results = run_experiment(
        "patchmix.cl",
        profile="quick",
        data=simulated,
        out_dir=tmp_path,
        overrides={**TINY, "selection": "inter", "train.select_metric": "score"},
    )
    assert results["config"]["selection"] == "inter"  # recorded in the results file
    metrics, artifacts = results["metrics_per_seed"][0], RunArtifacts.of(results)
    assert "val" not in artifacts.predictions  # the held-out patients trained
    # Selected on the test set itself: the reported test score is the best epoch's, by construction.
    assert metrics["inter_score"] == pytest.approx(max(artifacts.history.metric("score")))
    assert metrics["best_epoch"] == artifacts.history.best_epoch
    with pytest.raises(ValueError, match="selection"):
        run_experiment(
            "patchmix.cl", profile="quick", data=simulated, out_dir=tmp_path, overrides={**TINY, "selection": "test"}
        )


def test_the_full_protocol_runs_on_icbhi(simulated, tmp_path):
    """The full profile's data path (ICBHI at 16 kHz, its official test side, epoch chosen on validation
    patients), shrunk."""
    results = run_experiment(
        "patchmix.finetune",
        profile="full",
        data=simulated,
        out_dir=tmp_path,
        overrides={
            **TINY,
            "pretrained": None,
            "n_mels": 32,
            "time_mask": 10,
            "num_workers": 0,
            "train.amp": False,
            "train.weight_averaging": None,
        },
    )
    metrics, artifacts = results["metrics_per_seed"][0], RunArtifacts.of(results)
    assert set(artifacts.predictions) == {"valid", "val", "test"} and metrics["test_floor"] == pytest.approx(0.5)
    assert metrics["best_epoch"] == artifacts.history.best_epoch == int(np.argmax(artifacts.history.metric("score")))
