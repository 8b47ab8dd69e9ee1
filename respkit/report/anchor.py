"""Chapter 6's anchor: the SupCon paper's public code at its own settings, beside respkit's best cheap run.

The anchor is ``supcon.public`` (chapter 3's reading of github.com/HUJH511/BioCAS-2023-Grand_Challenge) at the
public code's width, features and epochs, recorded once in ``respkit/results/anchor/``. Respkit's side is the
run with the best *validation* score among the bench's rows and the axes' points that cost at most
:data:`MAX_MINUTES` CPU-minutes per run, under the decision its recipe asks for
(:attr:`respkit.recipes.base.Recipe.decision`); the held-out patients and the official slices then only
report. Every split is compared paired over its patients (:func:`respkit.stats.compare_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from respkit.bench import BENCH_DIR, BenchRun, Method, load_predictions
from respkit.experiments import load_results
from respkit.recipes import get_recipe
from respkit.report import gap_text
from respkit.report.axes import DECISIONS, mean_se
from respkit.report.bench import SPLIT_NAMES, _table, held_out_flagged
from respkit.stats import compare_pairs

ANCHOR_DIR = BENCH_DIR.parent / "anchor"  # ships with the package
MAX_MINUTES = 15.0  # respkit's side: at most this many CPU-minutes per run
# The public code's network width and MFCCs, and its epochs as issue #26 scaled them for a CPU (10 SupCon epochs of
# the paper's 50, about an hour here; its 20 fine-tuning epochs); the rest is supcon.public's cpu profile.
PUBLIC_SETTINGS = {"width": 64, "n_mfcc": 64, "hop_length": 128, "pretrain.epochs": 10, "finetune.epochs": 20}
PUBLIC = Method("public code, its settings", "supcon.public", 3, "SPRSound 1-2, 2023 test set: 62.5 (Hu et al.)")


def load_anchor(folder: str | Path = ANCHOR_DIR, task: str = "1-2") -> BenchRun | None:
    """The recorded public-code run of ``task`` (the last finished), with its predictions; ``None``: none."""
    found = [load_results(path) for path in Path(folder).glob("supcon.public-*.json")]
    found = sorted((r for r in found if r["config"].get("task") == task), key=lambda r: r["finished"])
    if not found:
        return None
    return BenchRun(PUBLIC, found[-1], load_predictions(found[-1]))


def no_anchor_text(task: str) -> str:
    """Why the anchor is missing, and the command that records it."""
    settings = " ".join(f"--set {key}={value}" for key, value in PUBLIC_SETTINGS.items())
    return (
        f"no public-code run for task {task} in {ANCHOR_DIR}: `python -m respkit run supcon.public --profile cpu "
        f"--seeds 1 --set task={task} {settings} --out {ANCHOR_DIR}` records it (about a CPU-hour)"
    )


def decision_of(run: BenchRun) -> str:
    """The decision ``run``'s recipe reports: ``"prior"`` where it asks and the file holds it, else argmax."""
    wanted = get_recipe(run.method.recipe).decision
    return wanted if f"{DECISIONS[wanted][0]}" in run.results["summary"] else "argmax"


def validation_score(run: BenchRun) -> float:
    metric = DECISIONS[decision_of(run)][0]
    return mean_se(run, f"valid_{metric}")[0]


def best_on_validation(candidates: Sequence[tuple[str, BenchRun]], chance: float) -> tuple[str, BenchRun]:
    """The ``(name, run)`` with the best mean validation score among the unflagged runs of at most
    :data:`MAX_MINUTES` CPU-minutes per run."""
    kept = [(name, run) for name, run in candidates if run.cpu_minutes_per_run <= MAX_MINUTES]
    kept = [(name, run) for name, run in kept if not held_out_flagged(run, chance)]
    if not kept:
        raise ValueError(f"no unflagged run of at most {MAX_MINUTES:g} CPU-minutes to set beside the public code")
    return max(kept, key=lambda item: validation_score(item[1]))


def anchor_rows(public: BenchRun, best: BenchRun, score: Any, n: int = 1000) -> list[dict[str, Any]]:
    """``best − public`` on every split both scored, paired over that split's patients (seeds averaged), each
    run under its own decision."""
    rows = []
    for split in SPLIT_NAMES:
        seeds = {"best": list(best.predictions.values()), "public": list(public.predictions.values())}
        if not all(split in p and "groups" in p[split] for found in seeds.values() for p in found):
            continue
        y_true, groups = seeds["best"][0][split]["y_true"], seeds["best"][0][split]["groups"]
        if not np.array_equal(seeds["public"][0][split]["y_true"], y_true):
            raise ValueError(f"the public code and {best.method.label} were not scored on the same {split} events")
        keys = {"best": DECISIONS[decision_of(best)][1], "public": DECISIONS[decision_of(public)][1]}
        predictions = {name: [p[split][keys[name]] for p in found] for name, found in seeds.items()}
        (row,) = compare_pairs(y_true, groups, predictions, [("best", "public")], score, n=n, level=0.95)
        rows.append(row | {"split": split, "level": 0.95, "patients": len(np.unique(groups))})
    return rows


def anchor_table(public: BenchRun, best: BenchRun, best_name: str) -> str:
    """The two runs: seeds, CPU-minutes per run, decision, and each split's score (mean ± SE over seeds)."""
    out = []
    for name, run in ((f"{PUBLIC.label} (`supcon.public`)", public), (best_name, best)):
        metric = DECISIONS[decision_of(run)][0]
        cells = []
        for prefix in ("", "inter_", "intra_"):
            if f"{prefix}{metric}" not in run.results["summary"]:
                cells.append("–")
                continue
            mean, se = mean_se(run, f"{prefix}{metric}")
            cells.append(f"{100 * mean:.1f}" + ("" if np.isnan(se) else f" ± {100 * se:.1f}"))
        out.append([name, f"{len(run.results['seeds'])} / {run.cpu_minutes_per_run:.1f}", *cells])
    return _table(["run", "seeds / CPU-min", "held out", "inter", "intra"], out)


def anchor_text(rows: Sequence[Mapping[str, Any]], best_name: str) -> str:
    """Each split's verdict, from its paired interval."""
    if not rows:
        return "No split holds both runs' predictions with their patients, so none is compared."
    lines = [f"- {SPLIT_NAMES[row['split']]}: {gap_text(row)}." for row in rows]
    ahead = [SPLIT_NAMES[row["split"]] for row in rows if row["low"] > 0]
    if len(ahead) == len(rows):
        head = f"{best_name} is ahead of the public code on every split it was compared on:"
    elif ahead:
        head = f"{best_name} is ahead of the public code on {', '.join(ahead)} only:"
    else:
        head = f"{best_name} is ahead of the public code on no split:"
    return "\n".join([head, "", *lines])
