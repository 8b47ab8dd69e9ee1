"""respkit.detection.postprocess on hand-made frame arrays, and its median filter against scipy's."""

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter as scipy_median

from respkit.detection.postprocess import binarize, fill_gaps, median_filter, postprocess, remove_short


def rows(*values):
    return np.array(values, dtype=float)


def test_median_filter_by_hand_with_a_window_per_class():
    x = rows([0, 1, 0, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 1, 0, 1])
    # Row 0, window 3, edges repeated: padded 0 | 0 1 0 0 1 1 0 1 | 1 -> medians 0 0 0 0 1 1 1 1.
    # Row 1, window 1: unchanged.
    got = median_filter(x, [3, 1])
    np.testing.assert_array_equal(got, rows([0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 0, 0, 1, 1, 0, 1]))
    # Probabilities: 0.1 | 0.1 0.9 0.2 0.3 0.8 | 0.8 -> medians 0.1 0.2 0.3 0.3 0.8.
    np.testing.assert_allclose(median_filter(rows([0.1, 0.9, 0.2, 0.3, 0.8]), 3), rows([0.1, 0.2, 0.3, 0.3, 0.8]))


def test_median_filter_equals_scipys_and_commutes_with_the_threshold():
    rng = np.random.default_rng(0)
    p = rng.random((3, 50))
    for window in (1, 3, 5, 9):
        np.testing.assert_allclose(median_filter(p, window), scipy_median(p, size=(1, window), mode="nearest"))
        # Filtering probabilities then thresholding = thresholding then filtering the 0/1 activity.
        for threshold in (0.3, 0.5, 0.7):
            a = binarize(median_filter(p, window), threshold)
            b = median_filter(binarize(p, threshold).astype(float), window) > 0.5
            np.testing.assert_array_equal(a, b)


def test_binarize_uses_one_threshold_per_class_strictly():
    p = rows([0.2, 0.5, 0.6], [0.2, 0.5, 0.6])
    np.testing.assert_array_equal(binarize(p, [0.5, 0.1]), [[False, False, True], [True, True, True]])
    np.testing.assert_array_equal(binarize(torch.tensor(p), 0.5), [[False, False, True]] * 2)  # tensors too


def test_fill_gaps_fills_only_short_gaps_between_runs():
    a = rows([1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]).astype(bool)
    # Row 0, min_gap 3: the gaps of 2 and 1 frames close; 3 frames stay; the trailing 0 is no gap.
    # Row 1, min_gap 5: the leading zeros are no gap; the 1-frame gap closes; the trailing zeros stay.
    got = fill_gaps(a, [3, 5])
    expected = rows([1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0], [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]).astype(bool)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(fill_gaps(a, 1), a)  # no gap is shorter than one frame


def test_remove_short_drops_runs_under_the_minimum():
    a = rows([1, 1, 0, 1, 0, 1, 1, 1]).astype(bool)
    np.testing.assert_array_equal(remove_short(a, 2), rows([1, 1, 0, 0, 0, 1, 1, 1]).astype(bool))
    np.testing.assert_array_equal(remove_short(a, 3), rows([0, 0, 0, 0, 0, 1, 1, 1]).astype(bool))
    np.testing.assert_array_equal(remove_short(a, 0), a)


def test_postprocess_fills_gaps_before_dropping_short_runs():
    p = rows([0.9, 0.9, 0.2, 0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.1])
    # > 0.5:             1 1 0 1 1 0 0 0 1 0
    # gaps < 2 filled:   1 1 1 1 1 0 0 0 1 0
    # runs < 3 dropped:  1 1 1 1 1 0 0 0 0 0   (dropping first would have lost both halves of the event)
    got = postprocess(p, 0.5, min_gap=2, min_length=3)
    np.testing.assert_array_equal(got, rows([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]).astype(bool))
    assert not remove_short(binarize(p, 0.5), 3)[0, :5].any()
    # The median filter comes first: window 3 removes the dip and the lone frame before any threshold.
    np.testing.assert_array_equal(postprocess(p, 0.5, window=3), rows([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]).astype(bool))


def test_bad_parameters_are_refused():
    p = rows([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="odd"):
        median_filter(p, 2)
    with pytest.raises(ValueError, match="one per class"):
        binarize(p, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[n_classes, n_frames\]"):
        postprocess(np.zeros(5))
