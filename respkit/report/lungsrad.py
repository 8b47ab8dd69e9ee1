"""What chapter 5 (state-space models, spectral analysis and Lung-SRAD) shows beside its method.

The chapter's code cells run the selective scan, DASS, the spectral measurement and the Lung-SRAD
objective; the figures' layouts, the tables and the arithmetic of its computed sentences live here:

* :func:`plot_scan_orders`, :func:`plot_mix_pair`, :func:`plot_profiles`, :func:`plot_high_frequency`
  and :func:`plot_ablation`: the chapter's figures, each at most 7 inches wide and two panels across;
* :func:`coarsest_pattern_kept` and :func:`smoothing_text`: what the Gaussian smoothing keeps of a map of
  a given size (the paper's map and the profile's), computed rather than typed;
* :func:`high_frequency_table`, :func:`config_differences`, :func:`data_line`, :func:`paper_table`,
  :func:`predicted_per_class`: tables and lines;
* :func:`loop_text` and :func:`comparison_text`: sentences about the loop on the page and about the
  ablation (differences by :func:`respkit.report.compare`, a paired bootstrap over patients).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from respkit.report import chance_level, compare, degenerate, gap_text

#: Lung-SRAD's ablation on ICBHI (official split, mean of 5 seeds, percent), quoted from the paper; the AST
#: row from the Patch-Mix CL paper, whose protocol Lung-SRAD follows. Columns: row, sp, se, score, 2-class.
PAPER = {
    "ast": ("AST fine-tune (Patch-Mix CL paper)", "77.14", "41.97", "59.55", "–"),
    "finetune": ("DASS fine-tune", "74.68", "47.43", "61.06 ± 1.27", "–"),
    "spectral": ("+ spectral regularisation", "–", "–", "62.22 ± 1.29", "–"),
    "time": ("+ time-only mix", "–", "–", "62.83", "–"),
    "freq": ("+ frequency-only mix", "–", "–", "63.18", "–"),
    "full": ("Lung-SRAD (both mixes)", "79.53", "49.42", "64.48 ± 0.25", "72.57"),
}


def paper_score(variant: str) -> float:
    """The paper's mean ICBHI score of a row, in [0, 1]."""
    return float(PAPER[variant][3].split()[0]) / 100


def paper_table() -> str:
    """:data:`PAPER` as a Markdown table of five columns (the 2-class score is in the caption)."""
    rows = ["| recipe | paper's row | sp | se | score |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| `lungsrad.{v}` | " + " | ".join(PAPER[v][:4]) + " |" for v in PAPER]
    return "\n".join(rows)


def _axes_grid(n: int, height: float) -> tuple[Any, np.ndarray]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(int(np.ceil(n / 2)), 2, figsize=(7, height), squeeze=False)
    return fig, axes.ravel()


def plot_scan_orders(orders: torch.Tensor, height: int, width: int, names: Sequence[str]) -> Any:
    """SS2D's scan orders ``orders [K, H*W]`` (grid position at each step) drawn on the grid, two across."""
    fig, axes = _axes_grid(len(orders), 2.6 * np.ceil(len(orders) / 2))
    for ax, order, name in zip(axes, orders, names):
        rows, cols = order // width, order % width
        ax.plot(cols, rows, "-", color="tab:blue", lw=1, alpha=0.6)
        for step, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
            face = "tab:orange" if step == 0 else "white"
            ax.text(
                c,
                r,
                str(step),
                ha="center",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "circle", "fc": face, "ec": "tab:blue", "lw": 0.5},
            )
        ax.set(
            title=name,
            xlim=(-0.6, width - 0.4),
            ylim=(height - 0.4, -0.6),
            xticks=range(width),
            yticks=range(height),
            xlabel="time patch",
            ylabel="freq. patch",
        )
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def stage_map_size(n_mels: int, frames: int, stage: int = 2) -> tuple[int, int]:
    """The ``(H, W)`` of DASS's map in stage ``stage``: the stem's quarter grid, halved once per stage before."""

    def half(size: int) -> int:  # a 3x3, stride-2, padding-1 convolution
        return (size - 1) // 2 + 1

    height, width = half(half(n_mels)), half(half(frames))
    for _ in range(stage):
        height, width = half(height), half(width)
    return height, width


def coarsest_pattern_kept(kernel_size: int, sigma: float, height: int, width: int) -> float:
    """Share of a map's coarsest pattern along frequency (one half cosine over its rows) left by the blur.

    1 keeps the pattern whole, 0 flattens it to the map's mean. The blur is
    :class:`respkit.models.smoothing.GaussianSmoothing`, as DASS applies it (replicate borders).
    """
    from respkit.models.smoothing import GaussianSmoothing

    pattern = torch.cos(torch.pi * (torch.arange(height) + 0.5) / height)  # the lowest DCT mode of the rows
    x = pattern[:, None].expand(height, width).reshape(1, height, width, 1)
    return float((GaussianSmoothing(1, kernel_size, sigma)(x) * x).sum() / (x * x).sum())


def smoothing_text(paper: Any, small: Any) -> str:
    """Sentences on what the blur keeps of the paper's stage map and of a small profile's (configs of
    :mod:`respkit.recipes.lungsrad`; ``small`` is the session's config, which may be the paper's)."""

    def shares(config: Any, kernel: int, sigma: float) -> tuple[tuple[int, int], float]:
        size = stage_map_size(config.n_mels, config.frames, config.spectral_stage)
        return size, coarsest_pattern_kept(kernel, sigma, *size)

    (ph, pw), kept = shares(paper, paper.spectral_kernel, paper.spectral_sigma)
    text = (
        f"For `dass_small` on the paper's {paper.duration:g} s, {paper.n_mels}-bin input ({paper.frames} "
        f"frames) that map has {ph} x {pw} cells, and the blur is local: it keeps {100 * kept:.0f} % of "
        "the map's coarsest pattern along frequency (high at one end of the spectrum, low at the other) "
        "while it removes most of the finest detail."
    )
    if small.spectral_kernel == paper.spectral_kernel and small.spectral_sigma == paper.spectral_sigma:
        return text + " This profile uses the paper's kernel on the paper's input."
    (sh, sw), small_kept = shares(small, paper.spectral_kernel, paper.spectral_sigma)
    _, own = shares(small, small.spectral_kernel, small.spectral_sigma)
    blocks = len(small.spectral_blocks)
    after = "both" if blocks == 2 else f"all {blocks}"
    return text + (
        f" This profile's {small.duration:g} s, {small.n_mels}-bin input leaves a map of {sh} x {sw} cells, "
        f"and the paper's kernel would keep only {100 * small_kept:.0f} % of its coarsest frequency pattern per "
        f"block ({100 * small_kept**blocks:.0f} % after {after} smoothed blocks): the stage would pass on "
        "little more than its average, and on the simulator models trained that way answered one class. "
        "So the small profiles use kernel "
        f"{small.spectral_kernel}, σ = {small.spectral_sigma:g}, which keeps {100 * own:.0f} % of their map's "
        "coarsest pattern, the paper's dose rather than its size."
    )


def config_differences(full: Any, small: Any, label: str = "quick") -> list[str]:
    """One line per setting in which two recipe configs differ (their ``train`` settings as ``train.*``)."""
    pairs = []
    for prefix, a, b in [("", full, small), ("train.", full.train, small.train)]:
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if x != y and f.name != "train":
                pairs.append((prefix + f.name, str(x), str(y)))
    # Columns as wide as their longest entry, so that every line stays aligned.
    name_w = max((len(name) for name, _, _ in pairs), default=0)
    full_w = max((len(x) for _, x, _ in pairs), default=0)
    return [f"{name:{name_w}s} full: {x:{full_w}s}  {label}: {y}" for name, x, y in pairs]


def plot_mix_pair(pair: torch.Tensor, mixes: Sequence[tuple[str, Any]], titles: Sequence[str]) -> Any:
    """Two spectrograms ``pair [2, F, T]`` and, for each ``(axis, MixResult)`` on their quarter-size patch
    grid, item 0 with the mixed cells taken from item 1: a 2 x 2 figure, 7 inches wide."""
    from respkit.plot import plot_spectrogram

    fig, axes = _axes_grid(2 + len(mixes), 5.0)
    for ax, item, title in zip(axes, pair, titles):
        plot_spectrogram(item, ax, title=title, ylabel="mel bin")
    for ax, (axis, result) in zip(axes[2:], mixes):
        cells = result.mask.repeat_interleave(4, 0).repeat_interleave(4, 1)[: pair.shape[1], : pair.shape[2]]
        plot_spectrogram(
            torch.where(cells, pair[1], pair[0]), ax, title=f"{axis} mix: λ = {result.lam:.2f} kept", ylabel="mel bin"
        )
    fig.tight_layout()
    return fig


def draw_mix(mixer: Any, grid: torch.Tensor, low: float = 0.5, high: float = 0.8, tries: int = 50) -> Any:
    """A draw of ``mixer`` on ``grid [2, H, W, D]`` in which item 0 borrows from item 1 and keeps a share
    between ``low`` and ``high`` (seeded, so the figure is the same every time); the last draw otherwise."""
    for seed in range(tries):
        result = mixer(grid, generator=torch.Generator().manual_seed(seed))
        if result.perm[0] == 1 and low < result.lam < high:
            break
    return result


def high_frequency(curves: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> list[float]:
    """Δ at the highest frequency of each layer's curve (:func:`respkit.analysis.spectral_profile`).

    A map with one row or one column has no frequency above 0 on the diagonal: its curve is the single
    point 0, which measures nothing, so its entry is NaN (left out of means, gaps in plots).
    """
    return [float(values[-1]) if len(values) > 1 else float("nan") for _, values in curves.values()]


def plot_profiles(profiles: Mapping[tuple[str, str], Mapping[str, Any]]) -> Any:
    """The curves of every block, one panel per ``(architecture, weights)``: 2 x 2, 7 inches wide."""
    import matplotlib.pyplot as plt

    archs = list(dict.fromkeys(a for a, _ in profiles))
    states = list(dict.fromkeys(s for _, s in profiles))
    fig, axes = plt.subplots(len(states), len(archs), figsize=(7, 2.9 * len(states)), sharey=True, squeeze=False)
    for (arch, state), curves in profiles.items():
        ax = axes[states.index(state), archs.index(arch)]
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(curves)))
        for colour, (layer, (freqs, values)) in zip(colours, curves.items()):
            if len(values) < 2:  # a single row or column: nothing above frequency 0 to draw
                continue
            name = layer.replace("vit.", "").replace("stages.", "stage ").replace(".blocks.", " b")
            ax.plot(freqs, values, marker=".", color=colour, label=name)
        ax.set(title=f"{arch}, {state}", xlabel="spatial frequency (1 = Nyquist)")
        ax.title.set_fontsize(9)
    # Room under the lowest curve, so that a legend placed at the bottom covers no point.
    low, high = axes[0, 0].get_ylim()
    axes[0, 0].set_ylim(low - 0.3 * (high - low), high)
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2)
    for row in axes:
        row[0].set_ylabel("Δ log amplitude")
    fig.tight_layout()
    return fig


def plot_high_frequency(profiles: Mapping[tuple[str, str], Mapping[str, Any]]) -> Any:
    """Δ at the highest frequency per block against relative depth, one line per model."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for (arch, state), curves in profiles.items():
        high = high_frequency(curves)
        ax.plot(
            np.linspace(0, 1, len(high)),
            high,
            marker="o",
            label=f"{arch}, {state}",
            ls="-" if state == "fine-tuned" else "--",
            color="tab:red" if arch == "AST" else "tab:blue",
        )
    ax.set(
        xlabel="relative depth of the block",
        ylabel="Δ at the highest frequency",
        title="Higher = more high-frequency content kept",
    )
    ax.legend(fontsize=8)
    return fig


def high_frequency_table(profiles: Mapping[tuple[str, str], Mapping[str, Any]]) -> str:
    """Markdown: per model, the blocks whose map has a frequency above 0, and the mean, lowest and highest
    Δ at their top frequency (:func:`high_frequency`)."""
    rows = [  # five columns, so that the table fits a phone's column
        "| model | blocks read | mean Δ | lowest | highest |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (arch, state), curves in profiles.items():
        high = [v for v in high_frequency(curves) if not np.isnan(v)]
        read = f"{len(high)} of {len(curves)}"
        rows.append(f"| {arch}, {state} | {read} | {np.mean(high):.2f} | {min(high):.2f} | {max(high):.2f} |")
    return "\n".join(rows)


def smoothing_table(curves: Mapping[str, Mapping[str, Any]], smoothed: Sequence[str]) -> str:
    """Markdown: Δ at the highest frequency of every block, one column per model of ``curves`` (name ->
    :func:`respkit.analysis.spectral_profile`), the ``smoothed`` blocks marked."""
    names = list(curves)
    rows = ["| block | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for block in next(iter(curves.values())):
        cells = [f"{float(curves[n][block][1][-1]):+.2f}" if len(curves[n][block][1]) > 1 else "–" for n in names]
        mark = " (smoothed)" if block in smoothed else ""
        rows.append(f"| `{block}`{mark} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def smoothing_effect_text(curves: Mapping[str, Mapping[str, Any]], smoothed: Sequence[str]) -> str:
    """How far the smoothed blocks' top-frequency Δ moved between the two models of ``curves`` (without,
    then with the smoothing), as a sentence."""
    without, with_ = (curves[n] for n in curves)
    moves = [float(with_[b][1][-1] - without[b][1][-1]) for b in smoothed]
    word = "lower" if max(moves) < 0 else "higher" if min(moves) > 0 else "mixed"
    if word == "mixed":
        return "At the smoothed blocks the top-frequency Δ moves both ways in this run."
    return (
        f"At the smoothed blocks the top-frequency Δ is {word} with the smoothing, by "
        f"{min(map(abs, moves)):.2f} to {max(map(abs, moves)):.2f}: less fine detail leaves them. "
        "The blocks before them are untouched (same weights, same input)."
    )


def profile_reading(profiles: Mapping[tuple[str, str], Mapping[str, Any]]) -> str:
    """Which model kept more high-frequency content on average over its blocks, per kind of weights."""
    parts = []
    for state in dict.fromkeys(s for _, s in profiles):
        means = {a: float(np.nanmean(high_frequency(c))) for (a, s), c in profiles.items() if s == state}
        top, low = max(means, key=lambda a: means[a]), min(means, key=lambda a: means[a])
        parts.append(f"{state}, {top} keeps more than {low} ({means[top]:+.2f} against {means[low]:+.2f})")
    return "In this run, on average over the blocks read: " + "; ".join(parts) + "."


def data_line(result: Mapping[str, Any], profile: str, classes: Sequence[str], split: str = "val") -> str:
    """The data, profile, seeds and held-out patients of a run, and the score of always answering normal."""
    from respkit.runs import RunArtifacts

    config, artifacts = result["config"], RunArtifacts.of(result)
    dataset, task = config["dataset"], config["task"]
    source = result["data"][dataset]
    held = artifacts.predictions[split].y_true
    counts = dict(zip(classes, np.bincount(held, minlength=len(classes)).tolist()))
    kind = "simulated" if source["simulated"] else "real"
    return (
        f"**Data: {dataset}{' task ' + task if task else ''} ({kind}, {source['origin']})**, profile "
        f"`{profile}`, {len(result['seeds'])} seeds, hardware {result['hardware']['cuda_device'] or 'CPU'}. "
        f"Held out: {len(held)} items of {len(set(artifacts.groups[split]))} patients, per class {counts}; "
        f"answering normal for all scores {100 * result['summary']['floor']['mean']:.1f}."
    )


def predicted_per_class(results: Mapping[str, Mapping[str, Any]], classes: Sequence[str]) -> str:
    """Per row, how many held-out items the first seed's model put in each class (a one-class model shows)."""
    from respkit.runs import RunArtifacts

    lines = []
    for name, result in results.items():
        y_pred = RunArtifacts.of(result).predictions["val"].y_pred
        counts = np.bincount(y_pred, minlength=len(classes)).tolist()
        lines.append(f"lungsrad.{name:9s} predicted per class {dict(zip(classes, counts))} (first seed)")
    return "\n".join(lines)


def plot_ablation(results: Mapping[str, Mapping[str, Any]], dataset: str, history: Any) -> Any:
    """Two stacked panels: each row's held-out score (with the paper's on ICBHI, and the chance line; flagged
    rows marked), then the loss terms and validation score of ``history`` (``lungsrad.full``, first seed)."""
    import matplotlib.pyplot as plt

    from respkit.plot import plot_scores

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6.4))
    ours = {v + (" (flagged)" if degenerate(r) else ""): r["summary"]["score"] for v, r in results.items()}
    series = {"this run": ours}
    if dataset == "icbhi":  # the paper's numbers share the axis only when the data is the paper's
        series["paper (full scale)"] = dict(zip(ours, (paper_score(v) for v in results)))
    first = next(iter(results.values()))
    plot_scores(
        series,
        top,
        reference=chance_level(first["summary"]),
        reference_label="chance (best blind guess)",
        ylabel=f"{dataset} score",
    )
    top.set_title("held-out score per row, mean ± std over seeds", fontsize=9)
    top.tick_params(axis="x", labelrotation=15)
    for key in ("ce", "cl_time", "cl_freq"):
        bottom.plot([epoch[key] for epoch in history.train], marker="o", label=key)
    bottom.plot(history.metric("score"), marker="s", color="black", label="validation score")
    bottom.axhline(chance_level(first["summary"]), color="grey", ls="--", lw=1, label="chance (best blind guess)")
    bottom.set(
        xlabel="epoch",
        ylabel="loss; validation score",
        title="lungsrad.full, first seed: loss terms and validation score",
    )
    bottom.title.set_fontsize(9)
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return fig


def loop_text(losses: Mapping[str, Sequence[float]], n_classes: int, window: int = 10) -> str:
    """What the loop's loss terms did: each term's mean over the first and the last ``window`` steps, and
    where the cross-entropy ended against ln ``n_classes``, the loss of a model that ignores its input."""

    def mean(values: Sequence[float], last: bool) -> float:
        part = values[-window:] if last else values[:window]
        return float(np.mean(part))

    moves = []
    for name, values in losses.items():
        start, end = mean(values, False), mean(values, True)
        word = "fell" if end < start - 0.01 else "rose" if end > start + 0.01 else "stayed"
        moves.append(f"`{name}` {word} from {start:.3f} to {end:.3f}")
    chance = float(np.log(n_classes))
    ce = mean(losses["ce"], True)
    where = "within 0.02 of" if abs(ce - chance) < 0.02 else "below" if ce < chance else "above"
    return (
        f"Over {len(losses['ce'])} steps (means of the first and last {window}): "
        + "; ".join(moves)
        + f". The cross-entropy ends {where} ln {n_classes} = {chance:.3f}, the loss of a model that "
        "ignores its input."
    )


def comparison_text(results: Mapping[str, Mapping[str, Any]], baseline: str = "finetune") -> str:
    """Each row against ``baseline`` on the same held-out patients (:func:`respkit.report.compare`, seeds
    averaged, paired bootstrap over patients), as a Markdown list; a flagged row is named and not compared."""
    lines = []
    for name, result in results.items():
        if name == baseline:
            continue
        flag = degenerate(result) or degenerate(results[baseline])
        if flag:
            lines.append(f"- `{name}` against `{baseline}`: not compared, a run is flagged ({flag}).")
        else:
            lines.append(f"- `{name}` against `{baseline}`: {gap_text(compare(result, results[baseline]))}.")
    return "\n".join(lines)


def weakest_text(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The weakest single seed of any row against chance and the always-normal floor."""
    weakest = min(m["score"] for r in results.values() for m in r["metrics_per_seed"])
    first = next(iter(results.values()))["summary"]
    chance = chance_level(first)
    if chance is None:  # a results file written before chance and floors were recorded
        return f"The weakest seed of any row scores {100 * weakest:.1f}."
    flag = " (**at or below chance: that seed learnt nothing**)" if weakest <= chance else ""
    return (
        f"The weakest seed of any row scores {100 * weakest:.1f}{flag}; chance is {100 * chance:.1f}, "
        f"always answering normal {100 * first['floor']['mean']:.1f}."
    )


def scale_text(profile: str, dataset: str, simulated: bool) -> str:
    """What the ablation rows of this build can show, given its profile and data."""
    data = f"{'simulated ' if simulated else ''}{dataset}"
    if profile == "full":
        return (
            f"The `full` rows above follow the paper's protocol, on {data} data; set them beside the "
            "paper's table, and read the list under the figure for the differences that these patients "
            "can tell apart."
        )
    return (
        f"The `{profile}` rows above come from small, randomly initialised models trained for minutes on "
        f"{data} items, not from the AudioSet-trained DASS on ICBHI. They check that every variant trains "
        "and is scored on the same held-out patients with the official metric (compare each row with the "
        "chance line of the figure); they do not say whether Lung-SRAD's refinements help at the paper's "
        "scale. The list under the figure gives each difference from the DASS baseline with a paired "
        "interval over these patients."
    )
