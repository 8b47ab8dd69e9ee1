"""Uncertainty of scores read on held-out patients: a paired bootstrap over patients.

Events (or cycles) of one patient are not independent: same chest, same stethoscope, same disease. A
bootstrap that resamples items would understate the spread, so patients are resampled, with all their
items. Every method is scored on the same resamples, which makes the differences between them paired:
the spread of a difference is then much smaller than the spread of either score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Score = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


def patient_bootstrap(y_true: np.ndarray, predictions: Mapping[str, np.ndarray], groups: np.ndarray,
                      score: Score, n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """The score of each named prediction array over ``n`` resamples of the held-out *patients*.

    Args:
        y_true: ``[N]`` labels; predictions: name -> ``[N]`` predicted labels of the same items;
        groups: ``[N]`` the patient of each item; score: ``f(y_true, y_pred) -> {"score": ...}``.

    Returns:
        name -> ``[n]`` scores, on the same resamples for every name (paired).
    """
    patients = np.unique(groups)
    members = [np.flatnonzero(groups == p) for p in patients]
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {name: [] for name in predictions}
    for _ in range(n):
        index = np.concatenate([members[i] for i in rng.integers(len(patients), size=len(patients))])
        for name, y_pred in predictions.items():
            out[name].append(score(y_true[index], y_pred[index])["score"])
    return {name: np.array(values) for name, values in out.items()}


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean of ``a - b`` over paired bootstrap resamples, its ``level`` interval, and the share where ``a > b``."""
    diff = np.asarray(a) - np.asarray(b)
    low, high = np.quantile(diff, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(diff.mean()), "low": float(low), "high": float(high), "p_better": float((diff > 0).mean())}


def compare_pairs(y_true: np.ndarray, groups: np.ndarray, predictions: Mapping[str, Sequence[np.ndarray]],
                  pairs: Sequence[tuple[str, str]], score: Score, n: int = 1000, seed: int = 0,
                  level: float = 0.95) -> list[dict[str, Any]]:
    """Paired score differences ``a − b`` of methods trained over several seeds, on resampled patients.

    Args:
        y_true: ``[N]`` labels; groups: ``[N]`` the patient of each item.
        predictions: method -> its seeds' predicted labels, ``S`` arrays of ``[N]`` (``S`` may differ).
        pairs: ``(a, b)`` names of ``predictions`` to compare.

    A method's score on a resample is the mean of its seeds' scores, so the interval holds the patients'
    noise around a seed-averaged method, and every method is scored on the same resamples
    (:func:`patient_bootstrap`). Returns one dict per pair: ``a``, ``b``, ``point`` (the difference of
    the seed-averaged scores on all patients), the :func:`paired_difference` of the resamples
    (``mean``, ``low``, ``high``, ``p_better``) and ``within_noise``: whether the interval holds 0.
    """
    names = list(dict.fromkeys(name for pair in pairs for name in pair))
    keys = {name: [f"{name}#{k}" for k in range(len(predictions[name]))] for name in names}
    arrays = {key: np.asarray(y_pred) for name in names for key, y_pred in zip(keys[name], predictions[name])}
    draws = patient_bootstrap(y_true, arrays, groups, score, n=n, seed=seed)  # key -> [n]
    full = {key: score(y_true, y_pred)["score"] for key, y_pred in arrays.items()}
    rows = []
    for a, b in pairs:
        interval = paired_difference(np.mean([draws[k] for k in keys[a]], axis=0),
                                     np.mean([draws[k] for k in keys[b]], axis=0), level)
        point = np.mean([full[k] for k in keys[a]]) - np.mean([full[k] for k in keys[b]])
        rows.append({"a": a, "b": b, "point": float(point), **interval,
                     "within_noise": interval["low"] <= 0 <= interval["high"]})
    return rows
