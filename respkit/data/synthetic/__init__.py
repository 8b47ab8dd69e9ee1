"""The built-in respiratory sound simulator: sounds with exact ground truth, in the official layouts.

:mod:`~respkit.data.synthetic.sounds` makes the sounds (one function per physiological component);
:mod:`~respkit.data.synthetic.layouts` writes them as ICBHI 2017 and SPRSound folders that the real
loaders read unchanged. Every chapter falls back to this when no real data is found.
"""

from respkit.data.synthetic.layouts import MANIFEST, record_label, write_icbhi, write_sprsound
from respkit.data.synthetic.sounds import (
    CONTINUOUS,
    CRACKLES,
    CYCLE_KINDS,
    DEVICES,
    SIMULATOR_VERSION,
    Cycle,
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
    "CONTINUOUS", "CRACKLES", "CYCLE_KINDS", "DEVICES", "MANIFEST", "SIMULATOR_VERSION", "Cycle", "SoundEvent",
    "add_noise", "breath_envelope", "burst", "device_filter", "heart_sounds", "record_label",
    "simulate_cycle", "simulate_recording", "tone", "vesicular", "write_icbhi", "write_sprsound",
]
