"""respkit.augment: each transform does what its docstring says, per item, reproducibly."""

import math

import pytest
import torch
from torch import nn

from respkit.augment import (
    CLAR_AUGMENTATIONS,
    FADE_SHAPES,
    ColoredNoise,
    Compose,
    Fade,
    PitchShift,
    RandomApply,
    RandomCrop,
    RandomTimeFlip,
    SpecAugment,
    TimeMask,
    TimeShift,
    TimeStretch,
    TwoViews,
    WhiteNoise,
    clar_augmentation,
)
from respkit.augment.random import randint
from respkit.augment.waveform import trim_or_pad_end

SR = 8000


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tone(freq: float, seconds: float, sr: int = SR) -> torch.Tensor:
    return torch.sin(2 * math.pi * freq * torch.arange(int(seconds * sr)) / sr)


def peak_hz(x: torch.Tensor, sr: int = SR) -> float:
    spectrum = torch.fft.rfft(x * torch.hann_window(x.shape[-1])).abs()
    return spectrum.argmax().item() * sr / x.shape[-1]


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Per item, measuring the noise as ``noisy - clean``."""
    noise = noisy - clean
    return 10 * torch.log10(clean.pow(2).sum(dim=(-2, -1)) / noise.pow(2).sum(dim=(-2, -1)))


WAVEFORM_TRANSFORMS = {
    "pitch_shift": lambda: PitchShift(SR, max_semitones=4),
    "fade": lambda: Fade(),
    "white_noise": lambda: WhiteNoise(),
    "colored_noise": lambda: ColoredNoise(),
    "time_mask": lambda: TimeMask(),
    "time_shift": lambda: TimeShift(SR, max_shift_s=0.1),
    "time_stretch": lambda: TimeStretch(),
}
RANDOM_TRANSFORMS = {
    **WAVEFORM_TRANSFORMS,
    "random_crop": lambda: RandomCrop(1000),
    "random_time_flip": lambda: RandomTimeFlip(),
    "random_apply": lambda: RandomApply(WhiteNoise(), p=0.5),
    "compose": lambda: Compose(TimeShift(SR, 0.1), Fade()),
}


@pytest.mark.parametrize("name", sorted(WAVEFORM_TRANSFORMS))
def test_waveform_transforms_keep_shape_batched_and_single(name):
    transform = WAVEFORM_TRANSFORMS[name]()
    batch = torch.randn(3, 1, 2000) * 0.1
    assert transform(batch, generator=gen(0)).shape == batch.shape
    assert transform(batch[0], generator=gen(0)).shape == batch[0].shape
    with pytest.raises(ValueError, match="waveform"):
        transform(batch[None])


@pytest.mark.parametrize("name", sorted(RANDOM_TRANSFORMS))
def test_same_seed_same_output_other_seed_different_and_per_item(name):
    transform = RANDOM_TRANSFORMS[name]()
    x = torch.randn(16, 1, 2000) * 0.1
    first = transform(x, generator=gen(1))
    assert torch.equal(first, transform(x, generator=gen(1)))
    assert not torch.equal(first, transform(x, generator=gen(2)))
    # Per-item randomness: the same clip repeated over the batch does not come out 16 times the same.
    same = x[:1].expand(16, 1, 2000).contiguous()
    out = transform(same, generator=gen(3))
    assert any(not torch.equal(out[0], out[i]) for i in range(1, 16))


def test_global_rng_is_used_without_generator():
    x = torch.randn(4, 1, 1000)
    torch.manual_seed(5)
    a = WhiteNoise()(x)
    torch.manual_seed(5)
    assert torch.equal(a, WhiteNoise()(x))


@pytest.mark.parametrize("noise", [WhiteNoise, ColoredNoise])
def test_noise_reaches_the_requested_snr(noise):
    x = torch.randn(8, 1, 4000) * 0.3
    out = noise(snr_db=(10.0, 10.0))(x, generator=gen(0))
    assert torch.allclose(snr_db(x, out), torch.full((8,), 10.0), atol=0.5)
    ranged = snr_db(x, noise(snr_db=(0.0, 20.0))(x, generator=gen(0)))
    assert ranged.min() >= -0.5 and ranged.max() <= 20.5 and ranged.std() > 2.0


@pytest.mark.parametrize("color, exponent", [("pink", 1.0), ("brown", 2.0)])
def test_colored_noise_has_the_spectral_slope_of_its_color(color, exponent):
    x = torch.randn(16, 1, 8192) * 0.1
    noise = (ColoredNoise(snr_db=(0.0, 0.0), colors=(color,))(x, generator=gen(0)) - x)[:, 0]
    power = torch.fft.rfft(noise).abs().pow(2).mean(0)  # averaged periodogram
    f = torch.arange(power.numel(), dtype=torch.float64)
    keep = slice(20, power.numel() - 1)
    # Least-squares slope of log power against log frequency.
    lx, ly = f[keep].log(), power[keep].double().log()
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / (lx - lx.mean()).pow(2).sum()
    assert slope.item() == pytest.approx(-exponent, abs=0.15)


def test_pitch_shift_moves_a_tone_by_the_interval():
    x = tone(440, 1.0).view(1, 1, -1)
    shifter = PitchShift(SR)
    assert peak_hz(shifter.shift(x, 12)[0, 0]) == pytest.approx(880, rel=0.02)
    assert peak_hz(shifter.shift(x, -12)[0, 0]) == pytest.approx(220, rel=0.02)
    assert peak_hz(shifter.shift(x, 7)[0, 0]) == pytest.approx(440 * 2 ** (7 / 12), rel=0.02)
    # forward: every item moved by a whole number of semitones within the range, not all the same.
    out = PitchShift(SR, max_semitones=5)(x.expand(8, 1, -1), generator=gen(0))
    semitones = [12 * math.log2(peak_hz(item[0]) / 440) for item in out]
    assert all(abs(s - round(s)) < 0.25 and abs(round(s)) <= 5 for s in semitones)
    assert len({round(s) for s in semitones}) > 1


def fade_in_formula(shape: str, t: torch.Tensor) -> torch.Tensor:
    formulas = {
        "linear": t,
        "logarithmic": torch.log10(0.1 + t) + 1,
        "exponential": 2 ** (t - 1) * t,
        "quarter_sine": torch.sin(math.pi * t / 2),
        "half_sine": torch.sin(math.pi * t - math.pi / 2) / 2 + 0.5,
    }
    return formulas[shape].clamp(0, 1)


def test_fade_formulas_at_known_points():
    t = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(fade_in_formula("linear", t), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(fade_in_formula("logarithmic", t), torch.tensor([0.0, math.log10(0.6) + 1, 1.0]))
    assert torch.allclose(fade_in_formula("exponential", t), torch.tensor([0.0, 2**-0.5 / 2, 1.0]))
    assert torch.allclose(fade_in_formula("quarter_sine", t), torch.tensor([0.0, math.sqrt(0.5), 1.0]))
    assert torch.allclose(fade_in_formula("half_sine", t), torch.tensor([0.0, 0.5, 1.0]), atol=1e-6)


@pytest.mark.parametrize("shape", FADE_SHAPES)
def test_fade_envelope_follows_its_formula_and_is_monotone(shape):
    length, half = 200, 100
    envelope = Fade(max_fraction=0.5, shapes=(shape,))(torch.ones(8, 1, length), generator=gen(0))[:, 0]
    found = set()
    for env in envelope:
        head, tail = env[:half], env[half:]
        assert (head.diff() >= -1e-6).all() and (tail.diff() <= 1e-6).all()  # rises, then falls
        # Some fade-in length n <= L/2 must reproduce the head, and some fade-out length the tail.
        fits_in = [
            n
            for n in range(half + 1)
            if torch.allclose(
                head, torch.cat([fade_in_formula(shape, torch.linspace(0, 1, n)), torch.ones(half - n)]), atol=1e-5
            )
        ]
        fits_out = [
            n
            for n in range(half + 1)
            if torch.allclose(
                tail, torch.cat([torch.ones(half - n), fade_in_formula(shape, torch.linspace(1, 0, n))]), atol=1e-5
            )
        ]
        assert fits_in and fits_out
        found.add((fits_in[0], fits_out[0]))
    assert len(found) > 1  # lengths drawn per item


def test_time_shift_is_a_roll_per_item():
    x = torch.randn(6, 1, 1000)
    out = TimeShift(sample_rate=1000, max_shift_s=0.3)(x, generator=gen(0))
    shifts = set()
    for item, shifted in zip(x, out):
        matches = [s for s in range(-300, 301) if torch.equal(torch.roll(item, s, dims=-1), shifted)]
        assert matches
        shifts.add(matches[0])
    assert len(shifts) > 1


def test_time_mask_replaces_exactly_the_fraction_with_quiet_noise():
    x = torch.randn(6, 1, 800)
    out = TimeMask(fraction=1 / 8, noise_level=0.01)(x, generator=gen(0))
    for item, masked in zip(x, out):
        changed = (item != masked)[0].nonzero().flatten()
        assert len(changed) == 100 and changed[-1] - changed[0] == 99  # one contiguous segment of L/8
        assert masked[0, changed].std() < 0.05 * item.std()
    starts = {(a != b)[0].nonzero()[0].item() for a, b in zip(x, out)}
    assert len(starts) > 1


def sounding_seconds(x: torch.Tensor, sr: int = SR, frame: int = 80) -> float:
    rms = x[: len(x) // frame * frame].view(-1, frame).pow(2).mean(1).sqrt()
    return (rms > 0.2).sum().item() * frame / sr


@pytest.mark.parametrize("rate", [2.0, 0.5])
def test_time_stretch_changes_duration_keeps_pitch_and_length(rate):
    burst = torch.cat([tone(440, 0.5), torch.zeros(int(1.5 * SR))]).view(1, 1, -1)
    out = TimeStretch(rate=(rate, rate))(burst, generator=gen(0))
    assert out.shape == burst.shape
    assert sounding_seconds(out[0, 0]) == pytest.approx(0.5 / rate, rel=0.15)
    assert peak_hz(out[0, 0]) == pytest.approx(440, rel=0.03)


def mask_runs(flags: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, current = [], 0
    for flag in flags.tolist() + [False]:
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def test_spec_augment_masks_within_widths_filled_with_the_mean():
    x = torch.randn(8, 1, 128, 300)
    out = SpecAugment(freq_masks=1, freq_width=48, time_masks=1, time_width=160)(x, generator=gen(0))
    widths_f, widths_t = [], []
    for item, masked in zip(x, out):
        # The module takes the mean with another reduction order: equal up to rounding.
        filled = torch.isclose(masked, item.mean(), rtol=0, atol=1e-6)  # [1, F, T]
        rows = filled[0].all(dim=1)  # whole frequency rows
        cols = filled[0].all(dim=0)  # whole time columns
        # Outside the masked rows/cols nothing changed; inside, everything is the mean.
        untouched = ~(rows[:, None] | cols[None, :])
        assert torch.equal(masked[0][untouched], item[0][untouched])
        assert filled[0][~untouched].all()
        widths_f += mask_runs(rows)
        widths_t += mask_runs(cols)
    assert max(widths_f) <= 48 and max(widths_t) <= 160
    assert len(set(widths_f)) > 1 and len(set(widths_t)) > 1  # widths per item


def test_spec_augment_two_masks_constant_fill_and_single_item():
    x = torch.randn(4, 1, 64, 100)
    out = SpecAugment(2, 20, 2, 30, fill=0.0)(x, generator=gen(1))
    for masked in out:
        rows = (masked[0] == 0).all(dim=1)
        cols = (masked[0] == 0).all(dim=0)
        assert rows.sum() <= 40 and cols.sum() <= 60
    assert SpecAugment()(x[0], generator=gen(0)).shape == x[0].shape
    with pytest.raises(ValueError, match="spectrogram"):
        SpecAugment()(x[0, 0])


def test_random_time_flip_flips_exactly_along_time():
    x = torch.randn(32, 1, 8, 50)
    out = RandomTimeFlip(p=0.5)(x, generator=gen(0))
    flipped = [torch.equal(o, i.flip(-1)) for i, o in zip(x, out)]
    kept = [torch.equal(o, i) for i, o in zip(x, out)]
    assert all(f != k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    assert torch.equal(RandomTimeFlip(p=1.0)(x), x.flip(-1))
    assert torch.equal(RandomTimeFlip(p=0.0)(x), x)


def test_random_crop_windows_per_item_and_pads_short_inputs():
    x = torch.arange(4 * 2 * 100, dtype=torch.float32).view(4, 1, 2, 100)
    out = RandomCrop(30)(x, generator=gen(0))
    assert out.shape == (4, 1, 2, 30)
    starts = set()
    for item, crop in zip(x, out):
        start = int(crop[0, 0, 0] - item[0, 0, 0])
        assert torch.equal(crop, item[..., start : start + 30])
        starts.add(start)
    assert len(starts) > 1
    along_freq = RandomCrop(1, dim=-2)(x, generator=gen(0))
    assert along_freq.shape == (4, 1, 1, 100)
    short = RandomCrop(150)(x)
    assert short.shape == (4, 1, 2, 150) and torch.equal(short[..., :100], x) and (short[..., 100:] == 0).all()
    with pytest.raises(ValueError, match="dim"):
        RandomCrop(10, dim=0)(x)


def test_compose_random_apply_and_two_views():
    x = torch.randn(8, 1, 1000)
    shift, fade = TimeShift(SR, 0.05), Fade()
    g = gen(0)
    manual = fade(shift(x, generator=g), generator=g)
    assert torch.equal(Compose(shift, fade)(x, generator=gen(0)), manual)
    assert nn.Sequential(shift, fade)(x).shape == x.shape  # also composes with nn.Sequential

    assert torch.equal(RandomApply(WhiteNoise(), p=0.0)(x, generator=gen(0)), x)
    noisy = RandomApply(WhiteNoise(), p=0.5)(x, generator=gen(0))
    changed = [not torch.equal(a, b) for a, b in zip(x, noisy)]
    assert any(changed) and not all(changed)

    v1, v2 = TwoViews(Compose(shift, fade))(x, generator=gen(0))
    assert v1.shape == v2.shape == x.shape and not torch.equal(v1, v2)


def test_clar_registry_builds_every_augmentation():
    x = torch.randn(2, 1, 4000) * 0.1
    for name in CLAR_AUGMENTATIONS:
        assert clar_augmentation([name], SR)(x, generator=gen(0)).shape == x.shape
    assert len(clar_augmentation(["fade", "time_mask"], SR)) == 2
    with pytest.raises(KeyError, match="unknown"):
        clar_augmentation(["reverb"], SR)


def test_extra_repr_lists_hyper_parameters():
    assert "max_semitones=15" in repr(PitchShift(16000))
    assert "snr_db=(0.0, 20.0)" in repr(ColoredNoise()) and "brown" in repr(ColoredNoise())
    assert "time_width=160" in repr(SpecAugment())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_transforms_run_on_gpu_and_match_cpu_with_a_cpu_generator():
    x = torch.randn(4, 1, 2000) * 0.1
    for name, make in RANDOM_TRANSFORMS.items():
        transform = make()
        cpu = transform(x, generator=gen(0))
        gpu = transform(x.cuda(), generator=gen(0))
        assert gpu.device.type == "cuda"
        assert torch.allclose(cpu, gpu.cpu(), atol=1e-4), name
    spec = torch.randn(2, 1, 128, 400)
    assert torch.equal(SpecAugment()(spec, generator=gen(0)), SpecAugment()(spec.cuda(), generator=gen(0)).cpu())


def test_randint_draws_both_ends_equally_and_follows_the_generator():
    draws = randint(2, 4, 6000, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(draws, minlength=5)[:2].sum() == 0
    assert torch.allclose(torch.bincount(draws)[2:].float() / 6000, torch.full((3,), 1 / 3), atol=0.03)
    assert torch.equal(draws, randint(2, 4, 6000, generator=torch.Generator().manual_seed(0)))
    per_item = randint(torch.tensor([0, 10]), torch.tensor([0, 10]), 2)  # tensor bounds, one per item
    assert per_item.tolist() == [0, 10]


def test_trim_or_pad_end_keeps_the_start():
    x = torch.arange(1.0, 6.0).view(1, 5)
    assert trim_or_pad_end(x, 3).tolist() == [[1, 2, 3]]
    assert trim_or_pad_end(x, 7).tolist() == [[1, 2, 3, 4, 5, 0, 0]]
    assert torch.equal(trim_or_pad_end(x, 5), x)


@pytest.mark.parametrize("shape", FADE_SHAPES)
def test_fade_equals_torchaudio_fade_item_by_item(shape):
    """The batched envelope is torchaudio's Fade with each item's drawn lengths (the reference implementation)."""
    import torchaudio.transforms as AT

    from respkit.augment.random import randint

    x = torch.randn(6, 1, 1000)
    out = Fade(max_fraction=0.5, shapes=(shape,))(x, generator=gen(3))
    draws = gen(3)
    fade_in, fade_out = randint(0, 500, 6, generator=draws), randint(0, 500, 6, generator=draws)
    expected = torch.stack([AT.Fade(int(fade_in[i]), int(fade_out[i]), shape)(x[i]) for i in range(6)])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
