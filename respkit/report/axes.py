"""Chapter 6's axes (:mod:`respkit.axes`) as the page shows them: tables, a figure, and the verdict of
"when does each method help", every comparison a paired bootstrap over the held-out patients.

A method helps at a point of an axis when it beats the baseline trained at that same point (ResNet18 + CE
with the same epochs factor, or the same labelled events) by an interval that excludes 0. A run flagged as
degenerate (:func:`respkit.report.bench.held_out_flagged`) is shown, marked, and never compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from respkit.axes import BUDGETS, LABEL_FRACTIONS, Point
from respkit.bench import BenchRun
from respkit.report import gap_text
from respkit.report.bench import _table, held_out_flagged, patients, seed0
from respkit.stats import compare_pairs, standard_error

BASELINE = "supcon.resnet"
DECISIONS = {"argmax": ("score", "y_pred"), "prior": ("prior_score", "y_prior")}  # metric, predictions key
VALUES = {"budget": BUDGETS, "labels": LABEL_FRACTIONS}


def point_name(point: Point) -> str:
    return f"epochs × {point.value:g}" if point.axis == "budget" else f"{point.value:.0%} of the labels"


def on_axis(axes: Mapping[Point, Sequence[BenchRun]], axis: str) -> dict[Point, dict[str, BenchRun]]:
    """The runs of ``axis`` by point, then by recipe, in the axis's order."""
    return {
        p: {run.method.recipe: run for run in axes[p]} for p in map(lambda v: Point(axis, v), VALUES[axis]) if p in axes
    }


def mean_se(run: BenchRun, metric: str) -> tuple[float, float]:
    """The mean of ``metric`` over the run's seeds and its standard error (the noise of training)."""
    values = [seed[metric] for seed in run.results["metrics_per_seed"]]
    return float(np.mean(values)), standard_error(values)


def score_cell(run: BenchRun, metric: str, chance: float) -> str:
    mean, se = mean_se(run, metric)
    flag = " ⚑" if held_out_flagged(run, chance) else ""
    return f"{100 * mean:.1f} ± {100 * se:.1f}{flag}"


def axis_table(axes: Mapping[Point, Sequence[BenchRun]], axis: str, chance: float, decision: str = "argmax") -> str:
    """A row per method, a column per point of ``axis``: held-out score, mean ± standard error over seeds
    (⚑: flagged)."""
    points = on_axis(axes, axis)
    metric = DECISIONS[decision][0]
    recipes = list(dict.fromkeys(recipe for runs in points.values() for recipe in runs))
    label = {run.method.recipe: run.method.label for runs in points.values() for run in runs.values()}
    header = ["method", *(point_name(p) for p in points)]
    rows = [
        [label[r], *(score_cell(runs[r], metric, chance) if r in runs else "–" for runs in points.values())]
        for r in recipes
    ]
    return _table(header, rows)


def help_rows(
    axes: Mapping[Point, Sequence[BenchRun]], score: Any, chance: float, decision: str = "argmax", n: int = 1000
) -> list[dict[str, Any]]:
    """Every method against the baseline at the same point, paired over the held-out patients (seeds averaged).

    Each row is a :func:`respkit.stats.compare_pairs` row with ``point_of`` (the :class:`Point`) and the labels
    that :func:`respkit.report.gap_text` reads. Flagged runs, and points without the baseline, give no row; the
    runs of budget 1 (all labels too) are compared once, as budget 1.
    """
    key = DECISIONS[decision][1]
    rows = []
    seen: set[str] = set()  # all labels is budget 1: its runs are compared once
    for point, runs in axes.items():
        if point.folder in seen:
            continue
        seen.add(point.folder)
        by_recipe = {run.method.recipe: run for run in runs}
        base = by_recipe.get(BASELINE)
        groups = patients(list(runs), "val")
        if base is None or groups is None or held_out_flagged(base, chance):
            continue
        y_true = seed0(base)["val"]["y_true"]
        for run in runs:
            if run is base or held_out_flagged(run, chance):
                continue
            predictions = {r.method.recipe: [p["val"][key] for p in r.predictions.values()] for r in (run, base)}
            (row,) = compare_pairs(y_true, groups, predictions, [(run.method.recipe, BASELINE)], score, n=n, level=0.95)
            rows.append(
                row
                | {
                    "point_of": point,
                    "level": 0.95,
                    "patients": len(np.unique(groups)),
                    "label_a": run.method.label,
                    "label_b": base.method.label,
                }
            )
    return rows


def when_text(rows: Sequence[Mapping[str, Any]], axes: Mapping[Point, Sequence[BenchRun]], chance: float) -> str:
    """The verdict, method by method: the points where it is ahead of the baseline, behind it, or not told apart
    from it; then each comparison with its interval. Every word comes from the intervals."""
    flagged = sorted(
        {
            f"{run.method.label} ({point_name(p)})"
            for p, runs in axes.items()
            for run in runs
            if held_out_flagged(run, chance)
        }
    )
    flag_line = [f"- Flagged, so not compared: {', '.join(flagged)}."] if flagged else []
    if not rows:
        return "\n".join(
            ["No unflagged method could be set against an unflagged baseline, so none is compared.", *flag_line]
        )
    lines = []
    for label in dict.fromkeys(row["label_a"] for row in rows):
        mine = [row for row in rows if row["label_a"] == label]
        groups = {
            "ahead of": [r for r in mine if r["low"] > 0],
            "behind": [r for r in mine if r["high"] < 0],
            "not told apart from": [r for r in mine if r["within_noise"]],
        }
        parts = [
            f"{word} {mine[0]['label_b']} at {', '.join(point_name(r['point_of']) for r in found)}"
            for word, found in groups.items()
            if found
        ]
        verdict = "helps" if groups["ahead of"] else "helps at none of these points"
        lines.append(f"- **{label}** {verdict}: {'; '.join(parts)}.")
    return "\n".join(lines + flag_line)


def gaps_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Each comparison of :func:`help_rows`: method, point, the gap in points and its paired interval."""
    out = [
        [
            row["label_a"],
            point_name(row["point_of"]),
            f"{100 * row['point']:+.1f}",
            f"[{100 * row['low']:+.1f}, {100 * row['high']:+.1f}]",
        ]
        for row in rows
    ]
    return _table(["method − baseline", "point", "points", "95 % interval"], out)


def gap_sentence(row: Mapping[str, Any]) -> str:
    return f"{row['label_a']} − {row['label_b']} at {point_name(row['point_of'])}: {gap_text(row)}"


def axes_figure(axes: Mapping[Point, Sequence[BenchRun]], chance: float, decision: str = "argmax") -> Any:
    """Two panels, held-out score (mean ± standard error over seeds) of every method: against the epochs factor
    along the budget axis, and against the share of labels. Flagged points are hollow.

    The budget is drawn as the factor, not as measured CPU time: a run resumed after an interruption records
    only the CPU time of the invocation that finished it."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    metric = DECISIONS[decision][0]
    fig, panels = plt.subplots(1, 2, figsize=(5.8, 3.4), sharey=True, constrained_layout=True)
    colours: dict[str, Any] = {}
    for ax, axis in zip(panels, ("budget", "labels")):
        points = on_axis(axes, axis)
        recipes = list(dict.fromkeys(r for runs in points.values() for r in runs))
        for recipe in recipes:
            runs = [(p, runs[recipe]) for p, runs in points.items() if recipe in runs]
            xs = [p.value if axis == "budget" else 100 * p.value for p, run in runs]
            stats = [mean_se(run, metric) for _, run in runs]
            ys, errors = [100 * m for m, _ in stats], [100 * s for _, s in stats]
            line = ax.errorbar(xs, ys, yerr=errors, marker="o", ms=4, capsize=2, color=colours.get(recipe), lw=1.2)
            colours[recipe] = line[0].get_color()
            for x, y, (_, run) in zip(xs, ys, runs):
                if held_out_flagged(run, chance):
                    ax.plot(x, y, "o", ms=6, mfc="white", color="grey")
            line.set_label(runs[0][1].method.label)
        ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 1, 2, 5, 10 ... as plain numbers
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(labelsize=8)
        ax.set_xlabel(
            "epochs (× the cpu profile's)" if axis == "budget" else "labelled training events (%)", fontsize=9
        )
    panels[0].set_ylabel("held-out score (%)", fontsize=9)
    handles, labels = panels[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return fig


def provenance_text(axes: Mapping[Point, Sequence[BenchRun]]) -> str:
    """Where the axes' numbers come from: files, data, seeds, commits and machines, in one sentence."""
    from respkit.report.bench import is_simulated, machine

    runs = list({run.results["path"]: run for found in axes.values() for run in found}.values())
    commits = sorted({run.results["git_commit"][:8] + (" (dirty)" if run.results["git_dirty"] else "") for run in runs})
    data = " and ".join(sorted({"simulated" if is_simulated(run) else "real" for run in runs}))
    seeds = "/".join(str(n) for n in sorted({len(run.results["seeds"]) for run in runs}))
    machines = "; ".join(sorted({machine(run.results["hardware"]) for run in runs}))
    return (
        f"{len(runs)} results files in {len({p.folder for p in axes})} folders, recorded on {data} SPRSound data "
        f"with {seeds} seeds each, "
        f"at commit {', '.join(f'`{c}`' for c in commits)}, on {machines}."
    )
