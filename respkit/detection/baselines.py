"""Two detectors that learn nothing, the floors a trained detector must clear on the same metrics.

- :func:`event_everywhere`: every class active over the whole recording, one event per class. Its
  segment-based recall is 1 by construction and its precision is the fraction of segments that hold the
  class; event-based, it scores only where an annotated event spans (nearly) the whole recording, so a
  detector's event-based F must beat roughly 0, and its segment-based F this floor.
- :func:`energy_events`: frames whose RMS level exceeds the recording's median level by ``margin_db``
  are called one class (``"Adventitious"`` by default), then cleaned as a trained detector's output is
  (:func:`respkit.detection.postprocess.postprocess`). Loud is not abnormal (a deep normal breath is loud,
  a fine crackle is quiet), which is what this floor measures: how far plain loudness gets.

Both return event lists ``[Event(onset_s, offset_s, label)]`` for :mod:`respkit.detection.metrics`.
On the 1,949 recordings of the SPRSound 2022 training set, detecting one class ``"adventitious"``
(:data:`respkit.detection.targets.CLASS_SETS`), with the default 0.2 s collar and 1 s segments:

==================  ===============  ===========  =================  =============
detector            event F (micro)  event ER     segment F (micro)  segment ER
==================  ===============  ===========  =================  =============
event everywhere    0.000            2.30         0.190              8.53
energy threshold    0.053            11.08        0.218              5.70
==================  ===============  ===========  =================  =============

With the six types as classes, "event everywhere" has segment-based F 0.036 (event-based F 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from respkit.detection.postprocess import fill_gaps, remove_short
from respkit.detection.targets import Event, frames_to_events

__all__ = ["energy_events", "event_everywhere", "frame_rms_db"]


def event_everywhere(duration: float, classes: Sequence[str]) -> list[Event]:
    """One event ``[0, duration)`` of every class: the "always on" detector."""
    if duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    return sorted(Event(0.0, float(duration), c) for c in classes)


def frame_rms_db(waveform, sample_rate: int, hop: float = 0.02) -> np.ndarray:
    """RMS level in dB of consecutive ``hop``-second frames of a mono waveform: ``[n_frames]``.

    ``waveform``: ``[samples]`` or ``[1, samples]`` (NumPy or torch). Frame ``t`` is samples
    ``[t·H, (t+1)·H)`` with ``H = round(hop · sample_rate)``, the frame grid of
    :func:`respkit.detection.targets.frames_to_events`; a last partial frame is dropped. Silence is
    floored at -120 dB (``1e-6`` RMS) so that the log is finite.
    """
    x = waveform.detach().cpu().numpy() if hasattr(waveform, "detach") else np.asarray(waveform)
    x = x.astype(np.float64).reshape(-1) if x.ndim == 1 or x.shape[0] == 1 else None
    if x is None:
        raise ValueError(f"waveform must be mono, [samples] or [1, samples], got shape {np.shape(waveform)}")
    size = round(hop * sample_rate)
    if size < 1:
        raise ValueError(f"hop {hop} s is shorter than one sample at {sample_rate} Hz")
    frames = x[: len(x) // size * size].reshape(-1, size)  # [n_frames, H]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def energy_events(
    waveform,
    sample_rate: int,
    *,
    label: str = "Adventitious",
    hop: float = 0.02,
    margin_db: float = 6.0,
    min_gap: float = 0.1,
    min_length: float = 0.1,
) -> list[Event]:
    """Events of ``label`` where the frame RMS is more than ``margin_db`` above the recording's median.

    The threshold is per recording (the median frame level plus ``margin_db``), so the detector does not
    depend on the recording's gain. Gaps shorter than ``min_gap`` seconds are filled, then runs shorter
    than ``min_length`` seconds dropped (:mod:`respkit.detection.postprocess`, lengths rounded to frames).
    """
    level = frame_rms_db(waveform, sample_rate, hop)  # [n_frames]
    if level.size == 0:
        return []
    active = (level > np.median(level) + margin_db)[None, :]  # [1, n_frames]
    active = remove_short(fill_gaps(active, round(min_gap / hop)), round(min_length / hop))
    return frames_to_events(active, [label], hop)
