"""Reading results files: tables with degenerate results flagged, and each run's margin over the trivial floor.

A number in a table invites comparison, so a result that learned nothing must say so where it is shown.
:func:`degenerate` reads a results dict and names the problem when one seed of the run

* predicted a single class (``pred_classes == 1``),
* never predicted the normal class, or never an abnormal one (specificity or sensitivity 0), or
* scored at or below its ``floor``, the score of always answering the normal class on the same items
  (0.25 for the SPRSound score, 0.5 for the ICBHI score; :func:`respkit.recipes.common.split_metrics`), or
* scored at or below ``chance``, the best score of any guess that ignores the input
  (:func:`respkit.metrics.chance_score`: 0.5 on SPRSound task 1-1, where the floor is 0.25).

:func:`results_table` writes that reason into the row, and :func:`margins` lists, for every run, its
score against the floor: ``python -m respkit margins <results folder>`` prints it for a whole build.
:func:`chance_level` is the line a score must clear. :func:`compare` says how far apart two runs are
on the same patients, with a paired bootstrap interval over patients and seeds (:mod:`respkit.stats`),
and :func:`gap_text` writes that as a sentence a chapter can print. :func:`say` shows prose whose numbers
are computed: a chapter never types a data-dependent number.

The submodules hold what one chapter shows beside its method (its tables, computed sentences and figure
layouts), so that a chapter's code cells read as the method and not as bookkeeping.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from respkit.data.registry import score_function
from respkit.stats import compare_pairs


def degenerate(result: Mapping[str, Any], prefix: str = "") -> str | None:
    """Why the run's ``prefix`` split (``""``: held-out patients, ``"inter_"``, ``"test_"``...) is degenerate,
    or ``None``."""
    for metrics in result.get("metrics_per_seed", []):
        if metrics.get(f"{prefix}pred_classes") == 1:
            return "predicts one class"
        if metrics.get(f"{prefix}sp") == 0:
            return "never predicts normal"
        if metrics.get(f"{prefix}se") == 0:
            return "never predicts abnormal"
        floor = metrics.get(f"{prefix}floor")
        if floor is not None and metrics.get(f"{prefix}score", np.inf) <= floor:
            return "at or below always-normal"
        chance = metrics.get(f"{prefix}chance")  # absent from files written before it was recorded
        if chance is not None and metrics.get(f"{prefix}score", np.inf) <= chance:
            return "no better than guessing"
    return None


def chance_level(summary: Mapping[str, Any], prefix: str = "") -> float | None:
    """The mean score a run must beat: ``chance``, the best blind guess, which is never below the
    always-normal floor; the floor in files written before chance was recorded, ``None`` before floors were."""
    bar = summary.get(f"{prefix}chance", summary.get(f"{prefix}floor"))
    return None if bar is None else bar["mean"]


def untrained_note(
    results: Mapping[str, Mapping[str, Any]],
    final_loss: Mapping[str, float],
    n_classes: int,
    reference: tuple[float, float] | None = None,
) -> str | None:
    """A sentence for the flagged rows of a table whose training loss ended at chance, or ``None`` if none did.

    ``results``: row name -> results dict; ``final_loss``: row name -> the last epoch's training cross-entropy.
    Under class-balanced sampling a model that ignores its input ends at ln ``n_classes``; within 0.02 of it,
    a flagged row learnt nothing and says nothing about its method. ``reference``: on simulated data, the
    band the simulator's reference model reaches on this task (:data:`respkit.data.synthetic.REFERENCE_SCORE`).
    """
    chance = float(np.log(n_classes))
    stalled = [name for name, r in results.items() if degenerate(r) and abs(final_loss[name] - chance) < 0.02]
    if not stalled:
        return None
    losses = [final_loss[name] for name in stalled]
    text = (
        f"**Not learnt:** {', '.join(stalled)} ended training with a cross-entropy of {min(losses):.3f} to "
        f"{max(losses):.3f}, where a model that ignores its input scores ln {n_classes} = {chance:.3f}: "
        "these rows measure no method."
    )
    if reference is not None:
        text += (
            f" The information is in these simulated sounds (a logistic regression on log-mel statistics "
            f"scores {100 * reference[0]:.0f} to {100 * reference[1]:.0f} on this task), but the small patch "
            "models from scratch did not find it in this profile's steps; chapter 6 shows them on real events."
        )
    return text


def final_training_loss(artifacts: Any) -> float:
    """The last epoch's training cross-entropy of a run's last stage (``"ce"`` where the loss adds other terms)."""
    last = list(artifacts.histories.values())[-1].train[-1]
    return float(last.get("ce", last["loss"]))


def summary_cell(stats: Mapping[str, float] | None, scale: float = 100.0, digits: int = 2) -> str:
    """One table cell of a summarised metric: ``mean ± std`` times ``scale``, the mean alone for one seed,
    ``–`` if absent."""
    if stats is None:
        return "–"
    if stats["n"] > 1:
        return f"{stats['mean'] * scale:.{digits}f} ± {stats['std'] * scale:.{digits}f}"
    return f"{stats['mean'] * scale:.{digits}f}"


def results_table(
    results: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    *,
    scale: float = 100.0,
    digits: int = 2,
    label: str = "recipe",
    context: bool = True,
) -> str:
    """A Markdown table, one row per results dict: ``mean ± std`` of each metric, times ``scale`` (percent).

    ``label`` is the results key that names a row; ``context=False`` leaves out the profile and seeds
    columns (for a table whose caption says them). A column ``flag`` is added when any row is
    degenerate (:func:`degenerate`, read on the split of the first metric's prefix).
    In a notebook: ``IPython.display.Markdown(results_table(...))``.
    """
    prefix = metrics[0][: metrics[0].index("_") + 1] if metrics and "_" in metrics[0] else ""
    flags = [degenerate(result, prefix) for result in results]
    header = [label, *(["profile", "seeds"] if context else []), *metrics] + (["flag"] if any(flags) else [])
    rows = [header, ["---"] * len(header)]
    for result, flag in zip(results, flags):
        cells = [str(result[label]), *([result["profile"], str(len(result["seeds"]))] if context else [])]
        cells += [summary_cell(result["summary"].get(metric), scale, digits) for metric in metrics]
        rows.append(cells + ([f"**{flag}**" if flag else ""] if any(flags) else []))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def margins(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For every run: dataset, real or simulated, seeds, held-out score mean ± std, floor, chance and margin.

    The score is the run's headline split: the official test side where the dataset has one fixed test
    split (ICBHI, ``test_score``), else the held-out patients. Margins are in score points,
    ``100 · (mean score − mean bar)``: ``over_floor`` over always answering normal, and ``margin`` over
    :func:`chance_level`, the best input-free guess (at least the floor, so the stricter of the two).
    Either is ``None`` where the file predates its bar.
    """
    rows = []
    for result in results:
        config = result["config"]
        prefix = "test_" if "test_score" in result["summary"] else ""
        summary = {
            key.removeprefix(prefix): value for key, value in result["summary"].items() if key.startswith(prefix)
        }
        dataset = config.get("dataset", "sprsound")
        source = result.get("data", {}).get(dataset, {})
        floor = summary.get("floor", {}).get("mean")
        chance = summary.get("chance", {}).get("mean")
        bar = chance_level(summary)
        score = summary["score"]
        rows.append(
            {
                "recipe": result["recipe"],
                "profile": result["profile"],
                "dataset": dataset,
                "task": config.get("task"),
                "data": "simulated" if source.get("simulated") else "real",
                "seeds": len(result["seeds"]),
                "score": score["mean"],
                "std": score["std"],
                "floor": floor,
                "chance": chance,
                "over_floor": None if floor is None else 100 * (score["mean"] - floor),
                "margin": None if bar is None else 100 * (score["mean"] - bar),
                "split": prefix.rstrip("_") or "held-out",
                "flag": degenerate(result, prefix),
            }
        )
    return rows


def margins_table(folder: str | Path) -> str:
    """:func:`margins` of every results file in ``folder``, as text (the ``margins`` command)."""
    results = [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]
    lines = [
        f"{'recipe':26s} {'profile':7s} {'dataset':8s} {'task':4s} {'data':9s} {'split':8s} seeds  "
        "score (±std)   floor chance  over floor  over chance  flag"
    ]
    for row in margins(results):
        floor, chance = (("   –  " if row[k] is None else f"{100 * row[k]:6.1f}") for k in ("floor", "chance"))
        over_floor, margin = (("    – " if row[k] is None else f"{row[k]:+6.1f}") for k in ("over_floor", "margin"))
        lines.append(
            f"{row['recipe']:26s} {row['profile']:7s} {row['dataset']:8s} {str(row['task'] or '-'):4s} "
            f"{row['data']:9s} {row['split']:8s} {row['seeds']:5d}  "
            f"{100 * row['score']:5.1f} ± {100 * row['std']:4.1f}  "
            f"{floor} {chance}  {over_floor:>10s}  {margin:>11s}  {row['flag'] or ''}"
        )
    return "\n".join(lines)


def say(text: str) -> None:
    """Show ``text`` (Markdown, dedented) as the cell's output.

    The book's prose never types a number that depends on the data or on a run: a sentence that holds one
    is an f-string shown with ``say``, in a code cell the book hides (tag ``remove-input``), so that it reads
    as prose and is true in every build (real data, the simulator, any profile).
    """
    from IPython.display import Markdown, display  # IPython is only needed where prose is shown

    display(Markdown(textwrap.dedent(text).strip()))


def compare(
    a: Mapping[str, Any], b: Mapping[str, Any], split: str = "val", *, n: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Score of run ``a`` minus run ``b`` on the same items, with a paired bootstrap interval.

    ``a`` and ``b`` are results dicts of :func:`respkit.experiments.run_experiment` whose work folders are
    here. Each run's score is the mean over its seeds; the interval resamples the *patients* of ``split``
    (all their items at once), scoring both runs on the same resamples, so it holds the noise of which
    patients happened to be held out around seed-averaged methods (:func:`respkit.stats.compare_pairs`).
    Seeds enter through that average, not as a spread to compare against: a difference of means set
    beside the standard deviation of single runs is no test.

    Returns ``point`` (the difference in score units), ``low``/``high`` (the ``level`` interval),
    ``p_better`` (share of resamples where ``a`` wins), ``within_noise`` (the interval holds 0), and the
    seeds and patients it used.
    """
    from respkit.runs import RunArtifacts  # runs imports training code; the tables above need none of it

    runs = {"a": a, "b": b}
    artifacts = {key: [RunArtifacts.of(run, s) for s in run["seeds"]] for key, run in runs.items()}
    first = artifacts["a"][0]
    if split not in first.groups:
        raise ValueError(
            f"{a['recipe']}: its artifacts keep no patients for split {split!r}, so no patient bootstrap can be drawn"
        )
    y_true, groups = first.predictions[split].y_true, first.groups[split]
    for key, run_artifacts in artifacts.items():
        for art in run_artifacts:
            if not np.array_equal(art.predictions[split].y_true, y_true):
                raise ValueError(
                    f"{runs[key]['recipe']} and {a['recipe']} were not scored on the same "
                    f"items of {split!r}: no paired comparison"
                )
    config = a["config"]
    predictions = {key: [art.predictions[split].y_pred for art in arts] for key, arts in artifacts.items()}
    row = compare_pairs(
        y_true,
        groups,
        predictions,
        [("a", "b")],
        score_function(config["dataset"], config["task"]),
        n=n,
        seed=seed,
        level=level,
    )[0]
    return row | {
        "a": a["recipe"],
        "b": b["recipe"],
        "level": level,
        "seeds": (len(a["seeds"]), len(b["seeds"])),
        "patients": len(np.unique(groups)),
    }


def gap_text(row: Mapping[str, Any]) -> str:
    """A :func:`compare` result as words: the gap in score points and its interval, then what it shows."""
    point, low, high = (100 * row[key] for key in ("point", "low", "high"))
    interval = f"{100 * row['level']:.0f} % interval {low:+.1f} to {high:+.1f}"
    if row["within_noise"]:
        verdict = "the interval holds 0, so these patients do not tell the two apart"
    else:
        verdict = f"the interval excludes 0: {'ahead' if point > 0 else 'behind'} on these patients"
    return f"{point:+.1f} points ({interval}, paired over {row['patients']} patients); {verdict}"
