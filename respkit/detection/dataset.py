"""SPRSound recordings as detection examples: features of a whole recording and its frame targets.

The classification chapters cut SPRSound into events or score whole records with one label; a detector
learns from whole recordings with a target per class and frame (:func:`~respkit.detection.targets.events_to_frames`).
:class:`RecordingFrames` wraps a *record-level* SPRSound dataset (``level="record"``, or a
:class:`~respkit.data.Subset` of one, features computed by its ``transform``, natural lengths) and reads each
record's events from its JSON file once. Its items are ``(features [1, F, T], targets [C, T])`` on the frame
grid of the features: frame ``t`` of the targets is column ``t`` of the features.

Lengths, kept simple:

* **training** (``clip_frames`` set): a random window of ``clip_frames`` frames of the recording, drawn
  uniformly with torch's global generator (which the trainer reseeds every epoch); a shorter recording
  is padded at its end with its own quietest value and inactive targets. SPRSound's training recordings last
  9.2 s or 15.4 s (one of the 1,949 is shorter than 8 s), so an 8 s window is real sound and the batch
  stacks without masks.
* **evaluation** (``clip_frames=None``): the whole recording, one per batch (a CRNN takes any length):
  the events are then found where the challenge scores them, with no window edges to stitch.

An optional last row, :data:`BREATH` (``breaths=True``), is active over every annotated event, Normal ones
included. SPRSound annotates recordings breath by breath, so an adventitious event starts and ends where a
breath does; the few adventitious events of a training set (one in five events) say little about where
breaths start, all of them say much more. The row is trained on, never scored.

Half a hop of offset: :class:`respkit.features.LogMel` centres frame ``t`` at ``t·hop`` seconds (``center=True``),
the targets at ``(t + ½)·hop``; at the 20 ms hop of the recipe that is 10 ms, a twentieth of the 200 ms
onset collar of the metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from respkit.data.sprsound import SPLITS
from respkit.detection.targets import Event, detection_classes, events_to_frames, read_events

__all__ = ["BREATH", "RecordingFrames", "annotation_path", "record_events"]

BREATH = "Breath"  # the auxiliary row of every annotated event


def annotation_path(records: Any, i: int) -> Path:
    """The JSON file of item ``i`` of a record-level SPRSound dataset (or a Subset of one, however nested)."""
    base = records
    while not hasattr(base, "root") and hasattr(base, "dataset"):
        base = base.dataset  # a Subset's parent
    item = records.meta[i]
    return Path(base.root) / SPLITS[item.split][0] / f"{item.record}.json"


def record_events(records: Any, class_set: str | None) -> list[list[Event]]:
    """The annotated events of every record of ``records``, in seconds, relabelled to ``class_set`` (``None``:
    every event with its annotated type)."""
    return [read_events(annotation_path(records, i), class_set) for i in range(len(records))]


def _as_breaths(events: list[Event]) -> list[Event]:
    return [Event(on, off, BREATH) for on, off, _ in events]


class RecordingFrames(Dataset):
    """``(features [1, F, T], frame targets [C, T])`` of each recording of a record-level SPRSound dataset.

    Args:
        records: record-level SPRSound items whose ``transform`` gives features ``[1, F, T]`` with
            ``hop`` seconds between frames (the natural length of each recording: ``duration=None``).
        class_set: the detection classes (:data:`respkit.detection.targets.CLASS_SETS`).
        hop: seconds between feature frames (``hop_length / sample_rate``).
        clip_frames: training windows of this many frames (module docstring); ``None``: whole recordings.
        breaths: add a last target row, :data:`BREATH`, active over every annotated event whatever its type
            (Normal included): where breath cycles start and end, which adventitious events share.

    Attributes: ``classes`` (the detection classes, the first rows of the targets), ``events`` (the annotated events of
    each recording), and the record-level ``labels``, ``groups`` and ``meta`` of ``records``.
    """

    def __init__(
        self, records: Any, class_set: str, hop: float, *, clip_frames: int | None = None, breaths: bool = False
    ) -> None:
        if clip_frames is not None and clip_frames < 1:
            raise ValueError(f"clip_frames must be >= 1 or None, got {clip_frames}")
        self.records, self.class_set, self.hop, self.clip_frames = records, class_set, hop, clip_frames
        self.classes = detection_classes(class_set)
        self.events = record_events(records, class_set)
        # Every annotated event, Normal included, as one extra row: where breaths start and end.
        self.breaths = [_as_breaths(events) for events in record_events(records, None)] if breaths else None
        self.labels, self.groups = np.asarray(records.labels), np.asarray(records.groups)
        self.meta = records.meta

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        features, _ = self.records[i]  # [1, F, T]
        frames = features.shape[-1]
        rows = events_to_frames(self.events[i], self.classes, self.hop, frames)  # [C, T]
        if self.breaths is not None:
            rows = np.concatenate([rows, events_to_frames(self.breaths[i], [BREATH], self.hop, frames)])  # [C + 1, T]
        targets = torch.from_numpy(rows)
        if self.clip_frames is None:
            return features, targets
        if frames < self.clip_frames:  # pad the end: the recording's quietest value reads as silence
            short = self.clip_frames - frames
            features = torch.nn.functional.pad(features, (0, short), value=float(features.min()))
            return features, torch.nn.functional.pad(targets, (0, short))
        start = int(torch.randint(frames - self.clip_frames + 1, ()))
        return features[..., start : start + self.clip_frames], targets[:, start : start + self.clip_frames]
