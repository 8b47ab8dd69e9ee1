"""respkit.report.lungsrad: chapter 5's tables and computed sentences, on hand-made inputs."""

import math
from types import SimpleNamespace

import pytest
import torch

from respkit.report import lungsrad


def test_stage_map_size_follows_the_stem_and_the_halvings():
    # 128 bins x 798 frames: stem 32 x 200, then 16 x 100, then 8 x 50 at stage 2 (the paper's map).
    assert lungsrad.stage_map_size(128, 798, stage=0) == (32, 200)
    assert lungsrad.stage_map_size(128, 798, stage=2) == (8, 50)
    assert lungsrad.stage_map_size(32, 76, stage=2) == (2, 5)  # odd sizes round up at each halving


def test_coarsest_pattern_kept_is_one_without_blur_and_small_on_a_two_row_map():
    assert lungsrad.coarsest_pattern_kept(1, 1.0, 8, 50) == pytest.approx(1.0)  # a 1 x 1 kernel keeps all
    assert lungsrad.coarsest_pattern_kept(5, 3.0, 8, 50) == pytest.approx(0.88, abs=0.01)  # the paper's
    assert lungsrad.coarsest_pattern_kept(5, 3.0, 2, 5) < 0.25
    assert lungsrad.coarsest_pattern_kept(3, 0.44, 2, 5) == pytest.approx(0.88, abs=0.02)


def _config(**changes):
    base = dict(
        duration=8.0,
        n_mels=128,
        frames=798,
        spectral_stage=2,
        spectral_blocks=(2, 3),
        spectral_kernel=5,
        spectral_sigma=3.0,
    )
    return SimpleNamespace(**(base | changes))


def test_smoothing_text_computes_both_maps():
    paper = _config()
    assert "8 x 50 cells" in lungsrad.smoothing_text(paper, paper)
    assert lungsrad.smoothing_text(paper, paper).endswith("the paper's kernel on the paper's input.")
    small = _config(duration=1.5, n_mels=32, frames=76, spectral_blocks=(0, 1), spectral_kernel=3, spectral_sigma=0.44)
    text = lungsrad.smoothing_text(paper, small)
    assert "2 x 5 cells" in text and "kernel 3, σ = 0.44, which keeps 87 %" in text  # 0.874


def _curves(values_by_block):
    freqs = torch.tensor([0.0, 1.0])
    return {block: (freqs, torch.tensor([0.0, v])) for block, v in values_by_block.items()}


def test_high_frequency_table_and_reading():
    profiles = {
        ("AST", "initial weights"): _curves({"a": -2.0, "b": -1.0}),
        ("DASS", "initial weights"): _curves({"c": -0.5}),
    }
    table = lungsrad.high_frequency_table(profiles).splitlines()
    assert table[2] == "| AST, initial weights | 2 of 2 | -1.50 | -2.00 | -1.00 |"
    assert lungsrad.profile_reading(profiles) == (
        "In this run, on average over the blocks read: initial weights, DASS keeps more than AST (-0.50 against -1.50)."
    )


def test_a_map_without_a_frequency_above_zero_is_not_read():
    curves = _curves({"a": -2.0}) | {"last": (torch.tensor([0.0]), torch.tensor([0.0]))}  # a 1 x 3 map
    assert lungsrad.high_frequency(curves)[0] == -2.0 and math.isnan(lungsrad.high_frequency(curves)[1])
    assert lungsrad.high_frequency_table({("DASS", "fine-tuned"): curves}).splitlines()[2] == (
        "| DASS, fine-tuned | 1 of 2 | -2.00 | -2.00 | -2.00 |"
    )
    assert lungsrad.smoothing_table({"m": curves}, []).splitlines()[3] == "| `last` | – |"


def test_smoothing_table_and_effect():
    curves = {"without": _curves({"s.0": -1.0, "s.1": -1.0}), "with": _curves({"s.0": -1.0, "s.1": -1.5})}
    assert lungsrad.smoothing_table(curves, ["s.1"]).splitlines()[3] == "| `s.1` (smoothed) | -1.00 | -1.50 |"
    assert "lower with the smoothing, by 0.50 to 0.50" in lungsrad.smoothing_effect_text(curves, ["s.1"])


def test_loop_text_reads_each_term_and_the_chance_loss():
    losses = {"ce": [math.log(2)] * 20, "cl_time": [3.0] * 10 + [2.0] * 10}
    text = lungsrad.loop_text(losses, 2)
    assert "`ce` stayed from 0.693 to 0.693" in text and "`cl_time` fell from 3.000 to 2.000" in text
    assert "ends within 0.02 of ln 2 = 0.693" in text


def _result(scores, floor=0.25, chance=0.5):
    per_seed = [{"score": s, "floor": floor, "chance": chance, "sp": 0.5, "se": 0.5} for s in scores]
    return {"metrics_per_seed": per_seed, "summary": {"chance": {"mean": chance}, "floor": {"mean": floor}}}


def test_weakest_text_flags_a_seed_at_chance():
    assert "**at or below chance" in lungsrad.weakest_text({"a": _result([0.7, 0.5])})
    assert "flag" not in lungsrad.weakest_text({"a": _result([0.7, 0.6])})
    assert lungsrad.weakest_text({"a": _result([0.7, 0.6])}).startswith("The weakest seed of any row scores 60.0;")


def test_comparison_text_does_not_compare_a_flagged_run():
    results = {"finetune": _result([0.7, 0.7]), "spectral": _result([0.7, 0.2])}  # 0.2: below the floor
    assert lungsrad.comparison_text(results) == (
        "- `spectral` against `finetune`: not compared, a run is flagged (at or below always-normal)."
    )


def test_paper_table_and_config_differences():
    table = lungsrad.paper_table().splitlines()
    assert len(table) == 2 + len(lungsrad.PAPER) and table[0].count("|") == 6  # five columns
    assert lungsrad.paper_score("full") == pytest.approx(0.6448)
    from dataclasses import dataclass, field

    @dataclass
    class Train:
        lr: float = 1e-3

    @dataclass
    class Config:
        n_mels: int = 128
        model: str = "dass_small"
        train: Train = field(default_factory=Train)

    lines = lungsrad.config_differences(Config(), Config(n_mels=32, train=Train(lr=5e-5)))
    assert [line.split()[0] for line in lines] == ["n_mels", "train.lr"]
    assert len({line.index("full:") for line in lines}) == 1  # aligned, whatever the names' lengths
    assert len({line.index("quick:") for line in lines}) == 1


def test_scale_text_says_what_the_profile_can_show():
    assert "simulated sprsound" in lungsrad.scale_text("quick", "sprsound", True)
    assert "paper's protocol, on icbhi" in lungsrad.scale_text("full", "icbhi", False)
