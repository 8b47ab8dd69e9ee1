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
from respkit.data.sprsound import TASKS
from respkit.data.windows import (  # noqa: F401 (re-exported: the rule's inputs, cut and labelled by the data layer)
    ADVENTITIOUS_KINDS,
    POOR_QUALITY,
    WINDOW_LABELS,
    sliding_windows,
    window_label,
    window_starts,
)
from respkit.train.evaluate import Predictions


def record_label_from_windows(window_labels: Sequence[str], min_run: int = 2) -> str:
    """The record label (a name of ``respkit.data.sprsound.RECORD_LABELS``) implied by the labels of its
    windows, in time order.

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
def decide_records(
    model: nn.Module,
    records: Any,
    transform: nn.Module,
    *,
    window: int,
    step: int,
    frames: int,
    task: str,
    min_run: int = 2,
) -> tuple[Predictions, list[dict[str, Any]]]:
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
        clips = torch.stack(
            [
                fix_length(transform(w), frames, crop="centre", pad="zero")
                for w in sliding_windows(waveform, window, step)
            ]
        )  # [W, 1, F, frames]
        window_labels = [WINDOW_LABELS[k] for k in model(clips.to(device)).argmax(dim=1).tolist()]
        decision = to_task[record_label_from_windows(window_labels, min_run)]
        true.append(int(label))
        pred.append(decision)
        details.append(
            {
                "record": records.meta[i].record,
                "true": records.classes[int(label)],
                "pred": records.classes[decision],
                "windows": window_labels,
            }
        )
    y_pred = np.array(pred, dtype=np.int64)
    return Predictions(np.array(true, dtype=np.int64), y_pred, np.eye(len(records.classes))[y_pred]), details
