"""Chapter 1 (Listening to lungs): the figures, tables and computed sentences beside the data.

The chapter listens to simulated and recorded sounds, reads the two datasets' tables and trains the
first baseline. What it shows that is not the lesson itself lives here: spectrogram panels sized for
the book's column (at most two side by side, seven inches wide), audio players, and the sentences
whose counts and comparison words depend on the data present, so that each reads true on the real
data, on a sample of it, and on the simulator.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from scipy import signal

from respkit.plot import plot_spectrogram

#: Width of every figure, in inches: the book's text column is about 690 px.
WIDTH = 7.0
#: Records in the official BioCAS 2022 test sets (SPRSound's repository): what "complete" means.
OFFICIAL_TEST_RECORDS = {"inter_test": 355, "intra_test": 379}


# --- words -------------------------------------------------------------------------------------------
def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 patient"``, ``"3 patients"``: a number with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def share_word(share: float) -> str:
    """A share in words that stay true: "all", "most", "about half", "a minority", "a few", "none"."""
    if share >= 1:
        return "all"
    if share > 0.6:
        return "most"
    if share >= 0.4:
        return "about half"
    if share >= 0.1:
        return "a minority"
    return "a few" if share > 0 else "none"


def spread_word(low: float, high: float) -> str:
    """How much values between ``low`` and ``high`` (e.g. 1st and 99th percentile) vary, in words."""
    ratio = high / low
    return "vary a lot" if ratio >= 4 else "vary" if ratio >= 1.5 else "vary little"


# --- sounds --------------------------------------------------------------------------------------------
def spectrogram_db(wave: np.ndarray, sample_rate: int, window_ms: float = 32) -> np.ndarray:
    """A linear-frequency power spectrogram in dB, windows of ``window_ms`` overlapping by three quarters."""
    nperseg = int(sample_rate * window_ms / 1000)
    _, _, power = signal.spectrogram(
        np.asarray(wave, dtype=np.float64), fs=sample_rate, nperseg=nperseg, noverlap=nperseg * 3 // 4
    )
    return 10 * np.log10(power + 1e-12)


def show_spectrogram(ax: plt.Axes, wave: np.ndarray, sample_rate: int, title: str, max_hz: float = 2000) -> None:
    """``wave``'s spectrogram on ``ax``: 70 dB of range, up to ``max_hz`` (the sounds of the lungs)."""
    plot_spectrogram(
        spectrogram_db(wave, sample_rate),
        ax,
        duration=len(wave) / sample_rate,
        max_freq_hz=sample_rate / 2,
        dynamic_range=70,
        title=title,
    )
    ax.set_ylim(0, min(max_hz, sample_rate / 2))


def grid(n: int, row_height: float = 2.3) -> tuple[plt.Figure, np.ndarray]:
    """``n`` panels two to a row, the column's width; unused panels switched off."""
    rows = math.ceil(n / 2)
    fig, axes = plt.subplots(
        rows, 2, figsize=(WIDTH, row_height * rows), sharey=True, squeeze=False, constrained_layout=True
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat[:n]


def mark_events(ax: plt.Axes, events: Sequence[Any], top_hz: float = 2000) -> None:
    """Where the simulator put each sound: a tick per crackle, a dashed line at a tone's fundamental,
    a dotted line where inspiration ends."""
    for e in events:
        if e.kind.endswith("crackle"):
            ax.plot([e.start_s, e.start_s], [0.92 * top_hz, top_hz], color="cyan", lw=1)
        elif e.frequency_hz is not None and not e.kind.startswith("heart"):
            ax.plot([e.start_s, e.end_s], [e.frequency_hz] * 2, color="cyan", lw=1, ls="--")
        elif e.kind == "inspiration":
            ax.axvline(e.end_s, color="white", lw=0.8, ls=":")


def plot_cycles(cycles: Mapping[str, tuple[np.ndarray, Sequence[Any]]], sample_rate: int) -> plt.Figure:
    """One simulated cycle per kind (name -> (wave, events)), two to a row, with the simulator's marks."""
    fig, axes = grid(len(cycles))
    for ax, (kind, (wave, events)) in zip(axes, cycles.items()):
        show_spectrogram(ax, wave, sample_rate, kind.replace("_", " "))
        mark_events(ax, events)
    return fig


def plot_items(waves: Mapping[str, np.ndarray], sample_rate: int) -> plt.Figure:
    """One spectrogram per named waveform, two to a row; the title gives the name and the length."""
    fig, axes = grid(len(waves))
    for ax, (name, wave) in zip(axes, waves.items()):
        show_spectrogram(ax, wave, sample_rate, f"{name} ({len(wave) / sample_rate:.1f} s)")
    return fig


# A row's note and its player share one cell: side by side on a laptop, the player under the note on a
# phone, wide enough there to keep its play button.
NOTE_CELL_STYLE = "display: flex; flex-wrap: wrap; align-items: center; column-gap: 1em"
PLAYER_STYLE = "flex: 1 1 14em; max-width: 100%"


def audio_table(rows: Sequence[tuple[str, str, np.ndarray]], sample_rate: int) -> Any:
    """An HTML table of (name, note, waveform) rows, each with an audio player (players work in the static book)."""
    from IPython.display import HTML, Audio  # a notebook's dependency, not the library's

    html = ['<table style="width: 100%">']
    for name, note, wave in rows:
        player = Audio(np.asarray(wave, dtype=np.float32), rate=sample_rate)._repr_html_()
        player = player.replace("<audio ", f'<audio style="{PLAYER_STYLE}" ', 1)
        cell = f'<div style="{NOTE_CELL_STYLE}"><span style="flex: 1 1 14em">{note}</span>{player}</div>'
        html.append(f"<tr><td><b>{name}</b></td><td>{cell}</td></tr>")
    return HTML("".join(html) + "</table>")


def typical_items(labels: np.ndarray, durations: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    """For each class present, the index of the item whose duration is closest to its class's upper
    quartile: typical, and long enough to hear."""
    chosen = {}
    for k, name in enumerate(classes):
        members = np.flatnonzero(np.asarray(labels) == k)
        if len(members):
            target = np.percentile(durations[members], 75)
            chosen[name] = int(members[np.argmin(np.abs(durations[members] - target))])
    return chosen


# --- what the data holds -------------------------------------------------------------------------------
def source_words(simulated: bool) -> str:
    """What the items shown are: recordings, or the simulator's stand-ins."""
    return "the simulator's stand-ins, written in the official layout" if simulated else "real recordings"


def orphan_split_lines(root: str | Path, recordings: Sequence[str]) -> list[str]:
    """The recordings named in ``ICBHI_challenge_train_test.txt`` that have no annotation file."""
    path = Path(root) / "ICBHI_challenge_train_test.txt"
    named = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return sorted(set(named) - set(recordings))


def split_file_note(orphans: Sequence[str], n_lines: int, n_recordings: int) -> str:
    """Point 1 of the ICBHI pitfalls: the split file's line that names no recording, as found here."""
    if orphans:
        names = ", ".join(f"`{name}`" for name in orphans)
        return (
            f"**The split file names a recording that does not exist.** The official "
            f"`ICBHI_challenge_train_test.txt` lists {count(n_lines, 'line')} for "
            f"{count(n_recordings, 'recording')}; the loader warned about {names}. It is harmless once "
            "noticed, but a loader that matches names loosely can attach the wrong file to it."
        )
    return (
        f"**The split file matches the recordings here** ({count(n_lines, 'line')}, "
        f"{count(n_recordings, 'recording')}), so the loader printed no warning. The official file has "
        "one line too many, `226_1b1_Pl_sc_Meditron`, which names no recording: a loader that matches "
        "names loosely can attach the wrong file to it."
    )


def class_balance_note(labels: np.ndarray, classes: Sequence[str]) -> str:
    """Point 3 of the ICBHI pitfalls: how large the normal class is and which class is rarest, computed."""
    counts = np.bincount(labels, minlength=len(classes))
    normal, rarest = counts[0] / counts.sum(), int(np.argmin(counts))
    return (
        f"**The classes are imbalanced.** {share_word(normal).capitalize()} of the cycles "
        f"({normal:.0%}) are normal, and *{classes[rarest]}* is the rarest class "
        f"({counts[rarest] / counts.sum():.0%})."
    )


def device_note(devices: Counter, rates: Mapping[str, int]) -> str:
    """Point 4: how many devices name the recordings, and the sample rates of those with audio here."""
    names = ", ".join(f"`{d}` ({n})" for d, n in devices.most_common())
    found = sorted(set(rates.values()))
    heard = (
        f"the recordings with audio here are stored at {' and '.join(f'{r:,} Hz' for r in found)}"
        if found
        else "no recording has audio here"
    )
    return (
        f"**The devices differ.** The file names show {count(len(devices), 'device')} (recordings of "
        f"each: {names}); {heard}."
    )


def durations_note(durations: np.ndarray, limit_s: float = 8.0) -> str:
    """The spread of cycle lengths in words, and the share that a ``limit_s`` input cuts."""
    low, high = np.percentile(durations, [1, 99])
    cut = np.mean(durations > limit_s)
    longer = f"{cut:.1%} of the cycles are longer than {limit_s:g} s" if cut else f"none is longer than {limit_s:g} s"
    return (
        f"Cycle lengths {spread_word(low, high)}: from {low:.2f} s to {high:.2f} s between the 1st and "
        f"the 99th percentile, a factor of {high / low:.1f}, and {longer}."
    )


def rare_classes_note(
    labels: np.ndarray, groups: np.ndarray, classes: Sequence[str], k: int = 3, few_children: int = 5
) -> str:
    """The ``k`` rarest event classes, each with its count and the children it comes from; a warning when
    the rarest comes from ``few_children`` or fewer."""
    counts = np.bincount(labels, minlength=len(classes))
    rarest = np.argsort(counts)[:k]
    parts = [
        f"{classes[c]}: {counts[c]} events from {count(len(set(groups[labels == c])), 'child', 'children')}"
        for c in rarest
    ]
    ratio = counts.max() / max(counts.min(), 1)
    text = (
        f"The event classes are imbalanced (note the log scale): the largest class is {ratio:.0f} times "
        f"the smallest. The rarest, with the children they come from: {'; '.join(parts)}."
    )
    children = len(set(groups[labels == rarest[0]]))
    if children <= few_children:
        text += (
            f" With {classes[rarest[0]]} from {count(children, 'child', 'children')}, a model can learn "
            "those children's chests rather than the sound."
        )
    return text


def test_sets_note(sizes: Mapping[str, int], simulated: bool) -> str:
    """Whether the official SPRSound test sets are complete here, and what the baselines do about it.

    ``sizes``: records per test set (``inter_test``, ``intra_test``), with or without audio.
    """
    if simulated:
        held = " and ".join(f"{count(n, 'record')} ({name})" for name, n in sizes.items())
        return (
            f"Here the test sets are the simulator's own, {held}: the scores on them show that the code "
            "paths run. The baselines below are read on patients held out of the training set, as on the "
            "real data."
        )
    held = ", ".join(f"{name} {sizes.get(name, 0)} of {n} records" for name, n in OFFICIAL_TEST_RECORDS.items())
    if all(sizes.get(name, 0) >= n for name, n in OFFICIAL_TEST_RECORDS.items()):
        return (
            f"Here the official test sets are complete ({held}), and the baselines are scored on them "
            "too. They are also read on patients held out of the training set, the split that later "
            "chapters use to choose settings without looking at a test score."
        )
    return (
        f"Here the official test sets are only partly present ({held}). The honest substitute is to hold "
        "out patients of the training set, and that is what the baselines below are read on; the "
        "partial test sets are scored too, as a check that the code runs."
    )


def short_events_note(durations: np.ndarray, length_s: float) -> str:
    """How many events are shorter than the input length, so padded with silence."""
    shorter = float(np.mean(durations < length_s))
    return (
        f"{share_word(shorter).capitalize()} of the events ({shorter:.0%}) are shorter than {length_s:g} s, "
        "and such an event sits in the middle of its input with silence (the dB floor) on both sides, "
        "as in the picture below."
    )


def steps_taken(history: Any) -> int:
    """Optimiser steps of a run: one training loss is recorded per step."""
    return len(history.step_loss)


def planned_steps(config: Any, n_train: int) -> int:
    """Optimiser steps a config plans on ``n_train`` items: full batches (the loader drops the last one)
    of at most ``max_train`` items, ``epochs`` times, capped by ``max_steps_per_epoch``."""
    items = n_train if config.max_train is None else min(n_train, config.max_train)
    per_epoch = items // config.batch_size
    cap = config.train.max_steps_per_epoch
    return config.train.epochs * (per_epoch if cap is None else min(per_epoch, cap))


def largest_jump(histories: Sequence[Any], metric: str = "score") -> float:
    """The largest change of ``metric`` between consecutive epochs, over all ``histories``."""
    jumps = [np.abs(np.diff(h.metric(metric))).max() for h in histories if len(h.eval) > 1]
    return float(max(jumps, default=0.0))


def jump_where(histories: Sequence[Any], results: Mapping[str, Any]) -> str:
    """Which seed made the largest jump, against the first seed's, whose curves the figure draws: the
    reader looks for the jump in the figure. Empty for a single run."""
    if len(histories) < 2:
        return ""
    seeds = list(results.get("seeds", range(len(histories))))
    jumps = [largest_jump([h]) for h in histories]
    worst = int(np.argmax(jumps))
    if worst == 0:
        return f" (in seed {seeds[0]}, drawn above)"
    return f" (in seed {seeds[worst]}; seed {seeds[0]}, drawn above, by up to {jumps[0]:.2f})"


def shown_note(data: Any) -> str:
    """What the examples below are, dataset by dataset, in this build."""
    spr, icbhi = (source_words(getattr(data, name).simulated) for name in ("sprsound", "icbhi"))
    if spr == icbhi:
        return f"The SPRSound events and the ICBHI cycles below are {spr}."
    return f"The SPRSound events below are {spr}; the ICBHI cycles after them are {icbhi}."


def heard_note(data: Any) -> str:
    """What the spectrograms above show, said for the build: real crackles, or the simulator's."""
    real = [name for name in ("sprsound", "icbhi") if not getattr(data, name).simulated]
    if real:
        which = " and ".join({"sprsound": "SPRSound", "icbhi": "ICBHI"}[n] for n in real)
        return (
            f"Real crackles (the {which} examples above) rarely look as clean as the simulated ones: a "
            "crackle is a faint vertical streak among many. Wheezes, when loud, show as horizontal lines, "
            "often with harmonics."
        )
    return (
        "These examples are simulated too: the same sounds as at the top of the chapter, through a device "
        "filter and background noise, so their crackles and wheezes stand out more clearly than in real "
        "recordings. There a crackle is a faint vertical streak among many, and a wheeze, when loud, a "
        "horizontal line, often with harmonics."
    )


def straddle_note(shared: Sequence[int]) -> str:
    """Point 2 of the ICBHI pitfalls: the patients on both sides of the official split, found here."""
    if shared:
        who = ", ".join(str(p) for p in shared)
        return (
            f"**The official split is by recording, not by patient.** Here {count(len(shared), 'patient')} "
            f"({who}) {'has' if len(shared) == 1 else 'have'} recordings on both sides, so a test cycle can "
            "come from a chest the model has already heard."
        )
    return (
        "**The official split is by recording, not by patient.** No patient here has recordings on both "
        "sides, but in the official file two do, so a test cycle can come from a chest the model has heard."
    )


def sample_rates(database: Path, names: Sequence[str], device_of: Mapping[str, str]) -> dict[str, int]:
    """Device -> sample rate, read from the recordings ``names`` whose audio is present."""
    from respkit.data import audio_info

    return {device_of[name]: audio_info(database / f"{name}.wav").sample_rate for name in names}


def spectra_note(simulated: bool, n_recordings: int) -> str:
    """What the device spectra below are."""
    if simulated:
        return (
            f"Below is the long-term spectrum of each of the {count(n_recordings, 'recording')} here, read at "
            "its native rate. They are simulated: each device is a sample rate and a filter in "
            "`synthetic.DEVICES`, so the curves show that model of the devices, not the devices themselves."
        )
    return (
        f"Below is the long-term spectrum of each of the {count(n_recordings, 'recording')} whose audio is "
        "present, read at its native rate."
    )


def all_normal_table(rows: Mapping[str, tuple[np.ndarray, Any]]) -> str:
    """A Markdown table: always answering Normal (class 0), scored per row name -> (labels, score function)."""
    lines = [
        "| all-normal predictor on | accuracy | specificity | sensitivity | official score |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, (labels, score) in rows.items():
        labels = np.asarray(labels)
        metrics = score(labels, np.zeros_like(labels))
        lines.append(
            f"| {name} | {np.mean(labels == 0):.3f} | {metrics['sp']:.3f} | {metrics['se']:.3f} | "
            f"{metrics['score']:.3f} |"
        )
    return "\n".join(lines)


def accuracy_note(rows: Mapping[str, np.ndarray]) -> str:
    """How often always answering Normal is right, per row name -> labels: the share of Normal items."""
    parts = " and ".join(f"{np.mean(np.asarray(labels) == 0):.0%} of the {name}" for name, labels in rows.items())
    return (
        f"Always answering Normal is right on {parts}, yet it finds no adventitious sound at all: its sensitivity is 0."
    )


def plot_baseline(history: Any, cm: Any, seed: int) -> plt.Figure:
    """A run's training loss and validation curves side by side, its held-out confusion matrix below them.

    The curves are the validation patients' (the split that is scored after every epoch); the confusion
    matrix is the held-out patients', which no choice looked at."""
    from respkit.plot import plot_confusion, plot_history

    fig = plt.figure(figsize=(WIDTH, 7), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.5])  # type: ignore[misc]  # an array of two
    loss_ax, metric_ax = top.subplots(1, 2)
    plot_history(history, [loss_ax, metric_ax], metrics=("score", "se", "sp"), steps=True)
    loss_ax.set(ylabel="cross-entropy", title="training loss")
    metric_ax.set(ylim=(0, 1), title="validation patients, after each epoch")
    plot_confusion(cm, bottom.subplots(), title=f"held-out patients, last epoch (seed {seed})")
    return fig


def bar_note(results: Mapping[str, Any], n_items: int, simulated: bool) -> str:
    """The baseline's headline: its score on held-out patients beside the floor and the best blind guess."""
    from respkit.report import chance_level, degenerate

    s, flag = results["summary"], degenerate(results)
    text = (
        f"**The bar to beat** ({results['profile']} profile, {'simulated' if simulated else 'real'} SPRSound, "
        f"{n_items} events of held-out patients, {count(len(results['seeds']), 'seed')}): task 1-2 Score "
        f"**{s['score']['mean']:.3f} ± {s['score']['std']:.3f}** (SE {s['se']['mean']:.3f}, SP "
        f"{s['sp']['mean']:.3f}), against {s['floor']['mean']:.3f} for always answering Normal and "
        f"{chance_level(s):.3f} for the best guess that ignores the sound."
    )
    return text + (f" **Flagged: {flag}.**" if flag else "")


def curves_note(
    results: Mapping[str, Any],
    histories: Sequence[Any],
    config: Any,
    train_labels: np.ndarray,
    classes: Sequence[str],
    held_out_labels: np.ndarray,
) -> str:
    """Why one number of this run is a coarse bar: steps taken, epoch-to-epoch jumps of the validation
    score, rare classes (and those the held-out patients lack), and where the seeds ended on validation."""
    held_out_labels = np.asarray(held_out_labels)
    steps = steps_taken(histories[0])
    rarest = int(np.argmin(np.bincount(train_labels, minlength=len(classes))))
    absent = [classes[c] for c in range(len(classes)) if not np.any(held_out_labels == c)]
    finals = [h.eval[-1]["score"] for h in histories]
    text = (
        f"Read the curves before the number. In the `{results['profile']}` profile the model takes "
        f"{count(steps, 'optimiser step')} ({config.train.epochs} epochs of {steps // config.train.epochs} "
        f"class-balanced batches of {config.batch_size}), and the validation score moved by up to "
        f"{largest_jump(histories):.2f} between two consecutive epochs{jump_where(histories, results)}, "
        "so where training stops matters. "
        f"The rarest class, {classes[rarest]}, has {count(int(np.sum(train_labels == rarest)), 'event')} "
        f"in SPRSound's training set, and {len(held_out_labels)} events of held-out patients make the score"
    )
    text += f", with no {' and no '.join(absent)} among them. " if absent else ". "
    return text + (
        f"On the validation patients the {count(len(finals), 'seed')} ended between {min(finals):.3f} and "
        f"{max(finals):.3f}. "
        "A single number from such a run is a coarse bar."
    )


def icbhi_guard_note(
    n_patients: int, minimum: int, simulated: bool, n_total: int, missing: int, n_cycles: int
) -> str | None:
    """Why the ICBHI baseline does not train here (``None`` when it does): the patients it would learn from.

    ``n_patients``: training patients with audio once the validation patients are held out;
    ``n_total``: recordings annotated, ``missing``: those without audio, ``n_cycles``: cycles annotated.
    """
    if n_patients >= minimum:
        return None
    if simulated:
        why = (
            f"The simulated ICBHI is small by design ({count(n_total, 'recording')}, "
            f"{count(n_cycles, 'cycle')}, so that it is written in seconds): after its train/test split and "
            f"the validation patients, {count(n_patients, 'training patient')} remain"
        )
    elif missing:
        why = (
            f"ICBHI audio is present for {n_total - missing} of {count(n_total, 'recording')} here, which "
            f"leaves {count(n_patients, 'training patient')}"
        )
    else:
        why = f"This copy of ICBHI leaves {count(n_patients, 'training patient')}"
    return (
        f"**Not trained here.** {why}, fewer than {minimum}. A model trained on so few patients can learn "
        "them rather than the sounds, and its test score would measure that. With the full database "
        "(`respkit.data.download.download_icbhi()`) this cell trains on every recording it finds."
    )


def training_items(ds: Any, config: Any) -> int:
    """Items of ``ds`` left for training once the recipe's held-out patients are set aside, before any
    ``max_train`` sample: the same patient split as :func:`respkit.recipes.common.splits`."""
    from respkit.data import patient_split

    stratify = len(np.unique(ds.groups)) >= round(1 / config.val_fraction)
    train_idx, _ = patient_split(ds, val_fraction=config.val_fraction, seed=config.split_seed, stratify=stratify)
    return len(train_idx)


def protocol_note(profile: str, config: Any, full: Any, n_train: int) -> str:
    """How this chapter's SPRSound baseline differs from a paper's protocol, read from the configs.

    ``n_train``: the training events of the patients not held out (:func:`training_items`).
    """
    seen = n_train if config.max_train is None else min(config.max_train, n_train)
    sample = "every training event" if seen >= n_train else f"{seen:,} of the {n_train:,} training events"
    return (
        f"Our baseline is read on held-out training patients, a different set of children, and in "
        f"`{profile}` it trains for {config.train.epochs} epochs on {sample}. A gap to the paper "
        f"is expected and says little about the method. The `full` profile trains for {full.train.epochs} "
        "epochs on every training event."
    )


# --- the decision rule -----------------------------------------------------------------------------------
#: The splits a SPRSound or ICBHI run reports, in the order the chapter shows them, with their names in words.
REPORTED_SPLITS = {
    "val": "held-out patients",
    "inter": "official inter-patient test",
    "intra": "official intra-patient test",
    "test": "official test",
}


def _prefix(split: str) -> str:
    return "" if split == "val" else f"{split}_"


def prior_table(results: Mapping[str, Any], splits: Sequence[str] = tuple(REPORTED_SPLITS)) -> str:
    """A Markdown table: per reported split present, Score, SE and SP under the argmax and under the prior
    correction (percent, the mean over seeds), and the Score's change. Only reported splits: the
    validation patients chose the rule, so their scores say nothing about it."""
    summary = results["summary"]
    lines = [
        "| patients | argmax Score | SE | SP | prior-corrected Score | SE | SP | change of Score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for split in splits:
        p = _prefix(split)
        if f"{p}prior_score" not in summary:
            continue
        argmax = [100 * summary[f"{p}{k}"]["mean"] for k in ("score", "se", "sp")]
        prior = [100 * summary[f"{p}prior_{k}"]["mean"] for k in ("score", "se", "sp")]
        cells = " | ".join(f"{v:.1f}" for v in (*argmax, *prior))
        lines.append(f"| {REPORTED_SPLITS[split]} | {cells} | {prior[0] - argmax[0]:+.1f} |")
    return "\n".join(lines)


def tau_note(results: Mapping[str, Any]) -> str:
    """The τ each seed fitted on its validation patients, and what the rule did there (optimistic, fitted there)."""
    taus = [float(m["prior_tau"]) for m in results["metrics_per_seed"]]
    seeds = list(results.get("seeds", range(len(taus))))
    listed = ", ".join(f"{tau:g} (seed {seed})" for tau, seed in zip(taus, seeds))
    s = results["summary"]
    valid = (
        f"On those patients, where it was fitted, the Score went from {s['valid_score']['mean']:.3f} to "
        f"{s['valid_prior_score']['mean']:.3f} (means over seeds): optimistic by construction, since a fit "
        "never scores below the argmax on its own items."
    )
    if not any(taus):
        return (
            f"**τ fitted on the validation patients:** {listed}. No τ above 0 scored higher than the argmax "
            "there, so every seed kept the argmax and both rules predict the same. " + valid
        )
    kept = [seed for tau, seed in zip(taus, seeds) if tau == 0]
    which = f"Seed {kept[0]}" if len(kept) == 1 else f"Seeds {', '.join(map(str, kept[:-1]))} and {kept[-1]}"
    same = f" {which} kept the argmax (τ = 0)." if kept else ""
    return f"**τ fitted on the validation patients:** {listed}.{same} {valid}"


def prior_comparison(
    artifacts: Sequence[Any], split: str, score: Any, *, n: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """The prior-corrected decision minus the argmax on ``split``, seeds averaged, with a paired bootstrap
    interval over its patients (:func:`respkit.stats.compare_pairs`); a row :func:`respkit.report.gap_text`
    reads.

    ``artifacts``: one :class:`respkit.runs.RunArtifacts` per seed of one run, each with the argmax's
    predictions (``predictions[split].y_pred``), the rule's (``info["prior"]["predictions"][split]``) and the
    patients (``groups[split]``); ``score``: the official score, ``f(y_true, y_pred) -> {"score": ...}``.
    Both rules decide from the same scores of the same items, so the pairing is exact.
    """
    from respkit.stats import compare_pairs

    first = artifacts[0]
    y_true, groups = np.asarray(first.predictions[split].y_true), np.asarray(first.groups[split])
    for art in artifacts:
        if not np.array_equal(art.predictions[split].y_true, y_true):
            raise ValueError(f"the seeds were not scored on the same items of {split!r}: no paired comparison")
    predictions = {
        "prior": [np.asarray(art.info["prior"]["predictions"][split]) for art in artifacts],
        "argmax": [np.asarray(art.predictions[split].y_pred) for art in artifacts],
    }
    row = compare_pairs(y_true, groups, predictions, [("prior", "argmax")], score, n=n, seed=seed, level=level)[0]
    same = all(np.array_equal(a, b) for a, b in zip(predictions["prior"], predictions["argmax"]))
    return row | {
        "split": split,
        "level": level,
        "seeds": len(artifacts),
        "patients": len(np.unique(groups)),
        "identical": same,
    }


def prior_comparison_note(artifacts: Sequence[Any], score: Any, splits: Sequence[str] = tuple(REPORTED_SPLITS)) -> str:
    """One line per reported split present: prior-corrected minus argmax, paired over its patients."""
    from respkit.report import gap_text

    lines = []
    for split in splits:
        if split not in artifacts[0].groups or split not in artifacts[0].info["prior"]["predictions"]:
            continue
        row = prior_comparison(artifacts, split, score)
        if row["identical"]:
            text = f"the same predictions in every seed ({row['patients']} patients): nothing to compare"
        else:
            text = gap_text(row)
        lines.append(f"- {REPORTED_SPLITS[split]}: {text}.")
    return (
        f"**Prior-corrected minus argmax**, Score points, {count(len(artifacts), 'seed')} averaged, "
        "intervals over resampled patients:\n\n" + "\n".join(lines)
    )
