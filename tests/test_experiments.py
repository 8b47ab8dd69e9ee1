"""Experiments: results files with provenance, reuse without retraining, the recipe registry, the CLI."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import respkit.experiments as experiments
from respkit.__main__ import main, parse_value
from respkit.experiments import load_results, run_experiment, run_experiments
from respkit.profiles import seed_processes
from respkit.recipes import common, get_recipe, list_recipes, register_recipe
from respkit.recipes.base import Recipe, RecipeConfig, Stage
from respkit.report import chance_level, degenerate, margins, results_table
from respkit.train import Supervised, TrainConfig

PROVENANCE_KEYS = {
    "recipe",
    "command",
    "config",
    "profile",
    "data",
    "hardware",
    "seeds",
    "metrics_per_seed",
    "summary",
    "git_commit",
    "git_dirty",
    "git_source",
    "started",
    "finished",
    "wall_seconds",
    "cpu_seconds",
    "respkit_version",
}


@dataclass(frozen=True)
class ToyConfig(RecipeConfig):
    items: int = 64
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, lr=1e-2, amp=False, log_every=2))

    @classmethod
    def quick(cls) -> ToyConfig:
        return cls(items=16)


@register_recipe("toy")
class Toy(Recipe):
    """A linear classifier of random points, for the tests."""

    Config = ToyConfig
    seeds_run: list[int] = []

    def data(self, config: ToyConfig, data) -> common.Splits:
        if config.items < 1:
            raise ValueError(f"toy: {config.items} items")
        seed = torch.initial_seed()  # the run's: its caller seeded torch with it
        self.seeds_run.append(seed)
        print(f"toy trains seed {seed}")

        def points(n: int) -> common.InMemory:
            x = torch.randn(n, 4)
            return common.InMemory(x, (x[:, 0] > 0).long().numpy(), np.arange(n), ["Normal", "Other"])

        return common.Splits(train=points(config.items), val=points(16))

    def model(self, config: ToyConfig, splits: common.Splits) -> nn.Module:
        return nn.Linear(4, 2)

    def stages(self, config: ToyConfig, splits: common.Splits, model: nn.Module):
        yield Stage("train", Supervised(model), DataLoader(splits.train, batch_size=4, shuffle=True), config.train)


class FakeData:
    def __init__(self, root: str = "/data/a", simulated: bool = True) -> None:
        self.root, self.simulated = root, simulated

    def describe(self) -> dict:
        return {"icbhi": {"root": self.root, "origin": "cache", "simulated": self.simulated}}


@pytest.fixture(autouse=True)
def no_data_lookup(monkeypatch):
    """Keep data=None from locating (or simulating) the real datasets."""
    monkeypatch.setattr(experiments, "resolve_default_data", lambda: FakeData())


def test_results_file_has_provenance_and_is_reused(tmp_path, capsys):
    Toy.seeds_run.clear()
    results = run_experiment("toy", profile="quick", seeds=(0, 1), data=FakeData(), out_dir=tmp_path)
    path = Path(results["path"])
    assert path.parent == tmp_path and path.name.startswith("toy-quick-") and len(path.stem) == len("toy-quick-") + 8
    stored = json.loads(path.read_text())
    assert set(stored) == PROVENANCE_KEYS
    assert stored["config"]["train"]["lr"] == 1e-2 and stored["seeds"] == [0, 1] and Toy.seeds_run == [0, 1]
    assert stored["data"] == FakeData().describe()
    assert set(stored["hardware"]) == {
        "platform",
        "python",
        "torch",
        "cpu_count",
        "torch_threads",
        "cuda_device",
        "seed_processes",
    }
    scores = [metrics["score"] for metrics in stored["metrics_per_seed"]]
    assert stored["summary"]["score"]["mean"] == pytest.approx(statistics.mean(scores))
    assert 0 < stored["cpu_seconds"] <= stored["wall_seconds"] * stored["hardware"]["cpu_count"] + 1
    assert stored["summary"]["score"]["std"] == pytest.approx(statistics.stdev(scores))  # the sample std
    assert stored["summary"]["score"]["n"] == 2 and len(stored["metrics_per_seed"]) == 2
    assert stored["command"].startswith("run_experiment('toy'")
    assert (tmp_path / "work" / path.stem / "seed1" / "train" / "last.pt").exists()  # the stage's checkpoints

    # Same run, data moved elsewhere on disk: loaded, not trained again.
    capsys.readouterr()
    again = run_experiment("toy", profile="quick", seeds=(0, 1), data=FakeData(root="/elsewhere"), out_dir=tmp_path)
    assert Toy.seeds_run == [0, 1] and again["path"] == str(path) and again["summary"] == stored["summary"]
    assert f"loaded results from {path.name}" in capsys.readouterr().out

    # Different data, or reuse=False: trained again into a new file; the old one is never overwritten.
    before = path.read_bytes()
    real = run_experiment("toy", profile="quick", seeds=(0, 1), data=FakeData(simulated=False), out_dir=tmp_path)
    forced = run_experiment("toy", profile="quick", seeds=(0, 1), data=FakeData(), out_dir=tmp_path, reuse=False)
    assert Path(real["path"]).name == f"{path.stem}-2.json" and Path(forced["path"]).name == f"{path.stem}-3.json"
    assert path.read_bytes() == before and Toy.seeds_run == [0, 1] * 3
    # ...and each is found again by its own data.
    assert (
        run_experiment("toy", profile="quick", seeds=(0, 1), data=FakeData(simulated=False), out_dir=tmp_path)["path"]
        == real["path"]
    )
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(
        [path.name, f"{path.stem}-2.json", f"{path.stem}-3.json"]
    )  # no temporary files either


def test_seeds_in_processes_of_their_own_give_the_same_results_and_log(tmp_path, monkeypatch, capsys):
    # As in a notebook, whatever started pytest: a fresh process has no script to run again.
    monkeypatch.setitem(sys.modules, "__main__", SimpleNamespace(__spec__=None))
    in_turn = run_experiment("toy", profile="quick", seeds=(0, 1, 2), data=FakeData(), out_dir=tmp_path / "a")
    log_in_turn = capsys.readouterr().out
    monkeypatch.setenv("RESPKIT_SEED_PROCESSES", "2")
    Toy.seeds_run.clear()
    side_by_side = run_experiment("toy", profile="quick", seeds=(0, 1, 2), data=FakeData(), out_dir=tmp_path / "b")
    log_side_by_side = capsys.readouterr().out
    assert Toy.seeds_run == []  # trained in the other processes
    assert side_by_side["metrics_per_seed"] == in_turn["metrics_per_seed"]  # the losses too, to the last digit
    assert (in_turn["hardware"]["seed_processes"], side_by_side["hardware"]["seed_processes"]) == (1, 2)
    assert side_by_side["cpu_seconds"] > 0
    # What each seed's process printed comes back, in seed order, as if the seeds had taken turns.
    lines = [line for line in log_side_by_side.splitlines() if line.startswith("toy ")]
    assert lines == [line for line in log_in_turn.splitlines() if line.startswith("toy ")]
    assert lines[:2] == ["toy trains seed 0", f"toy seed 0: {experiments.headline(in_turn['metrics_per_seed'][0])}"]
    # A seed that fails in its process fails the experiment here, with its own error.
    with pytest.raises(ValueError, match="toy: 0 items"):
        run_experiment(
            "toy", profile="quick", seeds=(0, 1), data=FakeData(), out_dir=tmp_path / "d", overrides={"items": 0}
        )
    # A plain script would be run again by each fresh process: its seeds take turns.
    monkeypatch.setitem(sys.modules, "__main__", SimpleNamespace(__spec__=None, __file__="train.py"))
    script = run_experiment("toy", profile="quick", seeds=(0, 1, 2), data=FakeData(), out_dir=tmp_path / "c")
    assert script["hardware"]["seed_processes"] == 1 and Toy.seeds_run == [0, 1, 2]


def test_run_experiments_trains_independent_experiments_side_by_side(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "__main__", SimpleNamespace(__spec__=None))
    alone = {
        items: run_experiment(
            "toy", profile="quick", data=FakeData(), out_dir=tmp_path / "alone", overrides={"items": items}
        )
        for items in (16, 24)
    }
    monkeypatch.setenv("RESPKIT_SEED_PROCESSES", "2")
    runs = {f"{items} items": {"name": "toy", "overrides": {"items": items}} for items in (16, 24)}
    together = run_experiments(runs, profile="quick", data=FakeData(), out_dir=tmp_path / "together")
    assert list(together) == ["16 items", "24 items"]
    for items, results in zip((16, 24), together.values()):
        # Two one-seed experiments shared two processes; each file is the one it would have had alone.
        assert results["hardware"]["seed_processes"] == 2
        assert results["metrics_per_seed"] == alone[items]["metrics_per_seed"]
        assert Path(results["path"]).name == Path(alone[items]["path"]).name
    capsys.readouterr()
    again = run_experiments(runs, profile="quick", data=FakeData(), out_dir=tmp_path / "together")
    assert [r["path"] for r in again.values()] == [r["path"] for r in together.values()]
    assert capsys.readouterr().out.count("loaded results from") == 2
    with pytest.raises(ValueError, match="same experiment twice"):
        run_experiments(
            {"a": {"name": "toy"}, "b": {"name": "toy"}}, profile="quick", data=FakeData(), out_dir=tmp_path / "twice"
        )


def test_seed_processes_spread_quick_cpu_runs_over_the_cores(monkeypatch):
    monkeypatch.delenv("RESPKIT_SEED_PROCESSES")
    monkeypatch.setenv("RESPKIT_DEVICE", "cpu")
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert seed_processes("quick", 3) == 3 and seed_processes("quick", 5) == 4 and seed_processes("full", 3) == 1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # two threads each: two processes fill four cores
    assert seed_processes("quick", 3) == 2
    monkeypatch.setenv("RESPKIT_SEED_PROCESSES", "8")
    assert seed_processes("quick", 3) == 3 and seed_processes("full", 2) == 2


def test_overrides_change_the_file_name(tmp_path):
    base = run_experiment("toy", profile="quick", seeds=(0,), out_dir=tmp_path)
    changed = run_experiment("toy", profile="quick", seeds=(0,), out_dir=tmp_path, overrides={"train.lr": 0.5})
    assert base["path"] != changed["path"] and changed["config"]["train"]["lr"] == 0.5
    assert load_results(changed["path"])["config"]["train"]["lr"] == 0.5
    with pytest.raises(KeyError, match="no field lrr"):
        run_experiment("toy", profile="quick", out_dir=tmp_path, overrides={"train.lrr": 0.5})


def test_results_table():
    rows = [
        {
            "recipe": "a",
            "profile": "full",
            "seeds": [0, 1],
            "summary": {"score": {"mean": 0.6, "std": 0.0125, "n": 2}},
            "metrics_per_seed": [{"score": 0.6125, "floor": 0.25}, {"score": 0.5875, "floor": 0.25}],
        },
        {
            "recipe": "b",
            "profile": "quick",
            "seeds": [0],
            "summary": {"score": {"mean": 0.5, "std": 0.0, "n": 1}},
            "metrics_per_seed": [{"score": 0.5, "floor": 0.5}],
        },
    ]
    table = results_table(rows, ["score", "se"]).splitlines()
    assert table[0] == "| recipe | profile | seeds | score | se | flag |"
    assert table[2] == "| a | full | 2 | 60.00 ± 1.25 | – |  |"
    assert table[3] == "| b | quick | 1 | 50.00 | – | **at or below always-normal** |"  # ICBHI's floor is 0.5


@pytest.mark.parametrize(
    "metrics, reason",
    [
        ({"score": 0.7, "floor": 0.25, "pred_classes": 1.0}, "predicts one class"),
        ({"score": 0.4, "sp": 0.0, "se": 0.8}, "never predicts normal"),
        ({"score": 0.4, "sp": 0.8, "se": 0.0}, "never predicts abnormal"),
        ({"score": 0.25, "floor": 0.25}, "at or below always-normal"),
        # SPRSound task 1-1: a coin flip scores 0.5, twice the always-normal floor.
        (
            {"score": 0.48, "floor": 0.25, "chance": 0.5, "pred_classes": 2.0, "se": 0.5, "sp": 0.46},
            "no better than guessing",
        ),
        ({"score": 0.26, "floor": 0.25, "pred_classes": 2.0, "se": 0.1, "sp": 0.9}, None),
    ],
)
def test_degenerate_results_are_named(metrics, reason):
    assert degenerate({"metrics_per_seed": [{"score": 0.9, "floor": 0.25}, metrics]}) == reason
    assert degenerate({"metrics_per_seed": [{f"inter_{k}": v for k, v in metrics.items()}]}, "inter_") == reason


def test_chance_level_prefers_chance_and_falls_back_to_the_floor():
    summary = {"floor": {"mean": 0.25}, "chance": {"mean": 0.5}, "test_floor": {"mean": 0.5}}
    assert chance_level(summary) == 0.5
    assert chance_level(summary, "test_") == 0.5  # a file written before chance was recorded: the floor
    assert chance_level({"score": {"mean": 0.7}}) is None


def test_margins_are_over_the_floor_and_over_chance_on_the_headline_split():
    def result(summary, simulated):
        return {
            "recipe": "r",
            "profile": "quick",
            "seeds": [0, 1],
            "config": {"dataset": "icbhi", "task": None},
            "data": {"icbhi": {"simulated": simulated}},
            "summary": summary,
            "metrics_per_seed": [],
        }

    held_out = {"score": {"mean": 0.62, "std": 0.02}, "floor": {"mean": 0.25}, "chance": {"mean": 0.5}}
    icbhi = {**held_out, "test_score": {"mean": 0.55, "std": 0.01}, "test_floor": {"mean": 0.5}}  # no chance: older
    rows = margins([result(held_out, True), result(icbhi, False)])
    assert (rows[0]["data"], rows[0]["split"]) == ("simulated", "held-out")
    assert rows[0]["over_floor"] == pytest.approx(37.0) and rows[0]["margin"] == pytest.approx(12.0)
    assert (rows[1]["data"], rows[1]["split"], rows[1]["score"]) == ("real", "test", 0.55)
    assert rows[1]["over_floor"] == pytest.approx(5.0) and rows[1]["margin"] == pytest.approx(5.0)


def test_registry():
    assert "toy" in list_recipes() and isinstance(get_recipe("toy"), Toy)
    with pytest.raises(KeyError, match="unknown recipe 'nope'.*toy"):
        get_recipe("nope")
    with pytest.raises(TypeError, match="must be a Recipe subclass"):
        register_recipe("broken")(SimpleNamespace(run=lambda *a: {}))
    misplaced = type(
        "Misplaced", (Recipe,), {"Config": ToyConfig, "stages": Toy.stages, "__module__": "respkit.recipes.foo"}
    )
    with pytest.raises(ValueError, match="must live in respkit.recipes.bar"):
        register_recipe("bar.variant")(misplaced)
    elsewhere = type(
        "Elsewhere", (Recipe,), {"Config": ToyConfig, "stages": Toy.stages, "__module__": "another.module"}
    )
    with pytest.raises(ValueError, match="registered twice"):
        register_recipe("toy")(elsewhere)


def test_cli_run_and_list(tmp_path, capsys):
    assert parse_value("1e-4") == 1e-4 and parse_value("False") is False and parse_value("none") is None
    assert parse_value("sgd") == "sgd" and parse_value("[1, 2]") == [1, 2]

    assert main(["list"]) == 0
    assert any(
        line.startswith("toy") and "A linear classifier of random points" in line
        for line in capsys.readouterr().out.splitlines()
    )

    argv = ["run", "toy", "--profile", "quick", "--seeds", "2", "--out", str(tmp_path), "--set", "train.lr=0.02"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    path = Path(out.strip().splitlines()[-1].removeprefix("all metrics: "))
    stored = load_results(path)
    assert path.parent == tmp_path and stored["seeds"] == [0, 1] and stored["config"]["train"]["lr"] == 0.02
    assert stored["command"] == "python -m respkit " + " ".join(argv)
    # A short table: the headline metrics only, the rest is in the file.
    header, _, row = out.strip().splitlines()[-4:-1]
    assert header == "| recipe | profile | seeds | score | se | sp | flag |"
    score = stored["summary"]["score"]
    assert row.startswith(f"| toy | quick | 2 | {100 * score['mean']:.2f} ± {100 * score['std']:.2f} |")

    assert main(argv) == 0
    assert f"loaded results from {path.name}" in capsys.readouterr().out


def test_cli_as_a_module():
    done = subprocess.run([sys.executable, "-m", "respkit", "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([sys.executable, "-m", "respkit", "run"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "recipe" in bad.stderr
