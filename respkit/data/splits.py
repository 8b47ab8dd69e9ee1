"""Patient-wise splits: no patient's recordings on both sides of a split.

Cycles or events of one patient are strongly correlated (same chest, same stethoscope, same disease), so a
random split over items leaks and flatters validation scores. Every split here is over patients (the
dataset's ``groups``), deterministic for a given seed, and built on scikit-learn's group splitters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold


def patient_folds(
    groups: Sequence[Any] | np.ndarray,
    n_folds: int = 5,
    seed: int = 0,
    labels: Sequence[int] | np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` patient-wise ``(train_idx, test_idx)`` pairs; the test parts cover every item once.

    With ``labels``, folds also keep class proportions close (StratifiedGroupKFold); without, the
    splitter only balances fold sizes.
    """
    groups = np.asarray(groups)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if len(np.unique(groups)) < n_folds:
        raise ValueError(f"cannot make {n_folds} patient-wise folds from {len(np.unique(groups))} patients")
    y = np.zeros(len(groups), dtype=np.int64) if labels is None else np.asarray(labels)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(np.sort(tr), np.sort(te)) for tr, te in splitter.split(np.zeros(len(groups)), y, groups)]


def patient_split(
    ds: Any, val_fraction: float = 0.2, seed: int = 0, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Split a dataset's items into ``(train_idx, val_idx)`` by patient.

    ``stratify=True`` takes one fold of a ``round(1 / val_fraction)``-fold StratifiedGroupKFold, so the
    validation part keeps the class mix and holds about ``val_fraction`` of the items;
    ``stratify=False`` draws patients at random (GroupShuffleSplit) until ``val_fraction`` of them.
    """
    if not 0.0 < val_fraction <= 0.5:
        raise ValueError(f"val_fraction must be in (0, 0.5], got {val_fraction}")
    groups = np.asarray(ds.groups)
    if stratify:
        return patient_folds(groups, round(1 / val_fraction), seed, labels=ds.labels)[0]
    splitter = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    train, val = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train), np.sort(val)


def shared_patients(a: Any, b: Any) -> list:
    """Patients present on both sides: datasets (their ``groups``) or arrays of patient ids.

    ICBHI's official split is by recording, and patients 156 and 218 show up in both its parts.
    """
    ga = np.asarray(getattr(a, "groups", a))
    gb = np.asarray(getattr(b, "groups", b))
    return sorted(set(ga.tolist()) & set(gb.tolist()))
