"""What chapter 3 (SupCon and MixUp, ``book/ch3_supcon.ipynb``) and its appendix on the paper's public code
(``book/appendix_supcon_public.ipynb``) show beside the method: computed sentences, tables with their flags,
and figure layouts sized for the book's column (at most 7 inches wide, at most two panels side by side).

Every score shown here carries a flag when its run is degenerate on that split (:func:`flag`): the
reasons of :func:`respkit.report.degenerate`, and also a score at or below the always-Normal floor in
results files written before the floor was recorded. No ranking includes a flagged run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

from respkit.metrics import confusion_matrix, sprsound_score
from respkit.plot import plot_confusion, plot_losses, plot_scores
from respkit.report import compare, degenerate, gap_text

#: Hu et al. 2023 (BioCAS), Table III: score on the BioCAS 2023 test set for tasks 1-1, 1-2, 2-1, 2-2.
PAPER_TABLE_III = {
    "supcon.resnet": (0.708, 0.576, 0.557, 0.443),
    "supcon.supcon": (0.754, 0.617, 0.648, 0.490),
    "supcon.mixup": (0.769, 0.625, 0.658, 0.494),
}
TASKS = ("1-1", "1-2", "2-1", "2-2")
SPLITS = {"": "held-out", "inter_": "inter", "intra_": "intra"}
MARK = "✗"


def short(name: str) -> str:
    """A class name short enough for a tick label (``Fine Crackle`` -> ``Fine Cr.``)."""
    return name.replace(" Crackle", " Cr.").replace("Wheeze+Crackle", "W+C").replace("Poor Quality", "Poor Q.")


def floor_score(task: str) -> float:
    """The SPRSound score of always answering Normal (the same on any items holding both sides)."""
    return sprsound_score(np.array([0, 1]), np.array([0, 0]), task)["score"]


def flag(result: Mapping[str, Any], prefix: str = "") -> str | None:
    """Why ``result`` is degenerate on the split ``prefix`` (``""``, ``"inter_"``, ``"intra_"``), or ``None``.

    :func:`respkit.report.degenerate`, plus a seed scoring at or below the always-Normal floor where the
    file predates the recorded floor.
    """
    reason = degenerate(result, prefix)
    if reason:
        return reason
    floor = floor_score(result["config"]["task"])
    for metrics in result.get("metrics_per_seed", []):
        if metrics.get(f"{prefix}score", np.inf) <= floor:
            return "at or below always-normal"
    return None


def score_cell(result: Mapping[str, Any] | None, prefix: str = "", digits: int = 1) -> str:
    """A score in percent, ``mean ± std`` over seeds, with :data:`MARK` when :func:`flag` flags it."""
    stats = None if result is None else result["summary"].get(f"{prefix}score")
    if result is None or stats is None:
        return "–"
    text = f"{100 * stats['mean']:.{digits}f}"
    if stats["n"] > 1:
        text += f" ± {100 * stats['std']:.{digits}f}"
    return text + (f" {MARK}" if flag(result, prefix) else "")


def flag_notes(rows: Mapping[str, Mapping[str, Any]], prefixes: Sequence[str] = tuple(SPLITS)) -> str:
    """The reasons behind every :data:`MARK` of a table of ``rows`` (label -> results), one line each."""
    notes = [
        f"{MARK} {label}, {SPLITS.get(p, p.rstrip('_'))}: {reason}"
        for label, result in rows.items()
        for p in prefixes
        if (reason := flag(result, p))
    ]
    return "\n\n".join(notes)


def split_table(rows: Mapping[str, Mapping[str, Any]], prefixes: Sequence[str] = tuple(SPLITS)) -> str:
    """Markdown: one row per run (label -> results), its score on each split, flags marked and explained."""
    header = ["run", *(SPLITS.get(p, p.rstrip("_")) for p in prefixes)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, result in rows.items():
        lines.append(f"| {label} | " + " | ".join(score_cell(result, p) for p in prefixes) + " |")
    notes = flag_notes(rows, prefixes)
    return "\n".join(lines) + (f"\n\n{notes}" if notes else "")


# --- the data ---------------------------------------------------------------------------------------------
def imbalance_text(events: Any, simulated: bool) -> str:
    """A sentence on the share of Normal events and the rarest class, computed from ``events``."""
    counts = np.bincount(events.labels, minlength=len(events.classes))
    rare = int(np.argmin(counts))
    where = "respkit's simulator" if simulated else "the real recordings"
    return (
        f"Of the {len(events.labels):,} training events here (from {where}), "
        f"{counts[0] / counts.sum():.0%} are Normal breaths; the rarest class, "
        f"{events.classes[rare]}, has {counts[rare]}."
    )


def plot_class_counts(datasets: Mapping[str, Any]) -> plt.Figure:
    """Items per class of each dataset (title -> dataset), one panel under the other, log scale."""
    fig, axes = plt.subplots(len(datasets), 1, figsize=(7, 2.2 * len(datasets)), constrained_layout=True)
    for ax, (title, ds) in zip(np.atleast_1d(axes), datasets.items()):
        counts = np.bincount(ds.labels, minlength=len(ds.classes))
        ax.barh(ds.classes, counts, color=["tab:green"] + ["tab:red"] * (len(ds.classes) - 1))
        ax.set_xscale("log")
        # 1-2-5 ticks as plain numbers: matplotlib's labelled minor ticks (3 x 10^1, ...) overlap.
        ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
        ax.invert_yaxis()
        ax.set(title=title, xlabel="items (log scale)")
        for y, n in enumerate(counts):
            ax.text(max(n, 1), y, f" {n}", va="center", fontsize=8)
    return fig


def sampler_table(labels: np.ndarray, classes: Sequence[str], shuffled: np.ndarray, balanced: np.ndarray) -> str:
    """Markdown: each class's items, its share of a shuffled and of a balanced epoch, draws per item."""
    lines = ["| class | items | shuffled | balanced | draws per item |", "|" + " --- |" * 5]
    for c, name in enumerate(classes):
        n, drawn = int((labels == c).sum()), int((labels[balanced] == c).sum())
        lines.append(
            f"| {name} | {n} | {(labels[shuffled] == c).mean():.1%} | "
            f"{drawn / len(balanced):.1%} | {drawn / max(n, 1):.1f} |"
        )
    return "\n".join(lines)


def share_with_classmates(labels: np.ndarray, order: np.ndarray, n_classes: int, batch: int = 32) -> np.ndarray:
    """Per class, the share of its items that meet another item of their class in their batch of ``batch``,
    when an epoch visits the items in ``order`` (the last partial batch dropped)."""
    rows = labels[order[: len(order) // batch * batch]].reshape(-1, batch)
    met, seen = np.zeros(n_classes), np.zeros(n_classes)
    for row in rows:
        counts = np.bincount(row, minlength=n_classes)
        seen += counts
        met += np.where(counts > 1, counts, 0)
    return met / np.maximum(seen, 1)


def plot_views(panels: Mapping[str, Any]) -> plt.Figure:
    """MFCC images ``[1, F, T]`` (title -> image) on a grid two wide, z-scored colours from -3 to 3."""
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(7, 2.4 * rows), constrained_layout=True, squeeze=False)
    for ax, (title, x) in zip(axes.flat, panels.items()):
        ax.imshow(np.asarray(x)[0], origin="lower", aspect="auto", cmap="magma", vmin=-3, vmax=3)
        ax.set(title=title, xlabel="frame", ylabel="MFCC")
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    return fig


# --- the ablation -----------------------------------------------------------------------------------------
def ranking_text(runs: Mapping[str, Mapping[str, Any]], split: str = "val") -> str:
    """The unflagged runs ranked by held-out score, the top two compared over patients (:func:`compare`).

    ``runs``: label -> results dict of a run trained here (its predictions are needed for the comparison).
    """
    kept = {name: r for name, r in runs.items() if not flag(r)}
    left_out = [f"{name} ({flag(r)})" for name, r in runs.items() if flag(r)]
    order = sorted(kept, key=lambda name: -kept[name]["summary"]["score"]["mean"])
    text = (
        "In order of mean held-out score: " + " > ".join(f"**{name}**" for name in order) + "."
        if order
        else "Every run is flagged: there is nothing to rank."
    )
    if len(order) >= 2:
        try:
            gap = gap_text(compare(kept[order[0]], kept[order[1]], split))
        except ValueError as error:  # not scored on the same items: no paired comparison
            gap = f"no paired comparison ({error})"
        text += f" {order[0]} against {order[1]}: {gap}."
    if left_out:
        text += " Left out of the ranking, flagged: " + ", ".join(left_out) + "."
    return text


def plot_stage_losses(artifacts: Mapping[str, Any]) -> plt.Figure:
    """The training loss per step of the three recipes' stages, one panel under the other."""
    fig, axes = plt.subplots(3, 1, figsize=(7, 7.2), constrained_layout=True)
    plot_losses(artifacts["supcon.resnet"].histories["train"].step_loss, axes[0], title="supcon.resnet: cross-entropy")
    plot_losses(artifacts["supcon.supcon"].histories["pretrain"].step_loss, axes[1], title="stage 1: SupCon loss")
    plot_losses(
        {name: artifacts[name].histories["finetune"].step_loss for name in ("supcon.supcon", "supcon.mixup")},
        axes[2],
        title="stage 2: the linear classifier",
    )
    return fig


def plot_confusions(artifacts: Mapping[str, Any], split: str = "val") -> plt.Figure:
    """One confusion matrix per run (label -> artifacts), two side by side, rows as needed."""
    rows = (len(artifacts) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(7, 3.6 * rows), constrained_layout=True, squeeze=False)
    for ax, (label, art) in zip(axes.flat, artifacts.items()):
        held_out = art.predictions[split]
        cm = confusion_matrix(held_out.y_true, held_out.y_pred, art.classes)
        plot_confusion(cm, ax, title=label, labels=[short(c) for c in art.classes])
        ax.tick_params(labelsize=8)
    for ax in axes.flat[len(artifacts) :]:
        ax.axis("off")
    return fig


def plot_recalls(
    results: Mapping[str, Mapping[str, Any]], classes: Sequence[str], support: Sequence[int]
) -> plt.Figure:
    """Held-out recall of every class for each run (label -> results), with each class's count."""
    fig, ax = plt.subplots(figsize=(7, 3.2), constrained_layout=True)
    plot_scores(
        {
            name: {f"{short(c)}\n(n={n})": r["summary"][f"recall/{c}"] for c, n in zip(classes, support)}
            for name, r in results.items()
        },
        ax,
        ylabel="recall (held-out)",
    )
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8)
    return fig


def recall_text(classes: Sequence[str], support: Sequence[int]) -> str:
    """A sentence on how coarse the rare classes' recall is: one event of ``n`` moves it by ``1/n``."""
    counts = np.asarray(support)
    missing = [classes[int(c)] for c in np.flatnonzero(counts == 0)]
    text = (
        (
            f"The held-out patients hold no {' or '.join(missing)} event, so "
            f"{'its' if len(missing) == 1 else 'their'} recall is not measured here. "
        )
        if missing
        else ""
    )
    measured = np.flatnonzero(counts > 0)
    rare = int(measured[np.argmin(counts[measured])])
    n = int(counts[rare])
    return text + (
        f"The rarest measured class, {classes[rare]}, has {n} held-out event{'s' * (n != 1)}: "
        f"one hit more or fewer moves its bar by {100 / n:.0f} points."
    )


def plot_tsne(artifacts: Mapping[str, Any], names: Sequence[str], split: str = "val") -> plt.Figure:
    """t-SNE of the held-out encoder features of two runs, side by side, coloured by the true class."""
    from sklearn.manifold import TSNE

    fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), constrained_layout=True)
    colours = plt.get_cmap("tab10")
    for ax, name in zip(axes, names):
        art = artifacts[name]
        features, truth = art.embeddings[split], art.predictions[split].y_true
        plane = TSNE(
            n_components=2, perplexity=min(30.0, (len(features) - 1) / 3), init="pca", max_iter=500, random_state=0
        ).fit_transform(features)
        for c, class_name in enumerate(art.classes):
            members = truth == c
            if members.any():
                ax.scatter(
                    *plane[members].T,
                    s=8 if c == 0 else 18,
                    color=colours(c),
                    alpha=0.5 if c == 0 else 0.9,
                    label=f"{short(class_name)} ({members.sum()})",
                )
        ax.set(title=name, xticks=[], yticks=[])
    axes[1].legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


# --- whole records ----------------------------------------------------------------------------------------
def failure_kind(record: Mapping[str, Any]) -> str:
    """Which pattern of window labels made the window rule label a held-out ``record`` wrongly."""
    from respkit.inference import ADVENTITIOUS_KINDS

    flagged = sum(bool(ADVENTITIOUS_KINDS[w]) for w in record["windows"])
    true, pred = record["true"], record["pred"]
    if true == "Normal":
        return (
            "normal record, every window judged poor quality"
            if pred == "Poor Quality"
            else "normal record, two consecutive windows agreed on a false alarm"
        )
    if true == "Poor Quality":
        return "poor-quality record, some window heard a breath sound"
    if pred == "Normal":
        return (
            "abnormal record, no window heard anything abnormal"
            if flagged == 0
            else "abnormal record, abnormal windows found but never two in a row"
        )
    if pred == "Poor Quality":
        return "abnormal record, every window judged poor quality"
    return "abnormal record, wrong kind (CAS vs DAS)"


def failure_lines(decided: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines counting the wrongly labelled records by :func:`failure_kind`, most common first, each with an example."""
    wrong = [r for r in decided if r["true"] != r["pred"]]
    kinds: dict[str, list] = {}
    for r in wrong:
        kinds.setdefault(failure_kind(r), []).append(r)
    lines = [f"{len(wrong)} of {len(decided)} held-out records labelled wrongly by the window rule"]
    for kind, members in sorted(kinds.items(), key=lambda item: -len(item[1])):
        e = members[0]
        lines += [
            f"{len(members):4d}  {kind}",
            f"      e.g. {e['record']} ({e['true']} -> {e['pred']}): " + " | ".join(map(short, e["windows"])),
        ]
    return lines


def plot_record_windows(
    image: np.ndarray,
    seconds: float,
    starts: Sequence[float],
    window: float,
    shown: Mapping[str, Any],
    events: Sequence[Any],
) -> plt.Figure:
    """A record's MFCCs ``[F, T]`` over ``seconds``, its windows (start times in s, length ``window``) with
    their labels, and a strip of its annotated events (green Normal, red adventitious)."""
    from respkit.inference import ADVENTITIOUS_KINDS

    fig, ax = plt.subplots(figsize=(7, 3.4), constrained_layout=True)
    ax.imshow(
        image, origin="lower", aspect="auto", cmap="magma", vmin=-3, vmax=3, extent=(0, seconds, 0, image.shape[0])
    )
    for k, (t0, label) in enumerate(zip(starts, shown["windows"])):
        t1, level = min(t0 + window, seconds), image.shape[0] * (0.12 + 0.22 * (k % 2))
        ax.annotate("", xy=(t1, level), xytext=(t0, level), arrowprops=dict(arrowstyle="<->", color="white"))
        ax.text(
            (t0 + t1) / 2,
            level + 1,
            short(label),
            ha="center",
            fontsize=8,
            color="cyan" if ADVENTITIOUS_KINDS[label] else "white",
        )
    for m in events:
        ax.axvspan(
            m.start_ms / 1000,
            m.end_ms / 1000,
            ymin=0.93,
            ymax=1.0,
            color="tab:green" if m.annotation == "Normal" else "tab:red",
        )
    ax.set(title=f"{shown['record']}: {shown['true']}, rule says {shown['pred']}", xlabel="time (s)", ylabel="MFCC")
    return fig


# --- test sets, recorded runs and the paper ---------------------------------------------------------------
def held_out_text(event_art: Any, record_art: Any, split: str = "val") -> str:
    """How many held-out events and records (and patients) this build scores the recipes on."""
    events, records = (len(a.predictions[split].y_true) for a in (event_art, record_art))
    patients = len(np.unique(event_art.groups[split])) if split in event_art.groups else None
    who = f" from {patients} patients" if patients else ""
    return f"{events:,} held-out events{who} and {records:,} held-out records"


def recorded_line(result: Mapping[str, Any]) -> str:
    """One run of the recorded results in words: recipe, task, profile, data, hardware, time, size."""
    cfg = result["config"]
    steps = cfg.get("pretrain", cfg.get("train"))
    data = "simulated" if result["data"]["sprsound"]["simulated"] else "real"
    device = (result["hardware"]["cuda_device"] or "CPU").replace("NVIDIA ", "")
    items = f", {cfg['max_train']} items" if cfg.get("max_train") else ""
    return (
        f"{result['recipe']} {cfg['task']} | {result['profile']} | {data} data | {device} | "
        f"{result['wall_seconds'] / 60:.0f} min | width {cfg['width']}, {cfg['n_mfcc']} MFCCs, "
        f"{steps['epochs']} epochs{items}"
    )


def batchnorm_text(recorded: Sequence[Mapping[str, Any]]) -> str:
    """How many recorded runs were trained before BatchNorm's statistics were recomputed after training."""

    def recomputed(result: Mapping[str, Any]) -> bool:
        cfg = result["config"]
        return any(cfg.get(stage, {}).get("recompute_batchnorm") for stage in ("train", "pretrain", "finetune"))

    old = [r for r in recorded if not recomputed(r)]
    flagged = [r for r in old if flag(r)]
    return (
        f"Of the {len(recorded)} recorded runs above, {len(old)} were trained without that recomputation "
        f"(their configs predate it or turn it off); {len(flagged)} of those {len(old)} "
        f"{'is' if len(flagged) == 1 else 'are'} flagged on the "
        "held-out patients."
    )


def ours(recorded: Sequence[Mapping[str, Any]], recipe: str, task: str) -> Mapping[str, Any] | None:
    """The most complete recorded run of ``recipe`` on ``task``: ``full`` first, then the longest."""
    runs = [r for r in recorded if r["recipe"] == recipe and r["config"]["task"] == task]
    runs.sort(key=lambda r: (r["profile"] != "full", -r["wall_seconds"]))
    return runs[0] if runs else None


def paper_table(recorded: Sequence[Mapping[str, Any]], tasks: Sequence[str]) -> str:
    """Markdown: Table III of the paper beside our recorded held-out scores (percent, flags marked) for ``tasks``."""
    header = ["recipe", *(f"{t} {who}" for t in tasks for who in ("paper", "ours"))]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for recipe, paper in PAPER_TABLE_III.items():
        cells = []
        for task in tasks:
            cells += [f"{100 * paper[TASKS.index(task)]:.1f}", score_cell(ours(recorded, recipe, task))]
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_flag_notes(recorded: Sequence[Mapping[str, Any]]) -> str:
    """The reasons of the :data:`MARK` cells of :func:`paper_table` (held-out split)."""
    rows = {
        f"{recipe} {task}": run for recipe in PAPER_TABLE_III for task in TASKS if (run := ours(recorded, recipe, task))
    }
    return flag_notes(rows, [""])


def paper_ranking_lines(recorded: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per task, our recorded runs' order by held-out score beside the paper's, flagged runs left out."""
    lines = []
    for task in TASKS:
        found = {recipe: ours(recorded, recipe, task) for recipe in PAPER_TABLE_III}
        runs = {recipe: run for recipe, run in found.items() if run is not None}
        if len(runs) < len(found):
            continue
        flagged = [f"{recipe} ({flag(run)})" for recipe, run in runs.items() if flag(run)]
        kept = {recipe: run["summary"]["score"]["mean"] for recipe, run in runs.items() if not flag(run)}
        paper = {recipe: values[TASKS.index(task)] for recipe, values in PAPER_TABLE_III.items() if recipe in kept}
        line = (
            f"task {task}: ours {' < '.join(sorted(kept, key=lambda recipe: kept[recipe]))}; "
            f"the paper {' < '.join(sorted(paper, key=lambda recipe: paper[recipe]))}"
        )
        lines.append(line + (f"; left out, flagged: {', '.join(flagged)}" if flagged else ""))
    return lines


def se_sp_lines(recorded: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per task, each recorded run's held-out SE and SP in percent, with its flag."""
    lines = []
    for task in TASKS:
        runs = [run for recipe in PAPER_TABLE_III if (run := ours(recorded, recipe, task))]
        parts = [
            f"{r['recipe']} SE {100 * r['summary']['se']['mean']:.1f} / SP {100 * r['summary']['sp']['mean']:.1f}"
            + (f" {MARK}" if flag(r) else "")
            for r in runs
        ]
        if parts:
            lines.append(f"task {task}: " + ", ".join(parts))
    return lines


def test_sets_text(counts: Mapping[str, tuple[int, int, int, int] | None], simulated: bool) -> str:
    """A sentence on the official test sets of this build.

    ``counts``: split -> (records, events, patients, abnormal records), or ``None`` where the split is absent.
    """
    present = {split: c for split, c in counts.items() if c}
    if not present:
        return "This build has no official test set, so only the held-out patients are scored."
    parts = [
        f"{split.replace('_test', '')} {r} records ({a} of them abnormal) and {e} events from {p} patients"
        for split, (r, e, p, a) in present.items()
    ]
    fewest = min(a for *_, a in present.values())
    source = "simulated, like the training set" if simulated else "as found in this data folder"
    step = (
        f" one abnormal record more or fewer found moves SE by up to {100 / fewest:.0f} points."
        if fewest
        else " a set without abnormal records has no SE at all."
    )
    return f"This build's test sets ({source}): " + "; ".join(parts) + ". On task 2-2," + step


# --- the appendix: the paper's public code ----------------------------------------------------------------
def comparison_runs(recorded: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The recorded ``cpu`` runs at the budget of the multi-seed ``supcon.public`` run (same items, epochs)."""
    anchors = [r for r in recorded if r["recipe"] == "supcon.public" and len(r["seeds"]) > 1]
    if not anchors:
        return []
    key = _budget(anchors[0])
    return [r for r in recorded if r["profile"] == "cpu" and _budget(r) == key]


def _budget(result: Mapping[str, Any]) -> tuple:
    cfg = result["config"]
    return cfg["max_train"], cfg["pretrain"]["epochs"], cfg["finetune"]["epochs"], cfg["width"], cfg["n_mfcc"]


def stage1_lr(result: Mapping[str, Any]) -> float:
    """The learning rate of a two-stage run's stage 1."""
    return result["config"]["pretrain"]["lr"]


def blend(result: Mapping[str, Any]) -> str | None:
    """What stage 2 mixed: ``None``, ``"input"`` clips or encoder ``"features"``."""
    cfg = result["config"]
    return None if cfg.get("mixup_alpha") is None else cfg.get("mix", "input")  # older files: the clips


def variant(result: Mapping[str, Any]) -> str:
    """A run's stage 2 in words (or the public pipeline with its stage-1 rate)."""
    if result["recipe"] == "supcon.public":
        return f"public code, SupCon lr {stage1_lr(result):g}"
    stage2 = result["config"]["finetune"]
    mixed = f"MixUp on {blend(result)}" if blend(result) else "no MixUp"
    return f"{mixed}, stage 2 {stage2['optimizer']} lr {stage2['lr']:g}"


def stages(result: Mapping[str, Any]) -> str:
    """A two-stage run's optimisers and what its stage 2 mixed, in words."""
    cfg = result["config"]
    one, two = cfg["pretrain"], cfg["finetune"]
    mixed = f", MixUp on the {'clips' if blend(result) == 'input' else 'features'}" if blend(result) else ", no MixUp"
    return f"SupCon {one['optimizer']} lr {one['lr']:g}, classifier {two['optimizer']} lr {two['lr']:g}{mixed}"


def budget_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """The shared budget of the comparison's runs in words."""
    if not runs:
        return "No recorded comparison is shipped with this copy of respkit."
    cfg, first = runs[0]["config"], runs[0]
    data = "simulated" if first["data"]["sprsound"]["simulated"] else "real"
    where = first["hardware"]["cuda_device"] or f"a CPU of {first['hardware']['cpu_count']} cores"
    return (
        f"ResNet18 of width {cfg['width']} on {cfg['n_mfcc']} MFCCs, {cfg['max_train']:,} training events "
        f"of the {data} SPRSound, {cfg['pretrain']['epochs']} epochs of SupCon and {cfg['finetune']['epochs']} "
        f"of the classifier, trained on {where}"
    )


def mean_gap(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> str:
    """``a − b`` of two recorded runs' mean scores in points, with the seeds behind each and no verdict.

    Recorded files keep no predictions, so no paired interval can be drawn from them (:func:`compare` needs
    the runs' work folders); the text says so instead of reading the seeds' spread as a test.
    """
    gap = 100 * (a["summary"][f"{prefix}score"]["mean"] - b["summary"][f"{prefix}score"]["mean"])
    flagged = [r["recipe"] for r in (a, b) if flag(r, prefix)]
    note = f"; flagged on this split: {', '.join(flagged)}" if flagged else ""
    return f"{gap:+.1f} points ({len(a['seeds'])} against {len(b['seeds'])} seeds, no interval{note})"


def example_failure(decided: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """A record to draw: the first abnormal record the rule got wrong, else any wrong one, else the first."""
    wrong = [r for r in decided if r["true"] != r["pred"]] or list(decided)
    return next((r for r in wrong if r["true"] not in ("Normal", "Poor Quality")), wrong[0])


def without_docstring(function: Any) -> str:
    """The source of ``function`` with its docstring left out (to print a short rule on the page)."""
    import inspect

    head, _docstring, body = inspect.getsource(function).split('"""', 2)
    return head.rstrip() + body


def metric_gaps(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> str:
    """``a − b`` in points for the score, SE and SP of one split, as a short phrase (no verdict)."""
    parts = [
        f"{name} {100 * (a['summary'][prefix + key]['mean'] - b['summary'][prefix + key]['mean']):+.1f}"
        for key, name in (("score", "score"), ("se", "SE"), ("sp", "SP"))
    ]
    return ", ".join(parts) + " points"


def _one_seed_note(runs: Sequence[Mapping[str, Any]]) -> str:
    seeds = sorted({len(r["seeds"]) for r in runs})
    flagged = [r["recipe"] for r in runs if flag(r)]
    note = (
        f" Each run has {' or '.join(map(str, seeds))} seed{'s' * (seeds != [1])} and no interval: "
        "read the gaps as a description."
    )
    return note + (f" Flagged on the held-out patients: {', '.join(flagged)}." if flagged else "")


def stage2_text(same_encoder: Sequence[Mapping[str, Any]]) -> str:
    """On one stage-1 encoder, what MixUp on clips, on features, and Adam changed (held-out patients)."""

    def find(mixed: str | None, optimizer: str = "sgd") -> Mapping[str, Any] | None:
        return next(
            (r for r in same_encoder if blend(r) == mixed and r["config"]["finetune"]["optimizer"] == optimizer), None
        )

    clean, clips, feats, adam = find(None), find("input"), find("features"), find("input", "adam")
    pairs = [
        ("MixUp on the clips against no MixUp", clips, clean),
        ("MixUp on the features against no MixUp", feats, clean),
        ("Adam instead of SGD in stage 2, clips mixed in both", adam, clips),
    ]
    lines = [f"{text}: {metric_gaps(a, b)}" for text, a, b in pairs if a and b]
    if not lines:
        return "The recorded runs on one encoder are not shipped with this copy of respkit."
    return "On the held-out patients, " + "; ".join(lines) + "." + _one_seed_note(same_encoder)


def full_mixup_text(recorded_full: Sequence[Mapping[str, Any]]) -> str:
    """The recorded ``full`` runs: ``supcon.mixup`` (clips blended) minus ``supcon.supcon``, per task."""
    lines, used = [], []
    for task in TASKS:
        mixed, plain = (
            next((r for r in recorded_full if r["recipe"] == recipe and r["config"]["task"] == task), None)
            for recipe in ("supcon.mixup", "supcon.supcon")
        )
        if mixed and plain and blend(mixed) == "input":
            lines.append(f"task {task}, MixUp on the clips minus no MixUp: {metric_gaps(mixed, plain)}")
            used += [mixed, plain]
    if not lines:
        return "No recorded `full` pair of `supcon.mixup` on clips and `supcon.supcon` is shipped."
    return "; ".join(lines) + "." + _one_seed_note(used)


def crossed_text(crossed: Mapping[str, Mapping[str, Any]]) -> str:
    """At each stage-1 learning rate, chapter 3's recipe minus the public code (held-out patients)."""
    lines = []
    for lr in sorted({stage1_lr(r) for r in crossed.values()}):
        at = {r["recipe"]: r for r in crossed.values() if stage1_lr(r) == lr}
        if {"supcon.mixup", "supcon.public"} <= set(at):
            lines.append(
                f"at SupCon lr {lr:g}, chapter 3 minus the public code: "
                f"{metric_gaps(at['supcon.mixup'], at['supcon.public'])}"
            )
    if not lines:
        return "The runs with swapped learning rates are not shipped with this copy of respkit."
    return lines[0][0].upper() + "; ".join(lines)[1:] + "." + _one_seed_note(list(crossed.values()))
