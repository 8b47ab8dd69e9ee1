"""Uncertainty of scores read on held-out patients: a paired bootstrap over patients.

Events (or cycles) of one patient are not independent: same chest, same stethoscope, same disease. A
bootstrap that resamples items would understate the spread, so patients are resampled, with all their
items. Every method is scored on the same resamples, which makes the differences between them paired:
the spread of a difference is then much smaller than the spread of either score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
