"""Chapter 7 (event detection) beside its method: counts, tables, computed sentences and figure layouts.

The chapter's code cells run the detector itself (targets, CRNN, frame-wise BCE, post-processing, the
recipe); what it shows around them is written here, so that every number in its prose is computed in the
build the reader gets (real SPRSound or the simulator, any profile):

* :func:`data_text` and :func:`settings_text`: the recordings' events and the settings chosen on validation
  patients, as sentences;
* :func:`results_table`, :func:`comparison_text` and :func:`recorded_table`: the detector beside its two
  floors (energy threshold, event everywhere) on the held-out patients and the official test slices;
* :func:`per_class_intervals` and :func:`per_class_table`: class-wise event F with a bootstrap interval over
  patients (or recordings);
* :func:`pick_recording`, :func:`timeline` and :func:`recording_figure`: one recording's spectrogram with its
  annotated (and detected) events as a timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from respkit.detection.metrics import event_counts
from respkit.report import summary_cell

__all__ = [
    "SPLITS",
    "class_text",
    "comparison_text",
    "data_text",
    "loop_text",
    "per_class_intervals",
    "per_class_table",
    "pick_recording",
    "recorded_table",
    "recording_figure",
    "results_table",
    "settings_text",
    "timeline",
]

#: Metric prefix of each scored split -> how the chapter names it.
SPLITS = {"": "held-out patients", "inter_": "official test (inter-patient)", "intra_": "official test (intra-patient)"}
#: Row name -> metric prefix of the detector and of its two floors in a results file.
DETECTORS = {"CRNN": "", "energy threshold": "baseline_energy/", "event everywhere": "baseline_everywhere/"}
COLUMNS = {"event_f": "event F (%)", "event_er": "event ER", "segment_f": "segment F (%)"}

EventList = Sequence[tuple[float, float, str]]


def data_text(simulated: bool, events: Sequence[EventList], classes: Sequence[str]) -> str:
    """A sentence on where the recordings come from and how many annotated events of each class they hold."""
    source = "respkit's **simulator**" if simulated else "the **real SPRSound** recordings"
    counts = {c: sum(e[2] == c for rec in events for e in rec) for c in classes}
    with_events = sum(bool(rec) for rec in events)
    per_class = ", ".join(f"{n:,d} {c}" for c, n in counts.items())
    return (
        f"The training recordings here are {source}: {len(events):,d} recordings, {with_events:,d} of them "
        f"({with_events / max(len(events), 1):.0%}) with at least one adventitious event; {per_class} events in all."
    )


def loop_text(losses: Sequence[float], k: int = 10) -> str:
    """Whether the frame-wise BCE fell over the loop: the mean of the first and of the last ``k`` steps."""
    values = np.asarray(losses, dtype=float)
    k = max(1, min(k, len(values) // 2))
    first, last = values[:k].mean(), values[-k:].mean()
    trend = "fell" if last < first else "did not fall"
    return (
        f"Over these {len(values)} steps the loss {trend}: from {first:.3f} (mean of the first {k} steps) "
        f"to {last:.3f} (mean of the last {k})."
    )


def settings_text(settings: Mapping[str, Any], classes: Sequence[str], hop: float) -> str:
    """The post-processing and the energy floor's settings that validation patients chose, as a sentence."""
    post, energy = settings["post"], settings["energy"]
    parts = []
    for c, threshold, window in zip(classes, post["thresholds"], post["windows"]):
        if threshold >= 1.0:
            parts.append(f"{c} is never detected (silence scored best)")
            continue
        smooth = "no median filter" if window == 1 else f"a median over {window} frames ({window * hop:.2f} s)"
        parts.append(f"a frame is {c} where its probability exceeds {threshold:.2f}, with {smooth}")
    return (
        f"The validation patients of the first seed chose these settings: {'; '.join(parts)}. "
        f"The energy floor calls frames more than {energy['margin_db']:g} dB above the recording's median level, "
        f"and calls them {energy['label']}."
    )


def results_table(result: Mapping[str, Any], prefixes: Sequence[str] = tuple(SPLITS)) -> str:
    """A Markdown table: per scored split, the detector and both floors, event F and ER and segment F
    (``mean ± std`` over seeds; F in percent, ER as a ratio, where 1 is the ER of detecting nothing)."""
    summary = result["summary"]
    header = ["split", "detector", *COLUMNS.values()]
    rows = [header, ["---"] * len(header)]
    for prefix in prefixes:
        if f"{prefix}event_f" not in summary:
            continue
        for name, detector in DETECTORS.items():
            cells = [SPLITS[prefix], name]
            for metric in COLUMNS:
                scale = 100.0 if metric.endswith("_f") else 1.0
                cells.append(summary_cell(summary.get(f"{prefix}{detector}{metric}"), scale, 2 if scale > 1 else 3))
            rows.append(cells)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _mean(summary: Mapping[str, Any], key: str) -> float:
    return float(summary[key]["mean"])


def comparison_text(result: Mapping[str, Any], prefix: str = "") -> str:
    """The detector against both floors and against detecting nothing (ER 1), on one split, in words."""
    summary = result["summary"]
    f, er = _mean(summary, f"{prefix}event_f"), _mean(summary, f"{prefix}event_er")
    floors = {name: _mean(summary, f"{prefix}{d}event_f") for name, d in DETECTORS.items() if d}
    floor_ers = {name: _mean(summary, f"{prefix}{d}event_er") for name, d in DETECTORS.items() if d}
    beats = all(f > v for v in floors.values())
    f_floors = ", ".join(f"{name} {100 * v:.1f} %" for name, v in floors.items())
    lines = [
        f"On the {SPLITS[prefix]} the CRNN's event F is {100 * f:.1f} %, "
        f"{'above' if beats else 'not above'} both floors' ({f_floors})."
    ]
    lower_er = all(er < v for v in floor_ers.values())
    er_floors = ", ".join(f"{name} {v:.2f}" for name, v in floor_ers.items())
    if er < 1:
        verdict = (
            f"below 1, the error rate of detecting nothing: it adds fewer wrong events than it finds right ones "
            f"(floors: {er_floors})."
        )
    else:
        verdict = (
            f"{'equal to' if er == 1 else 'above'} 1, the error rate of detecting nothing: it adds "
            f"{'as many wrong events as' if er == 1 else 'more wrong events than'} it finds right ones, and by ER "
            f"alone staying silent would rank {'as high' if er == 1 else 'higher'}"
            f"{', although its F is above 0' if f > 0 else ''} (floors: {er_floors})."
        )
    lines.append(
        f"Its event ER is {er:.2f}, {'lower than' if lower_er else 'not lower than'} both floors' and {verdict}"
    )
    return " ".join(lines)


def per_class_intervals(
    references: Sequence[EventList],
    estimates: Sequence[EventList],
    classes: Sequence[str],
    groups: Sequence[Any] | None = None,
    *,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Class-wise event F and ER on all recordings, and a bootstrap interval of F over patients.

    Args:
        references, estimates: one event list per recording (annotated, detected).
        classes: the classes scored.
        groups: the patient of each recording; resampling patients keeps a patient's recordings together.
            ``None``: each recording is its own unit.
        n, seed, level: resamples, their seed and the interval's coverage (percentile interval).

    Class-wise event counts have no substitutions, so a class's counts over a set of recordings are the sums
    of its per-recording counts; each resample sums the drawn units' counts. A resample without reference
    events of a class has no F for it and is left out of that class's interval.

    Returns: class -> ``f``, ``er`` (on all recordings), ``low``, ``high`` (the interval of F), ``n_ref``
    (annotated events) and ``units`` (patients or recordings with at least one).
    """
    if len(references) != len(estimates):
        raise ValueError(f"{len(references)} reference lists but {len(estimates)} estimate lists")
    units = np.arange(len(references)) if groups is None else np.asarray(groups)
    if len(units) != len(references):
        raise ValueError(f"{len(units)} groups for {len(references)} recordings")
    keys, unit_of = np.unique(units, return_inverse=True)
    counts = np.zeros((len(keys), len(classes), 3))  # [P, C, (n_ref, n_sys, tp)]
    for k, (ref, est) in enumerate(zip(references, estimates)):
        per_class = event_counts([ref], [est], classes)[1]
        counts[unit_of[k]] += [[per_class[c].n_ref, per_class[c].n_sys, per_class[c].tp] for c in classes]
    rng = np.random.default_rng(seed)
    draws = counts[rng.integers(len(keys), size=(n, len(keys)))].sum(axis=1)  # [n, C, 3]
    out = {}
    for c, name in enumerate(classes):
        n_ref, n_sys, tp = counts[:, c].sum(axis=0)
        drawn = draws[:, c]
        kept = drawn[drawn[:, 0] > 0]
        f_drawn = 2 * kept[:, 2] / (kept[:, 0] + kept[:, 1])
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(f_drawn, [tail, 100 - tail]) if len(f_drawn) else (np.nan, np.nan)
        out[name] = {
            "f": float(2 * tp / (n_ref + n_sys)) if n_ref + n_sys else 0.0,
            "er": float((n_ref + n_sys - 2 * tp) / n_ref) if n_ref else float("nan"),
            "low": float(low),
            "high": float(high),
            "n_ref": int(n_ref),
            "units": int(np.sum(counts[:, c, 0] > 0)),
        }
    return out


def class_text(intervals: Mapping[str, Mapping[str, float]]) -> str:
    """Which classes of :func:`per_class_intervals` have annotated events but not one hit, in words."""
    missed = [c for c, row in intervals.items() if row["n_ref"] > 0 and row["f"] == 0]
    scored = [c for c, row in intervals.items() if row["n_ref"] > 0]
    if not missed:
        return "Every class with annotated events has at least one hit."
    if len(missed) == len(scored):
        return "Not one annotated event of any class was hit: every class's F is 0."
    return (
        f"Not one annotated {' or '.join(missed)} event was hit (F 0): the overall event F comes from "
        f"{' and '.join(c for c in scored if c not in missed)} alone."
    )


def per_class_table(
    intervals: Mapping[str, Mapping[str, float]],
    over_seeds: Mapping[str, Mapping[str, float] | None] | None = None,
    level: float = 0.95,
) -> str:
    """A Markdown table of :func:`per_class_intervals` (F in percent), with the class's event F over seeds
    (``mean ± std``, a results summary's entries) where ``over_seeds`` gives it."""
    header = ["class", "annotated events", "patients with one", "event F (%)", f"{level:.0%} interval", "event ER"]
    if over_seeds is not None:
        header.append("event F over seeds (%)")
    rows = [header, ["---"] * len(header)]
    for name, row in intervals.items():
        interval = "–" if np.isnan(row["low"]) else f"{100 * row['low']:.1f} to {100 * row['high']:.1f}"
        er = "–" if np.isnan(row["er"]) else f"{row['er']:.2f}"
        cells = [name, f"{row['n_ref']:,d}", f"{row['units']:,d}", f"{100 * row['f']:.1f}", interval, er]
        if over_seeds is not None:
            cells.append(summary_cell(over_seeds.get(name)))
        rows.append(cells)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def recorded_table(recorded: Sequence[Mapping[str, Any]]) -> str:
    """Recorded results files as one table per file (:func:`results_table`) under a line of provenance, or a
    sentence saying that none is recorded yet."""
    if not recorded:
        return (
            "No `cpu` run of `detection.crnn` is recorded under `respkit/results/` yet: "
            "`python -m respkit run detection.crnn --profile cpu --seeds 3 --out respkit/results` records one, "
            "and this cell then shows it."
        )
    parts = []
    for r in recorded:
        origin = r["data"]["sprsound"]["origin"] if "sprsound" in r.get("data", {}) else "unknown data"
        parts.append(f"**{r['recipe']}**, profile `{r['profile']}`, {len(r['seeds'])} seeds, {origin}:")
        parts.append(results_table(r))
    return "\n\n".join(parts)


def pick_recording(references: Sequence[EventList], detected: Sequence[EventList] | None = None) -> int:
    """The recording to draw: the most annotated events among those where something was detected too
    (any recording with events when nothing was detected anywhere); ties go to the first."""
    annotated = np.array([len(r) for r in references])
    if detected is not None:
        found = np.array([len(d) > 0 for d in detected]) & (annotated > 0)
        if found.any():
            return int(np.argmax(np.where(found, annotated, -1)))
    return int(np.argmax(annotated))


def timeline(ax: Any, rows: Mapping[str, EventList], classes: Sequence[str], duration: float) -> Any:
    """Draw events as bars, one lane per (row, class): e.g. ``{"annotated": [...], "detected": [...]}``.

    Lanes run top to bottom in the order of ``rows`` then ``classes``; each class keeps one colour.
    """
    colours = {c: f"C{i}" for i, c in enumerate(classes)}
    lanes = [(row, c) for row in rows for c in classes]
    for y, (row, c) in enumerate(lanes):
        spans = [(on, off - on) for on, off, label in rows[row] if label == c]
        ax.broken_barh(spans, (len(lanes) - y - 0.8, 0.6), color=colours[c])
    ax.set_yticks([len(lanes) - y - 0.5 for y in range(len(lanes))])
    ax.set_yticklabels([f"{row}: {c}" for row, c in lanes], fontsize=8)
    ax.set(xlim=(0, duration), ylim=(0, len(lanes)), xlabel="time (s)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def recording_figure(
    features: Any,
    hop: float,
    rows: Mapping[str, EventList],
    classes: Sequence[str],
    *,
    probabilities: np.ndarray | None = None,
    thresholds: Sequence[float] | None = None,
    title: str | None = None,
) -> Any:
    """One recording: its log-mel ``[1, F, T]`` on top, the frame probabilities ``[C, T]`` with each class's
    threshold (when given), and the events of ``rows`` as a :func:`timeline`, on one time axis."""
    import matplotlib.pyplot as plt

    from respkit.plot import plot_spectrogram

    duration = np.shape(features)[-1] * hop
    heights = [2.0, *([1.2] if probabilities is not None else []), 0.35 * len(rows) * len(classes) + 0.5]
    fig, axes = plt.subplots(len(heights), 1, figsize=(7, sum(heights) + 0.6), sharex=True, height_ratios=heights)
    plot_spectrogram(np.asarray(features), axes[0], duration=duration, ylabel="mel bin", title=title)
    axes[0].set_xlabel("")
    if probabilities is not None:
        ax = axes[1]
        t = (np.arange(probabilities.shape[-1]) + 0.5) * hop
        for c, name in enumerate(classes):
            ax.plot(t, probabilities[c], lw=1, color=f"C{c}", label=name)
            if thresholds is not None and thresholds[c] < 1:
                ax.axhline(thresholds[c], color=f"C{c}", ls="--", lw=0.8)
        ax.set(ylim=(0, 1), ylabel="probability")
        ax.legend(fontsize=8, loc="upper right")
    timeline(axes[-1], rows, classes, duration)
    fig.tight_layout()
    return fig
