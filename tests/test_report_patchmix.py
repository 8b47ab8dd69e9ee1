"""respkit.report.patchmix (chapter 4's tables and sentences) on hand-made inputs."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from respkit.mix import MixResult
from respkit.report import patchmix as report


class _Items(SimpleNamespace):
    """A stand-in for a dataset: its attributes, and a length from its groups."""

    def __len__(self):
        return len(self.groups)


def _result(score, floor=0.25, seeds=(0, 1), temperature=0.06, simulated=False, **extra):
    metrics = [{"score": score, "floor": floor, "sp": 0.7, "se": 0.6, "pred_classes": 2} for _ in seeds]
    return {
        "recipe": "patchmix.cl",
        "seeds": list(seeds),
        "metrics_per_seed": metrics,
        "config": {
            "dataset": "sprsound",
            "task": "1-1",
            "temperature": temperature,
            "selection": "val",
            "train": {"select_metric": None},
            **extra,
        },
        "data": {"sprsound": {"simulated": simulated, "origin": "simulator" if simulated else "RESPKIT_DATA"}},
        "summary": {
            "score": {"mean": score, "std": 0.01, "n": len(seeds)},
            "floor": {"mean": floor, "std": 0.0, "n": len(seeds)},
        },
    }


def test_data_of_names_dataset_task_and_kind():
    assert report.data_of(_result(0.7)) == "sprsound task 1-1 (real data, RESPKIT_DATA)"
    assert report.data_of(_result(0.7, simulated=True)) == "sprsound task 1-1 (simulated data, simulator)"


def test_icbhi_text_says_what_this_build_holds():
    cycles = _Items(
        groups=np.array([101, 101, 102]),
        skipped={"recordings without audio": 7},
        meta=[SimpleNamespace(recording=r) for r in ("a", "a", "b")],
    )
    real = report.icbhi_text(cycles, simulated=False)
    assert "3 training cycles with audio, from 2 recordings of 2 patients" in real
    assert "7 further training recordings" in real and "**real** recording" in real
    simulated = report.icbhi_text(cycles, simulated=True)
    assert "**simulated**" in simulated and "further" not in simulated


def test_paint_mix_copies_the_partner_cell_of_each_mixed_patch():
    # A 36 x 36 image has a 3 x 3 grid; the last row and column cells are 16 wide.
    pair = torch.stack([torch.zeros(1, 36, 36), torch.ones(1, 36, 36)])
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0, 1] = mask[2, 2] = True
    painted = report.paint_mix(pair, MixResult(mixed=pair, perm=torch.tensor([1, 0]), lam=7 / 9, mask=mask))
    expected = torch.zeros(1, 36, 36)
    expected[:, 0:10, 10:20] = 1
    expected[:, 20:36, 20:36] = 1
    assert torch.equal(painted, expected)


def test_find_mix_keeps_a_draw_where_item_0_borrows_about_half():
    grid = torch.randn(2, 3, 8, 4)
    result = report.find_mix(grid, "random")
    assert int(result.perm[0]) == 1 and 0.35 < result.lam < 0.65
    with pytest.raises(RuntimeError):
        report.find_mix(grid, "random", low=0.99, high=1.0, tries=3)


def test_mixed_label_table_spreads_the_target_and_takes_the_union():
    table = report.mixed_label_table(
        ["normal", "crackle", "wheeze", "both"], lam=0.6, pairs=[(0, 1), (1, 2)]
    ).splitlines()
    assert table[2] == "| normal | crackle | 0.6, 0.4, 0.0, 0.0 | crackle |"
    assert table[3] == "| crackle | wheeze | 0.0, 0.6, 0.4, 0.0 | both |"


def test_settings_table_lists_only_the_differences():
    @dataclasses.dataclass(frozen=True)
    class Train:
        epochs: int
        lr: float = 0.1

    @dataclasses.dataclass(frozen=True)
    class Config:
        dataset: str
        size: dict
        train: Train

    table, same = report.settings_table(Config("a", {"depth": 2}, Train(8)), Config("a", {"depth": 12}, Train(50)))
    assert table.splitlines()[2:] == ["| `size` | depth=2 | depth=12 |", "| `train.epochs` | 8 | 50 |"]
    assert same == "`dataset=a`, `train.lr=0.1`"


def test_profile_data_text_reads_each_config_and_this_build():
    configs = {
        "full": SimpleNamespace(dataset="icbhi", task=None, max_train=None),
        "quick": SimpleNamespace(dataset="sprsound", task="1-1", max_train=2000),
    }
    data = SimpleNamespace(icbhi=SimpleNamespace(simulated=False), sprsound=SimpleNamespace(simulated=True))
    text = report.profile_data_text(configs, data, "quick")
    assert "- `full`: icbhi (four classes, official split), every item." in text
    assert "- `quick`: sprsound task 1-1, at most 2000 training items." in text
    assert text.endswith("train on **simulated** sprsound data.")
    assert "**real** icbhi" in report.profile_data_text(configs, data, "full")


def test_padding_stats_counts_repeated_frames_per_class():
    x = torch.randn(2, 4, 5)
    x[0, :, 3:] = x[0, :, 2:3]  # item 0 (class 0): frames 3 and 4 repeat frame 2
    stats = report.padding_stats(x, torch.tensor([0, 1]), ["normal", "adventitious"])
    assert stats["normal"] == (1, 0.5, 1.0) and stats["adventitious"] == (1, 0.0, 0.0)
    text = report.padding_table(stats)
    assert "| normal | 1 | 50% | 100% |" in text and "differ by 50 points: length alone" in text


def test_loop_text_compares_the_last_steps_with_a_blind_guess():
    losses = {"ce": [0.7] * 10 + [0.5] * 10, "cl": [3.0] * 10 + [2.0] * 10}
    text = report.loop_text(losses, n_classes=2)
    assert "from 0.700 (mean of the first 10) to 0.500" in text and "below the ln 2 = 0.693" in text
    assert "from 3.00 to 2.00" in text
    assert "still at" in report.loop_text({"ce": [0.69] * 20, "cl": [1.0] * 20}, n_classes=2)


def test_comparison_split_avoids_the_split_that_chose_the_epoch():
    quick = _result(0.7)
    assert report.comparison_split(quick) == "val"
    full = _result(0.7)
    full["config"]["train"]["select_metric"] = "score"
    full["summary"]["test_score"] = {"mean": 0.6, "std": 0.0, "n": 2}
    assert report.comparison_split(full) == "test"


def test_a_flagged_run_is_named_and_not_compared():
    runs = {"finetune": _result(0.7), "cl": _result(0.2)}  # cl at or below the always-normal floor
    text = report.comparison_text(runs, ["cl"])
    assert "`cl` against `finetune`: not compared (`cl` at or below always-normal)" in text
    assert list(report.flagged_scores(runs)) == ["finetune", "cl (at or below always-normal)"]


def test_bench_temperature_text_reports_score_floor_and_flag():
    run = SimpleNamespace(results=_result(0.54, seeds=(0, 1, 2)))
    text = report.bench_temperature_text([run])
    assert "τ = 0.06, on sprsound task 1-1" in text and "Score 54.0 ± 1.0" in text
    assert "floor of 25.0; it learns" in text
    assert "no recorded" in report.bench_temperature_text([])


def test_bench_temperature_text_names_chance_and_the_fine_tuned_run_beside_it():
    y = np.array([0] * 8 + [1] * 2)
    predictions = {0: {"val": {"y_true": y, "y_pred": y}}}
    cl = SimpleNamespace(results=_result(0.54), predictions=predictions)
    finetune = SimpleNamespace(results={**_result(0.59), "recipe": "patchmix.finetune"}, predictions=predictions)
    text = report.bench_temperature_text([finetune, cl])
    assert "and a best blind guess of 50.0; it learns, 5.0 points below `patchmix.finetune`" in text
    low = SimpleNamespace(results=_result(0.45), predictions=predictions)
    assert "flagged: a seed at or below chance" in report.bench_temperature_text([finetune, low])
    assert "points below" not in report.bench_temperature_text([finetune, low])


def test_events_text_counts_items_patients_and_classes():
    train = _Items(labels=np.array([0, 0, 1]), groups=np.array(["p1", "p2", "p2"]), classes=["normal", "adventitious"])
    text = report.events_text(train, simulated=False)
    assert "3 training events of 2 patients (2 normal, 1 adventitious): real SPRSound recordings" in text


def test_the_score_panel_promises_a_ring_only_where_a_run_chose_its_epoch():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from respkit.train.trainer import History

    def artifact(best_epoch):
        history = History(train=[{"loss": 1.0}, {"loss": 0.8}], eval=[{"score": 0.4}, {"score": 0.5}])
        history.best_epoch = best_epoch
        y = np.array([0, 1, 1, 0])
        return SimpleNamespace(
            history=history, predictions={"val": SimpleNamespace(y_true=y, y_pred=y)}, classes=["Normal", "Adv"]
        )

    curves, confusions = report.plot_training({"finetune": artifact(None), "cl": artifact(None)})
    assert curves.axes[1].get_title() == "validation Score (the last epoch is kept)"
    plt.close("all")
    curves, _ = report.plot_training({"finetune": artifact(1), "cl": artifact(0)})
    assert curves.axes[1].get_title() == "validation Score (ring: kept)"
    plt.close("all")
