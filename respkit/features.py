"""Feature extractors: waveform in, image-like spectrogram out.

Each paper behind the book feeds its network a different time-frequency picture of the sound:

* :class:`ASTFbank` — Kaldi log-mel filterbank normalised with AudioSet statistics, the input the
  Audio Spectrogram Transformer (and so Patch-Mix CL and Lung-SRAD's DASS) was pre-trained on.
* :class:`PeakNormalize` + :class:`MFCC` — the SupCon + MixUp ResNet recipe for SPRSound.
* :class:`LogMel` — a plain log-mel spectrogram, the default for small CNNs.
* :class:`CLARFeatures` — CLAR's three channels: STFT magnitude, STFT phase and log-mel.

All are ``nn.Module``s that follow the shared layout (see ``docs/ARCHITECTURE.md``): one waveform
``[1, samples]`` gives ``[C, F, T]``, a batch ``[B, 1, samples]`` gives ``[B, C, F, T]``, with frequency
along rows and frames along columns (``C`` is 1 except for CLAR's 3). Every item of a batch is processed
exactly as it would be alone, so a batch equals its items stacked. The modules cannot see the audio's sample
rate: ``sample_rate`` states what the waveform must already be (the datasets resample on load).
``extra_repr`` lists every hyper-parameter because the on-disk feature cache keys on it.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torchaudio
from torch import Tensor, nn
from torchaudio.compliance import kaldi

__all__ = [
    "ASTFbank",
    "CLARFeatures",
    "LibrosaMFCC",
    "LogMel",
    "MFCC",
    "MinMaxNormalize",
    "PeakNormalize",
    "fbank_frames",
]


def _kaldi_samples(sample_rate: int, milliseconds: float) -> int:
    """Samples in ``milliseconds``, rounded down exactly as torchaudio's Kaldi compliance code does."""
    return int(sample_rate * milliseconds * 0.001)


def fbank_frames(
    duration: float, sample_rate: int = 16000, frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0
) -> int:
    """Frames of a Kaldi fbank (:class:`ASTFbank`) over ``duration`` seconds: 8 s at 16 kHz gives 798.

    Kaldi keeps only the windows that fit whole (``snip_edges``): ``1 + (samples - window) // shift``
    frames, none for a clip shorter than one window. ``samples = round(duration * sample_rate)``, the
    length the datasets cut their clips to. The models' input sizes (AST's positional grid) and the
    recipes' ``target_frames`` both come from here, so that they agree with what the fbank outputs.
    """
    if duration < 0:
        raise ValueError(f"duration must be >= 0 seconds, got {duration}")
    samples = round(duration * sample_rate)
    window = _kaldi_samples(sample_rate, frame_length_ms)
    if samples < window:
        return 0
    return 1 + (samples - window) // _kaldi_samples(sample_rate, frame_shift_ms)


def _as_batch(waveform: Tensor) -> tuple[Tensor, bool]:
    """Check the waveform layout and return it as a batch ``[B, 1, samples]`` plus whether it was batched."""
    if not isinstance(waveform, Tensor):
        raise TypeError(f"waveform must be a torch.Tensor, got {type(waveform).__name__}")
    if waveform.dim() not in (2, 3) or waveform.shape[-2] != 1:
        raise ValueError(f"waveform must be [1, samples] or [B, 1, samples] (mono), got shape {tuple(waveform.shape)}")
    if not waveform.is_floating_point():
        raise ValueError(f"waveform must be a floating-point tensor in [-1, 1], got dtype {waveform.dtype}")
    batched = waveform.dim() == 3
    return (waveform if batched else waveform.unsqueeze(0)), batched


class _WaveformFeature(nn.Module):
    """Shared forward: accept one waveform or a batch, compute on the batch, return the same rank back."""

    def forward(self, waveform: Tensor) -> Tensor:
        batch, batched = _as_batch(waveform)  # [B, 1, samples]
        features = self._features(batch)  # [B, C, F, T]
        return features if batched else features.squeeze(0)

    def _features(self, batch: Tensor) -> Tensor:  # [B, 1, samples] -> [B, C, F, T]
        raise NotImplementedError


class ASTFbank(_WaveformFeature):
    """Kaldi fbank as the Audio Spectrogram Transformer expects it (Gong et al. 2021; Bae et al. 2023).

    128 mel bins from 25 ms Hanning windows every 10 ms, ``htk_compat``, no energy term, no dither, after
    removing the waveform's mean (as AST's data loader does). With ``target_frames`` the fbank is cut or
    zero-padded at the end in time *before* normalisation, again as AST does, so padded frames read
    ``-mean / (2 std)`` rather than 0. Finally ``(x - mean) / (2 std)`` with the AudioSet statistics: the
    pretrained weights saw inputs scaled this way (roughly zero mean, std 0.5).

    8 s at 16 kHz gives ``1 + (128000 - 400) // 160 = 798`` frames (:func:`fbank_frames`).
    Shapes: ``[1, samples] -> [1, n_mels, frames]``; ``[B, 1, samples] -> [B, 1, n_mels, frames]``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 128,
        frame_shift_ms: float = 10.0,
        frame_length_ms: float = 25.0,
        mean: float = -4.2677393,
        std: float = 4.5689974,
        target_frames: int | None = None,
    ) -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        if target_frames is not None and target_frames < 1:
            raise ValueError(f"target_frames must be a positive frame count or None, got {target_frames}")
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.frame_shift_ms = frame_shift_ms
        self.frame_length_ms = frame_length_ms
        self.mean = mean
        self.std = std
        self.target_frames = target_frames

    def _features(self, batch: Tensor) -> Tensor:
        frame_length = _kaldi_samples(self.sample_rate, self.frame_length_ms)
        if batch.shape[-1] < frame_length:
            raise ValueError(
                f"waveform has {batch.shape[-1]} samples, fewer than one {self.frame_length_ms} ms frame "
                f"({frame_length} samples at {self.sample_rate} Hz)"
            )
        # Kaldi's fbank takes one [channels, samples] signal at a time, so loop over the batch.
        return torch.stack([self._one(item) for item in batch]).unsqueeze(1)  # [B, 1, n_mels, T]

    def _one(self, waveform: Tensor) -> Tensor:  # [1, samples] -> [n_mels, T]
        fbank = kaldi.fbank(
            waveform - waveform.mean(),
            sample_frequency=self.sample_rate,
            num_mel_bins=self.n_mels,
            frame_shift=self.frame_shift_ms,
            frame_length=self.frame_length_ms,
            htk_compat=True,
            window_type="hanning",
            use_energy=False,
            dither=0.0,
        )  # [T, n_mels]
        if self.target_frames is not None:
            missing = self.target_frames - fbank.shape[0]
            # Positive: zero-pad the end; negative: keep the first target_frames frames.
            fbank = nn.functional.pad(fbank, (0, 0, 0, missing))
        return ((fbank - self.mean) / (2 * self.std)).T  # [n_mels, T]

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, frame_shift_ms={self.frame_shift_ms}, "
            f"frame_length_ms={self.frame_length_ms}, mean={self.mean}, std={self.std}, "
            f"target_frames={self.target_frames}"
        )


class PeakNormalize(nn.Module):
    """Zero mean, then scale so that the largest absolute sample equals ``peak`` (SupCon recipe: 0.5).

    The mean goes first so that both properties hold exactly afterwards (scaling keeps the mean at 0;
    removing a mean after scaling would move the peak). A silent item stays all zeros. Works on any
    ``[..., samples]`` tensor, each item on its own.
    """

    def __init__(self, peak: float = 0.5) -> None:
        super().__init__()
        if peak <= 0:
            raise ValueError(f"peak must be positive, got {peak}")
        self.peak = peak

    def forward(self, waveform: Tensor) -> Tensor:
        centred = waveform - waveform.mean(dim=-1, keepdim=True)
        largest = centred.abs().amax(dim=-1, keepdim=True)
        # Silent items would divide 0 by 0; dividing by 1 leaves their zeros in place.
        return centred * (self.peak / torch.where(largest > 0, largest, torch.ones_like(largest)))

    def extra_repr(self) -> str:
        return f"peak={self.peak}"


class MFCC(_WaveformFeature):
    """MFCCs as in the SupCon + MixUp ResNet for SPRSound (Hu et al., BioCAS 2023).

    8 kHz audio (apply :class:`PeakNormalize` first, as the paper does), 64 coefficients, ``n_fft`` 512,
    hop 128, computed by ``torchaudio.transforms.MFCC`` (power mel spectrogram -> dB with an 80 dB floor
    -> orthonormal DCT-II). ``n_mels`` 128 is torchaudio's and librosa's default; the paper does not state it.

    ``normalize="zscore"`` standardises each item over all its coefficients and frames. Per-item statistics
    keep an item's features independent of the rest of the data set (no statistics to fit on a training
    split and carry to the test set) at the price of erasing absolute loudness, which peak normalisation
    has already removed anyway. ``normalize=None`` returns the raw coefficients.

    Frames: torchaudio centres its frames (``center=True``), so ``n`` samples give ``1 + n // hop`` frames:
    3 s at 8 kHz gives 188. The paper's 187 is its equation ``time * rate / hop = 187.5`` rounded down, not
    what an implementation outputs. We keep torchaudio's centred frames, which cover the clip's first and
    last samples symmetrically; the paper crops MFCCs to a fixed window afterwards anyway (random crop), and
    that crop, not this module, sets the frame count the network sees.
    Shapes: ``[1, samples] -> [1, n_mfcc, frames]``; ``[B, 1, samples] -> [B, 1, n_mfcc, frames]``.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        n_mfcc: int = 64,
        n_fft: int = 512,
        hop_length: int = 128,
        n_mels: int = 128,
        normalize: Literal["zscore"] | None = "zscore",
    ) -> None:
        super().__init__()
        if normalize not in ("zscore", None):
            raise ValueError(f"normalize must be 'zscore' or None, got {normalize!r}")
        if n_mfcc > n_mels:
            raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels}): the DCT has n_mels outputs")
        self.sample_rate = sample_rate
        self.n_mfcc = n_mfcc
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.normalize = normalize
        self.mfcc = torchaudio.transforms.MFCC(
            sample_rate=sample_rate,
            n_mfcc=n_mfcc,
            melkwargs={"n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels},
        )

    def _features(self, batch: Tensor) -> Tensor:
        coeffs = self.mfcc(batch)  # [B, 1, n_mfcc, T]
        if self.normalize is None:
            return coeffs
        mean = coeffs.mean(dim=(-3, -2, -1), keepdim=True)
        std = coeffs.std(dim=(-3, -2, -1), keepdim=True, correction=0)
        # A constant item (e.g. silence) has std 0: it becomes all zeros instead of NaN.
        return (coeffs - mean) / std.clamp_min(torch.finfo(coeffs.dtype).eps)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mfcc={self.n_mfcc}, n_fft={self.n_fft}, "
            f"hop_length={self.hop_length}, n_mels={self.n_mels}, normalize={self.normalize!r}"
        )


class LogMel(_WaveformFeature):
    """Log-mel spectrogram in dB: ``MelSpectrogram`` (power) then ``AmplitudeToDB`` with a ``top_db`` floor.

    ``top_db`` clips each item at its own maximum minus ``top_db`` (torchaudio does this per item), which
    bounds the values of near-silent bins that would otherwise reach -100 dB.
    Shapes: ``[1, samples] -> [1, n_mels, frames]``; ``[B, 1, samples] -> [B, 1, n_mels, frames]``,
    with ``frames = 1 + samples // hop_length``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 160,
        n_mels: int = 64,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.top_db = top_db
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=top_db)

    def _features(self, batch: Tensor) -> Tensor:
        return self.to_db(self.mel(batch))  # [B, 1, n_mels, T]

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, top_db={self.top_db}"
        )


class CLARFeatures(_WaveformFeature):
    """CLAR's 3-channel input (Al-Tahan & Mohsenzadeh 2021): STFT magnitude (dB), STFT phase, log-mel (dB).

    One complex STFT (``n_fft`` 2048, hop 128) feeds all three channels. The STFT has
    ``n_fft // 2 + 1 = 1025`` rows and the mel spectrogram ``n_mels`` = 128; to stack them, CLAR "projects
    the STFT to 128 frequency bins equally spaced on the Mel scale". We do that by *selecting* the STFT row
    that weighs most in each mel filter (the bin nearest the filter's centre), so row ``k`` of every channel
    describes the same frequency. Selection rather than interpolation because phase wraps at ±π: averaging
    neighbouring phases would produce values that no bin has.

    Channels: 0 = ``10 log10 |S|^2``, 1 = ``angle(S)`` in [-π, π], 2 = ``10 log10`` of the mel power.
    Both dB channels are floored at ``top_db`` below the item's maximum (torchaudio's ``AmplitudeToDB``). The
    channels keep their natural scales (dB vs radians), as in CLAR. ``win_length`` defaults to ``n_fft``
    (torchaudio's default); the CLAR text mentions 16 ms windows, i.e. ``win_length=256`` at 16 kHz.
    Shapes: ``[1, samples] -> [3, n_mels, frames]``; ``[B, 1, samples] -> [B, 3, n_mels, frames]``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 2048,
        hop_length: int = 128,
        n_mels: int = 128,
        win_length: int | None = None,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.win_length = win_length
        self.top_db = top_db
        n_stft = n_fft // 2 + 1
        self.stft = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, win_length=win_length, hop_length=hop_length, power=None
        )
        self.mel_scale = torchaudio.transforms.MelScale(n_mels=n_mels, sample_rate=sample_rate, n_stft=n_stft)
        self.to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=top_db)
        # The STFT row that each mel filter weighs most: [n_mels]. Derived from the hyper-parameters, so not
        # saved in state dicts; a buffer so that it follows the module across devices.
        rows = self.mel_scale.fb.argmax(dim=0)
        if rows.unique().numel() != n_mels:
            raise ValueError(f"n_mels={n_mels} is too many for n_fft={n_fft}: some mel filters share one STFT row")
        self.register_buffer("stft_rows", rows, persistent=False)

    def _features(self, batch: Tensor) -> Tensor:
        spec = self.stft(batch)  # complex [B, 1, n_fft // 2 + 1, T]
        power = spec.abs().square()
        magnitude_db = self.to_db(power[..., self.stft_rows, :])  # [B, 1, n_mels, T]
        phase = spec[..., self.stft_rows, :].angle()  # [B, 1, n_mels, T]
        mel_db = self.to_db(self.mel_scale(power))  # [B, 1, n_mels, T]
        return torch.cat([magnitude_db, phase, mel_db], dim=1)  # [B, 3, n_mels, T]

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, win_length={self.win_length}, top_db={self.top_db}"
        )


class MinMaxNormalize(nn.Module):
    """Map each waveform linearly onto ``[-peak, peak]`` by its minimum and maximum (public code: ``pre_normalize``).

    Unlike :class:`PeakNormalize` the result is centred on the mid-range, not on the mean. A constant
    item becomes zeros.
    """

    def __init__(self, peak: float = 0.5) -> None:
        super().__init__()
        self.peak = peak

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        low, high = waveform.amin(-1, keepdim=True), waveform.amax(-1, keepdim=True)
        span = high - low
        scaled = (waveform - low) / torch.where(span > 0, span, torch.ones_like(span))
        return torch.where(span > 0, 2 * self.peak * scaled - self.peak, torch.zeros_like(waveform))

    def extra_repr(self) -> str:
        return f"peak={self.peak}"


class LibrosaMFCC(MFCC):
    """:class:`MFCC` with librosa's defaults (what the public code of chapter 3's paper computes): Slaney mel
    scale, area-normalised filters (``norm="slaney"``), zero-padded edge frames. torchaudio's defaults are the
    HTK scale, unnormalised filters and reflected edges; the dB floor, the DCT and the z-score are the same in
    both."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mfcc = torchaudio.transforms.MFCC(
            sample_rate=self.sample_rate,
            n_mfcc=self.n_mfcc,
            melkwargs={
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
                "n_mels": self.n_mels,
                "mel_scale": "slaney",
                "norm": "slaney",
                "pad_mode": "constant",
            },
        )
