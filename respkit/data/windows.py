"""Windows of a record: where they are cut and what label each should get from the record's annotations.

The sliding-window rule of Hu et al. (BioCAS 2023) classifies 3 s windows of a record and then decides the
record (:mod:`respkit.inference`). What belongs to the data, and so lives here: where the windows start
(:func:`window_starts`), the windows themselves (:func:`sliding_windows`), the labels a window may have
(:data:`WINDOW_LABELS`) and the label a window should get from the annotated events it holds
(:func:`window_label`), which is what a window model learns from (:class:`respkit.data.clips.RecordWindows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from respkit.data.sprsound import EVENT_TYPES

POOR_QUALITY = "Poor Quality"
#: The labels a window classifier may give: the seven event types, plus Poor Quality.
WINDOW_LABELS = [*EVENT_TYPES, POOR_QUALITY]
#: Which kinds of adventitious sound each window label shows.
ADVENTITIOUS_KINDS: dict[str, frozenset[str]] = {
    "Normal": frozenset(),
    "Rhonchi": frozenset({"CAS"}),
    "Wheeze": frozenset({"CAS"}),
    "Stridor": frozenset({"CAS"}),
    "Coarse Crackle": frozenset({"DAS"}),
    "Fine Crackle": frozenset({"DAS"}),
    "Wheeze+Crackle": frozenset({"CAS", "DAS"}),
    POOR_QUALITY: frozenset(),
}


def window_label(events: Sequence[Any], start_ms: float, end_ms: float) -> str:
    """The label a window ``[start_ms, end_ms)`` of a record should get from the record's annotated ``events``.

    ``events`` have ``annotation`` (an event type), ``start_ms`` and ``end_ms``. An event counts when the
    window holds half of it, or 0.5 s of a longer one: a crackle that only grazes the window's edge is not
    heard in it. Counted events of both kinds: Wheeze+Crackle; of one kind: the type the window holds the
    most of; none: Normal. What the rule of :func:`record_label_from_windows` expects of a good window model.
    """
    held: dict[str, float] = {}
    for event in events:
        overlap = min(end_ms, event.end_ms) - max(start_ms, event.start_ms)
        if overlap > 0 and overlap >= min(500.0, (event.end_ms - event.start_ms) / 2):
            held[event.annotation] = held.get(event.annotation, 0.0) + overlap
    adventitious = {name: ms for name, ms in held.items() if ADVENTITIOUS_KINDS[name]}
    kinds = set().union(*(ADVENTITIOUS_KINDS[name] for name in adventitious))
    if kinds == {"CAS", "DAS"}:
        return "Wheeze+Crackle"
    return max(adventitious, key=lambda name: adventitious[name]) if adventitious else "Normal"


def window_starts(n_samples: int, window: int, step: int) -> list[int]:
    """First sample of each window: every ``step`` samples, plus one flush with the end if a tail is left.

    A signal no longer than ``window`` has one window, starting at 0 (it holds the whole signal).
    """
    if n_samples < 1 or window < 1 or step < 1:
        raise ValueError(f"n_samples, window and step must be positive, got {n_samples}, {window}, {step}")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, step))
    if starts[-1] + window < n_samples:  # the tail would be missed: one more window ending at the end
        starts.append(n_samples - window)
    return starts


def sliding_windows(waveform: torch.Tensor, window: int, step: int) -> list[torch.Tensor]:
    """Cut ``waveform [..., samples]`` into windows ``[..., window]`` at :func:`window_starts`.

    Views, not copies. A waveform shorter than ``window`` comes back whole, as the only window.
    """
    starts = window_starts(waveform.shape[-1], window, step)
    return [waveform[..., start : start + window] for start in starts]
