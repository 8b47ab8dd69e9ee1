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
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, SequentialSampler, TensorDataset

from respkit.data.sampler import BatchShardSampler, ClassBalancedSampler
from respkit.experiments import run_experiment
from respkit.recipes import Recipe, RecipeConfig, register_recipe
from respkit.train import Supervised, TrainConfig, Trainer

TOLERANCE = 1e-5  # relative, on every metric
CRASH_ENV = "RESPKIT_TEST_CRASH_AT_EVALUATION"  # the tiny recipe raises at this (1-based) evaluation of a rank


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
    """A 2-layer MLP on 48 random points, class-balanced batches, scored on 16 held-out points."""

    Config = TinyConfig

    def run(self, config: TinyConfig, data, seed: int, workdir: Path) -> dict[str, float]:
        g = torch.Generator().manual_seed(100)
        x = torch.randn(64, 5, generator=g)
        y = (x[:, :2].sum(1) > 0).long() + (x[:, 2] > 0.8).long()  # three imbalanced classes
        train, held_out = TensorDataset(x[:48], y[:48]), (x[48:], y[48:])
        model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
        sampler = ClassBalancedSampler(y[:48])  # draws from the global generator the trainer reseeds
        loader = DataLoader(train, batch_size=config.batch_size, sampler=sampler, drop_last=True)
        Path(workdir).mkdir(parents=True, exist_ok=True)
        log = Path(workdir) / f"evaluations.rank{os.environ.get('RANK', 0)}"  # the pids that evaluated, one a line

        def evaluate() -> dict[str, float]:
            done = log.read_text().splitlines() if log.exists() else []
            if os.environ.get(CRASH_ENV) == str(len(done) + 1):
                raise RuntimeError("simulated crash")
            with log.open("a") as file:
                file.write(f"{os.getpid()}\n")
            with torch.no_grad():
                logits = model(held_out[0])
            return {"held_out_loss": F.cross_entropy(logits, held_out[1]).item()}

        trainer = Trainer(Supervised(model), replace(config.train, seed=seed), checkpoint_dir=workdir, progress=False)
        history = trainer.fit(loader, evaluate)
        return {
            "train_loss": history.epoch_loss[-1],
            **history.eval[-1],
            "weight_norm": sum(p.detach().norm().item() ** 2 for p in model.parameters()),
        }


class FakeData:
    def describe(self) -> dict:
        return {"tiny": {"simulated": True}}


# A torchrun worker: registers the recipe (by importing this module), then runs the command line.
WORKER = """
import sys
sys.path.insert(0, {tests!r})
import respkit.experiments, test_distributed
respkit.experiments.resolve_default_data = test_distributed.FakeData  # the tiny recipe reads no data
from respkit.__main__ import main
sys.exit(main(["run", "tiny_ddp", "--profile", "quick", "--out", {out!r}]))
"""


def torchrun(tmp_path: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).parent), out=str(out)))
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
    (workdir,) = out.glob("work/*/seed0")

    # Resuming in one process would not continue the same run: refused, saying why.
    with pytest.raises(ValueError, match="written by 2 process"):
        run_experiment("tiny_ddp", profile="quick", data=FakeData(), out_dir=out)

    finished = torchrun(tmp_path, out)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (path,) = out.glob("*.json")
    results = json.loads(path.read_text())
    for rank in (0, 1):  # each process evaluated 2 epochs, then the resumed one only the third
        pids = (workdir / f"evaluations.rank{rank}").read_text().split()
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
