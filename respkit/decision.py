"""Deciding a class from softmax scores: argmax, a prior correction, or per-class biases fitted on validation.

Every recipe trains on class-balanced batches and answers the argmax of its softmax scores. A model trained
with a class-balanced sampler has learnt ``p_train(y | x) ∝ p(x | y) · prior_train(y)`` under an *effective
training prior* that is uniform (``ClassBalancedSampler(power=1)``; ``power=p`` draws class ``c`` with share
``∝ n_c ** (1 - p)``). Held-out patients come with the data's own class frequencies ``pi``, mostly Normal, so
the argmax over-calls the rare abnormal classes. By Bayes' rule,

    p_target(y | x) ∝ p_train(y | x) · pi(y) / prior_train(y),

and the decision under ``pi`` is the argmax of ``log p_train(y | x) + log(pi(y) / prior_train(y))``. Menon et
al. ("Long-tail learning via logit adjustment", ICLR 2021) scale the correction by ``tau`` and fit it, because
a network's scores are not calibrated probabilities: ``tau = 0`` is the argmax, ``tau = 1`` the Bayes rule
(their post-hoc form subtracts ``tau · log pi`` from a model trained on ``pi`` to aim at a uniform prior; here
the model is trained uniform and the target is ``pi``, so the sign is plus). The official scores do not
reward accuracy under ``pi`` either: they weigh Normal recall (SP) against the abnormal recalls (SE), so the
best ``tau`` for them need not be 1 (nor 0), and it is fitted on validation patients.

A softmax score's log is the logit minus a per-item constant (the log-sum-exp), so adding a per-class bias
to ``log scores`` moves the argmax exactly as adding it to the logits would: every rule here is
``argmax_c (log max(scores, floor) + bias[c])``, with one bias vector ``[C]``. The floor (1e-12) keeps a
score that underflowed to 0 in float32 finite (``log = -27.6``: no bias on the grids below revives it).

Three rules, all fitted on validation predictions only and applied unchanged to the other splits:

* ``"argmax"``: ``bias = 0``.
* ``"prior"``: ``bias = tau · log(pi / prior_train)``, one number ``tau`` fitted on a grid; ``pi`` and
  ``prior_train`` come from the *training* labels (:class:`ClassPrior`), never from the labels scored.
* ``"biases"``: one free log-bias per abnormal class (Normal fixed at 0: only differences matter), fitted by
  coordinate ascent on a grid to maximise the official score. More parameters than ``"prior"``, so it can
  over-fit a small validation set: compare both on the test splits.

Every fit starts from (or includes) the argmax and accepts a change only when it scores strictly higher, so a
fitted rule never scores below the argmax on the validation items, and ties keep the smaller change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_BIASES",
    "DEFAULT_TAUS",
    "METHODS",
    "ClassPrior",
    "DecisionRule",
    "Decisions",
    "apply_rules",
    "log_scores",
]

Score = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]

#: Probabilities below this are read as this before the log (float32 softmax underflows to 0).
LOG_FLOOR = 1e-12
#: The ``tau`` grid of the prior correction: 0 (the argmax) to 2 in steps of 0.05.
DEFAULT_TAUS: tuple[float, ...] = tuple(np.round(np.arange(0.0, 2.0001, 0.05), 2).tolist())
#: The log-bias grid of each abnormal class: -4 to 4 in steps of 0.25 (a factor e**4 ≈ 55 either way).
DEFAULT_BIASES: tuple[float, ...] = tuple(np.round(np.arange(-4.0, 4.0001, 0.25), 2).tolist())
#: The rules :func:`apply_rules` knows, in the order it fits them.
METHODS = ("argmax", "prior", "biases")


def log_scores(scores: np.ndarray, floor: float = LOG_FLOOR) -> np.ndarray:
    """``log(max(scores, floor))`` of softmax scores ``[N, C]``: the logits up to a per-item constant."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be softmax scores [N, C], got shape {scores.shape}")
    return np.log(np.maximum(scores, floor))


@dataclass(frozen=True)
class ClassPrior:
    """The class shares the decisions should assume (``target``) and those the model was trained under (``train``).

    Both are ``[C]`` and sum to 1. Build it from the *training* labels with :meth:`from_training_labels`:
    the held-out patients' labels are what is being scored, and a prior read from them would leak the
    answer into the decision.
    """

    target: np.ndarray  # [C]
    train: np.ndarray  # [C]

    @classmethod
    def from_training_labels(
        cls,
        labels: Sequence[int] | np.ndarray,
        n_classes: int,
        *,
        balanced: bool | float = True,
        smoothing: float = 1.0,
    ) -> ClassPrior:
        """``target``: the class frequencies of ``labels``; ``train``: the shares the training sampler drew.

        Args:
            labels: ``[N]`` the training set's labels (``splits.train.labels``).
            n_classes: ``C``, so that a class absent from ``labels`` keeps its place.
            balanced: the training loader's ``balanced`` (:func:`respkit.recipes.common.make_loader`):
                ``True`` (= 1) trains under a uniform prior, ``False`` (= 0) under ``target`` itself (the
                correction is then 0), a power ``p`` in between under ``∝ n_c ** (1 - p)``.
            smoothing: a pseudo-count added to every class before normalising (Laplace's add-one by
                default), so that a class the subsample left out of training has a finite log prior;
                at real counts (hundreds to thousands) it changes nothing visible.
        """
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError("labels must be a non-empty 1-D array of integer class labels (the training set's)")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
        power = float(balanced)
        if not 0 <= power <= 1:
            raise ValueError(f"balanced must be a bool or a power in [0, 1], got {balanced}")
        counts = np.bincount(labels, minlength=n_classes) + float(smoothing)
        if np.any(counts <= 0):
            raise ValueError("a class has no training items and smoothing is 0: its log prior would be -inf")
        drawn = counts ** (1.0 - power)  # ClassBalancedSampler: weight n_c ** -power per item, n_c items
        return cls(target=counts / counts.sum(), train=drawn / drawn.sum())

    @property
    def log_ratio(self) -> np.ndarray:
        """``log(target / train)`` ``[C]``: the bias of the Bayes rule (``tau = 1``)."""
        return np.log(self.target) - np.log(self.train)


@dataclass(eq=False)  # array fields: compare rules by their fields, not with ==
class DecisionRule:
    """``predict(scores) = argmax_c (log max(scores, floor) + bias[c])``, with ``bias`` fitted on validation.

    Configure, then :meth:`fit` on the validation patients' scores and labels, then :meth:`predict` any
    split's scores; the same object applies one fitted rule everywhere::

        rule = DecisionRule("prior", log_ratio=ClassPrior.from_training_labels(train.labels, C).log_ratio)
        rule.fit(val.scores, val.y_true, score_fn)      # reads validation only
        test_pred = rule.predict(test.scores)           # [N] labels

    Attributes:
        method: ``"argmax"``, ``"prior"`` (fits ``tau`` in ``bias = tau · log_ratio``) or ``"biases"``
            (fits each abnormal class's bias by coordinate ascent; Normal's stays 0).
        log_ratio: ``[C]`` ``log(pi / prior_train)``, required by ``"prior"`` (:attr:`ClassPrior.log_ratio`).
        taus: the grid of ``tau`` for ``"prior"``; it should hold 0 (the argmax).
        grid: the grid of each bias for ``"biases"``; it should hold 0.
        sweeps: at most this many passes over the classes for ``"biases"``; it stops at a pass that changes nothing.
        floor: the floor of the scores before their log.
        bias: ``[C]`` the fitted biases (set by :meth:`fit`; ``"argmax"`` may predict unfitted).
        tau: the fitted ``tau`` (``"prior"`` only).
        val_score, argmax_score: the score of the fitted rule and of the argmax on the validation items.
    """

    method: str = "prior"
    log_ratio: np.ndarray | None = None
    taus: Sequence[float] = DEFAULT_TAUS
    grid: Sequence[float] = DEFAULT_BIASES
    sweeps: int = 5
    floor: float = LOG_FLOOR
    bias: np.ndarray | None = None
    tau: float | None = None
    val_score: float | None = None
    argmax_score: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.method == "prior" and self.log_ratio is None:
            raise ValueError("method 'prior' needs log_ratio = ClassPrior.from_training_labels(...).log_ratio")

    def fit(self, scores_val: np.ndarray, y_val: np.ndarray, score_fn: Score) -> DecisionRule:
        """Fit the rule's biases to maximise ``score_fn(y_val, predict(scores_val))["score"]``; return ``self``.

        Args:
            scores_val: ``[N, C]`` softmax scores of the validation items; y_val: ``[N]`` their labels.
            score_fn: the official score, ``f(y_true, y_pred) -> {"score": ...}``
                (:func:`respkit.data.registry.score_function`).

        Deterministic: grids are tried closest to 0 first and a candidate replaces the current one only when
        it scores strictly higher, so ties keep the smaller change and the argmax is kept unless beaten.
        """
        logs = log_scores(scores_val, self.floor)  # [N, C]
        y_val = np.asarray(y_val)
        if y_val.shape != (logs.shape[0],):
            raise ValueError(f"y_val must be [N] = [{logs.shape[0]}] labels, got shape {y_val.shape}")
        n_classes = logs.shape[1]

        def score(bias: np.ndarray) -> float:
            return float(score_fn(y_val, np.argmax(logs + bias, axis=1))["score"])

        zero = np.zeros(n_classes)
        self.argmax_score = best = score(zero)
        self.bias, self.tau = zero, None
        if self.method == "prior":
            log_ratio = np.asarray(self.log_ratio, dtype=np.float64)
            if log_ratio.shape != (n_classes,):
                raise ValueError(f"log_ratio must be [C] = [{n_classes}], got shape {log_ratio.shape}")
            self.tau = 0.0
            for tau in _closest_to_zero_first(self.taus):
                value = score(tau * log_ratio)
                if value > best:
                    best, self.tau, self.bias = value, float(tau), tau * log_ratio
        elif self.method == "biases":
            bias = zero.copy()
            for _ in range(self.sweeps):
                changed = False
                for c in range(1, n_classes):  # class 0 (Normal) stays at 0: only differences move the argmax
                    for value_c in _closest_to_zero_first(self.grid):
                        trial = bias.copy()
                        trial[c] = value_c
                        value = score(trial)
                        if value > best:
                            best, bias, changed = value, trial, True
                if not changed:
                    break
            self.bias = bias
        self.val_score = best
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """``[N]`` labels of softmax scores ``[N, C]`` under the fitted biases (ties go to the lower class)."""
        logs = log_scores(scores, self.floor)
        if self.bias is None:
            if self.method != "argmax":
                raise RuntimeError(f"this {self.method!r} rule is not fitted: call fit() on validation first")
            return np.argmax(logs, axis=1)
        if self.bias.shape != (logs.shape[1],):
            raise ValueError(f"scores have {logs.shape[1]} classes, the rule was fitted on {self.bias.size}")
        return np.argmax(logs + self.bias, axis=1)


def _closest_to_zero_first(grid: Sequence[float]) -> list[float]:
    """The grid's values ordered by size, negative before positive at equal size: the smallest change first."""
    return sorted({float(v) for v in grid}, key=lambda v: (abs(v), v))


@dataclass
class Decisions:
    """What :func:`apply_rules` returns: the rules fitted on validation, and their predictions on every split.

    Attributes:
        rules: method -> its :class:`DecisionRule`, fitted on the validation items.
        predictions: method -> split -> ``[N]`` predicted labels. On the validation split itself (where one is
            passed among the splits) the rules were fitted, so its scores are optimistic; the others are honest.
    """

    rules: dict[str, DecisionRule]
    predictions: dict[str, dict[str, np.ndarray]]

    def evaluate(self, y_true: Mapping[str, np.ndarray], score_fn: Score) -> dict[str, dict[str, float]]:
        """method -> split -> ``score_fn``'s ``"score"`` for each split of ``y_true`` (``{split: [N] labels}``)."""
        return {
            method: {
                split: float(score_fn(np.asarray(y_true[split]), y_pred)["score"])
                for split, y_pred in by_split.items()
                if split in y_true
            }
            for method, by_split in self.predictions.items()
        }


def apply_rules(
    valid: Any,
    splits: Mapping[str, Any],
    score_fn: Score,
    *,
    prior: ClassPrior,
    methods: Sequence[str] = METHODS,
    **rule_kwargs: Any,
) -> Decisions:
    """Fit each decision rule on the validation predictions only and apply it to every split.

    Args:
        valid: the validation patients' :class:`respkit.train.Predictions` (``y_true [N]``, ``scores [N, C]``).
        splits: split name -> its Predictions (or its scores ``[N, C]``); only the scores are read, so test
            labels cannot reach the fit.
        score_fn: the official score (:func:`respkit.data.registry.score_function`).
        prior: from the *training* labels: ``ClassPrior.from_training_labels(train.labels, C, balanced=...)``.
        methods: which rules, of :data:`METHODS`.
        rule_kwargs: passed to every :class:`DecisionRule` (``taus``, ``grid``, ``sweeps``, ``floor``).

    Returns:
        :class:`Decisions`: the fitted rules and ``predictions[method][split]`` for every split of ``splits``.
    """
    valid_scores, y_valid = np.asarray(valid.scores), np.asarray(valid.y_true)
    rules = {
        method: DecisionRule(method, log_ratio=prior.log_ratio, **rule_kwargs).fit(valid_scores, y_valid, score_fn)
        for method in methods
    }
    scores = {name: np.asarray(getattr(p, "scores", p)) for name, p in splits.items()}
    predictions = {
        method: {name: rule.predict(split_scores) for name, split_scores in scores.items()}
        for method, rule in rules.items()
    }
    return Decisions(rules, predictions)
