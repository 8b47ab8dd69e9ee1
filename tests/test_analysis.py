"""Relative log amplitude on maps of known spectrum, the Gaussian smoothing, hooks and token grids."""

import math

import pytest
import torch

from respkit.analysis import FeatureRecorder, relative_log_amplitude, spectral_profile, tokens_to_grid
from respkit.models import create_model
from respkit.models.smoothing import GaussianSmoothing, gaussian_kernel2d


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def checkerboard(h, w):
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((-1.0) ** (i + j)).double()


def test_low_pass_map_follows_its_filter():
    """Noise filtered by G(f) = exp(-|f|^2 / (2 s^2)) has relative log amplitude log G along the diagonal."""
    n, s2 = 32, 1 / 24  # s^2 in (cycles / sample)^2: log G = -6 at the corner (f = (1/2, 1/2))
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    gain = torch.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * s2))
    white = noise(16, 8, n, n)
    smooth = torch.fft.ifft2(torch.fft.fft2(white) * gain).real
    freqs, values = relative_log_amplitude(smooth)
    assert freqs[0] == 0 and freqs[-1] == 1 and len(freqs) == n // 2 + 1
    # log |F G| = log |F| + log G bin by bin, so the difference to the unfiltered noise is log G exactly
    expected = -(2 * (freqs.double() / 2) ** 2) / (2 * s2)  # diagonal point (f/2, f/2) cycles / sample
    torch.testing.assert_close((values - relative_log_amplitude(white)[1]).double(), expected, atol=1e-4, rtol=0)
    assert values[-1] < -5  # a strongly falling curve


def test_white_noise_is_flat():
    _, values = relative_log_amplitude(noise(16, 16, 32, 32))
    assert values[0] == 0 and values.abs().max() < 0.5


def test_checkerboard_peaks_at_the_corner():
    x = 0.5 + checkerboard(16, 16).expand(2, 3, 16, 16)
    freqs, values = relative_log_amplitude(x)
    assert values.argmax() == len(values) - 1 and freqs[-1] == 1
    assert values[-1].item() == pytest.approx(math.log(2.0), abs=1e-4)  # |F(pi, pi)| = 2 |F(0, 0)|


def test_non_square_maps():
    freqs, values = relative_log_amplitude(noise(2, 4, 8, 32))
    assert len(freqs) == 5 and freqs[-1] == 1 and values.shape == (5,)


def test_gaussian_kernel_and_smoothing_attenuation():
    g = gaussian_kernel2d(5, 3.0)
    assert g.sum().item() == pytest.approx(1.0) and g.shape == (5, 5)
    smooth = GaussianSmoothing(3)
    const = torch.full((2, 7, 9, 3), 2.5)  # [B, H, W, C]: constant, borders included (replicate padding)
    torch.testing.assert_close(smooth(const), const)
    board = checkerboard(20, 20)[None, :, :, None].expand(1, 20, 20, 3).float()
    out = smooth(board)[:, 2:-2, 2:-2]  # interior
    offsets = torch.arange(-2, 3, dtype=torch.float64)
    g1 = torch.exp(-(offsets**2) / 18)
    response = ((g1 * (-1.0) ** offsets).sum() / g1.sum()) ** 2  # the filter's gain at (pi, pi), about 0.025
    torch.testing.assert_close(out, board[:, 2:-2, 2:-2] * response.float())
    assert response < 0.05


def test_tokens_to_grid_round_trip():
    grid = noise(2, 6, 3, 4).float()  # [B, D, H, W]
    tokens = torch.cat([torch.zeros(2, 2, 6), grid.flatten(2).transpose(1, 2)], dim=1)  # cls, dist, patches
    torch.testing.assert_close(tokens_to_grid(tokens, (3, 4), n_prefix_tokens=2), grid)
    with pytest.raises(ValueError):
        tokens_to_grid(tokens, (3, 5), n_prefix_tokens=2)


def test_recorder_captures_dass_stages():
    torch.manual_seed(0)
    model = create_model("dass_tiny").eval()
    x = torch.randn(2, 1, 64, 32)
    names = ["patch_embed", "stages.0.blocks.0", "stages.2.blocks.1"]
    with FeatureRecorder(model, names) as rec:
        model(x)
    assert rec.outputs["patch_embed"].shape == (2, 16, 8, 32)
    assert rec.outputs["stages.0.blocks.0"].shape == (2, 16, 8, 32)
    assert rec.outputs["stages.2.blocks.1"].shape == (2, 4, 2, 128)  # before the stage's downsample
    with FeatureRecorder(model, lambda name, m: name.endswith("blocks.0") and "stages.3" in name) as rec2:
        model(x)
    assert list(rec2.outputs) == ["stages.3.blocks.0"]
    model(x)  # hooks are gone after the block
    assert rec.outputs["stages.0.blocks.0"].shape == (2, 16, 8, 32) and len(rec2.outputs) == 1
    with pytest.raises(KeyError):
        FeatureRecorder(model, ["stages.7"])


def test_spectral_profile_on_dass():
    torch.manual_seed(0)
    model = create_model("dass_tiny").train()
    curves = spectral_profile(
        model,
        torch.randn(2, 1, 64, 64),
        ["stages.0.blocks.0", "stages.1.blocks.0"],
        to_map=lambda t: t.permute(0, 3, 1, 2),
    )
    assert model.training  # mode restored
    freqs, values = curves["stages.0.blocks.0"]
    assert len(freqs) == 9 and values[0] == 0 and torch.isfinite(values).all()
    assert len(curves["stages.1.blocks.0"][0]) == 5
