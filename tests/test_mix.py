"""respkit.mix: MixUp and Patch-Mix mix what they say, and report it."""

import pytest
import torch

from respkit.augment.random import sample_beta
from respkit.mix import MixResult, MixUp, PatchMix


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def is_permutation(perm: torch.Tensor, n: int) -> bool:
    return torch.equal(perm.sort().values, torch.arange(n))


def runs(flags: torch.Tensor) -> int:
    """Number of runs of True in a 1-D bool tensor."""
    padded = torch.cat([torch.zeros(1, dtype=torch.bool), flags])
    return int((padded[1:] & ~padded[:-1]).sum())


def test_mixup_mixes_with_its_lambda_and_permutation():
    x = torch.randn(8, 1, 16, 20)
    result = MixUp(alpha=1.0)(x, generator=gen(0))
    assert isinstance(result, MixResult) and 0.0 <= result.lam <= 1.0
    assert is_permutation(result.perm, 8)
    assert torch.allclose(result.mixed, result.lam * x + (1 - result.lam) * x[result.perm])
    again = MixUp(alpha=1.0)(x, generator=gen(0))
    assert again.lam == result.lam and torch.equal(again.perm, result.perm)
    assert MixUp(alpha=1.0)(x, generator=gen(1)).lam != result.lam


def test_beta_draws_follow_alpha():
    g = gen(0)
    uniform = torch.tensor([sample_beta(1.0, g) for _ in range(2000)])
    assert uniform.mean().item() == pytest.approx(0.5, abs=0.03)
    assert uniform.var().item() == pytest.approx(1 / 12, abs=0.01)  # Beta(1, 1) = U(0, 1)
    peaked = torch.tensor([sample_beta(0.2, g) for _ in range(2000)])
    assert ((peaked < 0.1) | (peaked > 0.9)).float().mean() > 0.6  # Beta(0.2, 0.2) sits near 0 and 1


@pytest.mark.parametrize(
    "mode, contiguous", [("random", False), ("time", False), ("time", True), ("freq", False), ("freq", True)]
)
def test_patch_mix_takes_partner_patches_exactly_where_masked(mode, contiguous):
    patches = torch.randn(6, 12, 20, 4)  # [B, H (freq), W (time), D]
    mixer = PatchMix(mode=mode, contiguous=contiguous)
    for seed in range(10):
        result = mixer(patches, generator=gen(seed))
        mask, perm = result.mask, result.perm
        assert mask.shape == (12, 20) and mask.dtype == torch.bool
        assert is_permutation(perm, 6)
        assert result.lam == pytest.approx(1 - mask.float().mean().item())
        expected = torch.where(mask[None, :, :, None], patches[perm], patches)
        assert torch.equal(result.mixed, expected)
        assert torch.equal(result.mixed[:, mask], patches[perm][:, mask])
        assert torch.equal(result.mixed[:, ~mask], patches[:, ~mask])
        if mode == "time":
            assert torch.equal(mask.any(0), mask.all(0))  # whole time columns
            if contiguous:
                assert runs(mask[0]) <= 1
        if mode == "freq":
            assert torch.equal(mask.any(1), mask.all(1))  # whole frequency rows
            if contiguous:
                assert runs(mask[:, 0]) <= 1


def test_patch_mix_is_reproducible_and_varies():
    patches = torch.randn(4, 12, 20, 3)
    a = PatchMix("random")(patches, generator=gen(0))
    b = PatchMix("random")(patches, generator=gen(0))
    assert torch.equal(a.mixed, b.mixed) and torch.equal(a.mask, b.mask) and a.lam == b.lam
    lams = {PatchMix("random")(patches, generator=gen(s)).lam for s in range(10)}
    assert len(lams) > 5
    # Scattered columns happen when not asked for contiguous segments.
    assert any(runs(PatchMix("time")(patches, generator=gen(s)).mask[0]) > 1 for s in range(10))


@pytest.mark.parametrize("mode, units", [("random", 12 * 20), ("time", 20), ("freq", 12)])
def test_patch_mix_mixes_the_share_its_beta_draw_asks_for(mode, units):
    # PatchMix's first draw from the generator is λ0 ~ Beta(α, α); replaying it gives the expected count.
    patches = torch.randn(3, 12, 20, 2)
    for seed in range(10):
        lam0 = sample_beta(0.5, gen(seed))
        result = PatchMix(mode, alpha=0.5)(patches, generator=gen(seed))
        mixed_units = round((1 - lam0) * units)
        assert int(result.mask.sum()) == mixed_units * (12 * 20 // units)
        assert result.lam == pytest.approx(1 - mixed_units / units)


def test_patch_mix_lambda_is_beta_on_average():
    patches = torch.zeros(2, 12, 79, 1)
    g = gen(0)
    lams = torch.tensor([PatchMix("random")(patches, generator=g).lam for _ in range(500)])
    assert lams.mean().item() == pytest.approx(0.5, abs=0.05)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="patches"):
        PatchMix()(torch.randn(4, 12, 20))
    with pytest.raises(ValueError, match="contiguous"):
        PatchMix("random", contiguous=True)
    with pytest.raises(ValueError, match="mode"):
        PatchMix("diagonal")
    with pytest.raises(ValueError, match="alpha"):
        MixUp(alpha=0)
