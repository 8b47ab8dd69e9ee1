"""Tests for respkit.stats: the standard error over seeds and per-class recall intervals over resampled patients."""

import math

import numpy as np
import pytest

from respkit.metrics import per_class_recall
from respkit.stats import patient_bootstrap, per_class_recall_intervals, standard_error


def test_standard_error_of_a_mean_over_seeds_by_hand():
    # mean 0.7; deviations -0.2, 0, 0.2; variance (0.04 + 0 + 0.04) / (3 - 1) = 0.04; se = 0.2 / sqrt(3)
    assert standard_error([0.5, 0.7, 0.9]) == pytest.approx(0.2 / math.sqrt(3))
    assert standard_error(np.array([0.6, 0.6])) == 0.0
    assert math.isnan(standard_error([0.8]))  # one seed: no spread to estimate, not a spread of 0
    assert math.isnan(standard_error([]))


def two_patients():
    """Class 1: patient A has 1 of 2 right, patient B 2 of 2; class 0 is always right."""
    y_true = np.array([0, 1, 1, 0, 1, 1])
    y_pred = np.array([0, 1, 0, 0, 1, 1])
    groups = np.array(["A", "A", "A", "B", "B", "B"])
    return y_true, y_pred, groups


def test_recall_intervals_match_the_hand_resamples_of_two_patients():
    # Resamples of 2 patients: AA (1/4) -> class 1 recall 2/4, AB or BA (1/2) -> 3/4, BB (1/4) -> 4/4.
    # The 2.5 % and 97.5 % quantiles of that are 0.5 and 1.0; the point estimate on all items is 3/4.
    got = per_class_recall_intervals(*two_patients(), ["normal", "crackle"], n=2000)
    assert got["crackle"] == {"recall": 0.75, "low": 0.5, "high": 1.0, "support": 4.0, "patients": 2.0}
    assert got["normal"] == {"recall": 1.0, "low": 1.0, "high": 1.0, "support": 2.0, "patients": 2.0}


def test_recall_intervals_use_patient_bootstraps_resamples():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(12), 8)
    y_true = np.tile(np.arange(4), 24)  # every patient has every class: recall is defined on every resample
    y_pred = np.where(rng.random(96) < 0.6, y_true, rng.integers(0, 4, 96))
    got = per_class_recall_intervals(y_true, y_pred, groups, 4, n=200, seed=7)
    # The definition: score the concatenated items of the drawn patients, on patient_bootstrap's draws.
    for c in range(4):

        def recall_of_c(t, p, c=c):
            return {"score": per_class_recall(t, p, 4)[str(c)]}

        draws = patient_bootstrap(y_true, {"x": y_pred}, groups, recall_of_c, n=200, seed=7)["x"]
        low, high = np.quantile(draws, [0.025, 0.975])
        assert got[str(c)]["low"] == pytest.approx(low) and got[str(c)]["high"] == pytest.approx(high)
        assert got[str(c)]["recall"] == pytest.approx(recall_of_c(y_true, y_pred)["score"])


def test_recall_intervals_contain_the_point_and_shrink_with_more_patients():
    rng = np.random.default_rng(0)

    def cohort(n_patients):
        groups = np.repeat(np.arange(n_patients), 6)
        y_true = np.tile([0, 0, 0, 1, 1, 2], n_patients)
        skill = np.repeat(rng.uniform(0.2, 0.9, n_patients), 6)  # patients differ in how well they are heard
        y_pred = np.where(rng.random(len(y_true)) < skill, y_true, (y_true + 1) % 3)
        return y_true, y_pred, groups

    few = per_class_recall_intervals(*cohort(8), 3, n=500)
    many = per_class_recall_intervals(*cohort(128), 3, n=500)
    for got in (few, many):
        assert all(row["low"] <= row["recall"] <= row["high"] for row in got.values())
    for c in "012":
        assert many[c]["high"] - many[c]["low"] < 0.5 * (few[c]["high"] - few[c]["low"])


def test_recall_intervals_are_deterministic_given_a_seed():
    y_true, y_pred, groups = (np.tile(a, 5) for a in two_patients())
    groups = groups + np.repeat(np.arange(5), 6).astype(str)  # ten patients
    first = per_class_recall_intervals(y_true, y_pred, groups, 2, n=100, seed=1)
    assert per_class_recall_intervals(y_true, y_pred, groups, 2, n=100, seed=1) == first
    assert per_class_recall_intervals(y_true, y_pred, groups, 2, n=100, seed=2) != first


def test_absent_classes_and_single_patient_classes_are_said_not_hidden():
    y_true = np.array([0, 0, 1, 0, 0])
    y_pred = np.array([0, 1, 1, 0, 0])
    groups = np.array([1, 1, 1, 2, 2])
    got = per_class_recall_intervals(y_true, y_pred, groups, ["normal", "crackle", "wheeze"], n=200)
    # Crackle: one patient, so every resample that holds it has recall 1: a zero-width interval, patients 1.
    assert got["crackle"] == {"recall": 1.0, "low": 1.0, "high": 1.0, "support": 1.0, "patients": 1.0}
    # Wheeze: no items anywhere: recall 0.0 by the metrics' convention, no interval.
    assert got["wheeze"]["recall"] == 0.0 and got["wheeze"]["patients"] == 0.0
    assert math.isnan(got["wheeze"]["low"]) and math.isnan(got["wheeze"]["high"])
    with pytest.raises(ValueError, match="0..2"):
        per_class_recall_intervals(np.array([0, 3]), np.array([0, 0]), np.array([1, 2]), 3)
