"""Uncertainty of scores read on held-out patients: a paired bootstrap over patients.

Events (or cycles) of one patient are not independent: same chest, same stethoscope, same disease. A
bootstrap that resamples items would understate the spread, so patients are resampled, with all their
items. Every method is scored on the same resamples, which makes the differences between them paired:
the spread of a difference is then much smaller than the spread of either score.

Two more measures of noise sit beside it: :func:`standard_error`, the spread of a mean over training seeds
(the noise of training, on fixed patients), and :func:`per_class_recall_intervals`, each class's recall with
its interval over resampled patients (the noise of the patients, for a fixed model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Score = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


def patient_bootstrap(
    y_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    groups: np.ndarray,
    score: Score,
    n: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
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


def compare_pairs(
    y_true: np.ndarray,
    groups: np.ndarray,
    predictions: Mapping[str, Sequence[np.ndarray]],
    pairs: Sequence[tuple[str, str]],
    score: Score,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[dict[str, Any]]:
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
        interval = paired_difference(
            np.mean([draws[k] for k in keys[a]], axis=0), np.mean([draws[k] for k in keys[b]], axis=0), level
        )
        point = np.mean([full[k] for k in keys[a]]) - np.mean([full[k] for k in keys[b]])
        rows.append(
            {
                "a": a,
                "b": b,
                "point": float(point),
                **interval,
                "within_noise": interval["low"] <= 0 <= interval["high"],
            }
        )
    return rows


def standard_error(values: Sequence[float] | np.ndarray) -> float:
    """The standard error of the mean of ``values`` (e.g. one score per seed): ``std(ddof=1) / sqrt(n)``.

    ``ddof=1`` because the mean is estimated from the same values. With fewer than two values it is
    ``nan``, not 0: one seed says nothing about how much another seed would differ, and a 0 would print as
    certainty. Tables show the ``nan`` as "n/a".
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(values.size))


def per_class_recall_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    classes: Sequence[str] | int,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Each class's recall on all items, and its ``level`` interval over ``n`` resamples of the patients.

    Args:
        y_true: ``[N]`` labels; y_pred: ``[N]`` predicted labels; groups: ``[N]`` the patient of each item.
        classes: the class names (index 0 = normal) or their number.

    Returns:
        class name -> ``recall`` (on all items; 0.0 for a class with no items, as in
        :func:`respkit.metrics.per_class_recall`), ``low`` and ``high`` (percentile interval), ``support``
        (items of the class) and ``patients`` (patients with at least one).

    The resamples are :func:`patient_bootstrap`'s: the same seed draws the same patients, so these intervals
    go with its score intervals. A resample without any item of a class has no recall for it and is left
    out of that class's interval (not counted as 0, which would drag the interval down); a class with no
    items anywhere gets ``nan`` bounds. The interval measures how recall varies *between patients*: a class
    that only one patient has gets a zero-width interval, which is why ``patients`` is returned beside it.
    A resample's recall is computed from per-patient counts (hits and support of each class), which equals
    scoring the concatenated items of the drawn patients.
    """
    names = [str(i) for i in range(classes)] if isinstance(classes, int) else list(classes)
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not (y_true.shape == y_pred.shape == groups.shape) or y_true.ndim != 1:
        raise ValueError(
            f"y_true, y_pred and groups must be [N] each, got {y_true.shape}, {y_pred.shape}, {groups.shape}"
        )
    k = len(names)
    if y_true.size == 0 or min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= k:
        raise ValueError(f"y_true and y_pred must be non-empty labels in 0..{k - 1} for {k} classes")
    patients, patient_of = np.unique(groups, return_inverse=True)
    p = len(patients)
    support = np.zeros((p, k))  # [P, C] items of each class per patient
    hits = np.zeros((p, k))  # [P, C] of them predicted as their class
    np.add.at(support, (patient_of, y_true), 1)
    np.add.at(hits, (patient_of, y_true), y_true == y_pred)
    rng = np.random.default_rng(seed)
    draws = np.zeros((n, p))  # [n, P] how often each patient is drawn in each resample
    for i in range(n):  # one draw per resample, in patient_bootstrap's order
        draws[i] = np.bincount(rng.integers(p, size=p), minlength=p)
    drawn_support, drawn_hits = draws @ support, draws @ hits  # [n, C]
    with np.errstate(invalid="ignore", divide="ignore"):
        recalls = np.where(drawn_support > 0, drawn_hits / drawn_support, np.nan)  # [n, C]
    total, correct = support.sum(axis=0), hits.sum(axis=0)
    out = {}
    for c, name in enumerate(names):
        column = recalls[:, c][~np.isnan(recalls[:, c])]
        low, high = np.quantile(column, [(1 - level) / 2, (1 + level) / 2]) if column.size else (np.nan, np.nan)
        out[name] = {
            "recall": float(correct[c] / total[c]) if total[c] else 0.0,
            "low": float(low),
            "high": float(high),
            "support": float(total[c]),
            "patients": float((support[:, c] > 0).sum()),
        }
    return out
