"""Chapter 6's bench: every method of the book on the same patients, budget and metric.

Each :class:`Method` is a recipe run at the ``cpu`` profile (:mod:`respkit.profiles`): SPRSound events of
one task, every training event, the held-out patients that ``common.splits`` draws from the same
``split_seed`` for every recipe, the official test sets where they are present, and three seeds.
:func:`run_bench` trains only what no results file holds yet, and a seed that was interrupted resumes
from its checkpoints, so ``python -m respkit bench`` can be stopped and started again.

Beside each results file the bench keeps the predictions of every seed (``<stem>.predictions.npz``):
labels, predictions and patients per split, which is what a paired bootstrap over patients needs
(:func:`respkit.stats.paired_difference`) once the training folders are gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from respkit.experiments import load_results, run_experiment
from respkit.files import atomic_write
from respkit.runs import RunArtifacts, save_npz, work_folder

BENCH_DIR = Path(__file__).resolve().parent / "results" / "bench"  # ships with the package
PREDICTIONS_SUFFIX = ".predictions.npz"


@dataclass(frozen=True)
class Method:
    """One row of the bench: a recipe, its chapter, and what its paper reports (with the paper's protocol)."""

    label: str
    recipe: str
    chapter: int
    paper: str


METHODS: tuple[Method, ...] = (
    Method("ResNet18 + CE", "supcon.resnet", 3, "SPRSound 1-2, 2023 test set: 57.6 (Hu et al., Table III)"),
    Method("SupCon", "supcon.supcon", 3, "SPRSound 1-2, 2023 test set: 61.7 (Hu et al., Table III)"),
    Method("SupCon + MixUp", "supcon.mixup", 3, "SPRSound 1-2, 2023 test set: 62.5 (63.2 as submitted)"),
    Method(
        "CLAR (joint)",
        "clar.joint",
        2,
        "no respiratory results (speech: Speech Commands; music: NSynth; environmental sounds: ESC-10 and ESC-50)",
    ),
    Method(
        "AST fine-tune", "patchmix.finetune", 4, "ICBHI 4-class: 59.55 (AudioSet-pretrained AST-base, 8 s at 16 kHz)"
    ),
    Method("AST + Patch-Mix CL", "patchmix.cl", 4, "ICBHI 4-class: 62.37 (same protocol as the row above)"),
    Method("DASS fine-tune", "lungsrad.finetune", 5, "ICBHI 4-class: 61.06 ± 1.27 (AudioSet-pretrained DASS-small)"),
    Method("Lung-SRAD", "lungsrad.full", 5, "ICBHI 4-class: 64.48 ± 0.25 (same protocol as the row above)"),
)


def get_method(recipe: str) -> Method:
    """The bench row of ``recipe``."""
    for method in METHODS:
        if method.recipe == recipe:
            return method
    raise KeyError(f"{recipe!r} is not on the bench; its recipes: {', '.join(m.recipe for m in METHODS)}")


def run_bench(
    recipes: Sequence[str] | None = None,
    task: str = "1-2",
    seeds: int = 3,
    out_dir: str | Path = BENCH_DIR,
    data: Any = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run (or load) every bench method's ``cpu`` profile on ``task`` over ``seeds`` seeds; return the results.

    ``recipes`` restricts the bench to some of :data:`METHODS` (default: all, in their order);
    ``overrides`` changes every method's config (e.g. ``{"max_train": 64}`` for a smoke test).
    """
    chosen = [get_method(name) for name in recipes] if recipes else list(METHODS)
    all_results = []
    for method in chosen:
        command = f"python -m respkit bench --task {task} --seeds {seeds} {method.recipe}"
        results = run_experiment(
            method.recipe,
            profile="cpu",
            seeds=range(seeds),
            data=data,
            out_dir=out_dir,
            overrides={"task": task, **(overrides or {})},
            command=command,
        )
        keep_predictions(results)
        all_results.append(results)
    return all_results


def predictions_path(results: dict[str, Any]) -> Path:
    path = Path(results["path"])
    return path.with_name(path.stem + PREDICTIONS_SUFFIX)


def keep_predictions(results: dict[str, Any]) -> Path:
    """Write every seed's labels, predictions (argmax ``y_pred``, and ``y_prior`` under the prior correction
    fitted on the validation patients, where the run made one) and patients per split beside the results
    file (once)."""
    target = predictions_path(results)
    if target.exists():
        return target
    arrays: dict[str, np.ndarray] = {}
    for seed in results["seeds"]:
        artifacts = RunArtifacts.load(work_folder(results, seed))
        prior = artifacts.info.get("prior", {}).get("predictions", {})
        for split, predictions in artifacts.predictions.items():
            arrays[f"seed{seed}/{split}/y_true"] = np.asarray(predictions.y_true)
            arrays[f"seed{seed}/{split}/y_pred"] = np.asarray(predictions.y_pred)
            if split in prior:
                arrays[f"seed{seed}/{split}/y_prior"] = np.asarray(prior[split])
            if split in artifacts.groups:
                arrays[f"seed{seed}/{split}/groups"] = np.asarray(artifacts.groups[split]).astype(str)
    atomic_write(target, lambda tmp: save_npz(tmp, arrays))
    return target


def load_predictions(results: dict[str, Any]) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """The predictions :func:`keep_predictions` stored beside ``results``: seed -> split -> array name -> array."""
    stored = np.load(predictions_path(results), allow_pickle=False)
    predictions: dict[int, dict[str, dict[str, np.ndarray]]] = {}
    for key in stored.files:
        seed, split, name = key.split("/")
        predictions.setdefault(int(seed.removeprefix("seed")), {}).setdefault(split, {})[name] = stored[key]
    return predictions


@dataclass
class BenchRun:
    """A recorded bench run: its :class:`Method`, its results dict and its predictions by seed and split."""

    method: Method
    results: dict[str, Any]
    predictions: dict[int, dict[str, dict[str, np.ndarray]]]

    def mean(self, metric: str) -> float:
        return self.results["summary"][metric]["mean"]

    def std(self, metric: str) -> float:
        return self.results["summary"][metric]["std"]

    @property
    def cpu_minutes_per_run(self) -> float:
        """CPU time of one seed's run (training, evaluation and feature loading), in minutes."""
        return self.results["cpu_seconds"] / len(self.results["seeds"]) / 60


def load_bench(folder: str | Path = BENCH_DIR, task: str = "1-2") -> list[BenchRun]:
    """The recorded bench runs of ``task`` in ``folder``, in the order of :data:`METHODS` (missing ones left out).

    Where a folder holds several runs of one method (a config changed since), the one that finished last counts.
    """
    found: dict[str, BenchRun] = {}
    runs = [load_results(path) for path in Path(folder).glob("*-cpu-*.json")]
    for results in sorted(runs, key=lambda r: r["finished"]):
        if results["config"].get("task") != task:
            continue
        found[results["recipe"]] = BenchRun(get_method(results["recipe"]), results, load_predictions(results))
    return [found[m.recipe] for m in METHODS if m.recipe in found]
