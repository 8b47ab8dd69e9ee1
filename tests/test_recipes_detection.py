"""detection.crnn on the simulator: the metric keys, the scores recomputed from what the run saved, and the
post-processing chosen on validation patients alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset

from respkit.detection.baselines import event_everywhere
from respkit.detection.metrics import event_based_scores, segment_based_scores
from respkit.detection.targets import Event
from respkit.experiments import run_experiment
from respkit.recipes import get_recipe
from respkit.recipes.baseline import LogMelConfig
from respkit.recipes.detection import DetectionConfig
from respkit.runs import RunArtifacts
from respkit.train import TrainConfig

TINY = {
    "features": LogMelConfig(n_fft=512, hop_length=160, n_mels=16),
    "widths": (4, 8),
    "pools": (4, 2),
    "hidden": 8,
    "batch_size": 8,
    "max_train": 40,
    "train": TrainConfig(epochs=2, lr=3e-3, amp=False, max_steps_per_epoch=2, log_every=1),
}


@pytest.fixture(scope="module")
def run(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_experiment("detection.crnn", profile="quick", seeds=(0,), data=simulated, out_dir=out, overrides=TINY)


def test_every_scored_split_reports_detection_scores_beside_both_floors(run):
    metrics = run["metrics_per_seed"][0]
    for prefix in ("", "inter_", "intra_"):
        for detector in ("", "baseline_energy/", "baseline_everywhere/"):
            for key in ("event_f", "event_er", "segment_f", "segment_er"):
                assert prefix + detector + key in metrics
        for c in ("CAS", "DAS"):
            assert 0.0 <= metrics[f"{prefix}event_f/{c}"] <= 1.0
    assert {"threshold/CAS", "threshold/DAS", "median_window/CAS", "median_window/DAS"} <= set(metrics)
    assert {"score", "floor", "pred_classes"} <= set(metrics)  # the record-level by-product, task 2-1


def test_the_scores_are_those_of_the_saved_detections(simulated, run):
    """Recomputed from the saved events, the annotations read independently (the JSON files, in seconds) and
    each recording's length from its audio file."""
    artifacts = RunArtifacts.of(run)
    metrics = run["metrics_per_seed"][0]
    root = simulated.sprsound.root / "BioCAS2022"
    saved = artifacts.info["val"]
    references, durations = [], []
    for record in saved["records"]:
        events = json.loads((root / "train2022_json" / f"{record}.json").read_text())["event_annotation"]
        cas_das = {"Wheeze": ["CAS"], "Rhonchi": ["CAS"], "Stridor": ["CAS"], "Fine Crackle": ["DAS"]}
        cas_das |= {"Coarse Crackle": ["DAS"], "Wheeze+Crackle": ["CAS", "DAS"]}
        references.append(
            [(float(e["start"]) / 1000, float(e["end"]) / 1000, c) for e in events for c in cas_das.get(e["type"], [])]
        )
        durations.append(sf.info(root / "train2022_wav" / f"{record}.wav").duration)
    detected = [[Event(*e) for e in events] for events in saved["detected"]]
    classes = ["CAS", "DAS"]
    event = event_based_scores(references, detected, classes)
    assert metrics["event_f"] == pytest.approx(event["f"]) and metrics["event_er"] == pytest.approx(event["er"])
    assert metrics["segment_f"] == pytest.approx(
        segment_based_scores(references, detected, classes, durations=durations)["f"]
    )
    everywhere = [event_everywhere(d, classes) for d in durations]
    assert metrics["baseline_everywhere/event_er"] == pytest.approx(
        event_based_scores(references, everywhere, classes)["er"]
    )
    # The record-level decisions say whether any event was found.
    y_pred = artifacts.predictions["val"].y_pred
    assert y_pred.tolist() == [int(bool(events)) for events in detected]


class _Scrambled(Dataset):
    """The recordings of a split with their features replaced by noise of the same shape."""

    def __init__(self, frames) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        features, targets = self.frames[i]
        return torch.randn_like(features) * 20, targets


def test_post_processing_is_chosen_on_validation_patients_only(simulated):
    """Other predictions on the held-out and test recordings change their scores, never the chosen settings;
    the validation patients are neither trained on nor held out."""
    recipe = get_recipe("detection.crnn")
    config = DetectionConfig.quick().replace(**TINY, er_weight=0.0)  # F alone: an untrained model still detects
    splits = recipe.data(config, simulated)
    assert not set(splits.valid.groups) & (set(splits.train.groups) | set(splits.val.groups))
    torch.manual_seed(0)
    model = recipe.model(config, splits)
    loaders = recipe.eval_loaders(config, splits)
    first = recipe.evaluate(config, splits, model, loaders, "cpu").metrics
    scrambled = dict(loaders) | {
        s: DataLoader(_Scrambled(splits.frames[s]), batch_size=1) for s in ("val", "inter", "intra")
    }
    torch.manual_seed(1)
    second = recipe.evaluate(config, splits, model, scrambled, "cpu").metrics
    chosen = [k for k in first if k.startswith(("threshold/", "median_window/", "baseline_energy/margin"))]
    assert len(chosen) == 5 and all(first[k] == second[k] for k in chosen)
    assert any(first[k] != second[k] for k in ("event_f", "event_er", "segment_f", "inter_segment_f"))
    assert np.isfinite(first["event_er"])
