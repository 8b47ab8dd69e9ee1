"""Chapter 2 (CLAR) beside its method: counts, computed sentences, comparisons and figure layouts.

The chapter's code cells run CLAR itself (augmentations, NT-Xent, the joint loss, the recipes); what
they show around it is written here, so that every number in its prose is computed in the build the
reader gets (real SPRSound or the simulator, any profile):

* :func:`class_counts`, :func:`normal_per_abnormal` and :func:`annotation_count`: the data's counts;
* :func:`empty_mel_bins`: the mel bins that hold no signal once 8 kHz audio is resampled upwards;
* :func:`flagged`, :func:`ranking_text` and :func:`gap_lines`: method comparisons that leave out the runs
  :func:`respkit.report.degenerate` flags and read differences with :func:`respkit.report.compare`;
* :func:`augmentation_grid` and :func:`score_figure`: figure layouts that fit the book's text column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from respkit.report import compare, degenerate, gap_text


def class_counts(classes: Sequence[str], labels: Any) -> str:
    """``"Normal: 320, Adventitious: 160"``: how many of ``labels`` (class indices) fall in each class."""
    counts = np.bincount(np.asarray(labels), minlength=len(classes))
    return ", ".join(f"{name}: {n:,d}" for name, n in zip(classes, counts))


def normal_per_abnormal(labels: Any, normal: int = 0) -> float:
    """How many items of class ``normal`` there are for every other item (``inf`` when none is abnormal)."""
    labels = np.asarray(labels)
    abnormal = int(np.sum(labels != normal))
    return float(np.sum(labels == normal)) / abnormal if abnormal else float("inf")


def annotation_count(meta: Sequence[Any], annotation: str) -> int:
    """How many items of a dataset's ``meta`` carry ``annotation`` (e.g. ``"Stridor"``)."""
    return sum(m.annotation == annotation for m in meta)


def empty_mel_bins(filterbank: torch.Tensor, sample_rate: int, source_rate: int) -> list[int]:
    """The mel bins that lie wholly above the source's Nyquist frequency, ``source_rate / 2``.

    ``filterbank`` is torchaudio's ``[n_stft, n_mels]`` matrix (``MelScale.fb``), its rows the STFT
    frequencies from 0 to ``sample_rate / 2``. Audio recorded at ``source_rate`` and resampled to
    ``sample_rate`` has no energy above ``source_rate / 2`` (the resampler's low-pass removes it), so a
    filter with no weight at or below that frequency sees only the floor of the dB scale.
    """
    freqs = torch.linspace(0, sample_rate / 2, filterbank.shape[0])
    below = filterbank[freqs <= source_rate / 2]  # [rows up to the source's Nyquist, n_mels]
    return [k for k in range(filterbank.shape[1]) if not bool((below[:, k] > 0).any())]


def flagged(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Name -> reason for every run that :func:`respkit.report.degenerate` flags (empty if none)."""
    return {name: reason for name, run in runs.items() if (reason := degenerate(run))}


def flag_text(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """A sentence naming the flagged runs among ``runs`` and why, or saying that none is flagged."""
    flags = flagged(runs)
    if not flags:
        return "No run shown here is flagged: every one scores above the best blind guess."
    listed = "; ".join(f"{name}: **{reason}**" for name, reason in flags.items())
    return f"Flagged, and left out of every ranking and comparison below: {listed}."


def ranking_text(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """The unflagged runs in order of mean held-out score, e.g. ``"joint (71.0) > supervised (69.5)"``.

    A ranking of means is only an order: whether two neighbours differ is :func:`gap_lines`' business.
    """
    kept = {name: run for name, run in runs.items() if not degenerate(run)}
    order = sorted(kept, key=lambda name: kept[name]["summary"]["score"]["mean"], reverse=True)
    return " > ".join(f"{name} ({100 * kept[name]['summary']['score']['mean']:.1f})" for name in order)


def gap_lines(
    pairs: Sequence[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
    compare_fn: Callable[..., Mapping[str, Any]] = compare,
) -> list[str]:
    """One Markdown bullet per ``(label, run_a, run_b)``: ``a − b`` by :func:`respkit.report.compare`.

    A pair with a flagged run is not compared; its bullet says which run is flagged and why.
    """
    lines = []
    for label, a, b in pairs:
        reasons = [f"{run['recipe']} is flagged ({reason})" for run in (a, b) if (reason := degenerate(run))]
        body = "not compared: " + ", ".join(reasons) if reasons else gap_text(compare_fn(a, b))
        lines.append(f"- **{label}**: {body}.")
    return lines


def augmentation_grid(waves: Mapping[str, torch.Tensor], draw: Callable, width: float = 7.0) -> Any:
    """One spectrogram per named wave, two per row, ``draw(ax, wave, title)`` filling each panel."""
    import matplotlib.pyplot as plt

    rows = -(-len(waves) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(width, 1.7 * rows + 0.4), sharex=True, sharey=True)
    for ax, (name, wave) in zip(axes.flat, waves.items()):
        draw(ax, wave, name.replace("_", " "))
    for ax in axes.flat[len(waves) :]:
        ax.set_visible(False)
    for ax in axes.flat:
        ax.label_outer()
    fig.tight_layout()
    return fig


def score_figure(
    scores: Mapping[str, Mapping[str, Any]],
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    chance: float | None,
    width: float = 7.0,
) -> Any:
    """Mean held-out scores as grouped bars (top) and per-epoch validation curves (bottom), stacked.

    ``scores``: method -> series -> summary entry (:func:`respkit.plot.plot_scores`); ``curves``: method ->
    series -> the validation patients' score after each epoch, one colour per method and one line style per series.
    ``chance`` is drawn on both panels.
    """
    import matplotlib.pyplot as plt

    from respkit.plot import plot_scores

    fig, (bars, lines) = plt.subplots(2, 1, figsize=(width, 7.6), layout="constrained")
    plot_scores(scores, bars, ylabel="held-out score", reference=chance, reference_label="chance (best blind guess)")
    bars.set_ylim(0, 1.3)  # room above the bars for the legend
    bars.set_yticks(np.linspace(0, 1, 6))
    bars.legend(fontsize=8, ncol=2, loc="upper center")
    styles = ("-", "--", ":", "-.")
    for k, (method, series) in enumerate(curves.items()):
        for j, (label, curve) in enumerate(series.items()):
            lines.plot(
                range(1, len(curve) + 1), curve, styles[j % len(styles)], color=f"C{k}", label=f"{method}, {label}"
            )
    if chance is not None:
        lines.axhline(chance, color="grey", ls=":", lw=1)
    lines.set(xlabel="epoch (of the CE-trained stage)", ylabel="validation score")
    lines.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    return fig


def pick_events(
    dataset: Any, min_ms: float = 1500, adventitious: Sequence[str] = ("Fine Crackle", "Coarse Crackle", "Wheeze")
) -> dict[str, int]:
    """Indices of a normal event and an adventitious one (the first kind of ``adventitious`` present).

    Each is the first event of its kind at least ``min_ms`` long, so that it fills most of a 2 s window,
    else the longest of its kind.
    """
    lengths = {i: m.end_ms - m.start_ms for i, m in enumerate(dataset.meta)}
    present = {m.annotation for m in dataset.meta}
    kinds = {"normal": "Normal", "adventitious": next(a for a in adventitious if a in present)}
    chosen = {}
    for name, kind in kinds.items():
        candidates = [i for i, m in enumerate(dataset.meta) if m.annotation == kind]
        long_enough = [i for i in candidates if lengths[i] >= min_ms]
        chosen[name] = long_enough[0] if long_enough else max(candidates, key=lambda i: lengths[i])
    return chosen


def profile_line(config: Any, profile: str) -> str:
    """One line with what a CLAR profile trains: input, encoder, batch, epochs, augmentations, rates."""
    return (
        f"profile {profile}: {config.duration:g} s at {config.sample_rate} Hz, {config.features.kind} "
        f"features, {config.model} encoder, batch {config.batch_size}, {config.train.epochs} epochs, "
        f"augmentations {config.augmentations}; learning rate {config.train.lr:g}, "
        f"fine-tuning {config.finetune.lr:g}"
    )


def _window(n: int, k: int = 10) -> int:
    """How many steps ``_first_last`` averages at each end of ``n`` steps: ``k``, at most half of them."""
    return max(1, min(k, n // 2))


def _first_last(values: Sequence[float], k: int = 10) -> tuple[float, float]:
    """Mean of the first and of the last ``k`` values (all of them when fewer)."""
    array = np.asarray(values, dtype=float)
    k = _window(len(array), k)
    return float(array[:k].mean()), float(array[-k:].mean())


def loop_text(losses: Mapping[str, Sequence[float]], batch_size: int, n_classes: int) -> str:
    """What the written-out loop's loss curve shows: each term's first and last steps against a blind guess.

    ``losses`` has the per-step ``"CE"`` and ``"NT-Xent"``. A guess that ignores the input scores
    ``ln n_classes`` on CE and ``ln(2B - 1)`` on NT-Xent.
    """
    guesses = {"CE": np.log(n_classes), "NT-Xent": np.log(2 * batch_size - 1)}
    parts = []
    for name, guess in guesses.items():
        first, last = _first_last(losses[name])
        move = "fell" if last < first - 0.01 else "rose" if last > first + 0.01 else "stayed level,"
        where = "below" if last < guess else "at or above"
        parts.append(f"{name} {move} from {first:.3f} to {last:.3f}, {where} a blind guess's {guess:.3f}")
    steps = len(losses["CE"])
    k = _window(steps)
    return (
        f"Over {steps} steps (means of the first {k} and of the last {k} steps): " + "; ".join(parts) + ". "
        "A few dozen steps only start the training; the recipes below run the profile's epochs."
    )


def domain_text(release: Any, events: Any, simulated: bool) -> str:
    """The chapter's "Domain" bullet: the ratio of normal to adventitious events, in the release's
    training set (``release``, a task 1-2 event dataset) and in this profile's training events
    (``events``, the splits of :func:`respkit.recipes.clar.load_events`)."""
    whole = [0 if m.annotation == "Normal" else 1 for m in release.meta]
    here = np.asarray(events.train.labels)
    normal = events.classes.index("Normal")
    source = (
        "the simulator's training set (its proportions, not the release's)"
        if simulated
        else "the release's training set"
    )
    annotations = (
        "The simulator's labels are exact; real annotations are ones that experts disagree on."
        if simulated
        else "Its annotations are ones that experts disagree on."
    )
    return (
        f"* **Domain.** CLAR's datasets have many balanced classes and clean labels. Task 1-1 has two "
        f"classes, with {normal_per_abnormal(whole):.1f} normal events for every adventitious one in "
        f"{source}, and {normal_per_abnormal(here, normal):.1f} in the {len(here):,d} training events of "
        f"this profile. {annotations} Pre-training has little unlabelled data to work with: the labelled "
        "set is a subset of the same events, not a separate, larger pool."
    )


def _filterbank(features: Any) -> torch.Tensor:
    """The ``[n_stft, n_mels]`` mel filterbank of a :class:`~respkit.features.CLARFeatures` or ``LogMel``."""
    scale = features.mel_scale if hasattr(features, "mel_scale") else features.mel.mel_scale
    return scale.fb


def upsampling_text(full: Any, source_rate: int, current: Any | None = None) -> str:
    """What resampling ``source_rate`` audio to the ``full`` config's rate leaves empty, computed from the
    config's features (:func:`empty_mel_bins`); with ``current``, the same for the profile being run."""
    nyquist = source_rate / 2
    empty = empty_mel_bins(_filterbank(full.features.build(full.sample_rate)), full.sample_rate, source_rate)
    n_mels = full.features.n_mels
    text = (
        f"SPRSound is recorded at {source_rate / 1000:g} kHz, so the `full` profile resamples it to "
        f"{full.sample_rate / 1000:g} kHz, and everything above {nyquist / 1000:g} kHz is empty: the "
        "resampler's low-pass leaves no energy there. "
    )
    if empty:
        text += (
            f"Of the {n_mels} mel bins, bins {empty[0]} to {empty[-1]} ({len(empty)} of them, "
            f"{len(empty) / n_mels:.0%}) lie wholly above {nyquist / 1000:g} kHz. They sit at the "
            "floor of the dB scale in the log-mel channel, and the same rows of the STFT magnitude and "
            "phase channels hold only the resampler's residue: that share of the network's input "
            "carries no lung sound. CLAR down-samples recordings made at 16 kHz or above, so its audio fills it."
        )
    else:
        text += "No mel bin of its features lies wholly above that frequency."
    if current is not None:
        fb = _filterbank(current.features.build(current.sample_rate))
        n = len(empty_mel_bins(fb, current.sample_rate, source_rate))
        text += (
            f" The profile run here works at {current.sample_rate / 1000:g} kHz, with "
            f"{n or 'no'} such bin{'' if n == 1 else 's'}."
        )
    return text


def profile_text(config: Any, profile: str, n_train: int, simulated: bool) -> str:
    """The chapter's "Profile and data" bullet: how much training a run of this profile gets, computed
    from ``config`` (steps per epoch: ``n_train // batch_size``, as in
    :func:`respkit.recipes.clar.unlabelled_stream`). A number and its unit are joined by a no-break space,
    so that a phone's column does not split them."""
    per_epoch = n_train // config.batch_size
    text = (
        f"* **Profile and data.** The setup line at the top names both. In `{profile}`, each training stage "
        f"runs a `{config.model}` encoder for {config.train.epochs * per_epoch} steps ({config.train.epochs} "
        f"epochs of {per_epoch}) on {n_train:,d} events of {config.duration:g}\u00a0s at "
        f"{config.sample_rate / 1000:g}\u00a0kHz; CLAR trains a ResNet18 to convergence. The ranking of the "
        "methods at one scale need not survive at another, in either direction."
    )
    if simulated:
        text += " On the simulator, the numbers only show that the code runs: they say nothing about lungs."
    return text


def optimiser_text(name: str, train: Any) -> str:
    """One line for a stage's optimisation (a :class:`~respkit.train.TrainConfig`): epochs, optimiser, rates."""
    return (
        f"{name}: {train.epochs} epochs, {train.optimizer} at learning rate {train.lr:g} "
        f"(weight decay {train.weight_decay:g}, {train.warmup_epochs:g} warm-up epochs)"
    )
