"""Record-level labels from window-level predictions: the sliding-window rule of Hu et al. (BioCAS 2023).

A record of SPRSound is labelled Normal, CAS (continuous adventitious sounds: rhonchi, wheezes, stridor),
DAS (discontinuous: coarse and fine crackles), CAS & DAS, or Poor Quality. Instead of classifying the
whole record, the paper slides a 3 s window over it with 1 s overlap (a step of 2 s), classifies every
window as an event type or as "Poor Quality", and then decides:

* a kind of adventitious sound (CAS or DAS) is found when ``min_run`` (two) *consecutive* windows show it;
  a Wheeze+Crackle window shows both kinds, and two different CAS events (a wheeze, then rhonchi) agree;
* both kinds found: CAS & DAS; one: that kind;
* none found: Poor Quality when every window is Poor Quality, else Normal.

Requiring agreement suppresses isolated false alarms, at the price of missing an adventitious sound
that one window alone catches. A record shorter than ``min_run`` windows needs all of them to agree
(one window, for a record no longer than a window), or it could never be abnormal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from respkit.data.audio import fix_length
from respkit.data.sprsound import EVENT_TYPES, TASKS
from respkit.train.evaluate import Predictions

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
    return max(adventitious, key=adventitious.get) if adventitious else "Normal"


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


def record_label_from_windows(window_labels: Sequence[str], min_run: int = 2) -> str:
    """The record label (a name of ``respkit.data.sprsound.RECORD_LABELS``) implied by the labels of its windows, in time order.

    ``window_labels`` are names from :data:`WINDOW_LABELS`. See the module docstring for the rule.
    """
    if len(window_labels) == 0:
        raise ValueError("window_labels is empty: a record has at least one window")
    if min_run < 1:
        raise ValueError(f"min_run must be >= 1, got {min_run}")
    unknown = sorted(set(window_labels) - set(WINDOW_LABELS))
    if unknown:
        raise ValueError(f"unknown window label(s) {unknown}; expected names from {WINDOW_LABELS}")
    needed = min(min_run, len(window_labels))
    found = set()
    for kind in ("CAS", "DAS"):
        streak = 0
        for label in window_labels:
            streak = streak + 1 if kind in ADVENTITIOUS_KINDS[label] else 0
            if streak >= needed:
                found.add(kind)
                break
    if found == {"CAS", "DAS"}:
        return "CAS & DAS"
    if found:
        return found.pop()
    if all(label == POOR_QUALITY for label in window_labels):
        return POOR_QUALITY
    return "Normal"


@torch.no_grad()
def decide_records(model: nn.Module, records: Any, transform: nn.Module, *, window: int, step: int, frames: int,
                   task: str, min_run: int = 2) -> tuple[Predictions, list[dict[str, Any]]]:
    """Label each record of ``records`` (waveform items) by classifying its windows and applying the rule.

    ``window`` and ``step`` are in samples; every window gets its own features (``transform``, then cut
    or padded to ``frames``), as the events the model was trained on did. Returns the record predictions
    of ``task`` (``scores`` one-hot: the rule gives no probabilities) and, per record, its name, true and
    predicted labels and the window labels, for a look at failures.
    """
    device = next(model.parameters()).device
    model.eval()
    to_task = TASKS[task][2]
    true, pred, details = [], [], []
    for i in range(len(records)):
        waveform, label = records[i]  # [1, samples]
        clips = torch.stack([fix_length(transform(w), frames, crop="centre", pad="zero")
                             for w in sliding_windows(waveform, window, step)])  # [W, 1, F, frames]
        window_labels = [WINDOW_LABELS[k] for k in model(clips.to(device)).argmax(dim=1).tolist()]
        decision = to_task[record_label_from_windows(window_labels, min_run)]
        true.append(int(label))
        pred.append(decision)
        details.append({"record": records.meta[i].record, "true": records.classes[int(label)],
                        "pred": records.classes[decision], "windows": window_labels})
    y_pred = np.array(pred, dtype=np.int64)
    return Predictions(np.array(true, dtype=np.int64), y_pred, np.eye(len(records.classes))[y_pred]), details
