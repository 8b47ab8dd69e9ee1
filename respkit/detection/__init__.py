"""Respiratory event detection (SPRSound challenge 2024/2025, Track 2): where each adventitious sound
starts and ends, and its type.

- :mod:`~respkit.detection.targets`: event lists from SPRSound JSON, class sets, frame targets
  ``[n_classes, n_frames]`` and back;
- :mod:`~respkit.detection.postprocess`: median filter, thresholds, gap filling, minimum length;
- :mod:`~respkit.detection.metrics`: event-based F and ER (the challenge's), segment-based F and ER;
- :mod:`~respkit.detection.baselines`: the "event everywhere" and energy-threshold floors;
- :mod:`~respkit.detection.dataset`: recordings as (log-mel, frame targets) pairs;
- :mod:`~respkit.detection.tuning`: thresholds, median windows and the energy baseline chosen on validation
  patients, and every detection score of a split.
"""

from respkit.detection.baselines import energy_events, event_everywhere, frame_rms_db
from respkit.detection.dataset import RecordingFrames
from respkit.detection.metrics import (
    Counts,
    event_based_scores,
    event_counts,
    scores_from_counts,
    segment_based_scores,
    segment_counts,
)
from respkit.detection.postprocess import binarize, fill_gaps, median_filter, postprocess, remove_short
from respkit.detection.targets import (
    CLASS_SETS,
    Event,
    detection_classes,
    events_to_frames,
    frames_to_events,
    n_frames,
    read_events,
    relabel,
)
from respkit.detection.tuning import (
    EnergySettings,
    PostProcessing,
    choose_energy,
    choose_postprocess,
    detection_scores,
)

__all__ = [
    "CLASS_SETS",
    "Counts",
    "EnergySettings",
    "Event",
    "PostProcessing",
    "RecordingFrames",
    "choose_energy",
    "choose_postprocess",
    "detection_scores",
    "binarize",
    "detection_classes",
    "energy_events",
    "event_based_scores",
    "event_counts",
    "event_everywhere",
    "events_to_frames",
    "fill_gaps",
    "frame_rms_db",
    "frames_to_events",
    "median_filter",
    "n_frames",
    "postprocess",
    "read_events",
    "relabel",
    "remove_short",
    "scores_from_counts",
    "segment_based_scores",
    "segment_counts",
]
