"""Chapter 1's baselines: short runs on the simulator, checked against the held-out patients and the official scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from respkit.experiments import run_experiment
from respkit.metrics import icbhi_score, sprsound_score
from respkit.recipes import common
from respkit.experiments import work_folder
from respkit.recipes.baseline import ICBHIConfig, SPRSoundConfig, load_artifacts
from respkit.train import TrainConfig

TINY_TRAIN = TrainConfig(epochs=2, lr=1e-3, amp=False, max_steps_per_epoch=2, log_every=1)
TINY_SPRSOUND = {"widths": (4, 4, 8, 8), "batch_size": 8, "max_train": 48, "max_val": 40, "train": TINY_TRAIN}
TINY_ICBHI = {
    "duration": 1.0, "widths": (4, 4, 8, 8), "batch_size": 8, "max_train": 48, "max_test": 40,
    "train": TrainConfig(epochs=2, lr=1e-3, amp=False, max_steps_per_epoch=2, log_every=1, select_metric="score"),
}


@pytest.fixture(scope="module")
def sprsound_run(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_experiment("baseline.sprsound", profile="quick", seeds=(3,), data=simulated, out_dir=out,
                          overrides=TINY_SPRSOUND)


def test_sprsound_reports_the_official_score_of_the_held_out_patients(simulated, sprsound_run):
    """The saved predictions cover exactly the held-out patients' events (recomputed independently with the
    shared split), none of those patients trained, and the reported metrics are the official score of them."""
    artifacts = load_artifacts(sprsound_run, seed=3)
    train, val = common.sprsound_splits(simulated, "1-2", seed=3, max_train=48, max_val=40)
    assert not set(train.groups) & set(val.groups)
    np.testing.assert_array_equal(artifacts.predictions.y_true, val.labels)
    assert artifacts.classes == val.classes

    metrics = sprsound_run["metrics_per_seed"][0]
    p = artifacts.predictions
    assert metrics["score"] == pytest.approx(sprsound_score(p.y_true, p.y_pred, "1-2")["score"])
    # Task 1-1 from the same predictions: a hand count of normal/adventitious agreement.
    sp = np.mean(p.y_pred[p.y_true == 0] == 0)
    se = np.mean(p.y_pred[p.y_true > 0] > 0)
    hs = 2 * se * sp / (se + sp) if se + sp else 0.0
    assert metrics["se_1_1"] == pytest.approx(se) and metrics["sp_1_1"] == pytest.approx(sp)
    assert metrics["score_1_1"] == pytest.approx(((se + sp) / 2 + hs) / 2)
    np.testing.assert_allclose(p.scores.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(p.scores.argmax(axis=1), p.y_pred)


def test_sprsound_keeps_the_last_epoch_and_its_curves(sprsound_run):
    """No epoch is chosen on the held-out patients: the reported score is the last epoch's, and the saved
    history has one entry per epoch and one loss per step."""
    history = load_artifacts(sprsound_run, seed=3).history
    assert history.best_epoch is None and len(history.eval) == len(history.train) == TINY_TRAIN.epochs
    assert len(history.step_loss) == TINY_TRAIN.epochs * TINY_TRAIN.max_steps_per_epoch
    assert history.eval[-1]["score"] == pytest.approx(sprsound_run["metrics_per_seed"][0]["score"])
    stored = json.loads((work_folder(sprsound_run, seed=3) / "history.json").read_text())
    assert stored["step_loss"] == history.step_loss


def test_icbhi_scores_the_official_test_side_after_choosing_on_validation_patients(simulated, tmp_path):
    results = run_experiment("baseline.icbhi", profile="quick", data=simulated, out_dir=tmp_path, overrides=TINY_ICBHI)
    artifacts = load_artifacts(results)
    _, val, test = common.icbhi_splits(simulated, duration=1.0, max_train=48, max_test=40)
    np.testing.assert_array_equal(artifacts.predictions.y_true, test.labels)
    assert {m.split for m in test.meta} == {"test"} and {m.split for m in val.meta} == {"train"}
    history = artifacts.history
    assert history.best_epoch == int(np.argmax(history.metric("score")))  # the earliest best validation epoch
    p = artifacts.predictions
    assert results["metrics_per_seed"][0] == pytest.approx(icbhi_score(p.y_true, p.y_pred))


def test_profiles_and_bad_arguments(simulated, tmp_path):
    quick, full = SPRSoundConfig.for_profile("quick"), SPRSoundConfig.for_profile("full")
    assert full.max_train is None and full.max_val is None  # full: every event of every patient
    assert quick.train.epochs * quick.train.max_steps_per_epoch < full.train.epochs * 100
    assert ICBHIConfig.for_profile("full").duration == 8.0  # the Patch-Mix input length
    with pytest.raises(ValueError, match="profile"):
        ICBHIConfig.for_profile("slow")
    with pytest.raises(ValueError, match="task must be '1-1' or '1-2'"):
        run_experiment("baseline.sprsound", profile="quick", data=simulated, out_dir=tmp_path,
                       overrides={**TINY_SPRSOUND, "task": "2-1"})
    with pytest.raises(FileNotFoundError, match="work folder"):
        load_artifacts({"path": str(tmp_path / "missing.json")})
