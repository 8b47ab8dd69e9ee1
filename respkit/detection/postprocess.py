"""From frame probabilities to clean frame activity: median filter, thresholds, gap filling, short runs.

A detector outputs per-frame class probabilities ``[n_classes, n_frames]``; events are runs of active
frames (:func:`respkit.detection.targets.frames_to_events`). Frame decisions flicker, and every flicker is
an extra event that costs an insertion (and a deletion: the real event is then cut in two, neither part
within the offset tolerance). The usual cures, each a pure function here, applied by :func:`postprocess` in
this order:

1. :func:`median_filter` of each class's probabilities over ``window`` frames (odd; edges repeat the end
   value). Thresholding commutes with a median (both are monotone), so filtering the probabilities and
   then thresholding equals thresholding and then filtering the 0/1 activity, as the DCASE baselines do.
2. :func:`binarize`: a frame is active where its probability is *above* the class's threshold.
3. :func:`fill_gaps`: a gap of fewer than ``min_gap`` inactive frames between two active runs is filled
   (one breath's wheeze, not two).
4. :func:`remove_short`: a run of fewer than ``min_length`` active frames is dropped.

Every per-class parameter is a scalar (all classes) or one value per class. Lengths are in frames: with a
hop of ``h`` seconds, ``round(seconds / h)``. Inputs may be NumPy arrays or torch tensors (moved to the
CPU); outputs are NumPy arrays, a single recording ``[n_classes, n_frames]`` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["binarize", "fill_gaps", "median_filter", "postprocess", "remove_short"]

PerClass = float | Sequence[float] | np.ndarray


def median_filter(probabilities, window: int | Sequence[int]) -> np.ndarray:
    """Running median over time of each row of ``probabilities`` ``[n_classes, n_frames]``.

    ``window`` (odd, in frames; one per class or one for all) of 1 leaves a row unchanged. Frame ``t``
    gets the median of frames ``t - w//2 .. t + w//2``, the first and last frame repeated beyond the edges
    (``scipy.ndimage.median_filter(mode="nearest")`` along time). Returns float arrays of the same shape.
    """
    x = _as_2d(probabilities, "probabilities").astype(np.float64)
    windows = _per_class(window, len(x), "window").astype(int)
    if np.any(windows < 1) or np.any(windows % 2 == 0):
        raise ValueError(f"median windows must be odd and >= 1 frames, got {windows.tolist()}")
    out = np.empty_like(x)
    for c, w in enumerate(windows):
        half = w // 2
        padded = np.pad(x[c], half, mode="edge")  # [n_frames + w - 1]
        out[c] = np.median(np.lib.stride_tricks.sliding_window_view(padded, w), axis=1)
    return out


def binarize(probabilities, thresholds: PerClass = 0.5) -> np.ndarray:
    """Bool activity ``[n_classes, n_frames]``: ``probabilities > threshold`` of the row's class."""
    x = _as_2d(probabilities, "probabilities")
    return x > _per_class(thresholds, len(x), "thresholds")[:, None]


def fill_gaps(activity, min_gap: int | Sequence[int]) -> np.ndarray:
    """Activity with every gap of fewer than ``min_gap`` frames *between* two active runs made active.

    Inactive frames before the first run and after the last are no gap and stay inactive. ``min_gap``
    of 0 or 1 changes nothing. ``activity`` and the result: bool ``[n_classes, n_frames]``.
    """
    active = _as_2d(activity, "activity").astype(bool)
    gaps = _per_class(min_gap, len(active), "min_gap")
    out = active.copy()
    for c in range(len(active)):
        for start, stop in _runs(~active[c]):
            inside = start > 0 and stop < active.shape[1]
            if inside and stop - start < gaps[c]:
                out[c, start:stop] = True
    return out


def remove_short(activity, min_length: int | Sequence[int]) -> np.ndarray:
    """Activity with every run of fewer than ``min_length`` active frames made inactive.

    ``activity`` and the result: bool ``[n_classes, n_frames]``; ``min_length`` of 0 or 1 changes nothing.
    """
    active = _as_2d(activity, "activity").astype(bool)
    lengths = _per_class(min_length, len(active), "min_length")
    out = active.copy()
    for c in range(len(active)):
        for start, stop in _runs(active[c]):
            if stop - start < lengths[c]:
                out[c, start:stop] = False
    return out


def postprocess(
    probabilities,
    thresholds: PerClass = 0.5,
    *,
    window: int | Sequence[int] = 1,
    min_gap: int | Sequence[int] = 0,
    min_length: int | Sequence[int] = 0,
) -> np.ndarray:
    """Median filter, threshold, fill short gaps, drop short runs (module docstring): bool ``[C, T]``.

    Gaps are filled before short runs are dropped, so that two halves of one event split by a flicker
    are joined rather than each thrown away as too short.
    """
    active = binarize(median_filter(probabilities, window), thresholds)
    return remove_short(fill_gaps(active, min_gap), min_length)


def _as_2d(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.ndim != 2:
        raise ValueError(f"{name} must be [n_classes, n_frames] (one recording), got shape {array.shape}")
    return array


def _per_class(value, n_classes: int, name: str) -> np.ndarray:
    """A scalar broadcast to ``[n_classes]``, or a per-class sequence checked to have that length."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return np.full(n_classes, float(array))
    if array.shape != (n_classes,):
        raise ValueError(f"{name} must be one value or one per class ({n_classes}), got {array.tolist()}")
    return array


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of true values of a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
