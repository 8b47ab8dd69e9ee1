"""Tests for respkit.features: reference parity, frame counts, tone placement, batching, cache keys."""

import math

import pytest
import torch
import torchaudio
from torchaudio.compliance import kaldi

from respkit.features import MFCC, ASTFbank, CLARFeatures, LogMel, PeakNormalize, fbank_frames


def tone(freq: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> torch.Tensor:
    """A pure sine, [1, samples]."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).unsqueeze(0)


def noise(batch: int, samples: int, seed: int = 0) -> torch.Tensor:
    """Reproducible noise, [batch, 1, samples], roughly in [-1, 1]."""
    return 0.3 * torch.randn(batch, 1, samples, generator=torch.Generator().manual_seed(seed))


# --- ASTFbank ---------------------------------------------------------------------------------


def test_ast_fbank_matches_direct_kaldi_call_and_has_798_frames_for_8_s():
    wave = noise(1, 8 * 16000)[0] + 0.05  # an offset, so that the mean removal matters
    reference = kaldi.fbank(
        wave - wave.mean(),
        htk_compat=True,
        sample_frequency=16000,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=128,
        dither=0.0,
        frame_shift=10,
        frame_length=25,
    )
    reference = ((reference + 4.2677393) / (4.5689974 * 2)).T.unsqueeze(0)  # [1, 128, 798]
    out = ASTFbank()(wave)
    assert out.shape == (1, 128, 798)
    torch.testing.assert_close(out, reference, atol=1e-6, rtol=0)


def test_ast_fbank_target_frames_pads_before_normalising_and_crops():
    wave = noise(1, 16000)[0]  # 1 s -> 98 frames
    plain = ASTFbank()(wave)
    padded = ASTFbank(target_frames=120)(wave)
    cropped = ASTFbank(target_frames=50)(wave)
    assert plain.shape[-1] == 98 and padded.shape[-1] == 120 and cropped.shape[-1] == 50
    torch.testing.assert_close(padded[..., :98], plain)
    # Zero fbank frames, normalised like AST does: (0 - mean) / (2 std).
    torch.testing.assert_close(padded[..., 98:], torch.full((1, 128, 22), 4.2677393 / (2 * 4.5689974)))
    torch.testing.assert_close(cropped, plain[..., :50])


def kaldi_bin_weights(freq: float, n_mels: int = 128) -> torch.Tensor:
    """Weight of each Kaldi/HTK mel filter at ``freq`` (25 ms at 16 kHz, padded to 512 points)."""
    banks, _ = kaldi.get_mel_banks(n_mels, 512, 16000.0, 20.0, 0.0, 100.0, -500.0, 1.0)  # [n_mels, 256]
    return banks[:, round(freq * 512 / 16000)]


@pytest.mark.parametrize("freq", [250.0, 1000.0, 3000.0])
def test_ast_fbank_tone_peaks_in_the_mel_bin_of_its_frequency(freq):
    spectrum = ASTFbank()(tone(freq, 1.0, 16000)).mean(dim=-1)[0]  # [128]
    assert spectrum.argmax().item() == kaldi_bin_weights(freq).argmax().item()


@pytest.mark.parametrize("freq", [250.0, 1000.0, 3000.0])
def test_log_mel_tone_peaks_in_the_mel_bin_of_its_frequency(freq):
    spectrum = LogMel()(tone(freq, 1.0, 16000)).mean(dim=-1)[0]  # [64]
    weights = torchaudio.functional.melscale_fbanks(513, 0.0, 8000.0, 64, 16000)  # [513, 64]
    assert spectrum.argmax().item() == weights[round(freq * 1024 / 16000)].argmax().item()


@pytest.mark.parametrize(
    "duration, sample_rate", [(8.0, 16000), (2.0, 16000), (0.025, 16000), (0.03, 16000), (1.234, 16000), (3.0, 8000)]
)
def test_fbank_frames_counts_the_frames_kaldi_outputs(duration, sample_rate):
    wave = noise(1, round(duration * sample_rate))[0]
    expected = kaldi.fbank(wave, sample_frequency=sample_rate, num_mel_bins=23, dither=0.0).shape[0]
    assert fbank_frames(duration, sample_rate) == expected


def test_fbank_frames_of_8_s_and_of_less_than_one_window():
    assert fbank_frames(8.0) == 798  # the input length of Patch-Mix CL and Lung-SRAD
    assert fbank_frames(0.0249) == 0  # 398 samples: no whole 400-sample window (Kaldi refuses to compute it)
    with pytest.raises(ValueError, match="duration"):
        fbank_frames(-1.0)


def test_ast_fbank_rejects_a_waveform_shorter_than_one_frame():
    with pytest.raises(ValueError, match="fewer than one"):
        ASTFbank()(torch.zeros(1, 100))


# --- MFCC and PeakNormalize ---------------------------------------------------------------------


def test_peak_normalize_gives_zero_mean_and_the_requested_peak_and_keeps_silence():
    waves = torch.cat([noise(2, 4000) + 0.2, torch.zeros(1, 1, 4000)])
    out = PeakNormalize(peak=0.5)(waves)
    torch.testing.assert_close(out[:2].mean(dim=-1), torch.zeros(2, 1), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[:2].abs().amax(dim=-1), torch.full((2, 1), 0.5))
    assert torch.equal(out[2], torch.zeros(1, 4000))


def test_mfcc_zscore_is_per_item_and_3_s_gives_188_frames():
    waves = PeakNormalize()(noise(3, 3 * 8000))
    waves[1] *= 0.01  # a quiet item must still come out standardised on its own
    out = MFCC()(waves)
    assert out.shape == (3, 1, 64, 188)  # 1 + 24000 // 128 (centred frames); the paper writes 187
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(1, 2, 3), correction=0), torch.ones(3), atol=1e-5, rtol=0)


def test_mfcc_without_normalisation_equals_torchaudio_and_silence_gives_no_nan():
    wave = noise(1, 8000)[0]
    reference = torchaudio.transforms.MFCC(
        sample_rate=8000, n_mfcc=64, melkwargs={"n_fft": 512, "hop_length": 128, "n_mels": 128}
    )(wave)
    torch.testing.assert_close(MFCC(normalize=None)(wave), reference)
    assert torch.isfinite(MFCC()(torch.zeros(1, 8000))).all()


# --- CLAR ----------------------------------------------------------------------------------------


def test_clar_features_stack_three_channels_of_equal_height():
    wave = tone(1000.0, 0.5, 16000)
    out = CLARFeatures()(wave)
    assert out.shape == (3, 128, 1 + 8000 // 128)
    assert out[1].abs().max() <= math.pi + 1e-6  # phase channel
    # The tone shows up in the same row of the magnitude and the mel channel.
    assert out[0].mean(-1).argmax() == out[2].mean(-1).argmax()


# --- shared behaviour ----------------------------------------------------------------------------

MODULES = [
    (ASTFbank(), 16000),
    (MFCC(), 8000),
    (LogMel(), 16000),
    (CLARFeatures(), 16000),
]


@pytest.mark.parametrize("module, sample_rate", MODULES, ids=lambda m: type(m).__name__)
def test_batch_equals_stacked_items(module, sample_rate):
    waves = noise(3, sample_rate // 2)
    waves[2] *= 0.05  # different loudness: per-item normalisation and dB floors must not mix items
    batched = module(waves)
    stacked = torch.stack([module(w) for w in waves])
    assert batched.dim() == 4 and batched.shape[0] == 3
    torch.testing.assert_close(batched, stacked, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize(
    "make, changed",
    [
        (ASTFbank, {"target_frames": 1024}),
        (ASTFbank, {"mean": 0.0}),
        (MFCC, {"n_mfcc": 40}),
        (MFCC, {"normalize": None}),
        (LogMel, {"top_db": None}),
        (LogMel, {"hop_length": 128}),
        (CLARFeatures, {"win_length": 256}),
    ],
)
def test_extra_repr_differs_when_a_hyper_parameter_differs(make, changed):
    assert make().extra_repr() != make(**changed).extra_repr()
    assert all(f"{k}=" in make().extra_repr() for k in changed)


@pytest.mark.parametrize("bad", [torch.zeros(16000), torch.zeros(2, 16000), torch.zeros(2, 2, 16000)])
def test_wrong_waveform_shape_is_rejected_with_its_shape(bad):
    with pytest.raises(ValueError, match=r"\[1, samples\]"):
        LogMel()(bad)


def test_integer_waveform_is_rejected():
    with pytest.raises(ValueError, match="floating-point"):
        LogMel()(torch.zeros(1, 16000, dtype=torch.int16))
