"""Respiratory sounds from first principles: breath cycles with exact ground truth.

Every chapter of the book must run on a machine without the real datasets, so respkit carries a small
simulator. It builds each sound from the acoustics of lung sounds (Bohadana et al., NEJM 2014; chapter 1's table),
one function per component, so the book can show how each one is made and a test can measure it:

- :func:`vesicular` — the normal breath sound: broadband noise shaped by a filter so that most of its
  energy lies in 100–1,000 Hz, falling above ~200 Hz; :func:`breath_envelope` makes inspiration louder
  than expiration and expiration about twice as long (I:E about 1:2).
- :func:`burst` — a Gaussian-windowed oscillation, the one transient shape behind fine crackles
  (< 10 ms, ~650 Hz, late inspiratory), coarse crackles (> 10 ms, ~350 Hz, early inspiratory and
  expiratory) and the heart sounds (:func:`heart_sounds`, 20–150 Hz thumps about once a second).
- :func:`tone` — a continuous musical sound with harmonics and a slight frequency drift, the one shape
  behind wheezes (≥ 100 Hz, often 400 Hz+), rhonchi (< 200 Hz) and stridor (> 500 Hz, inspiratory).
- :func:`device_filter` and :func:`add_noise` — the recording chain: a per-device colouring (a
  stethoscope low-pass, a flat microphone) and background noise at a chosen SNR.

:func:`simulate_cycle` and :func:`simulate_recording` put these together and return, beside the
waveform, the exact list of :class:`SoundEvent` s that went into it. The parameter tables
(:data:`CRACKLES`, :data:`CONTINUOUS`, :data:`DEVICES`) are plain data, so a reader sees every choice.

How hard the sounds are to tell apart is one small record, :class:`Difficulty`, whose knobs move the
sounds away from the tables in ways a reader can predict:

- ``event_level_db`` — the loudness of every adventitious sound against the breath sound, in dB
  relative to the tables (whose amplitudes are peaks over the breath noise's RMS: crackles +6 to
  +12 dB, continuous sounds +2 to +10 dB). Lower is quieter: sounds sink into the breath and the
  heart, sensitivity falls first, and the score falls towards the always-Normal floor (10 dB below
  the default: reference score on SPRSound task 1-2 from 0.71-0.83 to 0.36-0.42).
- ``event_rate`` — how much adventitious sound an abnormal cycle holds: it scales the number of
  crackles per cycle and the share of its breath phase a continuous sound lasts. Fewer, shorter
  sounds are easier to miss, chiefly by a model that averages over the whole cycle (0.4: task 1-1
  falls by 0.15-0.21).
- ``overlap`` — how alike the sibling sounds are: the probability that an adventitious sound takes
  its pitch and length from a sibling type (fine and coarse crackles; wheeze, rhonchi and stridor),
  keeping its own timing, loudness and label. It blurs the subtypes (SPRSound task 1-2) and barely
  touches normal against adventitious (task 1-1, ICBHI): at 1 only timing tells the subtypes apart
  (task 1-2 falls by 0.05-0.13, task 1-1 moves within its seed-to-seed spread).
- ``noise_snr_db`` — the range the dataset writers draw each recording's background-noise SNR from
  (:func:`add_noise`, after the device colouring). Lower blurs everything, the quiet crackles first;
  the breath sound masks more than white noise does (0-5 dB: task 1-2 falls by only 0.04-0.06).

The figures are the reference model's, seeds 0-2 at the writers' default sizes; the device mix (a
stethoscope's low-pass, ICBHI's 4 kHz Litt3200) is part of each writer, not of the difficulty.

:data:`PHYSIOLOGY` is the tables as written (what :func:`simulate_cycle` draws by default and
chapter 1 shows); :data:`DIFFICULTY` is the writers' default, calibrated so that a small reference
model reaches a stated score (:mod:`respkit.data.synthetic.reference`): learnable, not trivial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from scipy import signal

#: The simulator's one version number. Bump it when any output changes: it names the folder of the default
#: simulated datasets (:func:`respkit.data.locate.simulated_root`) and is stored in every manifest, so a
#: bump both moves to a fresh folder and marks what was written.
SIMULATOR_VERSION = 3

#: Cycle kinds that :func:`simulate_cycle` understands, mapped to the adventitious sounds they hold.
#: "crackle" draws fine or coarse crackles (ICBHI does not tell them apart).
CYCLE_KINDS: dict[str, tuple[str, ...]] = {
    "normal": (),
    "crackle": ("crackle",),
    "fine_crackle": ("fine_crackle",),
    "coarse_crackle": ("coarse_crackle",),
    "wheeze": ("wheeze",),
    "rhonchi": ("rhonchi",),
    "stridor": ("stridor",),
    "both": ("crackle", "wheeze"),
}

SeedLike = int | np.random.Generator | None
Range = tuple[float, float]


@dataclass(frozen=True)
class SoundEvent:
    """One sound placed in a waveform: its kind, where it lies, and what it was made with.

    ``kind`` is a breath phase ("inspiration", "expiration"), an adventitious sound ("fine_crackle",
    "coarse_crackle", "wheeze", "rhonchi", "stridor") or a heart sound ("heart_s1", "heart_s2").
    Times are in seconds from the start of the waveform that holds the event.
    """

    kind: str
    start_s: float
    end_s: float
    frequency_hz: float | None = None
    amplitude: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def shifted(self, offset_s: float) -> SoundEvent:
        return replace(self, start_s=self.start_s + offset_s, end_s=self.end_s + offset_s)


@dataclass(frozen=True)
class Cycle:
    """One annotated breath cycle of a recording; ``events`` use the recording's time axis."""

    kind: str
    start_s: float
    end_s: float
    events: tuple[SoundEvent, ...]

    @property
    def crackles(self) -> bool:
        return any(e.kind.endswith("crackle") for e in self.events)

    @property
    def wheezes(self) -> bool:
        # ICBHI's "wheezes" column counts rhonchi too (low-pitched wheezes).
        return any(e.kind in ("wheeze", "rhonchi") for e in self.events)


@dataclass(frozen=True)
class Difficulty:
    """How far the simulated sounds move from the parameter tables; see the module docstring.

    Attributes:
        event_level_db: gain, in dB, on every adventitious sound's amplitude (0: the tables).
        event_rate: factor on the crackles per cycle and on a continuous sound's share of its phase.
        overlap: probability, in [0, 1], that an adventitious sound borrows a sibling type's pitch and length.
        noise_snr_db: range of the per-recording background-noise SNR the dataset writers draw.
    """

    event_level_db: float = 0.0
    event_rate: float = 1.0
    overlap: float = 0.0
    noise_snr_db: Range = (20.0, 35.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.overlap <= 1.0:
            raise ValueError(f"overlap is a probability in [0, 1], got {self.overlap}")
        if self.event_rate <= 0:
            raise ValueError(f"event_rate must be positive, got {self.event_rate}")

    @property
    def event_gain(self) -> float:
        return 10 ** (self.event_level_db / 20)


#: The parameter tables as written: the sounds as described in chapter 1, neither quieter nor blurred.
PHYSIOLOGY = Difficulty()

#: The dataset writers' default, calibrated with :func:`respkit.data.synthetic.reference.reference_score`
#: on a simulated SPRSound of 40 patients: on the tables alone that log-mel logistic regression scored
#: 0.86-0.90 on task 1-2 (seeds 0-2), little short of perfect; adventitious sounds 2 dB quieter and one in
#: ten borrowing a sibling's sound brought it to 0.71-0.83 (seeds 0-4), task 1-1 to 0.83-0.90 and ICBHI
#: to 0.71-0.80. (4 dB and one in five: 0.63-0.75, too hard.) With four times the patients (today's
#: default) it learns more: task 1-2 0.80-0.84, task 1-1 0.86-0.89, the bands of
#: :data:`respkit.data.synthetic.reference.REFERENCE_SCORE`.
DIFFICULTY = Difficulty(event_level_db=-2.0, overlap=0.1)


# ---------------------------------------------------------------------------------------------
# Parameter tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrackleSpec:
    """How one crackle type is drawn: pitch, duration, how many per cycle and where."""

    frequency_hz: Range
    duration_s: Range
    count: tuple[int, int]  # inclusive range of crackles per cycle
    windows: tuple[tuple[str, float, float], ...]  # (phase, start fraction, end fraction)
    amplitude: Range  # peak, in units of the vesicular noise RMS


@dataclass(frozen=True)
class ToneSpec:
    """How one continuous sound is drawn: pitch, harmonics, which phases and how much of them."""

    frequency_hz: Range
    harmonics: tuple[float, ...]  # amplitudes of 2f, 3f, ... relative to the fundamental
    phases: tuple[str, ...]  # breath phases it may occupy (one is drawn)
    coverage: Range  # fraction of that phase it lasts
    min_duration_s: float
    amplitude: Range


CRACKLES: dict[str, CrackleSpec] = {
    # Fine: < 10 ms, ~650 Hz, late inspiratory.
    "fine_crackle": CrackleSpec(
        frequency_hz=(550.0, 750.0),
        duration_s=(0.003, 0.008),
        count=(4, 10),
        windows=(("inspiration", 0.5, 0.95),),
        amplitude=(2.0, 3.5),
    ),
    # Coarse: > 10 ms, ~350 Hz, early inspiratory and expiratory.
    "coarse_crackle": CrackleSpec(
        frequency_hz=(280.0, 420.0),
        duration_s=(0.012, 0.025),
        count=(3, 7),
        windows=(("inspiration", 0.05, 0.45), ("expiration", 0.05, 0.5)),
        amplitude=(2.5, 4.0),
    ),
}

CONTINUOUS: dict[str, ToneSpec] = {
    # Wheeze: musical, >= 100 Hz, often 400 Hz+, longer than 100 ms; mostly expiratory (as in asthma).
    "wheeze": ToneSpec(
        frequency_hz=(200.0, 800.0),
        harmonics=(0.35, 0.12),
        phases=("expiration", "expiration", "inspiration"),
        coverage=(0.4, 0.85),
        min_duration_s=0.15,
        amplitude=(1.2, 2.0),
    ),
    # Rhonchi: low-pitched (< 200 Hz), snoring-like, so richer in harmonics.
    "rhonchi": ToneSpec(
        frequency_hz=(100.0, 180.0),
        harmonics=(0.5, 0.3, 0.2),
        phases=("expiration", "inspiration"),
        coverage=(0.5, 0.9),
        min_duration_s=0.15,
        amplitude=(1.5, 2.2),
    ),
    # Stridor: high-pitched (> 500 Hz), inspiratory, loud.
    "stridor": ToneSpec(
        frequency_hz=(600.0, 1200.0),
        harmonics=(0.2,),
        phases=("inspiration",),
        coverage=(0.6, 0.9),
        min_duration_s=0.15,
        amplitude=(2.0, 3.0),
    ),
}


@dataclass(frozen=True)
class Device:
    """A recording device: its native sample rate and an illustrative (not measured) band-pass."""

    sample_rate: int
    highpass_hz: float
    lowpass_hz: float | None  # None: flat up to Nyquist
    lowpass_order: int = 2


DEVICES: dict[str, Device] = {
    # ICBHI's four devices.
    "AKGC417L": Device(44100, highpass_hz=40.0, lowpass_hz=None),  # lavalier microphone: flat
    "LittC2SE": Device(44100, highpass_hz=30.0, lowpass_hz=600.0, lowpass_order=2),  # acoustic stethoscope
    "Litt3200": Device(4000, highpass_hz=20.0, lowpass_hz=1500.0, lowpass_order=4),  # electronic, 4 kHz
    "Meditron": Device(44100, highpass_hz=20.0, lowpass_hz=2000.0, lowpass_order=4),  # electronic
    # SPRSound's Yunting model II electronic stethoscope, 8 kHz.
    "Yunting": Device(8000, highpass_hz=20.0, lowpass_hz=2500.0, lowpass_order=4),
}


# ---------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------


def _rng(seed_or_rng: SeedLike) -> np.random.Generator:
    return seed_or_rng if isinstance(seed_or_rng, np.random.Generator) else np.random.default_rng(seed_or_rng)


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(*bounds))


@cache
def _vesicular_sos(sample_rate: int) -> np.ndarray:
    # High-pass at 100 Hz (little energy below), a first-order low-pass at 200 Hz (the -6 dB/octave
    # fall above ~200 Hz) and a steep low-pass at 1 kHz (little energy above).
    return np.concatenate(
        [
            signal.butter(2, 100.0, "highpass", fs=sample_rate, output="sos"),
            signal.butter(1, 200.0, "lowpass", fs=sample_rate, output="sos"),
            signal.butter(4, min(1000.0, 0.45 * sample_rate), "lowpass", fs=sample_rate, output="sos"),
        ]
    )


def vesicular(n_samples: int, sample_rate: int, seed_or_rng: SeedLike = None) -> np.ndarray:
    """Normal breath noise with unit RMS: white noise through the vesicular spectral shape."""
    rng = _rng(seed_or_rng)
    # One extra second of noise lets the filters settle before the part we keep.
    settle = sample_rate
    noise = signal.sosfilt(_vesicular_sos(sample_rate), rng.standard_normal(n_samples + settle))[settle:]
    return noise / np.sqrt(np.mean(noise**2))


def breath_envelope(n_samples: int, sample_rate: int, inspiration_s: float, expiration_gain: float = 0.5) -> np.ndarray:
    """Loudness over one cycle: a half-sine rise and fall for inspiration (peak 1), then a
    longer, quieter half-sine for expiration (peak ``expiration_gain``)."""
    t = np.arange(n_samples) / sample_rate
    duration_s = n_samples / sample_rate
    inspiring = t < inspiration_s
    phase = np.where(inspiring, t / inspiration_s, (t - inspiration_s) / (duration_s - inspiration_s))
    return np.sin(np.pi * phase) * np.where(inspiring, 1.0, expiration_gain)


def burst(sample_rate: int, frequency_hz: float, duration_s: float, amplitude: float = 1.0) -> np.ndarray:
    """A Gaussian-windowed oscillation lasting ``duration_s`` in all.

    The window's standard deviation is a sixth of the duration, so the burst spans ±3σ and its
    envelope is ~1 % of its peak at both ends: ``duration_s`` is the total duration of the sound.
    """
    n = max(int(round(duration_s * sample_rate)), 1)
    t = (np.arange(n) - (n - 1) / 2) / sample_rate  # centred on the peak
    sigma = duration_s / 6
    return amplitude * np.exp(-0.5 * (t / sigma) ** 2) * np.sin(2 * np.pi * frequency_hz * t)


def tone(
    sample_rate: int,
    frequency_hz: float,
    duration_s: float,
    seed_or_rng: SeedLike = None,
    harmonics: Sequence[float] = (0.35, 0.12),
    drift: float = 0.015,
    amplitude: float = 1.0,
    ramp_s: float = 0.02,
) -> np.ndarray:
    """A continuous musical sound: a fundamental plus harmonics whose pitch drifts slowly.

    The instantaneous frequency is ``frequency_hz · (1 + drift · sin(...))``, one slow sinusoid of
    random phase, so the pitch never leaves ``frequency_hz · (1 ± drift)``. Harmonics at or above
    0.45 × the sample rate are left out (no aliasing); raised-cosine ramps avoid clicks.
    """
    rng = _rng(seed_or_rng)
    n = max(int(round(duration_s * sample_rate)), 1)
    t = np.arange(n) / sample_rate
    drift_hz = rng.uniform(0.5, 2.0) / duration_s  # between half a wobble and two over the sound
    inst_hz = frequency_hz * (1 + drift * np.sin(2 * np.pi * drift_hz * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(inst_hz) / sample_rate
    wave = np.sin(phase)
    for order, level in enumerate(harmonics, start=2):
        if order * frequency_hz * (1 + drift) < 0.45 * sample_rate:
            wave += level * np.sin(order * phase)
    ramp = min(int(ramp_s * sample_rate), n // 2)
    fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / max(ramp, 1))
    wave[:ramp] *= fade
    wave[n - ramp :] *= fade[::-1]
    return amplitude * wave


def heart_sounds(
    n_samples: int,
    sample_rate: int,
    seed_or_rng: SeedLike = None,
    rate_bpm: float | None = None,
    amplitude: float = 0.6,
) -> tuple[np.ndarray, list[SoundEvent]]:
    """S1 and S2 thumps (bursts at 20–150 Hz) at a steady heart rate, about once a second."""
    rng = _rng(seed_or_rng)
    rate_bpm = rate_bpm if rate_bpm is not None else _uniform(rng, (60.0, 100.0))
    period_s = 60.0 / rate_bpm
    out = np.zeros(n_samples)
    events = []
    # S1 (mitral/tricuspid closure) is lower and longer than S2, which follows ~0.3 s later.
    sounds = (("heart_s1", 0.0, 50.0, 0.10, amplitude), ("heart_s2", 0.3, 80.0, 0.08, 0.75 * amplitude))
    beat_s = _uniform(rng, (0.0, period_s))
    while beat_s < n_samples / sample_rate:
        for kind, delay_s, freq, dur, amp in sounds:
            start = int(round((beat_s + delay_s) * sample_rate))
            wave = burst(sample_rate, freq, dur, amp)
            if start + len(wave) <= n_samples:
                out[start : start + len(wave)] += wave
                events.append(SoundEvent(kind, start / sample_rate, (start + len(wave)) / sample_rate, freq, amp))
        beat_s += period_s
    return out, events


@cache
def _device_sos(device: str, sample_rate: int) -> np.ndarray:
    spec = DEVICES[device]
    sections = [signal.butter(2, spec.highpass_hz, "highpass", fs=sample_rate, output="sos")]
    if spec.lowpass_hz is not None and spec.lowpass_hz < 0.45 * sample_rate:
        sections.append(signal.butter(spec.lowpass_order, spec.lowpass_hz, "lowpass", fs=sample_rate, output="sos"))
    return np.concatenate(sections)


def device_filter(waveform: np.ndarray, sample_rate: int, device: str) -> np.ndarray:
    """Colour a sound by a device's frequency response (see :data:`DEVICES`)."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; known: {sorted(DEVICES)}")
    return signal.sosfilt(_device_sos(device, sample_rate), waveform)


def add_noise(waveform: np.ndarray, snr_db: float, seed_or_rng: SeedLike = None) -> np.ndarray:
    """Add white background noise so that signal power / noise power = ``snr_db`` decibels."""
    rng = _rng(seed_or_rng)
    noise_power = np.mean(waveform**2) / 10 ** (snr_db / 10)
    return waveform + rng.standard_normal(len(waveform)) * np.sqrt(noise_power)


# ---------------------------------------------------------------------------------------------
# Cycles and recordings
# ---------------------------------------------------------------------------------------------


def _sounds_like(table: dict, kind: str, difficulty: Difficulty, rng: np.random.Generator):
    """The spec whose pitch and length a sound of ``kind`` takes: its own, or with probability
    ``difficulty.overlap`` a sibling's (another entry of the same table)."""
    # No draw at overlap 0, so the tables alone give the same sounds, seed for seed, as simulator v1.
    if difficulty.overlap == 0 or rng.random() >= difficulty.overlap:
        return table[kind]
    siblings = [k for k in table if k != kind]
    return table[siblings[int(rng.integers(len(siblings)))]]


def _place_crackles(
    out: np.ndarray,
    sample_rate: int,
    kind: str,
    phases: dict[str, tuple[float, float]],
    rng: np.random.Generator,
    difficulty: Difficulty,
) -> list[SoundEvent]:
    """Add crackles of one type into ``out`` at non-overlapping times inside the spec's windows."""
    spec = CRACKLES[kind]
    events: list[SoundEvent] = []
    low, high = (max(1, round(n * difficulty.event_rate)) for n in spec.count)
    count = int(rng.integers(low, high + 1))
    for _ in range(count):
        phase, lo, hi = spec.windows[int(rng.integers(len(spec.windows)))]
        p_start, p_end = phases[phase]
        sound = _sounds_like(CRACKLES, kind, difficulty, rng)
        freq, dur = _uniform(rng, sound.frequency_hz), _uniform(rng, sound.duration_s)
        amp = _uniform(rng, spec.amplitude) * difficulty.event_gain
        t0 = _uniform(rng, (p_start + lo * (p_end - p_start), p_start + hi * (p_end - p_start) - dur))
        start = int(round(t0 * sample_rate))
        wave = burst(sample_rate, freq, dur, amp)
        end = start + len(wave)
        # Crackles are separate explosions: skip one that would overlap another (ground truth stays clean).
        if end > len(out) or any(
            start < round(e.end_s * sample_rate) and round(e.start_s * sample_rate) < end for e in events
        ):
            continue
        out[start:end] += wave
        events.append(SoundEvent(kind, start / sample_rate, end / sample_rate, freq, amp))
    return sorted(events, key=lambda e: e.start_s)


def _place_tone(
    out: np.ndarray,
    sample_rate: int,
    kind: str,
    phases: dict[str, tuple[float, float]],
    rng: np.random.Generator,
    frequency_hz: float | None,
    difficulty: Difficulty,
) -> SoundEvent:
    """Add one continuous sound into ``out`` inside one of the spec's breath phases."""
    spec = CONTINUOUS[kind]
    p_start, p_end = phases[spec.phases[int(rng.integers(len(spec.phases)))]]
    phase_s = p_end - p_start
    coverage = min(_uniform(rng, spec.coverage) * difficulty.event_rate, 1.0)
    dur = min(max(coverage * phase_s, spec.min_duration_s), phase_s)
    sound = _sounds_like(CONTINUOUS, kind, difficulty, rng)
    freq = frequency_hz if frequency_hz is not None else _uniform(rng, sound.frequency_hz)
    amp = _uniform(rng, spec.amplitude) * difficulty.event_gain
    start = int(round(_uniform(rng, (p_start, p_end - dur)) * sample_rate))
    wave = tone(sample_rate, freq, dur, rng, harmonics=sound.harmonics, amplitude=amp)[: len(out) - start]
    out[start : start + len(wave)] += wave
    return SoundEvent(kind, start / sample_rate, (start + len(wave)) / sample_rate, freq, amp)


def _breath(
    kind: str,
    n_samples: int,
    sample_rate: int,
    rng: np.random.Generator,
    frequency_hz: float | None,
    difficulty: Difficulty,
) -> tuple[np.ndarray, list[SoundEvent]]:
    """The clean body sound of one cycle (no heart, device or noise) and its events."""
    if kind not in CYCLE_KINDS:
        raise ValueError(f"unknown cycle kind {kind!r}; known: {sorted(CYCLE_KINDS)}")
    duration_s = n_samples / sample_rate
    ie_ratio = _uniform(rng, (1.7, 2.3))  # expiration / inspiration, about 2
    inspiration_s = duration_s / (1 + ie_ratio)
    phases = {"inspiration": (0.0, inspiration_s), "expiration": (inspiration_s, duration_s)}
    envelope = breath_envelope(n_samples, sample_rate, inspiration_s, _uniform(rng, (0.35, 0.6)))
    out = vesicular(n_samples, sample_rate, rng) * envelope
    events = [SoundEvent(name, start, end) for name, (start, end) in phases.items()]
    for component in CYCLE_KINDS[kind]:
        if component == "crackle":  # fine crackles are the commoner in ICBHI-like cohorts
            component = "fine_crackle" if rng.random() < 2 / 3 else "coarse_crackle"
        if component in CRACKLES:
            events += _place_crackles(out, sample_rate, component, phases, rng, difficulty)
        else:
            events.append(_place_tone(out, sample_rate, component, phases, rng, frequency_hz, difficulty))
    return out, events


def simulate_recording(
    kinds: Sequence[str],
    sample_rate: int = 16000,
    seed_or_rng: SeedLike = None,
    device: str = "AKGC417L",
    snr_db: float = 30.0,
    cycle_duration_s: Range = (1.6, 2.8),
    pause_s: Range = (0.0, 0.0),
    lead_in_s: float = 0.0,
    duration_s: float | None = None,
    peak: float = 0.7,
    frequency_hz: float | None = None,
    difficulty: Difficulty = PHYSIOLOGY,
) -> tuple[np.ndarray, list[Cycle]]:
    """Consecutive breath cycles of the given kinds, recorded by one device.

    Cycle durations and the pauses after them are drawn from the given ranges and rounded to whole
    milliseconds, so annotation files store the ground truth exactly. The recording starts after
    ``lead_in_s`` of quiet (heart sounds and noise only). With ``duration_s`` the recording has exactly
    that length and cycles that would not end inside it are left out. The result is scaled to
    ``peak`` and clipped to [-1, 1], so ``peak > 1`` simulates a clipped (overdriven) recording.
    ``difficulty`` sets the adventitious sounds' loudness, amount and overlap (its noise range is the
    writers' business: ``snr_db`` is this recording's).

    Returns the float32 waveform and the cycles that made it; each cycle's events (its phases, its
    adventitious sounds and the heart sounds that begin inside it) use the recording's time axis.
    """
    rng = _rng(seed_or_rng)
    planned: list[tuple[str, float, float]] = []  # (kind, start_s, end_s)
    t_ms = round(lead_in_s * 1000)
    for kind in kinds:
        cycle_ms = round(_uniform(rng, cycle_duration_s) * 1000)
        pause_ms = round(_uniform(rng, pause_s) * 1000)
        if duration_s is not None and (t_ms + cycle_ms) / 1000 > duration_s:
            break
        planned.append((kind, t_ms / 1000, (t_ms + cycle_ms) / 1000))
        t_ms += cycle_ms + pause_ms
    total_s = duration_s if duration_s is not None else t_ms / 1000
    n_total = math.ceil(total_s * sample_rate - 1e-6)  # the audio covers the last annotated millisecond

    body = np.zeros(n_total)
    cycles = []
    for kind, start_s, end_s in planned:
        start, end = int(round(start_s * sample_rate)), int(round(end_s * sample_rate))
        sound, events = _breath(kind, end - start, sample_rate, rng, frequency_hz, difficulty)
        body[start:end] += sound
        # Cycle bounds are whole milliseconds; the sounds inside sit on the sample grid.
        cycles.append(Cycle(kind, start_s, end_s, tuple(e.shifted(start / sample_rate) for e in events)))

    heart, heart_events = heart_sounds(n_total, sample_rate, rng)
    body += heart
    recorded = add_noise(device_filter(body, sample_rate, device), snr_db, rng)
    recorded *= peak / max(np.max(np.abs(recorded)), 1e-12)
    recorded = np.clip(recorded, -1.0, 1.0).astype(np.float32)

    cycles = [
        replace(
            c,
            events=tuple(
                sorted(
                    c.events + tuple(h for h in heart_events if c.start_s <= h.start_s < c.end_s),
                    key=lambda e: e.start_s,
                )
            ),
        )
        for c in cycles
    ]
    return recorded, cycles


def simulate_cycle(
    kind: str,
    sample_rate: int = 16000,
    duration_s: float | None = None,
    seed_or_rng: SeedLike = None,
    device: str = "AKGC417L",
    snr_db: float = 30.0,
    frequency_hz: float | None = None,
    difficulty: Difficulty = PHYSIOLOGY,
) -> tuple[np.ndarray, list[SoundEvent]]:
    """One breath cycle of ``kind`` (see :data:`CYCLE_KINDS`) with all the sounds it holds.

    ``duration_s`` defaults to a draw in 1.6–2.8 s; ``frequency_hz`` fixes the fundamental of the
    continuous sound (wheeze, rhonchi, stridor) instead of drawing it. Returns the float32 waveform,
    peak 0.7, and the list of :class:`SoundEvent` s (times from the start of the cycle).
    """
    rng = _rng(seed_or_rng)
    bounds = (duration_s, duration_s) if duration_s is not None else (1.6, 2.8)
    waveform, cycles = simulate_recording(
        [kind],
        sample_rate,
        rng,
        device,
        snr_db,
        cycle_duration_s=bounds,
        frequency_hz=frequency_hz,
        difficulty=difficulty,
    )
    return waveform, list(cycles[0].events)
