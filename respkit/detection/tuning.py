"""Settings chosen on validation recordings, and the detection scores of a split under them.

A detector's probabilities become events only through settings: a threshold per class and a median filter
length (:mod:`respkit.detection.postprocess`); the energy floor has its margin above the median level and
the one class it calls. Each is chosen here on **validation** recordings (patients drawn from the training
side), and then applied unchanged to the held-out patients and the official test sets, so that no held-out
recording chooses anything it is scored with.

The criterion is the challenge's two ranking metrics together, event-based ``F - er_weight * ER``
(``er_weight=1`` by default). F alone rewards a low threshold that finds a few more events at the price of
many insertions: in a short run of ``detection.crnn`` on SPRSound it chose settings whose ER on the held-out
patients was above 3, three times worse than detecting nothing (ER 1). The grid of thresholds ends with 1.0,
which no probability exceeds: staying silent (F 0, ER 1) is a setting like any other, so a class is detected
only where that beats silence. A class without validation events has no ER; there the setting with the fewest
insertions wins (silence).

- :func:`choose_postprocess`: per class, the (median window, threshold) pair of a grid with the best
  class-wise criterion (ties: the first in grid order);
- :func:`choose_energy`: the energy detector's margin and label, by the overall criterion;
- :func:`detection_scores`: event-based (the challenge's) and segment-based scores in one dict,
  ``event_f``, ``event_er``, ..., ``segment_f``, ``segment_er``, per class ``event_f/<class>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from respkit.detection.baselines import energy_events
from respkit.detection.metrics import Counts, event_based_scores, event_counts, segment_based_scores
from respkit.detection.postprocess import fill_gaps, median_filter, remove_short
from respkit.detection.targets import Event, frames_to_events

__all__ = ["EnergySettings", "PostProcessing", "choose_energy", "choose_postprocess", "detection_scores"]

THRESHOLDS = (*np.round(np.arange(0.05, 0.96, 0.05), 2).tolist(), 1.0)  # 1.0: silent
WINDOWS = (1, 5, 9, 15, 25)  # median filter lengths in frames (0.1 to 0.5 s at a 20 ms hop)
MARGINS_DB = (0.0, 3.0, 6.0, 9.0, 12.0)


@dataclass(frozen=True)
class PostProcessing:
    """Per-class thresholds and median windows (frames), shared gap filling and minimum length (frames)."""

    thresholds: tuple[float, ...]
    windows: tuple[int, ...]
    min_gap: int = 0
    min_length: int = 0

    def events(self, probabilities: np.ndarray, classes: Sequence[str], hop: float) -> list[Event]:
        """The events of one recording's probabilities ``[C, T]``."""
        active = median_filter(probabilities, list(self.windows)) > np.asarray(self.thresholds)[:, None]
        active = remove_short(fill_gaps(active, self.min_gap), self.min_length)
        return frames_to_events(active, classes, hop)


@dataclass(frozen=True)
class EnergySettings:
    """The energy floor's margin above the median level (dB) and the class it calls."""

    margin_db: float
    label: str

    def events(self, waveform, sample_rate: int, hop: float, min_gap: float, min_length: float) -> list[Event]:
        return energy_events(
            waveform,
            sample_rate,
            label=self.label,
            hop=hop,
            margin_db=self.margin_db,
            min_gap=min_gap,
            min_length=min_length,
        )


def choose_postprocess(
    probabilities: Sequence[np.ndarray],
    references: Sequence[Sequence[Event]],
    classes: Sequence[str],
    hop: float,
    *,
    min_gap: int = 0,
    min_length: int = 0,
    windows: Sequence[int] = WINDOWS,
    thresholds: Sequence[float] = THRESHOLDS,
    er_weight: float = 1.0,
) -> PostProcessing:
    """The per-class setting of best class-wise ``F - er_weight * ER`` on these (validation) recordings.

    ``probabilities``: one ``[C, T_i]`` array per recording; ``references``: its annotated events. Classes are
    independent after the median filter, so each is chosen alone over ``windows x thresholds``.
    """
    best: list[tuple[float, int, float]] = [(-np.inf, 1, 1.0)] * len(classes)  # (criterion, window, threshold)
    for window in windows:
        filtered = [median_filter(p, window) for p in probabilities]  # [C, T_i] each
        for c, label in enumerate(classes):
            refs = [[e for e in r if e[2] == label] for r in references]
            for threshold in thresholds:
                estimates = []
                for p in filtered:
                    active = p[c : c + 1] > threshold  # [1, T_i]
                    active = remove_short(fill_gaps(active, min_gap), min_length)
                    estimates.append(frames_to_events(active, [label], hop))
                value = _criterion(event_counts(refs, estimates, [label])[1][label], er_weight)
                if value > best[c][0]:
                    best[c] = (value, window, threshold)
    return PostProcessing(
        thresholds=tuple(float(b[2]) for b in best),
        windows=tuple(int(b[1]) for b in best),
        min_gap=min_gap,
        min_length=min_length,
    )


def choose_energy(
    waveforms: Sequence,
    references: Sequence[Sequence[Event]],
    classes: Sequence[str],
    sample_rate: int,
    hop: float,
    *,
    min_gap: float = 0.1,
    min_length: float = 0.1,
    margins: Sequence[float] = MARGINS_DB,
    er_weight: float = 1.0,
) -> EnergySettings:
    """The energy floor's margin and label of best overall ``F - er_weight * ER`` on these (validation) recordings.

    The label matters only through which class the loud spans are called: calling every class at once would
    add an insertion per class, so the floor calls the one class that scores best.
    """
    best: tuple[float, EnergySettings] | None = None
    for margin in margins:
        spans = [
            energy_events(w, sample_rate, hop=hop, margin_db=margin, min_gap=min_gap, min_length=min_length)
            for w in waveforms
        ]
        for label in classes:
            estimates = [[Event(on, off, label) for on, off, _ in s] for s in spans]
            value = _criterion(event_counts(references, estimates, classes)[0], er_weight)
            if best is None or value > best[0]:
                best = (value, EnergySettings(float(margin), label))
    assert best is not None, "margins and classes must not be empty"
    return best[1]


def _criterion(counts: Counts, er_weight: float) -> float:
    """``F - er_weight * ER`` of event counts; without reference events, minus the insertions."""
    if counts.n_ref == 0:
        return -float(counts.n_sys)
    scores = counts.scores()
    return scores["f"] - er_weight * scores["er"]


def detection_scores(
    references: Sequence[Sequence[Event]],
    estimates: Sequence[Sequence[Event]],
    classes: Sequence[str],
    durations: Sequence[float],
) -> dict[str, float]:
    """Event-based scores (0.2 s onset collar, offsets within ``max(0.2 s, half the event)``, the metrics'
    defaults) as ``event_<key>``, segment-based scores (1 s segments over each recording's ``durations``) as
    ``segment_<key>``; ``<key>`` is every key of :func:`respkit.detection.metrics.scores_from_counts`."""
    event = event_based_scores(references, estimates, classes)
    segment = segment_based_scores(references, estimates, classes, durations=durations)
    return {f"event_{k}": v for k, v in event.items()} | {f"segment_{k}": v for k, v in segment.items()}
