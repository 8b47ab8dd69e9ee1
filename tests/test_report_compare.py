"""respkit.report.compare and gap_text: two runs on the same patients, a paired bootstrap over patients.

Run folders are written by hand (the files a recipe leaves), so the expected numbers are computed here from
the official score directly.
"""

import numpy as np
import pytest

from respkit.data.registry import score_function
from respkit.report import compare, gap_text
from respkit.runs import RunArtifacts, work_folder
from respkit.train.evaluate import Predictions

SCORE = score_function("sprsound", "1-2")
Y = np.array([0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 5] * 4)  # 48 events
GROUPS = np.repeat(np.arange(12), 4)  # 12 patients, 4 events each


def make_run(folder, name, predictions, groups=GROUPS, y_true=Y):
    results = {
        "recipe": name,
        "path": str(folder / f"{name}-quick-00000000.json"),
        "seeds": list(range(len(predictions))),
        "config": {"dataset": "sprsound", "task": "1-2"},
    }
    for seed, y_pred in enumerate(predictions):
        scores = np.eye(7)[y_pred]
        art = RunArtifacts(
            ["Normal"] + [f"c{k}" for k in range(1, 7)],
            predictions={"val": Predictions(y_true, y_pred, scores)},
            groups={} if groups is None else {"val": groups},
        )
        art.save(work_folder(results, seed))
    return results


def test_compare_averages_seeds_and_pairs_the_patients(tmp_path):
    half = np.where((Y > 0) & (np.arange(len(Y)) % 2 == 0), 0, Y)  # misses some abnormal events
    good = make_run(tmp_path, "good", [Y, half])
    normal = make_run(tmp_path, "normal", [np.zeros_like(Y)])
    row = compare(good, normal, n=300)
    expected = np.mean([SCORE(Y, Y)["score"], SCORE(Y, half)["score"]]) - SCORE(Y, np.zeros_like(Y))["score"]
    assert row["point"] == pytest.approx(expected)
    assert 0 < row["low"] <= row["high"] and not row["within_noise"] and row["p_better"] == 1.0
    assert (row["a"], row["b"], row["seeds"], row["patients"]) == ("good", "normal", (2, 1), 12)
    same = compare(normal, normal, n=100)
    assert same["point"] == same["low"] == same["high"] == 0.0 and same["within_noise"]


def test_compare_refuses_runs_it_cannot_pair(tmp_path):
    no_patients = make_run(tmp_path, "nogroups", [Y], groups=None)
    with pytest.raises(ValueError, match="nogroups: its artifacts keep no patients for split 'val'"):
        compare(no_patients, no_patients)
    other_items = make_run(tmp_path, "other", [Y[::-1]], y_true=Y[::-1])
    with pytest.raises(ValueError, match="not scored on the same items"):
        compare(make_run(tmp_path, "a", [Y]), other_items)


def test_gap_text_says_the_interval_and_what_it_shows():
    row = {"point": 0.031, "low": -0.005, "high": 0.068, "within_noise": True, "level": 0.95, "patients": 49}
    assert gap_text(row) == (
        "+3.1 points (95 % interval -0.5 to +6.8, paired over 49 patients); "
        "the interval holds 0, so these patients do not tell the two apart"
    )
    ahead = {**row, "low": 0.012, "within_noise": False}
    assert gap_text(ahead).endswith("the interval excludes 0: ahead on these patients")
