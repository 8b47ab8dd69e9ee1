"""Data-parallel training under torchrun: 2 CPU processes (gloo) train like 1 with the same global batch, and resume.

The recipe is tiny and deterministic (no dropout, no BatchNorm: see :mod:`respkit.train.distributed` for
what may differ otherwise), so the two runs differ only by float rounding: the gradients of two half
batches are averaged instead of one full batch's being taken. Over 18 SGD steps that stays near float32's
resolution (at most 2e-7 relative when measured), so the tolerance is 1e-5 relative on every metric.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, SequentialSampler

from respkit.data.sampler import BatchShardSampler, ClassBalancedSampler
from respkit.experiments import run_experiment
from respkit.recipes import Recipe, RecipeConfig, common, register_recipe
from respkit.recipes.base import Evaluation, Stage
from respkit.train import Supervised, TrainConfig

TOLERANCE = 1e-5  # relative, on every metric
CRASH_ENV = "RESPKIT_TEST_CRASH_AT_EVALUATION"  # a worker raises at this (1-based) evaluation of a rank


@dataclass(frozen=True)
class TinyConfig(RecipeConfig):
    batch_size: int = 8
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=3, lr=0.1, optimizer="sgd", amp=False, log_every=1)
    )

    @classmethod
    def quick(cls) -> TinyConfig:
        return cls()


@register_recipe("tiny_ddp")
class TinyDDP(Recipe):
    """A 2-layer MLP on 48 random points, class-balanced batches, chosen on 8 validation points, scored on 8."""

    Config = TinyConfig

    def data(self, config: TinyConfig, data) -> common.Splits:
        g = torch.Generator().manual_seed(100)
        x = torch.randn(64, 5, generator=g)
        y = (x[:, :2].sum(1) > 0).long() + (x[:, 2] > 0.8).long()  # three imbalanced classes

        def part(items: slice) -> common.InMemory:
            return common.InMemory(x[items], y[items].numpy(), np.arange(64)[items], ["a", "b", "c"])

        return common.Splits(train=part(slice(0, 48)), valid=part(slice(48, 56)), val=part(slice(56, 64)))

    def model(self, config: TinyConfig, splits: common.Splits) -> nn.Module:
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))

    def stages(self, config: TinyConfig, splits: common.Splits, model: nn.Module):
        sampler = ClassBalancedSampler(splits.train.labels)  # draws from the global generator the trainer reseeds
        loader = DataLoader(splits.train, batch_size=config.batch_size, sampler=sampler, drop_last=True)
        yield Stage("train", Supervised(model), loader, config.train, evaluate_on="valid")

    def evaluate(self, config, splits, model, loaders, device) -> Evaluation:
        """Beside the scores, two continuous numbers that float rounding moves: the held-out loss, the weights' norm."""
        evaluation = super().evaluate(config, splits, model, loaders, device)
        held_out = evaluation.predictions["val"]
        loss = -np.log(held_out.scores[np.arange(len(held_out.y_true)), held_out.y_true]).mean()
        norm = sum(p.detach().norm().item() ** 2 for p in model.parameters())
        evaluation.metrics |= {"held_out_loss": float(loss), "weight_norm": norm}
        return evaluation


class FakeData:
    def describe(self) -> dict:
        return {"tiny": {"simulated": True}}


# A torchrun worker: registers the recipe (by importing this module), notes in <out>/evaluations.rank<RANK>
# the process of each evaluation during training (raising at the one CRASH_ENV names), runs the command line.
WORKER = """
import os, sys
sys.path.insert(0, {tests!r})
import respkit.experiments, respkit.recipes.common, test_distributed
respkit.experiments.resolve_default_data = test_distributed.FakeData  # the tiny recipe reads no data
evaluator = respkit.recipes.common.evaluator

def noted(*args, **kwargs):
    evaluate, log = evaluator(*args, **kwargs), os.path.join({out!r}, "evaluations.rank" + os.environ["RANK"])

    def evaluate_noted():
        done = open(log).read().split() if os.path.exists(log) else []
        if os.environ.get("{crash}") == str(len(done) + 1):
            raise RuntimeError("simulated crash")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "a") as file:
            file.write(str(os.getpid()) + chr(10))
        return evaluate()

    return evaluate_noted

respkit.recipes.common.evaluator = noted
from respkit.__main__ import main
sys.exit(main(["run", "tiny_ddp", "--profile", "quick", "--out", {out!r}]))
"""


def torchrun(tmp_path: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).parent), out=str(out), crash=CRASH_ENV))
    with socket.socket() as s:  # a free port on the loopback for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        str(script),
    ]
    # gloo on the CPU even where there are GPUs; the rendezvous and gloo on the loopback interface.
    environment = {**os.environ, "RESPKIT_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", **env}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------------------------------------------
def test_batch_shards_are_disjoint_slices_of_the_same_draw():
    items = list(range(22))
    global_batches = [items[i : i + 6] for i in range(0, 18, 6)]  # the incomplete last batch (4 items) is dropped
    shards = [list(BatchShardSampler(SequentialSampler(items), 6, rank, 3)) for rank in range(3)]
    assert all(len(shard) == 3 for shard in shards)
    for step, batch in enumerate(global_batches):
        assert [index for rank in range(3) for index in shards[rank][step]] == batch
    assert len(BatchShardSampler(SequentialSampler(items), 6, 0, 3)) == 3

    # A random draw: every rank, seeded alike, draws the same sequence and keeps its own slice.
    labels = [0] * 15 + [1] * 3
    draws = []
    for rank in range(2):
        torch.manual_seed(7)
        draws.append(list(BatchShardSampler(ClassBalancedSampler(labels), 6, rank, 2)))
    torch.manual_seed(7)
    single = list(ClassBalancedSampler(labels))
    assert [draws[0][s] + draws[1][s] for s in range(3)] == [single[i : i + 6] for i in range(0, 18, 6)]

    with pytest.raises(ValueError, match="divisible by 4"):
        BatchShardSampler(SequentialSampler(items), 6, 0, 4)


def test_two_processes_train_like_one_and_resume_under_torchrun(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("RESPKIT_DEVICE", "cpu")
    single = run_experiment("tiny_ddp", profile="quick", data=FakeData(), out_dir=tmp_path / "single")

    # Two processes, interrupted at the third epoch's evaluation: rank 0 has checkpointed epoch 2 of 3.
    out = tmp_path / "ddp"
    crashed = torchrun(tmp_path, out, **{CRASH_ENV: "3"})
    assert crashed.returncode != 0 and "simulated crash" in crashed.stderr + crashed.stdout
    assert not list(out.glob("*.json"))

    # Resuming in one process would not continue the same run: refused, saying why.
    with pytest.raises(ValueError, match="written by 2 process"):
        run_experiment("tiny_ddp", profile="quick", data=FakeData(), out_dir=out)

    finished = torchrun(tmp_path, out)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (path,) = out.glob("*.json")
    results = json.loads(path.read_text())
    for rank in (0, 1):  # each process evaluated 2 epochs, then the resumed one only the third
        pids = (out / f"evaluations.rank{rank}").read_text().split()
        assert len(pids) == 3 and pids[0] == pids[1] != pids[2]

    expected, got = single["metrics_per_seed"][0], results["metrics_per_seed"][0]
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=TOLERANCE), key

    # The comparison can tell batches apart: one process with the per-rank batch (4) ends elsewhere.
    half = run_experiment(
        "tiny_ddp", profile="quick", data=FakeData(), out_dir=tmp_path / "half", overrides={"batch_size": 4}
    )["metrics_per_seed"][0]
    assert half["held_out_loss"] != pytest.approx(expected["held_out_loss"], rel=100 * TOLERANCE)
