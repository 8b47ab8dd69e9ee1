"""Chapter 6's bookkeeping: the bench's tables, flags, paired comparisons and computed sentences.

Chapter 6 trains nothing: it reads the results files and per-seed predictions that ``python -m respkit
bench`` writes (:mod:`respkit.bench`). This module turns those :class:`respkit.bench.BenchRun` objects into
what the page shows: narrow Markdown tables (at most five columns, so that they fit the text column), the
flag of every row that learned nothing, the paired bootstrap over held-out patients
(:func:`respkit.stats.compare_pairs` on the stored predictions, since the bench's training folders are not
kept), and the sentences whose numbers and comparison words depend on the results.

Its last function, :func:`shard_text`, serves the appendix "Running at scale": the sentence that reads
that page's sharding example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from respkit.bench import BenchRun
from respkit.recipes import get_recipe
from respkit.recipes.base import Description
from respkit.recipes.common import Splits
from respkit.report import degenerate, gap_text, summary_cell
from respkit.stats import compare_pairs

#: The chapters' questions, as (method, baseline) recipes: what the method adds over its baseline.
CHAPTER_PAIRS: tuple[tuple[str, str], ...] = (
    ("supcon.supcon", "supcon.resnet"),
    ("supcon.mixup", "supcon.supcon"),
    ("patchmix.cl", "patchmix.finetune"),
    ("lungsrad.full", "lungsrad.finetune"),
)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def cell(run: BenchRun, metric: str) -> str:
    """``mean ± std`` of ``metric`` in percent with one decimal, ``–`` where the file lacks it."""
    return summary_cell(run.results["summary"].get(metric), digits=1)


def seed0(run: BenchRun) -> dict[str, dict[str, np.ndarray]]:
    """The stored predictions of the run's first seed, by split."""
    return run.predictions[min(run.predictions)]


def is_simulated(run: BenchRun) -> bool:
    """Whether the run trained on respkit's simulator rather than on recordings."""
    dataset = run.results["config"]["dataset"]
    return bool(run.results["data"][dataset]["simulated"])


# --- cost ------------------------------------------------------------------------------------------
def charged_minutes(runs: Sequence[BenchRun]) -> tuple[dict[str, float], str | None]:
    """CPU-minutes charged to one run of each recipe, and a note on the SupCon encoder, or ``None``.

    SupCon and SupCon + MixUp share stage 1 (the encoder) when everything it reads is equal: their results
    files then name the same encoder folders. When one started after the other had finished, it found the
    encoders trained and did not train them: it is then charged its own time plus the other's (an upper bound).
    Files recorded before runs named their shared stages get no note.
    """
    charged = {run.method.recipe: run.cpu_minutes_per_run for run in runs}
    by_recipe = {run.method.recipe: run for run in runs}
    if not {"supcon.supcon", "supcon.mixup"} <= set(by_recipe):
        return charged, None
    first, second = sorted(
        (by_recipe["supcon.supcon"], by_recipe["supcon.mixup"]), key=lambda run: run.results["started"]
    )
    # Each results file names the folders of the stages it shared (the runner's key: every field stage 1 read).
    encoders = [[seed.get("pretrain") for seed in r.results.get("shared_stages", [])] for r in (first, second)]
    if not encoders[0] or encoders[0] != encoders[1]:
        return charged, None
    if second.results["started"] < first.results["finished"]:
        return charged, (
            f"{second.method.label} ran while {first.method.label} was running: how much of the "
            "shared encoder each trained is not recorded, so both keep their own CPU time."
        )
    charged[second.method.recipe] += first.cpu_minutes_per_run
    return charged, (
        f"{second.method.label} reused the encoder that {first.method.label} pre-trained; it is "
        f"charged {charged[second.method.recipe]:.1f} CPU-minutes per run (its own time plus "
        f"{first.method.label}'s, an upper bound)."
    )


def machine(hardware: Mapping[str, Any]) -> str:
    """The machine a run was recorded on, in one line: platform, cores, GPU, torch."""
    gpu = hardware.get("cuda_device") or "no GPU"
    return f"{hardware['platform']}, {hardware['cpu_count']} cores, {gpu}, torch {hardware['torch']}"


def cost_range(runs: Sequence[BenchRun], charged: Mapping[str, float]) -> dict[str, Any]:
    """The cheapest and the dearest run: ``low``/``high`` (CPU-minutes), their labels, and ``ratio``."""
    cheap = min(runs, key=lambda run: charged[run.method.recipe])
    dear = max(runs, key=lambda run: charged[run.method.recipe])
    low, high = charged[cheap.method.recipe], charged[dear.method.recipe]
    return {
        "low": low,
        "high": high,
        "cheap": cheap.method.label,
        "dear": dear.method.label,
        "ratio": high / low if low > 0 else float("inf"),
    }


def design(run: BenchRun) -> Description:
    """A run's network, features, training and epochs, as its recipe describes the config its file stored."""
    recipe = get_recipe(run.method.recipe)
    return recipe.describe(recipe.Config.from_dict(run.results["config"]))


def budget_tables(runs: Sequence[BenchRun], charged: Mapping[str, float]) -> str:
    """Two narrow tables: what each row trains (network, epochs, batch, clip) and what it cost."""
    designs = _table(
        ["method", "network", "epochs", "batch", "clip (s)"],
        [
            [
                run.method.label,
                design(run).network,
                design(run).epochs,
                (c := run.results["config"])["batch_size"],
                f"{c.get('duration') or c.get('event_seconds'):g}",
            ]
            for run in runs
        ],
    )
    cost = []
    for run in runs:
        r = run.results
        billed, own = charged[run.method.recipe], run.cpu_minutes_per_run
        # A run charged for another's work (a reused encoder) shows its own time too, so that
        # CPU/wall, which is the run's own, can be checked against the columns beside it.
        cpu = f"{billed:.1f}" if f"{billed:.1f}" == f"{own:.1f}" else f"{billed:.1f} (own {own:.1f})"
        cost.append(
            [
                run.method.label,
                cpu,
                f"{r['wall_seconds'] / len(r['seeds']) / 60:.1f}",
                f"{r['cpu_seconds'] / r['wall_seconds']:.2f}",
            ]
        )
    return designs + "\n\n" + _table(["method", "CPU-min/run", "wall-min/run", "CPU/wall"], cost)


def inputs_table(runs: Sequence[BenchRun]) -> str:
    """What each row reads and how it trains (the fairness caveats that are design facts)."""
    return _table(
        ["method", "input", "training"],
        [[run.method.label, design(run).features, design(run).training] for run in runs],
    )


# --- provenance and protocol -----------------------------------------------------------------------
PROVENANCE = (
    "command",
    "config",
    "seeds",
    "data",
    "hardware",
    "git_commit",
    "git_dirty",
    "respkit_version",
    "started",
    "cpu_seconds",
    "wall_seconds",
)


def provenance_table(runs: Sequence[BenchRun]) -> str:
    """One row per results file: method, file, seeds, data (real or simulated), git commit."""
    rows = []
    for run in runs:
        r = run.results
        commit = f"`{r['git_commit'][:8]}`" + (" (dirty)" if r["git_dirty"] else "")
        data = f"{'simulated' if is_simulated(run) else 'real'} {r['config']['dataset']}"
        rows.append([run.method.label, f"`{Path(r['path']).name}`", len(r["seeds"]), data, commit])
    return _table(["method", "results file", "seeds", "data", "git commit"], rows)


def provenance_gaps(runs: Sequence[BenchRun]) -> list[str]:
    """``"<label>: <missing keys>"`` for every results file that lacks part of its provenance."""
    gaps = []
    for run in runs:
        absent = [key for key in PROVENANCE if key not in run.results]
        if absent:
            gaps.append(f"{run.method.label}: {', '.join(absent)}")
    return gaps


def aligned(runs: Sequence[BenchRun], splits: Sequence[str]) -> bool:
    """Whether every seed of every run holds the same labels, in the same order, on each of ``splits``."""
    reference = seed0(runs[0])
    return all(
        np.array_equal(p[s]["y_true"], reference[s]["y_true"])
        for run in runs
        for p in run.predictions.values()
        for s in splits
    )


def patients(runs: Sequence[BenchRun], split: str) -> np.ndarray | None:
    """The patient of each event of ``split``, from the first run that stored them (``None``: none did)."""
    for run in runs:
        if "groups" in seed0(run).get(split, {}):
            return seed0(run)[split]["groups"]
    return None


SPLIT_NAMES = {"val": "held-out patients", "inter": "inter test", "intra": "intra test"}


def protocol_table(runs: Sequence[BenchRun], classes: Sequence[str], splits: Sequence[str]) -> str:
    """A column per split, a row per class: patients, events, then the events of each class."""
    reference = seed0(runs[0])
    counts = {s: np.bincount(reference[s]["y_true"], minlength=len(classes)) for s in splits}
    groups = [patients(runs, s) for s in splits]
    rows = [
        ["patients", *("–" if g is None else len(np.unique(g)) for g in groups)],
        ["events", *(counts[s].sum() for s in splits)],
    ]
    rows += [[c, *(counts[s][i] for s in splits)] for i, c in enumerate(classes)]
    return _table(["", *(SPLIT_NAMES[s] for s in splits)], rows)


# --- scores and flags ------------------------------------------------------------------------------
def flags(run: BenchRun, chance: float) -> str:
    """Why the run is flagged, each reason once with its splits (``""``: not flagged).

    :func:`respkit.report.degenerate` on the held-out patients and both test slices; and, since the
    bench's files were written before results recorded chance, every held-out seed against ``chance``.
    """
    found: dict[str, list[str]] = {}
    for split, prefix in [("held out", ""), ("inter", "inter_"), ("intra", "intra_")]:
        why = degenerate(run.results, prefix)
        if why:
            found.setdefault(why, []).append(split)
    if min(m["score"] for m in run.results["metrics_per_seed"]) <= chance:
        found.setdefault("no better than guessing", []).append("held out")
    return "; ".join(f"{why} ({', '.join(where)})" for why, where in found.items())


def no_bench_text(folder: Any, task: str) -> str:
    """Why chapter 6 stops when ``folder`` holds no bench for ``task``, and the command that makes one."""
    return (
        f"no bench results for task {task} in {folder}: `python -m respkit bench --task {task}` trains them "
        "(minutes of CPU per method, resumable); this chapter reads results and trains nothing"
    )


def held_out_flagged(run: BenchRun, chance: float) -> bool:
    """Whether the run's held-out score is flagged: such a run is never ranked or compared."""
    return degenerate(run.results) is not None or min(m["score"] for m in run.results["metrics_per_seed"]) <= chance


def size(n: float) -> str:
    """A parameter count: ``"1.23 M"`` or ``"45 k"``."""
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.0f} k"


def score_tables(runs: Sequence[BenchRun], charged: Mapping[str, float], chance: float) -> str:
    """Three narrow tables: held-out scores with the flag, cost and size, and the official test slices."""
    marks = {run.method.recipe: flags(run, chance) for run in runs}
    scores = _table(
        ["method", "score", "SE", "SP", "flag"],
        [
            [
                run.method.label,
                cell(run, "score"),
                cell(run, "se"),
                cell(run, "sp"),
                f"**{marks[run.method.recipe]}**" if marks[run.method.recipe] else "",
            ]
            for run in runs
        ],
    )
    cost = _table(
        ["method", "chapter", "parameters", "CPU-min/run"],
        [
            [run.method.label, run.method.chapter, size(run.mean("parameters")), f"{charged[run.method.recipe]:.1f}"]
            for run in runs
        ],
    )
    tests = _table(
        ["method", "inter score", "intra score"],
        [[run.method.label, cell(run, "inter_score"), cell(run, "intra_score")] for run in runs],
    )
    return "\n\n".join([scores, cost, tests])


def ranked(runs: Sequence[BenchRun], chance: float) -> list[BenchRun]:
    """The runs whose held-out score is not flagged, best mean score first."""
    kept = [run for run in runs if not held_out_flagged(run, chance)]
    return sorted(kept, key=lambda run: run.mean("score"), reverse=True)


def recall_matrix(runs: Sequence[BenchRun], classes: Sequence[str], support: np.ndarray) -> np.ndarray:
    """``[methods, classes]`` mean recall over seeds; NaN for a class with no held-out event."""
    recall = np.array([[run.mean(f"recall/{c}") for c in classes] for run in runs], dtype=float)
    recall[:, np.asarray(support) == 0] = np.nan
    return recall


# --- paired comparisons ----------------------------------------------------------------------------
def comparisons(
    runs: Sequence[BenchRun], score: Any, chance: float, n: int = 1000, level: float = 0.95, seed: int = 0
) -> list[dict[str, Any]]:
    """Paired bootstrap rows for the chapters' pairs and for the best against the runner-up.

    Like :func:`respkit.report.compare`, but on the predictions the bench stores: the held-out patients
    are resampled (all of a patient's events together) and every method is scored, as the mean over its
    seeds, on the same resamples. A pair with a flagged run is left out (a failed run is no finding).
    Each row also holds ``level``, ``patients`` and ``label_a``/``label_b``, so :func:`gap_text` reads it.
    """
    by_recipe = {run.method.recipe: run for run in runs}
    pairs = [p for p in CHAPTER_PAIRS if set(p) <= set(by_recipe)]
    top = [run.method.recipe for run in ranked(runs, chance)[:2]]
    if len(top) == 2 and not any(set(top) == set(p) for p in pairs):
        pairs.append((top[0], top[1]))
    pairs = [p for p in pairs if not any(held_out_flagged(by_recipe[r], chance) for r in p)]
    if not pairs:
        return []
    reference = seed0(runs[0])["val"]
    y_true, groups = reference["y_true"], patients(runs, "val")
    if groups is None:
        raise ValueError("no bench run stored the held-out patients: no patient bootstrap can be drawn")
    held_out = {recipe: [p["val"]["y_pred"] for p in run.predictions.values()] for recipe, run in by_recipe.items()}
    rows = compare_pairs(y_true, groups, held_out, pairs, score, n=n, seed=seed, level=level)
    for row in rows:
        row |= {
            "level": level,
            "patients": len(np.unique(groups)),
            "label_a": by_recipe[row["a"]].method.label,
            "label_b": by_recipe[row["b"]].method.label,
        }
    return rows


def decision_rows(
    runs: Sequence[BenchRun], score: Any, chance: float, n: int = 1000, level: float = 0.95, seed: int = 0
) -> list[dict[str, Any]]:
    """For each unflagged method that stored both decisions: prior-corrected − argmax on the held-out patients,
    paired over the same resampled patients (seeds averaged), as :func:`comparisons` rows. The correction's
    ``tau`` was fitted on each run's validation patients; the held-out patients never saw it."""
    rows = []
    groups = patients(runs, "val")
    for run in ranked(runs, chance):
        seeds = list(run.predictions.values())
        if groups is None or not all("y_prior" in p["val"] for p in seeds):
            continue
        predictions = {"prior": [p["val"]["y_prior"] for p in seeds], "argmax": [p["val"]["y_pred"] for p in seeds]}
        y_true = seeds[0]["val"]["y_true"]
        (row,) = compare_pairs(y_true, groups, predictions, [("prior", "argmax")], score, n=n, seed=seed, level=level)
        label = run.method.label
        rows.append(row | {"level": level, "patients": len(np.unique(groups)), "label_a": f"{label}, prior-corrected"})
        rows[-1]["label_b"] = f"{label}, argmax"
    return rows


def decision_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """Each method's prior-corrected decision against its argmax, with the paired interval, as a list."""
    if not rows:
        return "No unflagged run on this bench stored both decisions, so none is compared."
    lines = [f"- {row['label_b'].removesuffix(', argmax')}: {gap_text(row)}." for row in rows]
    return "The prior correction against the argmax, method by method, on the held-out patients:\n\n" + "\n".join(lines)


def decision_table(runs: Sequence[BenchRun]) -> str:
    """Each method's held-out score, SE and SP under the argmax and under the prior correction, and its ``tau``
    (mean over seeds), for the runs whose files hold both."""
    rows = []
    for run in runs:
        if "prior_score" not in run.results["summary"]:
            continue
        pairs = [f"{cell(run, key)} → {cell(run, 'prior_' + key)}" for key in ("score", "se", "sp")]
        rows.append([run.method.label, *pairs, f"{run.mean('prior_tau'):.2f}"])
    return _table(["method", "score", "SE", "SP", "τ"], rows)


def comparison_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One row per pair: the difference, its interval, the share of resamples ``a`` wins, the verdict."""
    out = []
    for row in rows:
        if row["within_noise"]:
            verdict = "within noise"
        else:
            verdict = f"{row['label_a'] if row['low'] > 0 else row['label_b']} ahead"
        out.append(
            [
                f"{row['label_a']} − {row['label_b']}",
                f"{100 * row['point']:+.1f}",
                f"[{100 * row['low']:+.1f}, {100 * row['high']:+.1f}]",
                f"{row['p_better']:.0%}",
                verdict,
            ]
        )
    level = f"{100 * rows[0]['level']:.0f} %" if rows else "95 %"
    return _table(["a − b", "points", f"{level} interval", "a wins", "verdict"], out)


# --- the sentences ---------------------------------------------------------------------------------
def data_note(runs: Sequence[BenchRun], build_simulated: bool) -> str:
    """Where the bench's numbers come from, set against this build's own data."""
    kinds = sorted({"simulated" if is_simulated(run) else "real" for run in runs})
    recorded = " and ".join(kinds)
    text = (
        f"Every row below was recorded on **{recorded}** SPRSound data and ships with respkit; this page "
        "reads those files and trains nothing, so it shows the same numbers in every build"
    )
    if build_simulated:
        text += ", including this one, whose own SPRSound data is simulated (see the setup line above)"
    text += "."
    if "simulated" in kinds:
        text += " Rows recorded on the simulator show that the bench runs, not how the methods do on children's lungs."
    return text


def budget_sentence(runs: Sequence[BenchRun], charged: Mapping[str, float]) -> str:
    """The budgets are not equal: the range of CPU-minutes per run, read from the results files."""
    span = cost_range(runs, charged)
    return (
        f"The budgets are **not** equal. One run costs from {span['low']:.1f} CPU-minutes "
        f"({span['cheap']}) to {span['high']:.1f} ({span['dear']}), {span['ratio']:.1f} times as much. "
        "The epochs were set so that each run takes minutes, not so that each gets the same CPU time; "
        "the score-against-cost figure below keeps the difference in view."
    )


def verdict_text(runs: Sequence[BenchRun], rows: Sequence[Mapping[str, Any]], chance: float) -> str:
    """The bench's verdict: the ranking of unflagged runs, then each comparison with its paired interval."""
    order = ranked(runs, chance)
    flagged = [run.method.label for run in runs if held_out_flagged(run, chance)]
    if not order:
        return "Every method on the bench is flagged, so none is ranked."
    best = order[0]
    lines = [
        f"**{best.method.label}** has the best mean held-out score of the unflagged methods, {cell(best, 'score')}."
    ]
    by_pair = {(row["a"], row["b"]): row for row in rows}
    if len(order) > 1:
        pair = (best.method.recipe, order[1].method.recipe)
        row = by_pair.get(pair) or by_pair.get(pair[::-1])
        if row is not None:
            sign = 1 if row["a"] == best.method.recipe else -1
            shown = dict(
                row,
                point=sign * row["point"],
                low=min(sign * row["low"], sign * row["high"]),
                high=max(sign * row["low"], sign * row["high"]),
            )
            lines[0] += f" Against the runner-up, {order[1].method.label}: {gap_text(shown)}."
    if flagged:
        lines.append(f"Flagged, so neither ranked nor compared: {', '.join(flagged)}.")
    chapter_rows = [by_pair[p] for p in CHAPTER_PAIRS if p in by_pair]
    if chapter_rows:
        lines += ["", "Each chapter's question, asked on this bench (method − its baseline):", ""]
        lines += [f"- {row['label_a']} − {row['label_b']}: {gap_text(row)}." for row in chapter_rows]
    return "\n".join(lines)


def caveats_text(runs: Sequence[BenchRun], charged: Mapping[str, float]) -> str:
    """The fairness caveats: budget (computed), probe against fine-tuning, inputs, and the regimes not varied."""
    span = cost_range(runs, charged)
    probes = [run.method.label for run in runs if "frozen encoder" in design(run).training]
    kinds = sorted({design(run).features.split(" (")[0] for run in runs})
    lines = [
        f"- **Budget.** The rows had from {span['low']:.1f} to {span['high']:.1f} CPU-minutes per run, not "
        "one budget: a dearer row had more chances to learn.",
    ]
    if probes:
        lines.append(
            f"- **Probe against fine-tuning.** {' and '.join(probes)} train a linear classifier on a "
            "frozen encoder; every other row trains all its weights end to end."
        )
    if len(kinds) > 1:
        lines.append(
            f"- **Inputs.** The rows read different features ({'; '.join(kinds)}): a gap between "
            "families mixes the method with its input."
        )
    regimes = regime_notes(runs)
    if regimes:
        lines.append(
            "- **Regimes the bench does not vary.** Each paper's method targets a setting this bench holds fixed:"
        )
        lines += [f"  - {note};" for note in regimes[:-1]] + [f"  - {regimes[-1]}."]
    return "\n".join(lines)


def regime_notes(runs: Sequence[BenchRun]) -> list[str]:
    """For each method, the regime its paper targets set against what the bench gave it (from the configs).

    CLAR's gain is largest with scarce labels; SupCon and MixUp train for longer than the bench does;
    Patch-Mix CL and Lung-SRAD were measured on an AudioSet-pretrained encoder.
    """
    notes = []
    for run in runs:
        recipe, config, label = run.method.recipe, run.results["config"], run.method.label
        if recipe == "clar.joint":
            share = config.get("label_fraction", 1.0)
            given = "every training event" if share >= 1 else f"{share:.0%} of the training events"
            notes.append(f"{label} helps most with scarce labels, and the bench labels {given}")
        elif recipe in ("supcon.supcon", "supcon.mixup"):
            full = full_profile(recipe, n_classes=len([k for k in run.results["summary"] if k.startswith("recall/")]))[
                1
            ]
            notes.append(f"{label} trains for {full} epochs at the paper's scale, {design(run).epochs} here")
        elif recipe in ("patchmix.cl", "lungsrad.full"):
            start = config.get("pretrained") or "random weights"
            notes.append(f"{label} was measured on an AudioSet-pretrained encoder, and the bench's starts from {start}")
    return notes


def slice_lines(runs: Sequence[BenchRun], chance: float, splits: Sequence[str], score: Any) -> str:
    """For each split: its events and patients, and how far one more abnormal event called right moves
    the best unflagged run's score (its first seed); then what that says about the official test columns."""
    if not ranked(runs, chance):
        return "Every run is flagged, so no score is read against the size of the slices."
    best = ranked(runs, chance)[0]
    lines, moves = [], {}
    for split in splits:
        p = seed0(best)[split]
        g = patients(runs, split)
        who = "" if g is None else f" of {len(np.unique(g))} patients"
        abnormal = int((p["y_true"] > 0).sum())
        moves[split] = 100 * one_event_effect(p["y_true"], p["y_pred"], score)
        lines.append(
            f"- {SPLIT_NAMES[split]}: {len(p['y_true'])} events{who}, {abnormal} abnormal; one more "
            f"abnormal event called right moves {best.method.label}'s score (seed {min(best.predictions)}) "
            f"by {moves[split]:+.1f} points"
        )
    tests = {s: abs(v) for s, v in moves.items() if s != "val"}
    if tests and max(tests.values()) >= 1:
        lines += [
            "",
            f"Where one event moves a score by up to {max(tests.values()):.1f} points, the test columns "
            "show that the code path works, not which method generalises.",
        ]
    elif tests:
        lines += [
            "",
            "One event moves the test scores by less than a point: the test columns are a second "
            "test set, to read with the same paired care.",
        ]
    return "\n".join(lines)


def one_event_effect(y_true: np.ndarray, y_pred: np.ndarray, score: Any) -> float:
    """How far the score moves when the first misclassified abnormal event is called right (0: none is)."""
    wrong = np.flatnonzero((y_true > 0) & (y_pred != y_true))
    if len(wrong) == 0:
        return 0.0
    fixed = y_pred.copy()
    fixed[wrong[0]] = y_true[wrong[0]]
    return score(y_true, fixed)["score"] - score(y_true, y_pred)["score"]


# --- beside the papers -----------------------------------------------------------------------------
def full_profile(recipe: str, n_classes: int) -> tuple[int, str]:
    """The parameters and epochs of the network that the recipe's ``full`` profile (the paper's setting)
    trains; the model is built on the meta device where it allows it, and no weights are downloaded."""
    import torch

    chosen = get_recipe(recipe)
    config = chosen.Config.for_profile("full")
    if hasattr(config, "pretrained"):  # the released weights' network, without reading them
        config = dataclasses.replace(config, pretrained=None, allow_random_init=True)
    names = [str(k) for k in range(n_classes)]
    classes = Splits(train=SimpleNamespace(classes=names), val=None)  # all a model hook reads of the splits
    try:
        with torch.device("meta"):
            model = chosen.model(config, classes)
    except (NotImplementedError, RuntimeError):  # a model that reads values while it is built
        model = chosen.model(config, classes)
    return sum(p.numel() for p in model.parameters()), chosen.describe(config).epochs


def papers_tables(runs: Sequence[BenchRun], n_classes: int) -> str:
    """Two narrow tables: the bench's score beside each paper's, then the bench's network and epochs
    beside the ``full`` profile's."""
    scores = _table(
        ["method", "bench: held-out score", "the paper reports"],
        [[run.method.label, cell(run, "score"), run.method.paper] for run in runs],
    )
    rows = []
    for run in runs:
        ours = run.mean("parameters")
        full, full_epochs = full_profile(run.method.recipe, n_classes)
        rows.append(
            [run.method.label, size(ours), f"{size(full)} (× {full / ours:.0f})", design(run).epochs, full_epochs]
        )
    scale = _table(["method", "bench network", "`full` network", "bench epochs", "`full` epochs"], rows)
    return scores + "\n\n" + scale


# --- figures ---------------------------------------------------------------------------------------
def cost_figure(runs: Sequence[BenchRun], charged: Mapping[str, float], floor: float, chance: float, title: str) -> Any:
    """Held-out score (mean ± std over seeds) against CPU-minutes per run on a log axis, 5.8 inches wide (a
    phone shrinks a narrower figure less, so its labels stay legible).

    Flagged runs are drawn hollow and grey; the always-Normal floor and chance are dashed lines.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(5.8, 3.6), constrained_layout=True)
    tab10 = plt.get_cmap("tab10")
    palette = [tab10(k) for k in (0, 1, 2, 3, 4, 5, 6, 9, 8)]  # no grey: grey marks a flagged run
    for colour, run in zip(palette * 2, runs):
        x, mean, std = charged[run.method.recipe], 100 * run.mean("score"), 100 * run.std("score")
        failed = held_out_flagged(run, chance)
        ax.errorbar(
            x, mean, yerr=std, fmt="o", capsize=3, color="grey" if failed else colour, mfc="white" if failed else None
        )
        ax.annotate(run.method.label, (x, mean), xytext=(6, 4), textcoords="offset points", fontsize=8)
    ax.axhline(100 * floor, color="grey", ls="--", lw=1, label="always Normal")
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance (best blind guess)")
    ax.set_xscale("log")
    costs = [charged[run.method.recipe] for run in runs]
    ax.set_xlim(min(costs) / 1.3, max(costs) * 1.6)  # room for the labels on the right
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 1, 2, 5, 10... minutes as plain numbers
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(labelsize=8)
    ax.set(xlabel="CPU-minutes per run (log scale)", ylabel="held-out score (%)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def recall_figure(runs: Sequence[BenchRun], classes: Sequence[str], support: np.ndarray) -> Any:
    """A heat map of each method's mean recall of each class (percent), the support under each class."""
    import matplotlib.pyplot as plt

    recall = recall_matrix(runs, classes, support)
    fig, ax = plt.subplots(figsize=(5.8, 0.36 * len(runs) + 1.7), constrained_layout=True)  # narrow: phones
    ax.imshow(recall, cmap=plt.get_cmap("Blues").with_extremes(bad="lightgrey"), vmin=0, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(recall):
        text = "–" if np.isnan(value) else f"{100 * value:.0f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if value > 0.5 else "black")
    names = [c.replace("+", "+\n").replace(" ", "\n") for c in classes]  # narrow columns: one word a line
    ax.set_xticks(range(len(classes)), [f"{c}\n(n={n})" for c, n in zip(names, support)], fontsize=8)
    ax.set_yticks(range(len(runs)), [run.method.label for run in runs], fontsize=8)
    ax.set_title("recall (%) on the held-out patients, mean over seeds")
    return fig


# --- the appendix "Running at scale" -----------------------------------------------------------------
def shard_text(shards: Sequence[Sequence[Sequence[int]]], whole: Sequence[int], labels: Sequence[int]) -> str:
    """What the appendix's sharding example shows, computed from its draws.

    ``shards[r]``: process ``r``'s batches (lists of item indices); ``whole``: the one-process draw, in order;
    ``labels``: the class of each item. Says whether the processes' slices, joined, are the one-process
    batches, and how often the rarest class was drawn, per batch and over the epoch, against its share
    of the items.
    """
    joined = [[i for shard in shards for i in shard[b]] for b in range(len(shards[0]))]
    batch = len(joined[0])
    same = joined == [list(whole[k : k + batch]) for k in range(0, len(whole), batch)]
    counts = np.bincount(labels)
    rare = int(np.argmin(counts))
    members = [i for i, y in enumerate(labels) if y == rare]
    per_batch = [sum(labels[i] == rare for i in b) for b in joined]
    drawn, equal = sum(per_batch) / len(whole), 1 / len(counts)
    aim = (
        "close to the equal share the class-balanced sampler aims at"
        if abs(drawn - equal) <= 0.15
        else f"while the sampler aims at {equal:.0%}, a share it reaches only on average over many draws"
    )
    return (
        f"Process 0's slice of each batch followed by process 1's {'is' if same else 'is not'} the "
        f"one-process batch. The rare class (items {', '.join(map(str, members))}) is "
        f"{counts[rare] / len(labels):.0%} of the items and {drawn:.0%} of the draws, {aim}. Batch by "
        f"batch it varies ({', '.join(f'{n} of {batch}' for n in per_batch)}), since the draws are random."
    )
