"""The figures the chapters share: confusion matrices, spectrograms, training curves, scores over seeds.

Each function draws on the ``ax`` (or axes) it is given, or on a new figure, and returns what it
drew on; nothing calls ``plt.show()``, so a chapter can add to a figure before showing it and a
test can read back what was drawn. matplotlib only.

* :func:`plot_confusion` — counts as text, colour the share of each true class (row-normalised,
  so the diagonal reads as each class's recall), class names on both axes.
* :func:`plot_spectrogram` — an image ``[F, T]`` with frequency upwards, in seconds and Hz when
  told the duration and the top frequency, else in frames and bins.
* :func:`plot_history` — a :class:`respkit.train.History`'s loss and evaluation metrics per epoch,
  for one run or several (methods overlaid, or training stages end to end).
* :func:`plot_losses` — the loss of every step of a training loop written on a chapter's page, raw and
  smoothed, for one loop or several.
* :func:`plot_scores` — mean ± std over seeds as bars or points, optionally grouped, with a dashed
  reference line such as the score of always predicting "normal".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from respkit.metrics import ConfusionMatrix

if TYPE_CHECKING:
    from respkit.train import History

__all__ = [
    "plot_confusion",
    "plot_history",
    "plot_losses",
    "plot_scores",
    "plot_spectrogram",
    "row_shares",
    "summarise",
]

# A score as the chapters hold it: one number, the per-seed values, or a results summary {"mean", "std"}.
Score = float | Sequence[float] | Mapping[str, float]


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def row_shares(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (0 for an empty row): the share of each true class per prediction."""
    matrix = np.asarray(matrix, dtype=float)
    return matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)


def plot_confusion(
    cm: ConfusionMatrix, ax: Axes | None = None, *, title: str | None = None, labels: Sequence[str] | None = None
) -> Axes:
    """Draw a confusion matrix: rows are the truth, columns the prediction.

    The text of a cell is its count; its colour is the count's share of the true class (the row),
    on a fixed 0-1 scale so that matrices of different sizes compare. ``labels`` replaces the class
    names on the axes (e.g. abbreviations); by default ``cm.classes``.
    """
    ax = _axes(ax, (3.6, 3.4))
    shares = row_shares(cm.matrix)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(cm.matrix):
        # White on dark cells, black on light ones.
        ax.text(
            j, i, str(count), ha="center", va="center", fontsize=8, color="white" if shares[i, j] > 0.5 else "black"
        )
    names = list(labels) if labels is not None else list(cm.classes)
    if len(names) != len(cm.classes):
        raise ValueError(f"labels names {len(names)} classes, the matrix has {len(cm.classes)}")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_spectrogram(
    image: Any,
    ax: Axes | None = None,
    *,
    duration: float | None = None,
    max_freq_hz: float | None = None,
    title: str | None = None,
    ylabel: str = "bin",
    vmin: float | None = None,
    vmax: float | None = None,
    dynamic_range: float | None = None,
    colorbar: str | None = None,
    cmap: str = "magma",
) -> Axes:
    """Draw a spectrogram-like image ``[F, T]`` (or ``[1, F, T]``), row 0 (the lowest frequency) at the bottom.

    Args:
        image: a tensor or array; log-mel, fbank, MFCC or a linear spectrogram in dB.
        duration: seconds that the ``T`` columns span; the time axis is then in seconds, else in frames.
        max_freq_hz: the frequency at the top of the last row of a *linear*-frequency spectrogram (the
            Nyquist frequency); the frequency axis is then in Hz, else in bins labelled ``ylabel``
            (mel bins are not evenly spaced in Hz, so they keep their index).
        vmin, vmax: the colour range; ``dynamic_range`` instead shows the top that many units
            (e.g. 70 dB below the maximum), hiding the noise floor.
        colorbar: a label for a colour bar; ``None`` draws none.
    """
    values = np.asarray(image, dtype=float)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2:
        raise ValueError(f"image must be [F, T] or [1, F, T], got shape {np.shape(image)}")
    if dynamic_range is not None:
        vmax = values.max() if vmax is None else vmax
        vmin = vmax - dynamic_range
    n_freq, n_time = values.shape
    right = duration if duration is not None else n_time
    top = max_freq_hz if max_freq_hz is not None else n_freq
    ax = _axes(ax, (7, 2.6))
    shown = ax.imshow(
        values,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=(0, right, 0, top),
        interpolation="nearest",
    )
    ax.set(
        xlabel="time (s)" if duration is not None else "frame",
        ylabel="frequency (Hz)" if max_freq_hz is not None else ylabel,
    )
    if title is not None:
        ax.set_title(title)
    if colorbar is not None:
        ax.figure.colorbar(shown, ax=ax, label=colorbar)
    return ax


def plot_history(
    history: History | Mapping[str, History],
    axes: Sequence[Axes] | None = None,
    *,
    loss: str = "loss",
    metrics: Sequence[str] = ("score",),
    consecutive: bool = False,
    steps: bool = False,
) -> tuple[Axes, Axes]:
    """Draw training curves: the epoch means of ``loss`` (left) and the evaluation ``metrics`` (right).

    ``history`` is one :class:`respkit.train.History` or several by name. Several are overlaid on
    the same epochs (methods compared), or with ``consecutive=True`` drawn end to end with a dotted
    line where each stage starts (pre-training then fine-tuning). Epochs count from 1; the epoch a
    run kept (``best_epoch``) is ringed on its first metric. A stage without evaluation (empty
    ``eval`` dicts) or without ``loss`` draws nothing on that side. With ``steps``, every optimizer
    step's loss is drawn too, thin, on the same epoch axis (step ``k`` of ``n`` in epoch ``e`` at
    ``e - 1 + k / n``), so the epoch mean sits at the end of the steps it averages.
    """
    runs = dict(history) if isinstance(history, Mapping) else {"": history}
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2), constrained_layout=True)
    loss_ax, metric_ax = axes
    start = 0
    for name, run in runs.items():
        epochs = start + np.arange(1, len(run.train) + 1)
        if consecutive and start > 0:
            for ax in (loss_ax, metric_ax):
                ax.axvline(start + 0.5, color="grey", ls=":", lw=1)
        if steps and run.step_loss and run.train:
            per_epoch = len(run.step_loss) / len(run.train)
            at = start + np.arange(1, len(run.step_loss) + 1) / per_epoch
            loss_ax.plot(at, run.step_loss, color="grey", lw=0.6, alpha=0.7)
        if run.train and loss in run.train[0]:
            loss_ax.plot(epochs, [epoch[loss] for epoch in run.train], "o-", ms=3, label=name or loss)
        for k, key in enumerate(metrics):
            if not run.eval or key not in run.eval[0]:
                continue
            values = run.metric(key)
            label = " ".join(part for part in (name, key) if part)
            (line,) = metric_ax.plot(epochs[: len(values)], values, "o-", ms=3, label=label)
            if k == 0 and run.best_epoch is not None:
                metric_ax.plot(
                    epochs[run.best_epoch], values[run.best_epoch], "o", ms=10, mfc="none", color=line.get_color()
                )
        if consecutive:
            start += len(run.train)
    loss_ax.set(xlabel="epoch", ylabel=loss, title="training loss")
    metric_ax.set(xlabel="epoch", title="evaluation (ring: the epoch kept)")
    for ax in (loss_ax, metric_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return loss_ax, metric_ax


def plot_losses(
    losses: Sequence[float] | Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    smooth: int = 10,
    ylabel: str = "loss",
    title: str | None = "training loss per step",
) -> Axes:
    """Draw the loss of every optimiser step (thin) and its running mean over ``smooth`` steps (thick).

    ``losses`` is one sequence of step losses or several by name (overlaid, one colour each). The running
    mean is drawn from the step where its window is full, so its first point averages real steps only.
    """
    runs = dict(losses) if isinstance(losses, Mapping) else {"": losses}
    ax = _axes(ax, (6.4, 3.0))
    for name, run in runs.items():
        values = np.asarray(run, dtype=float)
        steps = np.arange(1, len(values) + 1)
        (raw,) = ax.plot(steps, values, lw=0.7, alpha=0.45)
        window = min(smooth, len(values))
        if window > 1:
            mean = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1 :], mean, lw=2, color=raw.get_color(), label=name or None)
        elif name:
            raw.set_label(name)
    ax.set(xlabel="step", ylabel=ylabel, title=title)
    if any(runs):
        ax.legend(fontsize=8)
    return ax


def summarise(score: Score) -> tuple[float, float]:
    """``(mean, std)`` of a score: a results summary's own, or over per-seed values (``ddof=1``, 0 for one
    value, as :func:`respkit.experiments.run_experiment` computes them), or ``(value, 0)`` for a number."""
    if isinstance(score, Mapping):
        return float(score["mean"]), float(score.get("std", 0.0))
    values = np.atleast_1d(np.asarray(score, dtype=float))
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def plot_scores(
    scores: Mapping[str, Score] | Mapping[str, Mapping[str, Score]],
    ax: Axes | None = None,
    *,
    reference: float | None = None,
    reference_label: str | None = None,
    kind: str = "bar",
    ylabel: str = "score",
    ylim: tuple[float, float] | None = (0, 1),
) -> Axes:
    """Draw mean ± std scores with error bars, one bar (or point) per name.

    ``scores`` maps names to scores (see :func:`summarise` for the forms a score takes), or series
    names to such mappings, which draws grouped bars: one group per name, one colour per series
    (e.g. ``{"this run": {...}, "paper": {...}}``). A score without spread (one number) gets no error bar.
    ``reference`` adds a dashed horizontal line labelled ``reference_label``, such as the score of always
    predicting "normal".
    """
    if kind not in ("bar", "point"):
        raise ValueError(f"kind must be 'bar' or 'point', got {kind!r}")
    grouped = bool(scores) and all(isinstance(v, Mapping) and "mean" not in v for v in scores.values())
    series: dict[Any, Any] = dict(scores) if grouped else {None: scores}
    names = list(dict.fromkeys(name for values in series.values() for name in values))
    ax = _axes(ax, (max(4.0, 0.9 * len(names) * len(series)), 3.2))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series.items()):
        offset = (k - (len(series) - 1) / 2) * width
        positions = [names.index(name) + offset for name in values]
        means, stds = zip(*(summarise(score) for score in values.values())) if values else ((), ())
        errors = [std if std > 0 else np.nan for std in stds]  # no spread known (one value): no bar, not a flat cap
        if kind == "bar":
            ax.bar(positions, means, width, yerr=errors, capsize=3, label=label)
        else:
            ax.errorbar(positions, means, yerr=errors, fmt="o", capsize=3, label=label)
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", lw=1, label=reference_label)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if grouped or reference_label is not None:
        ax.legend(fontsize=8)
    return ax
