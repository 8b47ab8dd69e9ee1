"""Decoding respiratory recordings: one place that turns a file into a float32 mono tensor.

Everything goes through soundfile (libsndfile), which reads WAV at 16/24/32-bit PCM and 32-bit float
and FLAC; PCM is scaled to [-1, 1). Problems come back as an
:class:`AudioError` (or ``FileNotFoundError``) that names the file, never as an error deep inside torch:

- missing file, empty file (0 frames), a file that is not audio;
- a truncated WAV: libsndfile quietly reads whatever samples are left, so the header's ``data`` size is
  checked against the bytes actually on disk (a half-copied download is the usual cause);
- a NaN or infinite sample (:class:`NonFiniteAudioError`): it would turn every feature and loss it touches
  into NaN, or be clamped into a full-scale click, so it is never passed on. Only float files can hold
  one (PCM has no such values), which lets the datasets screen for it at construction by decoding just
  those (:attr:`AudioInfo.is_float`).

Waveforms are clamped to [-1, 1] (resampling a clipped recording overshoots it slightly).
Several channels are mixed down to mono by their mean (documented, no warning: stethoscope recordings are
mono, and a stereo file is almost always the same signal twice).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF


class AudioError(RuntimeError):
    """A recording that cannot be decoded; the message names the file and the problem."""


class NonFiniteAudioError(AudioError):
    """A recording holding NaN or infinite samples; the message names the file, the count and the first one."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    frames: int
    channels: int
    subtype: str  # soundfile's name: "PCM_16", "PCM_24", "PCM_32", "FLOAT", ...

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    @property
    def is_float(self) -> bool:
        """Whether samples are stored as floats, the only formats that can hold NaN or infinity."""
        return self.subtype in ("FLOAT", "DOUBLE")


def audio_info(path: str | Path) -> AudioInfo:
    """Read a file's rate, length, channel count and sample format without decoding it."""
    path = Path(path)
    info = _open_info(path)
    return AudioInfo(info.samplerate, info.frames, info.channels, info.subtype)


def load_audio(path: str | Path, sample_rate: int | None = None) -> torch.Tensor:
    """Decode ``path`` to a float32 mono waveform ``[1, samples]``.

    Args:
        path: a .wav or .flac file (anything libsndfile reads).
        sample_rate: resample to this rate (torchaudio's band-limited sinc resampler) when the file's
            rate differs; ``None`` keeps the native rate.
    """
    path = Path(path)
    info = _open_info(path)
    if info.frames == 0:
        raise AudioError(f"{path}: the file holds no audio (0 frames)")
    _check_wav_complete(path)
    try:
        # always_2d: [frames, channels] whatever the channel count.
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.LibsndfileError as err:
        raise AudioError(f"{path}: cannot decode audio ({err})") from err
    if data.shape[0] < info.frames:
        raise AudioError(f"{path}: truncated, header says {info.frames} frames but only {data.shape[0]} decode")
    finite = np.isfinite(data)
    if not finite.all():
        first = int(np.argmin(finite.all(axis=1)))  # the first frame with a non-finite sample in any channel
        raise NonFiniteAudioError(
            f"{path}: {int((~finite).sum())} NaN or infinite sample(s), the first at {first / rate:.3f} s; "
            "the recording is damaged: replace it, or rebuild the dataset, which then leaves it out"
        )
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))[None]  # [1, samples]
    if sample_rate is not None and sample_rate != rate:
        wave = AF.resample(wave, rate, sample_rate)
    # Resampling a clipped recording overshoots full scale a little (Gibbs ripple), and float files may
    # store values past it: hold every waveform to the [-1, 1] the rest of respkit assumes.
    return wave.clamp_(-1.0, 1.0)


def fix_length(
    wave: torch.Tensor,
    length: int,
    crop: Literal["start", "centre"] = "start",
    pad: Literal["zero", "repeat"] = "zero",
) -> torch.Tensor:
    """Crop or pad ``wave [..., samples]`` to exactly ``length`` samples, deterministically.

    crop: keep the first ``length`` samples ("start") or the middle ones ("centre").
    pad: centre the clip between zeros ("zero"), or tile it from its start ("repeat").
    """
    n = wave.shape[-1]
    if n == 0:
        raise ValueError("fix_length: cannot fit an empty waveform")
    if n >= length:
        offset = 0 if crop == "start" else (n - length) // 2
        return wave[..., offset : offset + length]
    if pad == "repeat":
        repeats = -(-length // n)  # ceil
        return wave.repeat(*([1] * (wave.dim() - 1)), repeats)[..., :length]
    left = (length - n) // 2
    return torch.nn.functional.pad(wave, (left, length - n - left))


def _open_info(path: Path) -> sf._SoundFileInfo:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    try:
        return sf.info(path)
    except sf.LibsndfileError as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err


def _check_wav_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file's ``data`` chunk promises more bytes than the file holds."""
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a WAV (FLAC checks its own frames)
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                # 0 and 0xFFFFFFFF are "unknown length" markers written by streaming encoders.
                if length not in (0, 0xFFFFFFFF) and f.tell() + length > size:
                    raise AudioError(
                        f"{path}: truncated WAV, the header promises {length} bytes of samples "
                        f"but only {size - f.tell()} are present"
                    )
                return
            f.seek(length + (length & 1), 1)  # chunks are padded to an even size
