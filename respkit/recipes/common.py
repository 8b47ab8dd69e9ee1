"""What every chapter's recipes share: patient-wise data splits, loaders, and evaluation with the official score.

Recipes differ in their models and losses, not in how they hold data out. Keeping the split, the
subsampling of the ``quick`` profile and the scoring here means every chapter's numbers are comparable:
the same held-out patients, the same metric code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from respkit.data import ICBHI, SPRSound, ClassBalancedSampler, FeatureCache, Subset, patient_split
from respkit.data.locate import cache_dir
from respkit.metrics import icbhi_score, sprsound_score
from respkit.train import predict


def feature_cache() -> FeatureCache:
    """The on-disk feature cache shared by every chapter (``$RESPKIT_CACHE/features``)."""
    return FeatureCache(cache_dir() / "features")


def subsample(ds: Any, max_items: int | None, seed: int = 0) -> Any:
    """At most ``max_items`` items of ``ds``, drawn per class in proportion (every class keeps at least one).

    The ``quick`` profile uses this to fit a CPU budget; ``None`` returns ``ds`` unchanged.
    """
    if max_items is None or len(ds) <= max_items:
        return ds
    rng = np.random.default_rng(seed)
    labels = np.asarray(ds.labels)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = max(1, round(max_items * len(members) / len(labels)))
        keep.append(rng.choice(members, size=min(n, len(members)), replace=False))
    return Subset(ds, np.sort(np.concatenate(keep)))


def sprsound_splits(
    data: Any,
    task: str = "1-2",
    *,
    transform: nn.Module | None = None,
    duration: float | None = 3.0,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_train: int | None = None,
    max_val: int | None = None,
) -> tuple[Subset, Subset]:
    """SPRSound training set split by patient into ``(train, val)`` for ``task``, features cached.

    The official test sets are not fully available everywhere, so tuning and reporting use held-out
    patients of the training set; :func:`sprsound_test` serves the official test folders when present.
    """
    level = "event" if task.startswith("1") else "record"
    ds = SPRSound(data.sprsound.root, split="train", level=level, task=task, duration=duration,
                  transform=transform, cache=feature_cache() if transform is not None else None)
    train_idx, val_idx = patient_split(ds, val_fraction=val_fraction, seed=seed)
    return subsample(Subset(ds, train_idx), max_train, seed), subsample(Subset(ds, val_idx), max_val, seed)


def sprsound_test(data: Any, task: str, split: str, *, transform: nn.Module | None = None,
                  duration: float | None = 3.0) -> SPRSound:
    """An official SPRSound test set ("inter_test" or "intra_test") with the same features as training."""
    level = "event" if task.startswith("1") else "record"
    return SPRSound(data.sprsound.root, split=split, level=level, task=task, duration=duration,
                    transform=transform, cache=feature_cache() if transform is not None else None)


def icbhi_splits(
    data: Any,
    *,
    transform: nn.Module | None = None,
    duration: float = 8.0,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
) -> tuple[Subset, Subset, Any]:
    """ICBHI ``(train, val, test)``: the official split, with validation patients held out of its train side.

    Checkpoints are chosen on ``val`` (patients unseen in training), never on the test set. Recordings
    without audio (the real data here has 19 of 920) are left out and listed by the dataset.
    """
    cache = feature_cache() if transform is not None else None
    common = dict(duration=duration, transform=transform, cache=cache, require_audio=False)
    train_all = ICBHI(data.icbhi.root, split="train", **common)
    test = ICBHI(data.icbhi.root, split="test", **common)
    # Stratified folds need at least 1 / val_fraction patients; the 19 real recordings here have 4 on the train side.
    stratify = len(np.unique(train_all.groups)) >= round(1 / val_fraction)
    train_idx, val_idx = patient_split(train_all, val_fraction=val_fraction, seed=seed, stratify=stratify)
    train, val = Subset(train_all, train_idx), Subset(train_all, val_idx)
    return subsample(train, max_train, seed), val, subsample(test, max_test, seed)


def make_loader(ds: Any, batch_size: int, *, train: bool, balanced: bool = False, seed: int = 0,
                num_workers: int = 0) -> DataLoader:
    """A training loader (shuffled, or class-balanced with ``balanced``) or a fixed-order evaluation loader."""
    generator = torch.Generator().manual_seed(seed)
    if not train:
        return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    sampler = ClassBalancedSampler(ds.labels, generator=generator) if balanced else None
    return DataLoader(ds, batch_size=batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True,
                      generator=generator, num_workers=num_workers)


def score_function(dataset: str, task: str | None = None) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    """The official metric for ``dataset`` ("icbhi" or "sprsound" with its ``task``): ``f(y_true, y_pred) -> dict``."""
    if dataset == "icbhi":
        return icbhi_score
    if dataset == "sprsound":
        if task is None:
            raise ValueError("the SPRSound score depends on the task: pass task='1-1', '1-2', '2-1' or '2-2'")
        return lambda y_true, y_pred: sprsound_score(y_true, y_pred, task)
    raise ValueError(f"unknown dataset {dataset!r}: 'icbhi' or 'sprsound'")


def evaluator(model: nn.Module, loader: DataLoader, score: Callable[..., Mapping[str, float]],
              device: torch.device | str | None = None) -> Callable[[], dict[str, float]]:
    """A closure for ``Trainer.fit(evaluate=...)``: predict on ``loader`` and score it."""

    def evaluate() -> dict[str, float]:
        result = predict(model, loader, device)
        return dict(score(result.y_true, result.y_pred))

    return evaluate
