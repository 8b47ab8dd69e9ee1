"""What every recipe shares: held-out patients, loaders, and scoring every split with the official metric.

Recipes differ in their models and losses, not in how they hold data out or score. Keeping the split,
the subsampling of small profiles and the scoring here means every chapter's numbers are comparable:
the same held-out patients (chosen by ``config.split_seed`` alone, see :mod:`respkit.recipes.base`),
the same metric code, the same names in results files:

* held-out patients of the training set: plain names (``score``, ``se``, ``sp``, ``recall/<class>``);
* official test sets: prefixed by the split (``test_score`` for ICBHI, ``inter_score`` and
  ``intra_score`` for SPRSound);
* beside each score, ``floor`` (the score of always answering the normal class on the same items),
  ``chance`` (the best score of any guess that ignores the input, at least the floor) and ``pred_classes``
  (how many classes the model predicted at all), so that a degenerate result is flagged by the code
  (:func:`respkit.report.degenerate`) rather than ranked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from respkit.data import ClassBalancedSampler, FeatureCache, Subset, patient_split
from respkit.data.registry import dataset_splits, score_function
from respkit.decision import ClassPrior, apply_rules
from respkit.files import features_dir
from respkit.metrics import chance_score, per_class_recall
from respkit.profiles import show_progress
from respkit.runs import RunArtifacts
from respkit.train import distributed, predict

if TYPE_CHECKING:  # the recipe base imports this module for its defaults
    from respkit.recipes.base import RecipeConfig


def feature_cache() -> FeatureCache:
    """The feature cache shared by every chapter (``$RESPKIT_CACHE/features``), one per folder and process,
    so that the runs of a notebook share its in-memory copies."""
    return _feature_cache(features_dir())


@functools.cache
def _feature_cache(folder: Path) -> FeatureCache:
    return FeatureCache(folder)


def subsample(ds: Any, max_items: int | None, seed: int = 0) -> Any:
    """At most ``max_items`` items of ``ds``, drawn per class in proportion (:func:`proportional_indices`).

    Small profiles use this to fit a CPU budget; ``None`` returns ``ds`` unchanged.
    """
    if max_items is None or len(ds) <= max_items:
        return ds
    return Subset(ds, proportional_indices(ds.labels, max_items, seed))


def proportional_indices(labels: Any, max_items: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most about ``max_items`` of ``labels``, drawn with ``seed`` per class in
    proportion; every class keeps at least one. All of them when ``max_items >= len(labels)``."""
    labels = np.asarray(labels)
    if max_items >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = max(1, round(max_items * len(members) / len(labels)))
        keep.append(rng.choice(members, size=min(n, len(members)), replace=False))
    return np.sort(np.concatenate(keep))


@dataclass
class Splits:
    """``train``, ``val`` (held-out patients of the training set), the official test sets present, and
    ``valid`` (validation patients drawn from the training patients) when the config asks for them."""

    train: Any
    val: Any
    tests: dict[str, Any] = field(default_factory=dict)
    valid: Any = None

    @property
    def classes(self) -> list[str]:
        return list(self.train.classes)

    def scored(self) -> dict[str, Any]:
        """The splits a run reports: the held-out test patients (``val``) and the official test sets."""
        return ({"val": self.val} if self.val is not None else {}) | self.tests

    def predicted(self) -> dict[str, Any]:
        """The splits a run predicts: the validation patients (``valid``, for choices) and those it reports."""
        return ({"valid": self.valid} if self.valid is not None else {}) | self.scored()

    def map(self, function: Callable[[Any], Any]) -> Splits:
        """The same splits with ``function`` applied to each (e.g. :meth:`InMemory.of`)."""
        return Splits(
            train=function(self.train),
            val=None if self.val is None else function(self.val),
            tests={name: function(ds) for name, ds in self.tests.items()},
            valid=None if self.valid is None else function(self.valid),
        )


class InMemory(Dataset):
    """A split held in memory: inputs ``x [N, ...]`` with their labels, patients and class names.

    For recipes that read every item many times (short clips, small profiles): one disk read per item, once.
    """

    def __init__(self, x: Tensor, labels: Any, groups: Any, classes: list[str]) -> None:
        self.x, self.labels, self.groups, self.classes = x, np.asarray(labels), np.asarray(groups), list(classes)
        self.y = torch.as_tensor(self.labels)

    @classmethod
    def of(cls, ds: Any) -> InMemory:
        """Every item of ``ds`` stacked (``ds[i]`` is ``(x, label)``)."""
        return cls(torch.stack([ds[i][0] for i in range(len(ds))]), ds.labels, ds.groups, list(ds.classes))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.y[i]


def splits(
    data: Any,
    config: RecipeConfig,
    *,
    transform: nn.Module | None = None,
    duration: float | None = 3.0,
    precompute: bool = False,
) -> Splits:
    """The data of ``config.dataset`` (and ``config.task``), split by patient with ``config.split_seed``.

    ``transform`` (features) is cached on disk; ``duration`` fixes each item's length in seconds
    (``None``: natural length). The training set (ICBHI: its official train side) is split into
    ``train``/``val``; validation patients may choose epochs, never the test sets. The official test sets
    present come from the dataset's registration (SPRSound ``inter``/``intra``, ICBHI ``test``).
    ``precompute`` fills the feature cache of every split now (:func:`fill_feature_cache`).
    """
    cache = feature_cache() if transform is not None else None
    whole, tests = dataset_splits(
        config.dataset,
        getattr(data, config.dataset).root,
        config.task,
        duration=duration,
        transform=transform,
        cache=cache,
    )
    seed = config.split_seed
    # Stratified folds need at least 1 / val_fraction patients (the 19 real ICBHI recordings have 4 in train).
    stratify = len(np.unique(whole.groups)) >= round(1 / config.val_fraction)
    train_idx, val_idx = patient_split(whole, val_fraction=config.val_fraction, seed=seed, stratify=stratify)
    valid = None
    if config.valid_fraction:  # validation patients: a patient-wise part of the training patients
        keep, chosen = patient_split(Subset(whole, train_idx), config.valid_fraction, seed, stratify=stratify)
        train_idx, valid = train_idx[keep], subsample(Subset(whole, train_idx[chosen]), config.max_val, seed)
    result = Splits(
        train=subsample(Subset(whole, train_idx), config.max_train, seed),
        val=subsample(Subset(whole, val_idx), config.max_val, seed),
        tests={name: subsample(ds, config.max_test, seed) for name, ds in tests.items()},
        valid=valid,
    )
    if precompute and transform is not None:
        for ds in (result.train, result.val, *result.tests.values(), *([valid] if valid is not None else [])):
            fill_feature_cache(ds)
    return result


def make_loader(
    ds: Any, batch_size: int, *, train: bool, balanced: bool | float = False, num_workers: int = 0
) -> DataLoader:
    """A training loader (shuffled, or class-balanced with ``balanced``) or a fixed-order evaluation loader.

    ``balanced``: ``True`` draws every class alike, a number in (0, 1] is :class:`ClassBalancedSampler`'s
    ``power`` (0.5: square-root balancing).

    A training loader has no generator of its own on purpose: it draws its order from torch's global
    generator when an epoch starts, which the trainer reseeds from ``(seed, epoch)``. A loader with its
    own generator would carry state across epochs that no checkpoint holds, and a resumed run would
    see other batches than an uninterrupted one.
    """
    if not train:
        return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    sampler = ClassBalancedSampler(ds.labels, power=float(balanced)) if balanced else None
    return DataLoader(
        ds, batch_size=batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True, num_workers=num_workers
    )


def train_loader(ds: Any, config: RecipeConfig, *, balanced: bool | float = False) -> DataLoader:
    """``config``'s training batches over ``ds``, in an order set by the trainer's epoch seed."""
    return make_loader(ds, config.batch_size, train=True, balanced=balanced, num_workers=config.num_workers)


def eval_loader(ds: Any, config: RecipeConfig) -> DataLoader:
    """Fixed-order batches (twice the training size) for evaluation."""
    return make_loader(ds, 2 * config.batch_size, train=False, num_workers=config.num_workers)


def evaluator(
    model: nn.Module, loader: DataLoader, config: RecipeConfig, device: torch.device | str | None = None
) -> Callable[[], dict[str, float]]:
    """A closure for ``Trainer.fit(evaluate=...)``: predict on ``loader`` and score it with ``config``'s metric."""
    score = score_function(config.dataset, config.task)

    def evaluate() -> dict[str, float]:
        result = predict(model, loader, device)
        return dict(score(result.y_true, result.y_pred))

    return evaluate


def split_metrics(config: RecipeConfig, classes: list[str], y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The official score's numbers, per-class recall, the always-normal ``floor``, the best input-free guess
    (``chance``, :func:`respkit.metrics.chance_score`) and ``pred_classes``."""
    score = score_function(config.dataset, config.task)
    metrics = dict(score(y_true, y_pred))
    metrics |= {f"recall/{name}": value for name, value in per_class_recall(y_true, y_pred, classes).items()}
    metrics["floor"] = score(y_true, np.zeros_like(y_true))["score"]  # class 0 is the normal class
    metrics["chance"] = chance_score(score, y_true, len(classes))
    metrics["pred_classes"] = float(len(np.unique(y_pred)))
    return metrics


def finish(
    workdir: str | Path,
    config: RecipeConfig,
    artifacts: RunArtifacts,
    model: nn.Module | None = None,
    prior: ClassPrior | None = None,
) -> dict[str, float]:
    """Score every split of ``artifacts.predictions``, save the artifacts in ``workdir``, return the run's metrics.

    The held-out split ``val`` gives the plain names, every other split its prefix (``inter_score``,
    ``valid_score`` for the validation patients). ``model``, the network that made the predictions, adds
    ``parameters`` (its count, heads used only in training excluded), so that methods can be compared by size.
    ``prior`` (the training labels' :class:`respkit.decision.ClassPrior`) adds a second decision beside the
    argmax: the prior correction fitted on the validation predictions only (:func:`decide_by_prior`).
    """
    metrics: dict[str, float] = {} if model is None else {"parameters": float(count_parameters(model))}
    for split, predictions in artifacts.predictions.items():
        artifacts.metrics[split] = split_metrics(config, artifacts.classes, predictions.y_true, predictions.y_pred)
        metrics |= {_prefix(split) + key: value for key, value in artifacts.metrics[split].items()}
    if prior is not None and "valid" in artifacts.predictions:
        metrics |= decide_by_prior(config, artifacts, prior)
    if distributed.is_main():  # under torchrun the ranks share the work folder
        artifacts.save(workdir)
    return metrics


def decide_by_prior(config: RecipeConfig, artifacts: RunArtifacts, prior: ClassPrior) -> dict[str, float]:
    """Every split scored again under the prior correction of the logits (:mod:`respkit.decision`), its ``tau``
    fitted on the validation patients' predictions alone: ``prior_score``, ``inter_prior_score``, ...,
    and ``prior_tau``. The fitted rule and its predictions are kept in the artifacts' ``info``."""
    score = score_function(config.dataset, config.task)
    predictions = artifacts.predictions
    decisions = apply_rules(predictions["valid"], predictions, score, prior=prior, methods=("prior",))
    tau = float(decisions.rules["prior"].tau or 0.0)
    metrics = {"prior_tau": tau}
    for split, y_pred in decisions.predictions["prior"].items():
        values = split_metrics(config, artifacts.classes, predictions[split].y_true, y_pred)
        metrics |= {f"{_prefix(split)}prior_{key}": value for key, value in values.items()}
    artifacts.info["prior"] = {
        "tau": tau,
        "predictions": {s: p.tolist() for s, p in decisions.predictions["prior"].items()},
    }
    return metrics


def _prefix(split: str) -> str:
    """The held-out test patients (``val``) give the plain names; every other split its own prefix."""
    return "" if split == "val" else f"{split}_"


def predict_splits(model: nn.Module, loaders: Mapping[str, DataLoader], device: Any = None) -> dict[str, Any]:
    """``{split: Predictions}`` of ``model`` on each named loader."""
    return {split: predict(model, loader, device) for split, loader in loaders.items()}


def fill_feature_cache(ds: Any) -> None:
    """Compute (and cache) the features of every item in storage order, so each recording is decoded once.

    Left to the first epoch, a class-balanced sampler would visit events in random order and decode a
    whole recording for every event (the loader keeps only a few recordings in memory).
    """
    for i in tqdm(range(len(ds)), desc="features", disable=not show_progress(), leave=False):
        ds[i]


def count_parameters(model: nn.Module) -> int:
    """The number of weights in ``model`` (trainable or frozen)."""
    return sum(parameter.numel() for parameter in model.parameters())
