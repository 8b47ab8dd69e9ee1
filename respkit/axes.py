"""Chapter 6's two axes: how a method's score moves with its training budget and with the share of labels.

The bench (:mod:`respkit.bench`) runs each method once, at the ``cpu`` profile. A method that loses there may
win elsewhere: CLAR claims scarce labels, SupCon and MixUp longer training. Each axis varies one thing, for
four methods (a baseline, and one method per family that makes such a claim), the ``cpu`` profile otherwise:

* ``budget``: every training stage's epochs times 0.5, 1 or 2 (:func:`budget_overrides`);
* ``labels``: 1 %, 10 % or all of the training events' labels (:func:`label_overrides`). Every method gets
  the same labelled events (:func:`respkit.recipes.common.proportional_indices` with ``split_seed``). CLAR
  keeps every waveform for its contrastive term; a supervised method has nothing to learn from an event
  without a label, so it trains on the labelled ones alone, for as many optimiser steps as on all of them:
  fewer labels, not less training.

A point is three seeds in its own folder, ``respkit/results/axes/<axis>-<value>/``, each results file with its
predictions under both decisions beside it. Budget 1 with all the labels is the bench itself: its runs are
the bench's files (``respkit/results/bench/``), so the axes and the bench are one recording.
``python -m respkit bench --axes`` trains what no folder holds yet and resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from respkit.bench import BENCH_DIR, BenchRun, keep_predictions, load_bench
from respkit.experiments import resolve_default_data, run_experiment
from respkit.recipes import common, get_recipe
from respkit.recipes.base import RecipeConfig
from respkit.train import TrainConfig

AXES_DIR = BENCH_DIR.parent / "axes"  # ships with the package
# Each method with the fields of its config that it trains with (a config may carry others it never reads:
# ``supcon.mixup`` inherits the baseline's ``train``).
AXIS_METHODS = {
    "supcon.resnet": ("train",),
    "supcon.mixup": ("pretrain", "finetune"),
    "clar.joint": ("train",),
    "patchmix.finetune": ("train",),
}
BUDGETS = (0.5, 1.0, 2.0)  # factors on the cpu profile's epochs
LABEL_FRACTIONS = (0.01, 0.1, 1.0)


@dataclass(frozen=True)
class Point:
    """One point of an axis: ``axis`` ("budget" or "labels") at ``value``; all labels is budget 1."""

    axis: str
    value: float

    @property
    def is_bench(self) -> bool:
        """Budget 1 with every label: the bench's own runs."""
        return self.value == 1.0

    @property
    def folder(self) -> str:
        return "bench" if self.is_bench else f"{self.axis}-{self.value:g}"

    def path(self, axes_dir: str | Path = AXES_DIR, bench_dir: str | Path = BENCH_DIR) -> Path:
        """Where the point's results files live: ``bench_dir`` for the bench's point, else under ``axes_dir``."""
        return Path(bench_dir) if self.is_bench else Path(axes_dir) / self.folder


POINTS = tuple(Point("budget", b) for b in BUDGETS) + tuple(Point("labels", f) for f in LABEL_FRACTIONS)


def stages(recipe: str, config: RecipeConfig) -> dict[str, TrainConfig]:
    """The training stages of ``recipe`` in ``config``, by field name."""
    return {name: getattr(config, name) for name in AXIS_METHODS[recipe]}


def budget_overrides(recipe: str, config: RecipeConfig, factor: float) -> dict[str, Any]:
    """Every stage's epochs times ``factor`` (at least one); warm-ups keep their length in epochs."""
    return {f"{name}.epochs": max(1, round(stage.epochs * factor)) for name, stage in stages(recipe, config).items()}


def label_overrides(recipe: str, config: RecipeConfig, fraction: float, train_labels: Sequence[int]) -> dict[str, Any]:
    """The changes that leave ``config`` with labels for ``fraction`` of the training events ``train_labels``.

    A config with a ``label_fraction`` (CLAR) masks the rest itself. Otherwise the run trains on the labelled
    events alone (``max_train``, drawn as CLAR draws its labelled events), for as many optimiser steps as on
    all of them: a patch model draws ``epoch_items`` per epoch, and the others' epochs and warm-ups are
    multiplied by the ratio of full batches per epoch.
    """
    if fraction == 1.0:
        return {}
    if hasattr(config, "label_fraction"):
        return {"label_fraction": fraction}
    n_all, wanted = len(train_labels), round(fraction * len(train_labels))
    n = len(common.proportional_indices(train_labels, wanted, config.split_seed))  # rounding per class
    if n < config.batch_size:
        raise ValueError(f"{fraction:.0%} of {n_all} events is {n}, fewer than one batch of {config.batch_size}")
    if hasattr(config, "epoch_items"):
        return {"max_train": wanted, "epoch_items": config.epoch_items or n_all}
    factor = (n_all // config.batch_size) / (n // config.batch_size)
    changes: dict[str, Any] = {"max_train": wanted}
    for name, stage in stages(recipe, config).items():
        changes[f"{name}.epochs"] = round(stage.epochs * factor)
        changes[f"{name}.warmup_epochs"] = stage.warmup_epochs * factor
    return changes


def training_labels(config: RecipeConfig, data: Any) -> Sequence[int]:
    """The labels of ``config``'s training events (its patients, before any ``max_train``)."""
    return common.splits(data, config.replace(max_train=None)).train.labels


def run_axes(
    recipes: Sequence[str] | None = None,
    task: str = "1-2",
    seeds: int = 3,
    out_dir: str | Path = AXES_DIR,
    data: Any = None,
    bench_dir: str | Path = BENCH_DIR,
) -> list[dict[str, Any]]:
    """Run (or load) every point of both axes for ``recipes`` (default :data:`AXIS_METHODS`); return the results."""
    data = resolve_default_data() if data is None else data
    all_results = []
    for recipe in recipes or AXIS_METHODS:
        config = get_recipe(recipe).Config.for_profile("cpu").replace(task=task)
        labels = training_labels(config, data)
        for point in POINTS:
            if point.axis == "budget":
                changes = budget_overrides(recipe, config, point.value)
            else:
                changes = label_overrides(recipe, config, point.value, labels)
            command = f"python -m respkit bench --axes --task {task} --seeds {seeds} {recipe}"
            results = run_experiment(
                recipe,
                profile="cpu",
                seeds=range(seeds),
                data=data,
                out_dir=point.path(out_dir, bench_dir),
                overrides={"task": task, **changes},
                command=command,
            )
            keep_predictions(results)
            all_results.append(results)
    return all_results


def load_axes(
    folder: str | Path = AXES_DIR, task: str = "1-2", bench_dir: str | Path = BENCH_DIR
) -> dict[Point, list[BenchRun]]:
    """The recorded runs of every point found under ``folder`` (and the bench's in ``bench_dir``), by point, the
    axis methods only, in the bench's order."""
    found = {point: load_bench(point.path(folder, bench_dir), task) for point in POINTS}
    return {
        point: kept for point, runs in found.items() if (kept := [r for r in runs if r.method.recipe in AXIS_METHODS])
    }
