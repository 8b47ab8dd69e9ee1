"""Challenge metrics for ICBHI 2017 and SPRSound, built on one labelled confusion matrix.

Both challenges score a classifier by how well it keeps normal sounds normal (specificity, SP) and how
well it names abnormal sounds (sensitivity, SE), because plain accuracy rewards predicting "normal"
on these normal-heavy data sets. Labels are integers with 0 = normal; every other class is abnormal.

* ICBHI (4 classes: normal, crackle, wheeze, both): ``score = (sp + se) / 2``. SE counts an abnormal item
  as a hit only when predicted as exactly its class; the 2-class variant counts any abnormal prediction.
* SPRSound (tasks 1-1, 1-2, 2-1, 2-2): ``as = (se + sp) / 2``, ``hs = 2 se sp / (se + sp)``,
  ``score = (as + hs) / 2``. Poor Quality (tasks 2-1, 2-2) is a non-normal class and counts in SE.

Convention for empty denominators (the official scripts divide by zero): a fraction with nothing to count
is 0.0 — SE when there are no abnormal items, SP when there are no normal ones, the recall of an absent
class, and HS when SE + SP = 0. It matches scikit-learn's ``zero_division=0`` and keeps every returned
value a finite number in [0, 1], safe for averaging over seeds and for JSON results files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

__all__ = [
    "SPRSOUND_TASKS",
    "ConfusionMatrix",
    "chance_score",
    "confusion_matrix",
    "icbhi_score",
    "icbhi_scorer",
    "per_class_recall",
    "sprsound_score",
    "sprsound_scorer",
]

Labels = Sequence[int] | np.ndarray | torch.Tensor

#: Number of classes of each SPRSound task (class 0 is Normal in all of them).
SPRSOUND_TASKS: dict[str, int] = {"1-1": 2, "1-2": 7, "2-1": 3, "2-2": 5}


def _fraction(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when there is nothing to count (the module's convention)."""
    return float(numerator / denominator) if denominator > 0 else 0.0


def _as_labels(labels: Labels, name: str, n_classes: int) -> np.ndarray:
    """Validate one label vector and return it as a 1-D int64 NumPy array."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence of class labels, got shape {array.shape}"
            + (" (scores or logits? take argmax over the class axis first)" if array.ndim == 2 else "")
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty: metrics need at least one item")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {array.dtype}")
    out_of_range = array[(array < 0) | (array >= n_classes)]
    if out_of_range.size:
        raise ValueError(
            f"{name} has labels outside 0..{n_classes - 1} for {n_classes} classes: "
            f"{sorted(set(out_of_range.tolist()))[:5]}"
        )
    return array.astype(np.int64)


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts ``matrix[i, j]`` of items of true class ``i`` predicted as class ``j``, with class names.

    Rows are the truth, columns the prediction (scikit-learn's layout); ``str()`` prints a table.
    """

    matrix: np.ndarray  # [n_classes, n_classes] int64
    classes: tuple[str, ...]

    @property
    def support(self) -> np.ndarray:
        """Number of true items per class, [n_classes]."""
        return self.matrix.sum(axis=1)

    def recall(self) -> np.ndarray:
        """Recall per class, [n_classes]; 0.0 for a class with no true items."""
        return np.array([_fraction(self.matrix[i, i], n) for i, n in enumerate(self.support)])

    def __str__(self) -> str:
        header = ["true \\ pred", *self.classes]
        rows = [[name, *map(str, counts)] for name, counts in zip(self.classes, self.matrix)]
        widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
        # Names flush left, counts flush right, as in a printed table.
        lines = [
            "  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))])
            for row in [header, *rows]
        ]
        return "\n".join(lines)


def confusion_matrix(y_true: Labels, y_pred: Labels, classes: Sequence[str] | int) -> ConfusionMatrix:
    """The confusion matrix over a fixed set of classes, so that absent classes keep their row and column.

    ``classes`` is the list of class names (``ds.classes``, index 0 = normal) or just their number.
    Raises ``ValueError`` for labels out of range, empty inputs or mismatched lengths.
    """
    if isinstance(classes, int):
        classes = [str(i) for i in range(classes)]
    names = tuple(classes)
    if len(names) < 2:
        raise ValueError(f"classes must name at least 2 classes (normal and one other), got {names}")
    true = _as_labels(y_true, "y_true", len(names))
    pred = _as_labels(y_pred, "y_pred", len(names))
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {true.size} vs {pred.size}")
    # Rows: true class, columns: prediction. One bincount of the (true, pred) pairs is about 100 times faster
    # than scikit-learn's confusion_matrix, which a patient bootstrap would call thousands of times.
    k = len(names)
    matrix = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    return ConfusionMatrix(matrix=matrix.astype(np.int64), classes=names)


def per_class_recall(y_true: Labels, y_pred: Labels, classes: Sequence[str] | int) -> dict[str, float]:
    """Recall of each class, keyed by class name (0.0 for a class absent from ``y_true``)."""
    cm = confusion_matrix(y_true, y_pred, classes)
    return dict(zip(cm.classes, cm.recall().tolist()))


def _sp_se(cm: ConfusionMatrix) -> tuple[float, float, float]:
    """Specificity, exact-class sensitivity and any-abnormal sensitivity from a confusion matrix."""
    m = cm.matrix
    abnormal = m[1:].sum()
    sp = _fraction(m[0, 0], m[0].sum())
    se = _fraction(np.trace(m[1:, 1:]), abnormal)  # abnormal items predicted as exactly their class
    se_any = _fraction(m[1:, 1:].sum(), abnormal)  # abnormal items predicted as any abnormal class
    return sp, se, se_any


def icbhi_score(y_true: Labels, y_pred: Labels, n_classes: int = 4) -> dict[str, float]:
    """ICBHI 2017 challenge metrics (classes: 0 normal, 1 crackle, 2 wheeze, 3 both).

    Returns ``sp``, ``se``, ``score = (sp + se) / 2`` (a crackle predicted as wheeze is a miss) and
    ``sp_2class``, ``se_2class``, ``score_2class`` (normal vs abnormal: that crackle is a hit).
    ``sp_2class`` always equals ``sp`` (a normal item is right only when predicted normal in both views);
    it is returned so that each view has its three numbers.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    sp, se, se_2class = _sp_se(confusion_matrix(y_true, y_pred, n_classes))
    return {
        "sp": sp,
        "se": se,
        "score": (sp + se) / 2,
        "sp_2class": sp,
        "se_2class": se_2class,
        "score_2class": (sp + se_2class) / 2,
    }


def sprsound_score(y_true: Labels, y_pred: Labels, task: str) -> dict[str, float]:
    """SPRSound (BioCAS challenge) metrics for ``task`` in ``SPRSOUND_TASKS`` ("1-1", "1-2", "2-1", "2-2").

    Returns ``se`` (abnormal items predicted as exactly their class), ``sp`` (recall of Normal),
    ``as = (se + sp) / 2``, ``hs = 2 se sp / (se + sp)`` (0.0 when se + sp = 0) and
    ``score = (as + hs) / 2``. The task fixes the number of classes, so a label the task does not have
    is reported as out of range.
    """
    if task not in SPRSOUND_TASKS:
        raise ValueError(f"unknown SPRSound task {task!r}: choose one of {', '.join(SPRSOUND_TASKS)}")
    sp, se, _ = _sp_se(confusion_matrix(y_true, y_pred, SPRSOUND_TASKS[task]))
    average = (se + sp) / 2
    harmonic = _fraction(2 * se * sp, se + sp)
    return {"se": se, "sp": sp, "as": average, "hs": harmonic, "score": (average + harmonic) / 2}


def icbhi_scorer(task: str | None = None) -> Callable[[Labels, Labels], dict[str, float]]:
    """:func:`icbhi_score` as the dataset registry asks for it: ICBHI has one task, so ``task`` is not used."""
    return icbhi_score


def sprsound_scorer(task: str | None) -> Callable[[Labels, Labels], dict[str, float]]:
    """``f(y_true, y_pred) = sprsound_score(y_true, y_pred, task)``; the task is checked now, not at scoring time."""
    if task is None:
        raise ValueError(f"the SPRSound score depends on the task: pass task= one of {', '.join(SPRSOUND_TASKS)}")
    if task not in SPRSOUND_TASKS:
        raise ValueError(f"unknown SPRSound task {task!r}: choose one of {', '.join(SPRSOUND_TASKS)}")
    return partial(sprsound_score, task=task)


def chance_score(score: Callable[..., Mapping[str, float]], y_true: Labels, n_classes: int, steps: int = 20) -> float:
    """The best ``score`` of a guess that ignores the input, on the items ``y_true``: what a model must beat.

    Always answering Normal is one such guess, and not always the best: on SPRSound it scores 0.25 while
    answering Normal or Adventitious at random, half and half, scores 0.5 on task 1-1 (se = sp = 0.5). The
    guesses tried answer Normal for a share ``p`` of the items of every class (``p`` in steps of
    ``1 / steps``) and one abnormal class ``j`` for the rest, so each class's row of the confusion matrix
    is the same mixture: sensitivity is linear in the abnormal shares, so one class ``j`` takes them all.
    """
    y_true = np.asarray(y_true)
    # Each item's rank within its class, as a fraction: the first p of every class answer Normal.
    rank = np.zeros(len(y_true))
    for label in np.unique(y_true):
        members = np.flatnonzero(y_true == label)
        rank[members] = np.arange(len(members)) / len(members)
    best = 0.0
    for j in range(1, n_classes):
        for p in np.linspace(0.0, 1.0, steps + 1):
            best = max(best, score(y_true, np.where(rank < p - 1e-9, 0, j))["score"])
    return best
