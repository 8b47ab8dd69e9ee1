"""Chapter 1's baselines: short runs on the simulator, checked against the held-out patients and the official scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from respkit.experiments import run_experiment
from respkit.metrics import icbhi_score, per_class_recall, sprsound_score
from respkit.recipes import common
from respkit.recipes.baseline import BaselineConfig, ICBHIBaselineConfig
from respkit.runs import RunArtifacts, work_folder
from respkit.train import TrainConfig

TINY_TRAIN = TrainConfig(epochs=2, lr=1e-3, amp=False, max_steps_per_epoch=2, log_every=1)
TINY_SPRSOUND = {"widths": (4, 4, 8, 8), "batch_size": 8, "max_train": 48, "max_val": 40, "train": TINY_TRAIN}
TINY_ICBHI = {
    "duration": 1.0,
    "widths": (4, 4, 8, 8),
    "batch_size": 8,
    "max_train": 48,
    "max_test": 40,
    "train": TrainConfig(epochs=2, lr=1e-3, amp=False, max_steps_per_epoch=2, log_every=1, select_metric="score"),
}


@pytest.fixture(scope="module")
def sprsound_run(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_experiment(
        "baseline.sprsound", profile="quick", seeds=(3, 4), data=simulated, out_dir=out, overrides=TINY_SPRSOUND
    )


def test_sprsound_reports_the_official_score_of_the_held_out_patients(simulated, sprsound_run):
    """The saved predictions cover exactly the held-out patients' events (recomputed independently with the
    shared split), none of those patients trained, and the reported metrics are the official score of them."""
    artifacts = RunArtifacts.of(sprsound_run, seed=3)
    config = BaselineConfig.quick().replace(max_train=48, max_val=40)
    data_splits = common.splits(simulated, config)
    assert not set(data_splits.train.groups) & set(data_splits.val.groups)
    p = artifacts.predictions["val"]
    np.testing.assert_array_equal(p.y_true, data_splits.val.labels)
    np.testing.assert_array_equal(artifacts.groups.get("val", data_splits.val.groups), data_splits.val.groups)
    assert artifacts.classes == data_splits.val.classes

    metrics = sprsound_run["metrics_per_seed"][0]
    assert metrics["score"] == pytest.approx(sprsound_score(p.y_true, p.y_pred, "1-2")["score"])
    assert metrics["recall/Normal"] == pytest.approx(np.mean(p.y_pred[p.y_true == 0] == 0))  # a hand count
    assert metrics["floor"] == pytest.approx(0.25)  # always Normal: SE 0, SP 1 -> (0.5 + 0) / 2
    assert metrics["pred_classes"] == len(np.unique(p.y_pred))
    np.testing.assert_allclose(p.scores.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(p.scores.argmax(axis=1), p.y_pred)


def test_two_seeds_see_the_same_held_out_patients(sprsound_run):
    """The split depends on split_seed only: seeds differ in training, not in whom they are scored on."""
    a, b = (RunArtifacts.of(sprsound_run, seed=s).predictions["val"] for s in (3, 4))
    np.testing.assert_array_equal(a.y_true, b.y_true)
    assert sprsound_run["metrics_per_seed"][0]["floor"] == sprsound_run["metrics_per_seed"][1]["floor"]


def test_sprsound_keeps_the_last_epoch_and_its_curves(sprsound_run):
    """No epoch is chosen at all: the reported score is the last epoch's; the saved history has one entry per
    epoch (the validation patients' score) and one loss per step."""
    history = RunArtifacts.of(sprsound_run, seed=3).history
    assert history.best_epoch is None and len(history.eval) == len(history.train) == TINY_TRAIN.epochs
    assert len(history.step_loss) == TINY_TRAIN.epochs * TINY_TRAIN.max_steps_per_epoch
    assert history.eval[-1]["score"] == pytest.approx(sprsound_run["metrics_per_seed"][0]["valid_score"])
    stored = json.loads((work_folder(sprsound_run, seed=3) / "history.json").read_text())
    assert stored["train"]["step_loss"] == history.step_loss


def test_icbhi_scores_the_official_test_side_after_choosing_on_validation_patients(simulated, tmp_path):
    results = run_experiment("baseline.icbhi", profile="quick", data=simulated, out_dir=tmp_path, overrides=TINY_ICBHI)
    artifacts = RunArtifacts.of(results)
    data_splits = common.splits(simulated, ICBHIBaselineConfig.quick().replace(max_train=48, max_test=40), duration=1.0)
    test = data_splits.tests["test"]
    np.testing.assert_array_equal(artifacts.predictions["test"].y_true, test.labels)
    assert {m.split for m in test.meta} == {"test"} and {m.split for m in data_splits.val.meta} == {"train"}
    history = artifacts.history
    assert history.best_epoch == int(np.argmax(history.metric("score")))  # the earliest best validation epoch
    p = artifacts.predictions["test"]
    metrics = results["metrics_per_seed"][0]
    assert {k: metrics[f"test_{k}"] for k in icbhi_score(p.y_true, p.y_pred)} == pytest.approx(
        icbhi_score(p.y_true, p.y_pred)
    )
    recall = per_class_recall(p.y_true, p.y_pred, test.classes)
    assert metrics["test_recall/wheeze"] == pytest.approx(recall["wheeze"])
    assert metrics["test_floor"] == pytest.approx(0.5)  # always normal: SP 1, SE 0


def test_profiles_and_bad_arguments(simulated, tmp_path):
    quick, full = BaselineConfig.for_profile("quick"), BaselineConfig.for_profile("full")
    assert full.max_train is None and full.max_val is None  # full: every event of every patient
    assert ICBHIBaselineConfig.for_profile("full").duration == 8.0  # the Patch-Mix input length
    assert quick.dataset == full.dataset == "sprsound" and quick.split_seed == full.split_seed
    with pytest.raises(ValueError, match="profile"):
        ICBHIBaselineConfig.for_profile("slow")
    with pytest.raises(FileNotFoundError, match="work folder"):
        RunArtifacts.of({"path": str(tmp_path / "missing.json"), "seeds": [0]})
