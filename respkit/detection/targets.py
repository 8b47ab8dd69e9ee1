"""Event lists and frame targets for respiratory event detection (SPRSound, BioCAS 2024/2025 Track 2).

Since BioCAS 2024 the SPRSound challenge asks where each respiratory event starts and ends and what it
is, scored by event-based F-score and error rate (:mod:`respkit.detection.metrics`). Its README
(``releases/BioCAS2025/README.md`` of SJTU-YONGFU-RESEARCH-GRP/SPRSound) keeps the 2022 JSON format and
the seven event labels (Normal, Rhonchi, Wheeze, Stridor, Coarse Crackle, Fine Crackle, Wheeze+Crackle)
and states neither a class grouping for detection nor whether Normal events are scored. Choices made here:

- An event is ``Event(onset, offset, label)`` in **seconds** (the JSON holds milliseconds).
- The detection classes come from a named *class set* (:data:`CLASS_SETS`); the default ``"types"`` is the
  six adventitious types, each its own class. Normal events are dropped in every set but ``"all"``:
  a Normal event is a breath without an adventitious sound, the background the detector should stay silent
  on, and scoring it would let "every breath is Normal" dominate F. ``"cas_das"`` groups the types as
  the record labels do (CAS: Rhonchi, Wheeze, Stridor; DAS: the crackles) and makes a Wheeze+Crackle
  event one CAS *and* one DAS event over the same span (the targets are multi-label);
  ``"adventitious"`` is task 1-1's Normal/Adventitious split with only the Adventitious side detected.
- Frame ``t`` covers ``[t·hop, (t+1)·hop)`` seconds and is active for an event when its centre
  ``(t + ½)·hop`` lies in ``[onset, offset)``. Turning a run of active frames ``[a, b)`` back into an
  event gives ``(a·hop, b·hop)``, so events -> frames -> events moves each boundary by at most half a
  frame. An event shorter than a frame may cover no frame centre and vanish; two events of one class
  that touch or overlap become one run, their union (about 1 % of the adventitious events of the
  2022 training set are within 100 ms of the previous one of their type).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

# The JSON reader of the classification datasets is reused, not duplicated: the same errors for the
# same broken files. It is private to respkit.data.sprsound (see the module docstring there).
from respkit.data.sprsound import EVENT_TYPES, read_json

__all__ = [
    "CLASS_SETS",
    "Event",
    "detection_classes",
    "events_to_frames",
    "frames_to_events",
    "n_frames",
    "read_events",
    "relabel",
]

ADVENTITIOUS_TYPES: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t != "Normal")

#: Class set name -> {annotation type: the detection classes it becomes}; a type left out is not detected.
#: The order of first appearance is the class order (rows of the frame targets).
CLASS_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "types": {t: (t,) for t in ADVENTITIOUS_TYPES},
    "cas_das": {
        "Rhonchi": ("CAS",),
        "Wheeze": ("CAS",),
        "Stridor": ("CAS",),
        "Coarse Crackle": ("DAS",),
        "Fine Crackle": ("DAS",),
        "Wheeze+Crackle": ("CAS", "DAS"),
    },
    "adventitious": {t: ("Adventitious",) for t in ADVENTITIOUS_TYPES},
    "all": {t: (t,) for t in EVENT_TYPES},
}


class Event(NamedTuple):
    """One sound event: onset and offset in seconds (``onset < offset``) and its class name."""

    onset: float
    offset: float
    label: str


def detection_classes(class_set: str = "types") -> list[str]:
    """The class names of ``class_set`` in row order: ``"types"`` -> the six adventitious types."""
    mapping = _class_set(class_set)
    return list(dict.fromkeys(c for classes in mapping.values() for c in classes))


def relabel(events: Iterable[tuple[float, float, str]], class_set: str = "types") -> list[Event]:
    """Annotation events ``(onset_s, offset_s, type)`` as detection events of ``class_set``, sorted.

    A type the set does not detect (Normal, except in ``"all"``) is dropped; a type mapped to two
    classes (Wheeze+Crackle in ``"cas_das"``) gives two events over the same span. An unknown type is an
    error naming it.
    """
    mapping = _class_set(class_set)
    out: list[Event] = []
    for onset, offset, kind in events:
        if kind not in EVENT_TYPES:
            raise ValueError(f"unknown event type {kind!r}; expected one of {EVENT_TYPES}")
        out.extend(Event(float(onset), float(offset), c) for c in mapping.get(kind, ()))
    return sorted(out)


def read_events(path: str | Path, class_set: str | None = "types") -> list[Event]:
    """The events of one SPRSound JSON file (official or simulated), in seconds, sorted by onset.

    ``class_set=None`` keeps every annotated event with its type as written (Normal included);
    otherwise the events are :func:`relabel`-ed. Errors (bad JSON, unknown labels, empty spans) name the
    file, as the classification datasets' reader does (:func:`respkit.data.sprsound.read_json`). A file
    without a record label, as in the BioCAS 2024/2025 test sets (``event_annotation`` only), is read too.
    """
    _, events = read_json(Path(path), record_label=False)  # [(start_ms, end_ms, type)], sorted, validated
    seconds = [Event(start / 1000, end / 1000, kind) for start, end, kind in events]
    return seconds if class_set is None else relabel(seconds, class_set)


def n_frames(duration: float, hop: float) -> int:
    """Frames of ``hop`` seconds needed to cover ``duration`` seconds: ``ceil(duration / hop)``."""
    if hop <= 0 or duration < 0:
        raise ValueError(f"need hop > 0 and duration >= 0, got hop={hop}, duration={duration}")
    return math.ceil(round(duration / hop, 9))  # round: 0.3 / 0.1 is 2.9999999999999996


def events_to_frames(
    events: Iterable[tuple[float, float, str]], classes: Sequence[str], hop: float, frames: int
) -> np.ndarray:
    """Multi-label frame targets ``[n_classes, frames]`` (float32, 0 or 1) of an event list.

    Args:
        events: ``(onset_s, offset_s, label)`` with labels in ``classes`` (relabel annotations first).
        classes: the class of each row, e.g. :func:`detection_classes`.
        hop: frame hop in seconds; frame ``t`` covers ``[t·hop, (t+1)·hop)``.
        frames: number of frames, e.g. :func:`n_frames` of the recording's duration, or the frame count of
            the features the model sees (the model's output and its targets must have the same length).
            Events past the last frame are cut off there.

    Row ``c`` is 1 at the frames whose centre lies in an event of class ``c`` (module docstring).
    """
    if hop <= 0:
        raise ValueError(f"hop must be > 0 seconds, got {hop}")
    row = {c: i for i, c in enumerate(classes)}
    target = np.zeros((len(classes), frames), dtype=np.float32)
    for onset, offset, label in events:
        if label not in row:
            raise ValueError(f"event label {label!r} is not one of the classes {list(classes)}")
        if not offset > onset:
            raise ValueError(f"event {(onset, offset, label)} needs onset < offset")
        # Frames t with onset <= (t + 1/2)·hop < offset.
        first = max(0, math.ceil(onset / hop - 0.5))
        stop = min(frames, math.ceil(offset / hop - 0.5))
        target[row[label], first:stop] = 1.0
    return target


def frames_to_events(activity: np.ndarray, classes: Sequence[str], hop: float) -> list[Event]:
    """The events of binary frame activity ``[n_classes, n_frames]``: one per run of active frames.

    A run of frames ``[a, b)`` of row ``c`` becomes ``Event(a·hop, b·hop, classes[c])``; the list is sorted
    by onset. ``activity`` is anything that is true where active (bool, 0/1 floats, a thresholded
    tensor); probabilities must be thresholded first (:mod:`respkit.detection.postprocess`).
    """
    activity = np.asarray(activity)
    if activity.ndim != 2 or activity.shape[0] != len(classes):
        raise ValueError(f"activity must be [n_classes={len(classes)}, n_frames], got shape {activity.shape}")
    active = activity.astype(bool)
    padded = np.zeros((active.shape[0], active.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = active
    events: list[Event] = []
    for c, label in enumerate(classes):
        edges = np.diff(padded[c])  # +1 where a run starts, -1 one past where it ends
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        events.extend(Event(float(a * hop), float(b * hop), label) for a, b in zip(starts, stops))
    return sorted(events)


def _class_set(name: str) -> dict[str, tuple[str, ...]]:
    if name not in CLASS_SETS:
        raise ValueError(f"unknown class set {name!r}; expected one of {sorted(CLASS_SETS)}")
    return CLASS_SETS[name]
