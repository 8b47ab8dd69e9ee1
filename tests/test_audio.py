"""Decoding: every sample format lands in [-1, 1] as written, channels mix to mono, rates convert."""

import numpy as np
import pytest
import soundfile as sf
import torch

from respkit.data.audio import audio_info, fix_length, load_audio

FORMATS = [("PCM_16", 2**-15), ("PCM_24", 2**-23), ("PCM_32", 2**-31), ("FLOAT", 0.0)]


def _tone(rate: int, seconds: float = 0.5, hz: float = 100.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [4000, 44100])
@pytest.mark.parametrize("subtype,step", FORMATS)
def test_formats_decode_to_the_written_values(tmp_path, rate, subtype, step):
    x = _tone(rate)
    x[:2] = [-1.0, 0.25]  # full scale and an exact value
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, x, rate, subtype=subtype)

    info = audio_info(path)
    assert (info.sample_rate, info.frames, info.channels, info.subtype) == (rate, len(x), 1, subtype)
    wave = load_audio(path, None)
    assert wave.shape == (1, len(x)) and wave.dtype == torch.float32
    assert wave[0, 0] == -1.0 and wave[0, 1] == 0.25
    assert torch.allclose(wave[0], torch.from_numpy(x), atol=step)


def test_flac_and_wav_give_the_same_samples(tmp_path):
    x = (_tone(8000) * 2**15).astype(np.int16)  # integers, so both writers store the same samples
    sf.write(tmp_path / "a.wav", x, 8000, subtype="PCM_16")
    sf.write(tmp_path / "a.flac", x, 8000, subtype="PCM_16")
    wav, flac = load_audio(tmp_path / "a.wav", None), load_audio(tmp_path / "a.flac", None)
    assert torch.equal(wav, flac)
    assert torch.equal(wav[0], torch.from_numpy(x / 2**15).float())


def test_stereo_is_the_mean_of_its_channels(tmp_path):
    stereo = np.stack([np.full(800, 0.5), np.full(800, -0.25)], axis=1).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 8000, subtype="FLOAT")
    wave = load_audio(tmp_path / "s.wav", None)
    assert wave.shape == (1, 800)
    assert torch.allclose(wave, torch.full((1, 800), 0.125))


def test_resampling_keeps_the_tone(tmp_path):
    sf.write(tmp_path / "t.wav", _tone(4000, seconds=1.0), 4000, subtype="PCM_16")
    wave = load_audio(tmp_path / "t.wav", 16000)
    assert wave.shape == (1, 16000)
    expected = torch.from_numpy(_tone(16000, seconds=1.0))
    # Away from the edges (where the resampling filter sees zeros) the 100 Hz tone is intact.
    assert torch.allclose(wave[0, 400:-400], expected[400:-400], atol=2e-3)


def test_fix_length():
    x = torch.arange(1.0, 6.0)[None]  # [1, 5]: 1 2 3 4 5
    assert fix_length(x, 3, crop="start").tolist() == [[1, 2, 3]]
    assert fix_length(x, 3, crop="centre").tolist() == [[2, 3, 4]]
    assert fix_length(x, 8, pad="zero").tolist() == [[0, 1, 2, 3, 4, 5, 0, 0]]
    assert fix_length(x, 12, pad="repeat").tolist() == [[1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]]


def test_real_icbhi_audio_decodes_at_native_rates(icbhi_root):
    paths = sorted((icbhi_root / "ICBHI_final_database").glob("*.wav"))
    assert len(paths) == 19
    infos = [audio_info(p) for p in paths]
    assert {i.sample_rate for i in infos} == {44100, 4000}
    assert {i.subtype for i in infos} == {"PCM_16", "PCM_24", "PCM_32"}
    assert all(i.channels == 1 for i in infos)
    # The 4 kHz files are the Littmann 3200 ones (REFERENCES.md).
    assert {p.stem.split("_")[-1] for p, i in zip(paths, infos) if i.sample_rate == 4000} == {"Litt3200"}
    for path, info in zip(paths, infos):
        wave = load_audio(path, 16000)
        assert wave.shape == (1, round(info.frames * 16000 / info.sample_rate))
        assert torch.isfinite(wave).all() and 0.0 < wave.abs().max() <= 1.0


def test_real_sprsound_audio_is_8khz(sprsound_root):
    paths = sorted((sprsound_root / "BioCAS2022" / "train2022_wav").iterdir())[:5]
    for path in paths:
        info = audio_info(path)
        assert (info.sample_rate, info.channels, info.subtype) == (8000, 1, "PCM_16")
        assert 0.3 <= info.duration <= 15.36
        assert load_audio(path, 8000).shape == (1, info.frames)
