"""Sweeps on Ray Tune: trials equal to runs made one by one, resumption after a kill, searches, merged tables.

Ray starts once for the module, on the loopback interface with 2 CPUs (2 trials at a time), and is shut
down at its end. The recipe is tiny (an MLP on random tensors, about a second per trial).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from respkit.experiments import run_experiment
from respkit.recipes import Recipe, RecipeConfig, common, register_recipe
from respkit.recipes.base import Evaluation, Stage
from respkit.scale import best_configuration, merge_results, run_sweep, sweep_table, varying_fields
from respkit.train import Supervised, TrainConfig

GRID = {"train.lr": [0.05, 0.2]}
SEEDS = (0, 1)
LOG = "trainings.log"  # one line per training started: "<lr> <seed> <pid>", beside the results files


@dataclass(frozen=True)
class SweepConfig(RecipeConfig):
    pause: float = 0.5  # seconds of "work" per trial, so that a sweep can be killed midway
    log: str = ""  # the file each training notes itself in (LOG beside the results files)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=2, lr=0.1, optimizer="sgd", amp=False, log_every=3)
    )

    @classmethod
    def quick(cls) -> SweepConfig:
        return cls()


@register_recipe("tiny_sweep")
class TinySweep(Recipe):
    """A 2-layer MLP on 48 random points; held-out score and loss on 8 more (8 others validate)."""

    Config = SweepConfig

    def data(self, config: SweepConfig, data) -> common.Splits:
        if config.log:
            Path(config.log).parent.mkdir(parents=True, exist_ok=True)
            with open(config.log, "a") as log:  # one short append: atomic between processes
                log.write(f"{config.train.lr} {torch.initial_seed()} {os.getpid()}\n")  # the run's seed
        time.sleep(config.pause)
        g = torch.Generator().manual_seed(100)
        x = torch.randn(64, 5, generator=g)
        y = (x[:, :2].sum(1) > 0).long()

        def part(items: slice) -> common.InMemory:
            return common.InMemory(x[items], y[items].numpy(), np.arange(64)[items], ["Normal", "Other"])

        return common.Splits(train=part(slice(0, 48)), valid=part(slice(48, 56)), val=part(slice(56, 64)))

    def model(self, config: SweepConfig, splits: common.Splits) -> nn.Module:
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))

    def stages(self, config: SweepConfig, splits: common.Splits, model: nn.Module):
        loader = DataLoader(splits.train, batch_size=8, shuffle=True)
        yield Stage("train", Supervised(model), loader, config.train)

    def evaluate(self, config, splits, model, loaders, device) -> Evaluation:
        evaluation = super().evaluate(config, splits, model, loaders, device)
        held_out = evaluation.predictions["val"]
        loss = -np.log(held_out.scores[np.arange(len(held_out.y_true)), held_out.y_true]).mean()
        evaluation.metrics["held_out_loss"] = float(loss)
        return evaluation


class FakeData:
    def describe(self) -> dict:
        return {"tiny": {"simulated": True}}


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray for the module, on 127.0.0.1 only, with 2 CPUs and no GPU; shut down at the end.

    Trials and the runs made one by one train on the CPU alike (``RESPKIT_DEVICE``), also on a GPU machine.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read at import: listen on the loopback only
        patch.setenv("RESPKIT_DEVICE", "cpu")  # inherited by Ray's workers
        ray = pytest.importorskip("ray")
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level="WARNING")
        try:
            address = ray.get_runtime_context().gcs_address
            assert address.startswith("127.0.0.1:")
            yield address
        finally:
            ray.shutdown()


def sweep(out_dir: Path, **kwargs) -> list[dict]:
    return run_sweep(
        "tiny_sweep",
        seeds=SEEDS,
        grid=GRID,
        overrides={"log": str(out_dir / LOG)},
        profile="quick",
        data=FakeData(),
        out_dir=out_dir,
        workers=2,
        verbose=0,
        **kwargs,
    )


def trainings(out_dir: Path) -> list[list[str]]:
    return [line.split() for line in (out_dir / LOG).read_text().splitlines()] if (out_dir / LOG).exists() else []


def identity(results: dict) -> tuple:
    return results["config"]["train"]["lr"], results["seeds"][0]


# ---------------------------------------------------------------------------------------------------
def test_sweep_trials_equal_runs_made_one_by_one(ray_address, tmp_path):
    swept = sweep(tmp_path / "sweep")
    assert sorted(identity(r) for r in swept) == [(0.05, 0), (0.05, 1), (0.2, 0), (0.2, 1)]
    assert len(list((tmp_path / "sweep").glob("*.json"))) == 4
    assert len({pid for *_, pid in trainings(tmp_path / "sweep")}) == 2  # two workers trained side by side

    for result in swept:
        lr, seed = identity(result)
        alone = run_experiment(
            "tiny_sweep",
            profile="quick",
            seeds=(seed,),
            data=FakeData(),
            out_dir=tmp_path / "alone",
            overrides={"train.lr": lr, "log": str(tmp_path / "sweep" / LOG)},
        )
        stored = json.loads(Path(result["path"]).read_text())
        assert stored["metrics_per_seed"] == alone["metrics_per_seed"]  # bit for bit
        assert {k: stored[k] for k in ("recipe", "profile", "config", "seeds", "data")} == {
            k: alone[k] for k in ("recipe", "profile", "config", "seeds", "data")
        }


SWEEP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import test_sweep
test_sweep.sweep(test_sweep.Path({out!r}), address={address!r})
"""


def test_killed_sweep_resumes_with_only_the_missing_trials(ray_address, tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    script = SWEEP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), address=ray_address)
    with open(tmp_path / "driver.log", "w") as log:  # a file, not a pipe: nobody reads it while it runs
        driver = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not list(out.glob("*.json")) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert list(out.glob("*.json")), (tmp_path / "driver.log").read_text()[-3000:]

    # Ray ends the dead driver's trials; wait until every process that started one has gone.
    deadline = time.monotonic() + 60
    while any(_alive(int(pid)) for *_, pid in trainings(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    before = {path: path.read_bytes() for path in out.glob("*.json")}
    started_before = len(trainings(out))
    assert 1 <= len(before) < 4, "the sweep was killed too late to leave trials missing"

    results = sweep(out)
    assert len(results) == 4 and len(list(out.glob("*.json"))) == 4  # no duplicate files
    assert len(trainings(out)) - started_before == 4 - len(before)  # only the missing trials trained
    assert all(path.read_bytes() == content for path, content in before.items())  # finished ones untouched


def test_search_chooses_on_held_out_metric(ray_address, tmp_path):
    results = run_sweep(
        "tiny_sweep",
        seeds=(0,),
        search={"train.lr": ("loguniform", 0.01, 0.5)},
        samples=3,
        metric="held_out_loss",
        mode="min",
        profile="quick",
        data=FakeData(),
        out_dir=tmp_path,
        workers=2,
        verbose=0,
    )
    lrs = {r["config"]["train"]["lr"] for r in results}
    assert len(results) == 3 and len(lrs) == 3 and all(0.01 <= lr <= 0.5 for lr in lrs)
    chosen = best_configuration(merge_results(results), "held_out_loss", mode="min")
    assert chosen["summary"]["held_out_loss"]["mean"] == min(r["summary"]["held_out_loss"]["mean"] for r in results)

    with pytest.raises(ValueError, match="test set"):
        run_sweep(
            "tiny_sweep",
            search={"train.lr": ("loguniform", 0.01, 0.5)},
            metric="test_score",
            data=FakeData(),
            out_dir=tmp_path,
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------------------------------- no Ray
def fake_result(lr: float, seed: int, score: float, path: str) -> dict:
    return {
        "recipe": "r",
        "profile": "quick",
        "config": {"train": {"lr": lr, "epochs": 2}, "widths": [8, 16]},
        "data": {"tiny": {}},
        "seeds": [seed],
        "metrics_per_seed": [{"score": score}],
        "path": path,
    }


def test_merge_and_table():
    results = [
        fake_result(0.1, 0, 0.50, "a"),
        fake_result(0.2, 0, 0.70, "b"),
        fake_result(0.1, 1, 0.60, "c"),
        fake_result(0.2, 1, 0.80, "d"),
        fake_result(0.2, 1, 0.10, "e"),
    ]  # "e" repeats seed 1 of lr 0.2
    merged = merge_results(results)
    assert [m["config"]["train"]["lr"] for m in merged] == [0.1, 0.2] and [m["seeds"] for m in merged] == [[0, 1]] * 2
    assert merged[1]["summary"]["score"]["mean"] == pytest.approx(0.75)  # the repeated seed counts once, from "d"
    assert merged[1]["summary"]["score"]["std"] == pytest.approx(0.05 * 2**0.5)  # sample std of 0.7, 0.8
    assert varying_fields(merged) == ["train.lr"]
    assert best_configuration(merged, "score") is merged[1] and best_configuration(merged, "score", "min") is merged[0]

    table = sweep_table(results, ["score"], select="score").splitlines()
    assert table[0] == "| recipe | train.lr | seeds | score | chosen |"
    assert table[2] == "| r | 0.1 | 2 | 55.00 ± 7.07 |  |"
    assert table[3] == "| r | 0.2 | 2 | 75.00 ± 7.07 | ✓ |"


def test_command_line_reads_grid_search_and_set(monkeypatch, capsys):
    import respkit.scale.sweep
    from respkit.__main__ import main

    calls = []

    def fake_run_sweep(recipes, **kwargs):
        calls.append((recipes, kwargs))
        return [fake_result(1e-3, 0, 0.5, "a"), fake_result(1e-3, 1, 0.7, "b")]

    monkeypatch.setattr(respkit.scale.sweep, "run_sweep", fake_run_sweep)
    argv = [
        "sweep",
        "baseline.*",
        "--seeds",
        "3",
        "--grid",
        "train.lr=1e-3,3e-3",
        "--grid",
        "widths=[(8, 16), (16, 32)]",
        "--set",
        "train.amp=false",
        "--workers",
        "2",
    ]
    assert main(argv) == 0
    ((recipes, kwargs),) = calls
    assert recipes == ["baseline.*"] and list(kwargs["seeds"]) == [0, 1, 2] and kwargs["workers"] == 2
    assert kwargs["grid"] == {"train.lr": [1e-3, 3e-3], "widths": [(8, 16), (16, 32)]}
    assert kwargs["overrides"] == {"train.amp": False} and kwargs["search"] == {}
    assert kwargs["command"] == "python -m respkit " + shlex.join(argv)  # recorded in every results file
    assert "| r | 2 | 0.6000 ± 0.1414 |" in capsys.readouterr().out

    main(["sweep", "r", "--search", "train.lr=loguniform(1e-4, 1e-2)", "--search", "train.optimizer=choice(adam, sgd)"])
    assert calls[-1][1]["search"] == {
        "train.lr": ("loguniform", 1e-4, 1e-2),
        "train.optimizer": ("choice", ["adam", "sgd"]),
    }
    with pytest.raises(SystemExit, match="KIND"):
        main(["sweep", "r", "--search", "train.lr=normal(0, 1)"])
