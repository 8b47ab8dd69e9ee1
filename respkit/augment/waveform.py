"""Waveform augmentations of CLAR (Al-Tahan & Mohsenzadeh, AISTATS 2021) and the conventions of every transform.

CLAR learns audio representations by pulling together two augmented views of the same clip (NT-Xent).
The choice of augmentations decides what the two views share, so the paper
compares seven of them; its ranges (Al-Tahan & Mohsenzadeh, AISTATS 2021) are the defaults here:

* :class:`PitchShift` — ±15 semitones (phase vocoder + resampling, length kept);
* :class:`Fade` — fade in and out, each up to half the clip, five fade shapes;
* :class:`WhiteNoise` — Gaussian noise at an SNR of 0–20 dB;
* :class:`ColoredNoise` — brown (1/f²) or pink (1/f) noise at an SNR of 0–20 dB;
* :class:`TimeMask` — a segment of 1/8 of the clip replaced by low-level noise;
* :class:`TimeShift` — circular shift (roll) by up to ±0.5 s;
* :class:`TimeStretch` — rate 0.5–1.5 with the phase vocoder (pitch kept), cropped/padded back.

Conventions shared by every transform in :mod:`respkit.augment`:

* Input is a batch ``[B, C, samples]`` (``C`` is 1 in respkit) or one item ``[C, samples]``; the
  output has the input's shape, so every waveform transform keeps the length.
* Random parameters are drawn **per item**: two items of a batch get different shifts, fades, SNRs.
  All channels of one item share them.
* Randomness comes from the optional ``generator`` argument of ``forward``, through
  :mod:`respkit.augment.random` (one seed draws the same parameters on any device).
  :class:`respkit.augment.Compose` passes the generator on; ``nn.Sequential`` also composes the
  transforms, drawing from the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import torch
import torchaudio.functional as AF
from torch import Tensor, nn

from respkit.augment.random import randint, randn, uniform

# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------


def check_range(name: str, value: tuple[float, float]) -> tuple[float, float]:
    """Validate a ``(low, high)`` hyper-parameter and return it as floats."""
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def trim_or_pad_end(x: Tensor, length: int) -> Tensor:
    """Make the last dim ``length``: keep its first ``length`` values, or zero-pad at the end (CLAR's rule).

    Unlike :func:`respkit.data.audio.fix_length` (centred crops, centred or tiled padding), the signal
    stays where it starts, which is what a transform that must keep the input length wants.
    """
    if x.shape[-1] >= length:
        return x[..., :length]
    return nn.functional.pad(x, (0, length - x.shape[-1]))


def phase_vocoder_stretch(waveform: Tensor, rate: float, n_fft: int = 512) -> Tensor:
    """Time-stretch ``[..., L]`` to ``[..., round(L / rate)]`` keeping the pitch (STFT phase vocoder).

    ``rate > 1`` plays faster (shorter). This is the first half of ``torchaudio.functional.pitch_shift``,
    written out so that :class:`TimeStretch` and :class:`PitchShift` share it.
    """
    hop = n_fft // 4
    window = torch.hann_window(n_fft, device=waveform.device, dtype=waveform.dtype)
    flat = waveform.reshape(-1, waveform.shape[-1])  # [N, L]
    spec = torch.stft(flat, n_fft, hop, window=window, return_complex=True)  # [N, n_fft/2+1, frames]
    # Expected phase advance per hop for each bin's centre frequency.
    phase_advance = torch.linspace(0, math.pi * hop, spec.shape[-2], device=spec.device)[..., None]
    stretched = AF.phase_vocoder(spec, rate, phase_advance)
    out = torch.istft(stretched, n_fft, hop, window=window, length=round(waveform.shape[-1] / rate))
    return out.reshape(*waveform.shape[:-1], out.shape[-1])


class WaveformTransform(nn.Module):
    """Base class: takes ``[B, C, L]`` or ``[C, L]``, hands ``[B, C, L]`` to :meth:`transform`."""

    def forward(self, waveform: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if waveform.dim() not in (2, 3):
            raise ValueError(
                f"waveform must be [batch, channels, samples] or [channels, samples], got shape {tuple(waveform.shape)}"
            )
        batch = waveform if waveform.dim() == 3 else waveform.unsqueeze(0)
        out = self.transform(batch, generator)
        return out if waveform.dim() == 3 else out.squeeze(0)

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:  # x: [B, C, L]
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# The CLAR augmentations
# ---------------------------------------------------------------------------------------------


class PitchShift(WaveformTransform):
    """Shift the pitch of each item by a random whole number of semitones in [-max, +max], length kept.

    Method of ``torchaudio.functional.pitch_shift``: stretch by the pitch factor with the phase vocoder
    (duration changes, pitch kept), then resample back to the original duration (pitch changes).
    torchaudio resamples at ``int(sr / rate) : sr``, a ratio that rarely reduces, so a 15-semitone
    shift at 16 kHz takes about ten seconds; here the factor ``2**(n/12)`` is rounded to a fraction
    with a denominator of at most 64 (error below 4 cents, a semitone being 100), which keeps the
    resampling kernel small (milliseconds per call).
    Items that drew the same shift are processed together.
    """

    def __init__(self, sample_rate: int, max_semitones: int = 15, n_fft: int = 512) -> None:
        super().__init__()
        if max_semitones < 0:
            raise ValueError(f"max_semitones must be >= 0, got {max_semitones}")
        self.sample_rate = sample_rate
        self.max_semitones = int(max_semitones)
        self.n_fft = n_fft

    def shift(self, waveform: Tensor, n_steps: int) -> Tensor:
        """Shift ``[..., L]`` by exactly ``n_steps`` semitones (positive = higher); returns ``[..., L]``."""
        if n_steps == 0:
            return waveform
        factor = Fraction(2.0 ** (n_steps / 12)).limit_denominator(64)
        stretched = phase_vocoder_stretch(waveform, 1 / float(factor), self.n_fft)  # [..., ≈L·factor]
        # Reading the stretched signal as if sampled at sr·factor and resampling to sr shortens it by
        # `factor` and multiplies every frequency by `factor`.
        shifted = AF.resample(stretched, factor.numerator, factor.denominator)
        return trim_or_pad_end(shifted, waveform.shape[-1])

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        steps = randint(-self.max_semitones, self.max_semitones, x.shape[0], generator=generator, device=x.device)
        out = x.clone()
        for step in steps.unique().tolist():
            chosen = steps == step
            out[chosen] = self.shift(x[chosen], step).to(out.dtype)  # resampling may run in bf16 under autocast
        return out

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, max_semitones={self.max_semitones}, n_fft={self.n_fft}"


#: The fade-in curves of ``torchaudio.transforms.Fade`` for ``t`` from 0 to 1 (a fade-out mirrors them).
FADE_CURVES = {
    "linear": lambda t: t,
    "logarithmic": lambda t: torch.log10(0.1 + t) + 1,
    "exponential": lambda t: 2 ** (t - 1) * t,
    "quarter_sine": lambda t: torch.sin(math.pi * t / 2),
    "half_sine": lambda t: torch.sin(math.pi * t - math.pi / 2) / 2 + 0.5,
}
FADE_SHAPES = tuple(FADE_CURVES)


def _ramp(position: Tensor, length: Tensor) -> Tensor:
    """``[B, L]``: ``position / (n - 1)`` where ``position < n`` (``torch.linspace(0, 1, n)``), else 1;
    ``n`` per item."""
    n = length[:, None].float()
    t = position[None, :].float() / (n - 1).clamp(min=1)
    return torch.where(position[None, :] < n, t, torch.ones_like(t))


class Fade(WaveformTransform):
    """Fade in and fade out, each over a random length up to ``max_fraction`` of the clip.

    Per item: fade-in length and fade-out length are drawn independently and uniformly from
    ``0 .. floor(max_fraction · L)`` samples, and one shape from ``shapes`` serves both ends.
    The envelopes are ``torchaudio.transforms.Fade``'s (with ``t`` from 0 to 1 over the fade-in):
    linear ``t``; logarithmic ``log10(0.1 + t) + 1``; exponential ``2**(t - 1) · t``;
    quarter_sine ``sin(πt/2)``; half_sine ``sin(πt - π/2)/2 + 1/2``; fade-out mirrors them,
    all clamped to [0, 1]. ``max_fraction <= 0.5`` keeps the two fades from overlapping.
    """

    def __init__(self, max_fraction: float = 0.5, shapes: Sequence[str] = FADE_SHAPES) -> None:
        super().__init__()
        if not 0.0 <= max_fraction <= 0.5:
            raise ValueError(f"max_fraction must be in [0, 0.5], got {max_fraction}")
        unknown = set(shapes) - set(FADE_SHAPES)
        if not shapes or unknown:
            raise ValueError(f"shapes must be a non-empty subset of {FADE_SHAPES}, got {tuple(shapes)}")
        self.max_fraction = max_fraction
        self.shapes = tuple(shapes)

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        batch, _, length = x.shape
        longest = int(self.max_fraction * length)
        fade_in = randint(0, longest, batch, generator=generator, device=x.device)
        fade_out = randint(0, longest, batch, generator=generator, device=x.device)
        shape = randint(0, len(self.shapes) - 1, batch, generator=generator, device=x.device)
        # The whole batch at once (one torchaudio Fade per item cost a third of a CLAR step): ramps from 0
        # to 1 over each item's first fade_in samples and, mirrored, over its last fade_out samples.
        position = torch.arange(length, device=x.device)
        rise, fall = _ramp(position, fade_in), _ramp(length - 1 - position, fade_out)  # [B, L] each
        envelope = torch.ones_like(rise)
        for index in shape.unique().tolist():
            rows = shape == index
            curve = FADE_CURVES[self.shapes[index]]
            envelope[rows] = curve(rise[rows]).clamp(0, 1) * curve(fall[rows]).clamp(0, 1)
        return x * envelope.to(x.dtype)[:, None, :]

    def extra_repr(self) -> str:
        return f"max_fraction={self.max_fraction}, shapes={self.shapes}"


class _AddNoise(WaveformTransform):
    """Add noise at a per-item SNR drawn uniformly from ``snr_db`` (exact: scaled on the drawn noise's energy)."""

    def __init__(self, snr_db: tuple[float, float]) -> None:
        super().__init__()
        self.snr_db = check_range("snr_db", snr_db)

    def noise(self, shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
        raise NotImplementedError

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        batch, channels, _ = x.shape
        snr = uniform(*self.snr_db, batch, generator=generator, device=x.device)  # [B]
        noise = self.noise(x.shape, generator, x.device).to(x.dtype)  # [B, C, L]
        # SNR = 10·log10(signal energy / noise energy) per item and channel; a silent channel stays silent.
        return AF.add_noise(x, noise, snr[:, None].expand(batch, channels))


class WhiteNoise(_AddNoise):
    """Add white Gaussian noise at an SNR drawn per item from ``snr_db`` (CLAR: 0–20 dB)."""

    def __init__(self, snr_db: tuple[float, float] = (0.0, 20.0)) -> None:
        super().__init__(snr_db)

    def noise(self, shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
        return randn(shape, generator=generator, device=device)

    def extra_repr(self) -> str:
        return f"snr_db={self.snr_db}"


# Power spectral density ∝ 1 / f**exponent.
NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}


class ColoredNoise(_AddNoise):
    """Add coloured noise (power ∝ 1/f for pink, 1/f² for brown) at an SNR drawn per item from ``snr_db``.

    White Gaussian noise is shaped in the frequency domain: its spectrum is multiplied by
    ``f**(-exponent/2)`` (amplitude, hence power ``f**-exponent``); the DC bin is zeroed, where
    ``1/f`` is infinite. Each item draws one colour from ``colors``.
    """

    def __init__(self, snr_db: tuple[float, float] = (0.0, 20.0), colors: Sequence[str] = ("brown", "pink")) -> None:
        super().__init__(snr_db)
        unknown = set(colors) - set(NOISE_COLORS)
        if not colors or unknown:
            raise ValueError(f"colors must be a non-empty subset of {tuple(NOISE_COLORS)}, got {tuple(colors)}")
        self.colors = tuple(colors)

    def noise(self, shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> Tensor:
        batch, _, length = shape
        which = randint(0, len(self.colors) - 1, batch, generator=generator, device=device)
        exponents = torch.tensor([NOISE_COLORS[c] for c in self.colors], device=device)[which]  # [B]
        white = torch.fft.rfft(randn(shape, generator=generator, device=device))  # [B, C, L/2+1]
        freqs = torch.fft.rfftfreq(length, device=device)[1:]  # skip DC
        gain = torch.zeros(batch, freqs.numel() + 1, device=device)
        gain[:, 1:] = freqs[None, :] ** (-exponents[:, None] / 2)  # [B, L/2+1]
        return torch.fft.irfft(white * gain[:, None, :], n=length)

    def extra_repr(self) -> str:
        return f"snr_db={self.snr_db}, colors={self.colors}"


class TimeMask(WaveformTransform):
    """Replace a random segment of ``round(fraction · L)`` samples of each item by low-level noise.

    The noise is Gaussian with standard deviation ``noise_level`` times the item's RMS (default
    0.01, i.e. 40 dB below the signal), so the mask is "quiet" whatever the recording level.
    """

    def __init__(self, fraction: float = 1 / 8, noise_level: float = 0.01) -> None:
        super().__init__()
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        if noise_level < 0:
            raise ValueError(f"noise_level must be >= 0, got {noise_level}")
        self.fraction = fraction
        self.noise_level = noise_level

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        batch, _, length = x.shape
        width = round(self.fraction * length)
        start = randint(0, length - width, batch, generator=generator, device=x.device)  # [B]
        position = torch.arange(length, device=x.device)
        mask = (position >= start[:, None]) & (position < start[:, None] + width)  # [B, L]
        rms = x.pow(2).mean(dim=(1, 2), keepdim=True).sqrt()  # [B, 1, 1]
        noise = randn(x.shape, generator=generator, device=x.device).to(x.dtype) * self.noise_level * rms
        return torch.where(mask[:, None, :], noise, x)

    def extra_repr(self) -> str:
        return f"fraction={self.fraction}, noise_level={self.noise_level}"


class TimeShift(WaveformTransform):
    """Roll each item by a random whole number of samples in [-max_shift_s, +max_shift_s] seconds.

    Circular, as in CLAR: what leaves one end comes back at the other, so no content is lost.
    """

    def __init__(self, sample_rate: int, max_shift_s: float = 0.5) -> None:
        super().__init__()
        if max_shift_s < 0:
            raise ValueError(f"max_shift_s must be >= 0, got {max_shift_s}")
        self.sample_rate = sample_rate
        self.max_shift_s = max_shift_s

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        batch, _, length = x.shape
        most = round(self.max_shift_s * self.sample_rate)
        shift = randint(-most, most, batch, generator=generator, device=x.device)  # [B]
        # torch.roll(x, s)[..., j] == x[..., (j - s) mod L], with one s per item.
        index = (torch.arange(length, device=x.device) - shift[:, None]) % length  # [B, L]
        return x.gather(-1, index[:, None, :].expand_as(x))

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, max_shift_s={self.max_shift_s}"


class TimeStretch(WaveformTransform):
    """Speed each item up or down by a rate drawn uniformly from ``rate``, keeping pitch and length.

    Uses the STFT phase vocoder (``torchaudio.functional.phase_vocoder``), like the
    ``librosa.effects.time_stretch`` of CLAR: ``rate > 1`` makes events shorter, pitch unchanged.
    The result is then cropped (start kept) or zero-padded on the right to the input length.
    One phase-vocoder call per item, since the rate is continuous.
    """

    def __init__(self, rate: tuple[float, float] = (0.5, 1.5), n_fft: int = 512) -> None:
        super().__init__()
        self.rate = check_range("rate", rate)
        if self.rate[0] <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.n_fft = n_fft

    def transform(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        rates = uniform(*self.rate, x.shape[0], generator=generator, device=x.device).tolist()
        return torch.stack(
            [trim_or_pad_end(phase_vocoder_stretch(item, r, self.n_fft), x.shape[-1]) for item, r in zip(x, rates)]
        )

    def extra_repr(self) -> str:
        return f"rate={self.rate}, n_fft={self.n_fft}"
