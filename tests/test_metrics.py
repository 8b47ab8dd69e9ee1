"""Tests for respkit.metrics against hand-counted confusion matrices and hand-computed fractions."""

from fractions import Fraction as F

import numpy as np
import pytest
import torch

from respkit.metrics import (
    SPRSOUND_TASKS,
    chance_score,
    confusion_matrix,
    icbhi_score,
    per_class_recall,
    sprsound_score,
)

ICBHI_CLASSES = ["normal", "crackle", "wheeze", "both"]

# 14 items, grouped by true class; predictions chosen by hand.
#   normal  -> 0 0 0 1 2   (3 of 5 right)
#   crackle -> 1 1 2 0     (2 exact, 3 abnormal)
#   wheeze  -> 2 3 0       (1 exact, 2 abnormal)
#   both    -> 3 1         (1 exact, 2 abnormal)
ICBHI_TRUE = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3]
ICBHI_PRED = [0, 0, 0, 1, 2, 1, 1, 2, 0, 2, 3, 0, 3, 1]
ICBHI_MATRIX = np.array(
    [
        [3, 1, 1, 0],
        [1, 2, 1, 0],
        [1, 0, 1, 1],
        [0, 1, 0, 1],
    ]
)


def test_confusion_matrix_matches_the_hand_count_and_prints_a_labelled_table():
    cm = confusion_matrix(ICBHI_TRUE, ICBHI_PRED, ICBHI_CLASSES)
    np.testing.assert_array_equal(cm.matrix, ICBHI_MATRIX)
    assert cm.classes == tuple(ICBHI_CLASSES)
    np.testing.assert_array_equal(cm.support, [5, 4, 3, 2])
    table = str(cm).splitlines()
    assert len(table) == 5 and all(name in table[0] for name in ICBHI_CLASSES)
    assert table[2].split() == ["crackle", "1", "2", "1", "0"]


def test_icbhi_scores_on_the_hand_example():
    sp, se, se_2class = F(3, 5), F(2 + 1 + 1, 9), F(3 + 2 + 2, 9)
    expected = {
        "sp": sp,
        "se": se,
        "score": F(47, 90),  # (27/45 + 20/45) / 2
        "sp_2class": sp,
        "se_2class": se_2class,
        "score_2class": F(31, 45),  # (27/45 + 35/45) / 2
    }
    assert (sp + se) / 2 == expected["score"] and (sp + se_2class) / 2 == expected["score_2class"]
    got = icbhi_score(ICBHI_TRUE, ICBHI_PRED)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(float(value)), key


def test_a_crackle_predicted_as_wheeze_counts_for_the_2_class_score_only():
    got = icbhi_score([0, 1], [0, 2])
    assert (got["se"], got["score"]) == (0.0, 0.5)
    assert (got["se_2class"], got["score_2class"]) == (1.0, 1.0)


def test_all_normal_predictions_give_sp_1_se_0_score_half():
    y_true = [0, 0, 1, 2, 3, 3]
    got = icbhi_score(y_true, [0] * len(y_true))
    assert (got["sp"], got["se"], got["score"]) == (1.0, 0.0, 0.5)
    assert (got["se_2class"], got["score_2class"]) == (0.0, 0.5)
    spr = sprsound_score([0, 0, 1, 2, 4], [0] * 5, "2-2")
    assert spr == {"se": 0.0, "sp": 1.0, "as": 0.5, "hs": 0.0, "score": 0.25}


def test_empty_denominators_give_zero_not_nan():
    no_abnormal = icbhi_score([0, 0, 0], [0, 1, 0])
    assert (no_abnormal["sp"], no_abnormal["se"], no_abnormal["score"]) == (
        pytest.approx(2 / 3),
        0.0,
        pytest.approx(1 / 3),
    )
    no_normal = icbhi_score([1, 2, 3], [1, 2, 0])
    assert no_normal["sp"] == 0.0
    assert no_normal["se"] == no_normal["se_2class"] == pytest.approx(2 / 3)
    both_zero = sprsound_score([0, 1], [1, 0], "1-1")
    assert both_zero == {"se": 0.0, "sp": 0.0, "as": 0.0, "hs": 0.0, "score": 0.0}
    assert all(np.isfinite(v) for v in [*no_abnormal.values(), *no_normal.values()])


def test_sprsound_scores_on_a_hand_example():
    # Task 2-1 (Normal / Adventitious / Poor Quality):
    #   normal -> 0 0 1 2 (SP = 2/4); adventitious -> 1 1 0 (2 exact); poor quality -> 2 1 (1 exact)
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 2, 1, 1, 0, 2, 1]
    se, sp = F(3, 5), F(1, 2)
    as_, hs = F(11, 20), F(6, 11)  # (3/5 + 1/2) / 2 ; 2 * 3/10 / (11/10)
    assert (se + sp) / 2 == as_ and 2 * se * sp / (se + sp) == hs
    expected = {"se": se, "sp": sp, "as": as_, "hs": hs, "score": F(241, 440)}
    got = sprsound_score(y_true, y_pred, "2-1")
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(float(value)), key


@pytest.mark.parametrize("task, n_classes", [("1-1", 2), ("1-2", 7), ("2-1", 3), ("2-2", 5)])
def test_each_sprsound_task_fixes_its_class_count(task, n_classes):
    assert SPRSOUND_TASKS[task] == n_classes
    top = n_classes - 1
    assert sprsound_score([0, top], [0, top], task)["score"] == 1.0  # the highest class is accepted
    with pytest.raises(ValueError, match=f"outside 0..{top}"):
        sprsound_score([0, n_classes], [0, 0], task)  # one past it is not


def test_per_class_recall_keeps_absent_classes_at_zero():
    recall = per_class_recall([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["normal", "crackle", "wheeze"])
    assert recall == {"normal": 0.5, "crackle": pytest.approx(2 / 3), "wheeze": 0.0}
    cm = confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 3)
    assert cm.classes == ("0", "1", "2") and cm.matrix.shape == (3, 3)


def test_lists_arrays_and_tensors_give_the_same_scores():
    as_list = icbhi_score(ICBHI_TRUE, ICBHI_PRED)
    as_numpy = icbhi_score(np.array(ICBHI_TRUE, dtype=np.int32), np.array(ICBHI_PRED))
    as_tensor = icbhi_score(torch.tensor(ICBHI_TRUE), torch.tensor(ICBHI_PRED))
    assert as_list == as_numpy == as_tensor
    assert all(type(v) is float for v in as_list.values())  # plain floats, ready for JSON


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 1, 2], [0, 1], "differ in length: 3 vs 2"),
        ([], [], "y_true is empty"),
        ([0, 4], [0, 1], r"y_true has labels outside 0..3.*\[4\]"),
        ([0, 1], [0, -1], r"y_pred has labels outside 0..3.*\[-1\]"),
        ([0, 1], [0.0, 1.0], "y_pred must hold integer class labels"),
        ([0, 1], torch.randn(2, 4), "argmax"),
    ],
)
def test_bad_inputs_raise_clear_errors(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        icbhi_score(y_true, y_pred)


def test_unknown_task_and_too_few_classes_are_rejected():
    with pytest.raises(ValueError, match="unknown SPRSound task '3-1'"):
        sprsound_score([0], [0], "3-1")
    with pytest.raises(ValueError, match="at least 2"):
        icbhi_score([0], [0], n_classes=1)
    with pytest.raises(ValueError, match="at least 2"):
        confusion_matrix([0], [0], ["normal"])


def test_confusion_matrix_equals_scikit_learns_on_random_labels():
    from sklearn.metrics import confusion_matrix as reference

    rng = np.random.default_rng(0)
    for n_classes, size in [(2, 1), (4, 50), (7, 1000)]:
        y_true, y_pred = rng.integers(0, n_classes, size), rng.integers(0, n_classes, size)
        expected = reference(y_true, y_pred, labels=np.arange(n_classes))
        np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, n_classes).matrix, expected)


def _sprsound_closed_form(se, sp):
    average, harmonic = (se + sp) / 2, (2 * se * sp / (se + sp) if se + sp else 0.0)
    return (average + harmonic) / 2


def test_chance_is_the_best_blind_guess_not_always_normal():
    def sprsound(task):
        return lambda y_true, y_pred: sprsound_score(y_true, y_pred, task)

    # Task 1-1: a blind guess has se = 1 - sp; the closed form peaks at 0.5 (se = sp = 0.5), floor 0.25.
    binary = np.array([0] * 80 + [1] * 20)
    assert chance_score(sprsound("1-1"), binary, 2) == pytest.approx(0.5)
    # Task 1-2: the abnormal share goes to the largest abnormal class (200 of 300), se = 2/3 (1 - sp).
    seven = np.array([0] * 700 + [5] * 200 + [2] * 50 + [1] * 50)
    best = max(_sprsound_closed_form(2 / 3 * (1 - p), p) for p in np.linspace(0, 1, 10001))
    assert chance_score(sprsound("1-2"), seven, 7) == pytest.approx(best, abs=0.005)
    assert best > sprsound_score(seven, np.zeros_like(seven), "1-2")["score"] + 0.1
    # ICBHI's (se + sp) / 2 is best served by always answering normal: chance is the floor, 0.5.
    four = np.array([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    assert chance_score(icbhi_score, four, 4) == pytest.approx(0.5)
