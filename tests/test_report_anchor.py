"""respkit.report.anchor: respkit's side is chosen on validation patients, and every split is compared paired."""

import numpy as np
import pytest
from test_report_bench import GROUPS, SCORE, Y, make_run, noisy

from respkit.bench import BenchRun
from respkit.report import anchor as report


def with_validation(run, valid_score, splits=("inter", "intra")):
    """``run`` with a validation score per seed, and its held-out predictions copied to ``splits``."""
    for seed in run.results["metrics_per_seed"]:
        seed["valid_score"] = valid_score
    for predictions in run.predictions.values():
        for split in splits:
            predictions[split] = dict(predictions["val"])
    return run


def public_run(hit_rate):
    run = with_validation(make_run("supcon.supcon", [noisy(hit_rate, 9)], cpu_seconds=3600.0), 0.5)
    return BenchRun(report.PUBLIC, run.results, run.predictions)


def test_the_best_run_is_chosen_on_validation_patients_within_the_budget():
    held_out_best = with_validation(make_run("supcon.supcon", [noisy(0.95, s) for s in range(3)]), valid_score=0.4)
    valid_best = with_validation(make_run("supcon.resnet", [noisy(0.6, s) for s in range(3)]), valid_score=0.7)
    dear = with_validation(
        make_run("supcon.mixup", [noisy(0.6, s) for s in range(3)], cpu_seconds=3 * 60 * 16.0), valid_score=0.9
    )
    candidates = [("a", held_out_best), ("b", valid_best), ("c", dear)]
    assert report.best_on_validation(candidates, chance=0.3)[0] == "b"  # not "a" (held out), not "c" (16 min)
    with pytest.raises(ValueError, match="no unflagged run"):
        report.best_on_validation([("c", dear)], chance=0.3)


def test_every_split_is_compared_paired_and_the_verdict_follows_the_intervals():
    best = with_validation(make_run("supcon.resnet", [noisy(0.95, s) for s in range(3)]), 0.7)
    rows = report.anchor_rows(public_run(0.3), best, SCORE, n=200)
    assert [row["split"] for row in rows] == ["val", "inter", "intra"]
    expected = np.mean([SCORE(Y, noisy(0.95, s))["score"] for s in range(3)]) - SCORE(Y, noisy(0.3, 9))["score"]
    assert rows[0]["point"] == pytest.approx(expected)
    assert all(row["low"] > 0 and row["patients"] == len(np.unique(GROUPS)) for row in rows)
    text = report.anchor_text(rows, "ResNet18 + CE")
    assert text.startswith("ResNet18 + CE is ahead of the public code on every split it was compared on:")
    even = report.anchor_rows(
        public_run(0.95), with_validation(make_run("supcon.resnet", [noisy(0.95, 9)]), 0.7), SCORE
    )
    assert report.anchor_text(even, "x").startswith("x is ahead of the public code on no split:")


def test_the_table_gives_each_run_its_seeds_cost_and_scores():
    best = with_validation(make_run("supcon.resnet", [noisy(0.95, s) for s in range(3)]), 0.7)
    best.results["summary"] |= {"inter_score": {"mean": 0.5}, "intra_score": {"mean": 0.5}}
    for seed in best.results["metrics_per_seed"]:
        seed |= {"inter_score": 0.5, "intra_score": 0.5}
    table = report.anchor_table(public_run(0.3), best, "ResNet18 + CE")
    assert "| ResNet18 + CE | 3 / 0.7 |" in table
    assert "| public code, its settings (`supcon.public`) | 1 / 60.0 |" in table
    assert "| 50.0 ± 0.0 | 50.0 ± 0.0 |" in table
