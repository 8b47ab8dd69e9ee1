"""Chapter 4 (the Audio Spectrogram Transformer and Patch-Mix CL): what the chapter shows beside its method.

The chapter's code cells run the method (fbank, patch grid, Patch-Mix, the contrastive loss, a training
loop); this module holds the rest: the figures that draw the patch grid and a mix, the tables (mixed
labels, the profiles' settings, padding per class), and the sentences whose numbers come from the data
or from a run (which data a build holds, what the loop did, how two methods compare on held-out patients).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from respkit.mix import MixResult, PatchMix
from respkit.report import compare, degenerate, gap_text

#: Patch size and stride of AST's patch embedding (bins and frames).
PATCH, STRIDE = 16, 10


def data_of(result: Mapping[str, Any]) -> str:
    """Which data a results file was computed on, from its config and data description."""
    config = result["config"]
    source = result["data"][config["dataset"]]
    task = f" task {config['task']}" if config.get("task") else ""
    kind = "simulated" if source["simulated"] else "real"
    return f"{config['dataset']}{task} ({kind} data, {source['origin']})"


# --- the data this build holds ------------------------------------------------------------------------
def icbhi_text(cycles: Any, simulated: bool) -> str:
    """What the ICBHI training cycles loaded in this build are: real or simulated, and how many have audio."""
    patients = len(set(np.asarray(cycles.groups).tolist()))
    recordings = len({m.recording for m in cycles.meta})
    held = f"{len(cycles)} training cycles with audio, from {recordings} recordings of {patients} patients"
    if simulated:
        return (
            f"This build has no ICBHI recordings, so respkit's simulator wrote them: {held}. "
            "The cycle below is **simulated**: synthetic sounds written in ICBHI's layout, "
            "with its labels, not a recording of a patient."
        )
    missing = cycles.skipped.get("recordings without audio", 0)
    text = f"This build reads the real ICBHI database: {held}."
    if missing:
        text += (
            f" The audio of {missing} further training recordings is absent from this copy; "
            "their cycles are counted above as skipped."
        )
    return text + " The cycle below is a **real** recording."


# --- figures of the patch grid and of a mix ----------------------------------------------------------
def plot_patch_grid(image: Tensor, zoom: int = 40) -> Any:
    """An fbank ``[1, F, T]`` with a line at every patch start, and below it a zoom on three patches."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from respkit.plot import plot_spectrogram

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.6), gridspec_kw={"height_ratios": [1, 1.3]})
    plot_spectrogram(image, top, title="fbank with a line at every patch start", ylabel="mel bin")
    for start in range(0, image.shape[2] - PATCH + 1, STRIDE):  # pixel k spans [k, k + 1]
        top.axvline(start, color="white", lw=0.4, alpha=0.6)
    for start in range(0, image.shape[1] - PATCH + 1, STRIDE):
        top.axhline(start, color="white", lw=0.4, alpha=0.6)
    plot_spectrogram(image[:, :zoom, :zoom], bottom, title="zoom: three 16 x 16 patches", ylabel="mel bin")
    bottom.set_aspect("equal")
    for (row, col), color in [((0, 0), "cyan"), ((0, 1), "lime"), ((1, 0), "yellow")]:
        bottom.add_patch(Rectangle((STRIDE * col, STRIDE * row), PATCH, PATCH, fill=False, color=color, lw=2))
    bottom.annotate(
        "6 frames shared",
        xy=(13, 17),
        xytext=(18, 33),
        color="white",
        fontsize=9,
        arrowprops={"color": "white", "arrowstyle": "->"},
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "black", "alpha": 0.6, "linewidth": 0},
    )
    fig.tight_layout()
    return fig


def find_mix(grid: Tensor, mode: str, low: float = 0.35, high: float = 0.65, tries: int = 100) -> MixResult:
    """The first seeded Patch-Mix of ``grid`` ``[2, H, W, D]`` in which item 0 borrows from item 1 and keeps
    a share ``λ`` between ``low`` and ``high`` (a draw that shows a mix clearly)."""
    for seed in range(tries):
        result = PatchMix(mode)(grid, generator=torch.Generator().manual_seed(seed))
        if int(result.perm[0]) == 1 and low < result.lam < high:
            return result
    raise RuntimeError(f"no {mode} draw of the first {tries} keeps between {low} and {high}")


def paint_mix(pair: Tensor, result: MixResult, item: int = 0) -> Tensor:
    """The fbank of ``item`` of ``pair`` ``[B, 1, F, T]`` with each mixed patch drawn from its partner.

    The mix acts on embeddings, not pixels; to draw it, each mixed patch's ``10 x 10`` cell (the part of
    its patch that no later patch covers; ``16`` wide on the last row and column) is copied from the partner.
    """
    if result.mask is None:
        raise ValueError("paint_mix draws a Patch-Mix, whose result has a mask; this one has none")
    out = pair[item].clone()
    partner = pair[int(result.perm[item])]
    rows, cols = result.mask.shape
    for h, w in result.mask.nonzero().tolist():
        fs = slice(STRIDE * h, STRIDE * h + (PATCH if h == rows - 1 else STRIDE))
        ts = slice(STRIDE * w, STRIDE * w + (PATCH if w == cols - 1 else STRIDE))
        out[:, fs, ts] = partner[:, fs, ts]
    return out


def plot_mixes(pair: Tensor, mixes: Mapping[str, MixResult]) -> Any:
    """The two cycles of ``pair`` and item 0 after each mix of ``mixes`` (name -> result), two per row."""
    import matplotlib.pyplot as plt

    from respkit.plot import plot_spectrogram

    panels = [(pair[0], "item 0 (normal)"), (pair[1], "item 1 (crackle, the partner)")]
    panels += [(paint_mix(pair, r), f"{name}: λ = {r.lam:.2f} kept") for name, r in mixes.items()]
    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(7, 2.2 * rows), sharex=True, sharey=True)
    for ax, (shown, title) in zip(axes.flat, panels):
        plot_spectrogram(shown, ax, title=title, ylabel="mel bin")
    fig.tight_layout()
    return fig


# --- tables --------------------------------------------------------------------------------------------
def mixed_label_table(
    classes: Sequence[str], lam: float, pairs: Sequence[tuple[int, int]] = ((0, 1), (0, 2), (1, 2), (1, 0))
) -> str:
    """Markdown: for each (own, partner) class pair, the mixed-CE target and the label by ICBHI's hierarchy.

    Classes are ``normal, crackle, wheeze, both`` (index 1 and 3 hold crackles, 2 and 3 wheezes); the
    hierarchy label assumes the partner's sounds reached the borrowed patches.
    """
    rows = ["| own | partner | mixed-CE target | by the hierarchy |", "|---|---|---|---|"]
    for own, partner in pairs:
        target = np.zeros(len(classes))
        target[own] += lam
        target[partner] += 1 - lam
        union = (own | partner) & 3  # bit 0: crackle, bit 1: wheeze
        rows.append(
            f"| {classes[own]} | {classes[partner]} | {', '.join(f'{t:.1f}' for t in target)} | {classes[union]} |"
        )
    return "\n".join(rows)


def _flat(config: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(config)
    train = fields.pop("train")
    return {**fields, **{f"train.{k}": v for k, v in train.items()}}


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    return str(value)


def settings_table(quick: Any, full: Any) -> tuple[str, str]:
    """A three-column Markdown table of the settings where two configs differ, and the shared ones as text."""
    a, b = _flat(quick), _flat(full)
    rows = ["| setting | quick | full |", "|---|---|---|"]
    rows += [f"| `{k}` | {_short(a[k])} | {_short(b[k])} |" for k in b if a[k] != b[k]]
    same = ", ".join(f"`{k}={_short(v)}`" for k, v in b.items() if a[k] == v)
    return "\n".join(rows), same


def profile_data_text(configs: Mapping[str, Any], data: Any, profile: str) -> str:
    """Which data each profile's config trains on (they name it; nothing on disk changes it), and this build's."""
    lines = []
    for name, config in configs.items():
        task = f" task {config.task}" if config.task else " (four classes, official split)"
        cap = f", at most {config.max_train} training items" if config.max_train else ", every item"
        lines.append(f"- `{name}`: {config.dataset}{task}{cap}.")
    mine = configs[profile].dataset
    kind = "simulated" if getattr(data, mine).simulated else "real"
    lines.append(f"\nThis build runs `{profile}`, so the runs below train on **{kind}** {mine} data.")
    return "\n".join(lines)


def padding_stats(x: Tensor, y: Tensor, classes: Sequence[str]) -> dict[str, tuple[int, float, float]]:
    """Per class: items, the share of frames that repeat the frame before (padding), and the share of items
    with any. ``x`` is ``[N, F, T]``; a frame is padding when no bin moves by 1e-5 from the one before."""
    still = (x[..., 1:] - x[..., :-1]).abs().amax(dim=1) < 1e-5  # [N, T - 1]
    out = {}
    for c, name in enumerate(classes):
        mine = still[y == c]
        out[name] = (len(mine), mine.float().mean().item(), mine.any(1).float().mean().item())
    return out


def padding_table(stats: Mapping[str, tuple[int, float, float]]) -> str:
    """Markdown of :func:`padding_stats`, then a sentence on the gap between the classes' padded shares."""
    rows = ["| class | items | padded frames | items with padding |", "|---|---|---|---|"]
    rows += [f"| {k} | {n} | {f:.0%} | {i:.0%} |" for k, (n, f, i) in stats.items()]
    shares = [f for _, f, _ in stats.values()]
    gap = 100 * (max(shares) - min(shares))
    verdict = (
        "length alone tells the classes apart in part, so a score may hear padding rather than sound"
        if gap >= 10
        else "too small for length alone to tell them apart"
    )
    unit = "point" if round(gap) == 1 else "points"
    return "\n".join(rows) + f"\n\nThe classes' padded shares differ by {gap:.0f} {unit}: {verdict}."


# --- sentences about runs ------------------------------------------------------------------------------
def loop_text(losses: Mapping[str, Sequence[float]], n_classes: int, window: int = 10) -> str:
    """What a short training loop did: the cross-entropy's first and last ``window`` steps against ln C."""
    ce = np.asarray(losses["ce"], dtype=float)
    first, last = ce[:window].mean(), ce[-window:].mean()
    chance = float(np.log(n_classes))
    moved = "below" if last < chance - 0.02 else "still at"
    return (
        f"Over {len(ce)} steps the cross-entropy went from {first:.3f} (mean of the first {window}) to "
        f"{last:.3f} (the last {window}), {moved} the ln {n_classes} = {chance:.3f} of a model that "
        f"ignores its input. The contrastive term went from {np.mean(losses['cl'][:window]):.2f} to "
        f"{np.mean(losses['cl'][-window:]):.2f}: a few dozen steps start the training, they do not finish it."
    )


def held_out_text(runs: Mapping[str, Mapping[str, Any]], artifacts: Mapping[str, Any], profile: str) -> str:
    """The line above the results table: data, profile, seeds, held-out items and the always-normal floor."""
    first = next(iter(artifacts.values()))
    result = next(iter(runs.values()))
    y = first.predictions["val"].y_true
    counts = np.bincount(y, minlength=len(first.classes))
    per_class = ", ".join(f"{c} {n}" for c, n in zip(first.classes, counts))
    floor = 100 * result["summary"]["floor"]["mean"]
    return (
        f"**Data: {data_of(result)}**, profile `{profile}`, {len(result['seeds'])} seeds (mean ± std). "
        f"Held out: {len(y)} items of {len(set(first.groups['val']))} patients ({per_class}); "
        f"answering normal for every one scores {floor:.1f}."
    )


def plot_training(artifacts: Mapping[str, Any]) -> tuple[Any, Any]:
    """Two figures: training loss and validation Score per epoch side by side; held-out confusions two per row."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from respkit.metrics import confusion_matrix
    from respkit.plot import plot_confusion, plot_history

    curves, axes = plt.subplots(1, 2, figsize=(7, 2.9))
    plot_history({m: a.history for m, a in artifacts.items()}, axes)
    ringed = any(a.history.best_epoch is not None for a in artifacts.values())  # a run that chose its epoch
    axes[1].set_title("validation Score (ring: kept)" if ringed else "validation Score (the last epoch is kept)")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    curves.tight_layout()
    rows = (len(artifacts) + 1) // 2  # two per row, the last row's spare panel left empty
    confusions, axes = plt.subplots(rows, 2, figsize=(6, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(artifacts) :]:
        ax.axis("off")
    for ax, (method, art) in zip(axes.flat, artifacts.items()):
        pred = art.predictions["val"]
        plot_confusion(
            confusion_matrix(pred.y_true, pred.y_pred, art.classes),
            ax,
            title=f"{method} (held out)",
            labels=[c if len(c) <= 8 else c[:6] + "." for c in art.classes],  # Normal, Advent.; ICBHI's whole
        )
    confusions.tight_layout()
    return curves, confusions


def comparison_split(result: Mapping[str, Any]) -> str:
    """The split on which two runs may be compared: the held-out patients, unless they chose the epoch;
    then the first test split (a split that chose the model cannot judge it)."""
    config = result["config"]
    if not (config["train"].get("select_metric") and config.get("selection") == "val"):
        return "val"
    tests = [k.removesuffix("_score") for k in result["summary"] if k.endswith("_score")]
    return tests[0] if tests else "val"


def comparison_text(runs: Mapping[str, Mapping[str, Any]], methods: Sequence[str], baseline: str = "finetune") -> str:
    """One sentence per method against ``baseline`` with :func:`compare` (a paired bootstrap over patients,
    seeds averaged); a flagged run (:func:`degenerate`) is named with its flag and not compared."""
    split = comparison_split(runs[baseline])
    parts = []
    for method in methods:
        flags = [(m, degenerate(runs[m])) for m in (method, baseline)]
        flagged = [f"`{m}` {flag}" for m, flag in flags if flag]
        if flagged:
            parts.append(f"`{method}` against `{baseline}`: not compared ({'; '.join(flagged)})")
        else:
            row = compare(runs[method], runs[baseline], split)
            parts.append(f"`{method}` against `{baseline}`: {gap_text(row)}")
    where = "held-out patients" if split == "val" else f"the {split} split"
    return f"On the {where}, seeds averaged:\n\n" + "\n".join(f"- {p}." for p in parts)


def bench_temperature_text(bench: Sequence[Any]) -> str:
    """What chapter 6's recorded bench says of Patch-Mix CL at its temperature (``cpu`` profile): its held-out
    Score against the floor, the best blind guess (from the stored labels) and fine-tuning on the same bench."""
    by_recipe = {run.results["recipe"]: run for run in bench}
    if "patchmix.cl" not in by_recipe:
        return "Chapter 6's bench holds no recorded `patchmix.cl` run yet."
    run = by_recipe["patchmix.cl"]
    result = run.results
    config, summary = result["config"], result["summary"]
    bar = f"an always-normal floor of {100 * summary['floor']['mean']:.1f}"
    flag = degenerate(result)
    chance = _bench_chance(run)
    if chance is not None:
        bar += f" and a best blind guess of {100 * chance:.1f}"
        if flag is None and min(m["score"] for m in result["metrics_per_seed"]) <= chance:
            flag = "a seed at or below chance"
    verdict = f"flagged: {flag}" if flag else "it learns"
    finetune = by_recipe.get("patchmix.finetune")
    if finetune is not None and not flag:
        gap = 100 * (summary["score"]["mean"] - finetune.results["summary"]["score"]["mean"])
        side = "below" if gap < 0 else "above"
        verdict += (
            f", {abs(gap):.1f} points {side} `patchmix.finetune` on the same bench "
            "(chapter 6 asks whether the gap is more than noise)"
        )
    return (
        f"Chapter 6's bench recorded `patchmix.cl` in the `cpu` profile at τ = {config['temperature']}, "
        f"on {data_of(result)} with {len(result['seeds'])} seeds: held-out Score "
        f"{100 * summary['score']['mean']:.1f} ± {100 * summary['score']['std']:.1f} against {bar}; {verdict}."
    )


def _bench_chance(run: Any) -> float | None:
    """The best blind guess on a bench run's held-out labels (first seed), where its predictions are stored."""
    predictions = getattr(run, "predictions", None)
    if not predictions:
        return None
    from respkit.data.registry import score_function
    from respkit.metrics import chance_score

    config = run.results["config"]
    y_true = np.asarray(predictions[min(predictions)]["val"]["y_true"])
    classes = [k for k in run.results["summary"] if k.startswith("recall/")]
    score = score_function(config["dataset"], config["task"])
    return chance_score(score, y_true, len(classes) or int(y_true.max()) + 1)


def events_text(train: Any, simulated: bool, dataset: str = "SPRSound") -> str:
    """The training set a loop draws from, in words: items, patients, classes, real or simulated."""
    counts = np.bincount(np.asarray(train.labels), minlength=len(train.classes))
    per_class = ", ".join(f"{n} {c}" for c, n in zip(train.classes, counts))
    kind = (
        f"{dataset} events simulated by respkit (no recordings in this build)"
        if simulated
        else f"real {dataset} recordings"
    )
    return (
        f"The batch above comes from {len(train)} training events of {len(set(train.groups.tolist()))} "
        f"patients ({per_class}): {kind}."
    )


def flagged_scores(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each run's held-out score summary by name, the name carrying its flag where :func:`degenerate` gives one
    (for a bar chart that shows every score with its flag)."""
    out = {}
    for name, result in runs.items():
        flag = degenerate(result)
        out[f"{name} ({flag})" if flag else name] = result["summary"]["score"]
    return out
