"""The built-in respiratory sound simulator: sounds with exact ground truth, in the official layouts.

:mod:`~respkit.data.synthetic.sounds` makes the sounds (one function per physiological component) at a
chosen :class:`~respkit.data.synthetic.sounds.Difficulty`; :mod:`~respkit.data.synthetic.layouts` writes
them as ICBHI 2017 and SPRSound folders that the real loaders read unchanged;
:mod:`~respkit.data.synthetic.reference` measures how hard they are with a small reference model. Every
chapter falls back to this when no real data is found.
"""

from respkit.data.synthetic.layouts import MANIFEST, record_label, write_icbhi, write_sprsound
from respkit.data.synthetic.reference import REFERENCE_SCORE, reference_score
from respkit.data.synthetic.sounds import (
    CONTINUOUS,
    CRACKLES,
    CYCLE_KINDS,
    DEVICES,
    DIFFICULTY,
    PHYSIOLOGY,
    SIMULATOR_VERSION,
    Cycle,
    Difficulty,
    SoundEvent,
    add_noise,
    breath_envelope,
    burst,
    device_filter,
    heart_sounds,
    simulate_cycle,
    simulate_recording,
    tone,
    vesicular,
)

__all__ = [
    "CONTINUOUS",
    "CRACKLES",
    "CYCLE_KINDS",
    "DEVICES",
    "DIFFICULTY",
    "MANIFEST",
    "PHYSIOLOGY",
    "REFERENCE_SCORE",
    "SIMULATOR_VERSION",
    "Cycle",
    "Difficulty",
    "SoundEvent",
    "add_noise",
    "breath_envelope",
    "burst",
    "device_filter",
    "heart_sounds",
    "record_label",
    "reference_score",
    "simulate_cycle",
    "simulate_recording",
    "tone",
    "vesicular",
    "write_icbhi",
    "write_sprsound",
]
