"""What a sweep on Ray Tune costs over running its trials by hand.

Four trials (2 learning rates x 2 seeds) of a small recipe defined here (an MLP trained on random
tensors for ``--steps`` steps, one CPU thread each) are run twice, into fresh folders:

* one by one in this process, with :func:`respkit.experiments.run_experiment` (time ``T_seq``);
* as a sweep on 2 workers, :func:`respkit.scale.run_sweep` on a local Ray (time ``T_sweep``).

With two workers the ideal sweep takes half the sequential time, so the printed ratio
``T_sweep / (T_seq / 2)`` is the overhead: 1.0 is none. It is printed twice: for the sweep alone
(Ray already running, as in a notebook or on a cluster) and including Ray's start and stop, which a
``python -m respkit sweep`` on a fresh machine pays once. The overhead per trial (a Ray actor that
imports torch, Tune's bookkeeping) is fixed, so it shrinks relative to the trials as they grow:
try ``--steps 2000``. On a machine shared with other jobs, two workers may not get two cores.

    python benchmarks/sweep_overhead.py [--steps 400]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from respkit.experiments import run_experiment
from respkit.recipes import Recipe, RecipeConfig, register_recipe
from respkit.train import Supervised, TrainConfig, Trainer

GRID = {"train.lr": [0.01, 0.02]}
SEEDS = (0, 1)


@dataclass(frozen=True)
class BenchConfig(RecipeConfig):
    steps: int = 400
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=1, lr=0.01, optimizer="sgd", amp=False, log_every=50)
    )

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls()


@register_recipe("bench.mlp")
class BenchMLP(Recipe):
    """An MLP (64 -> 512 -> 512 -> 2) on random tensors, ``steps`` batches of 64."""

    Config = BenchConfig

    def run(self, config: BenchConfig, data, seed: int, workdir: Path) -> dict[str, float]:
        torch.set_num_threads(1)  # as each Ray trial (one CPU): the comparison is of scheduling, not of threads
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(config.steps * 64, 64, generator=g)
        model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 2))
        loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=64, shuffle=True)
        history = Trainer(Supervised(model), replace(config.train, seed=seed), progress=False).fit(loader)
        return {"train_loss": history.epoch_loss[-1]}


class NoData:
    """The recipe reads no data; results files still describe it."""

    def describe(self) -> dict:
        return {"random tensors": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="optimizer steps per trial")
    args = parser.parse_args()
    overrides = {"steps": args.steps}

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        for lr in GRID["train.lr"]:
            for seed in SEEDS:
                run_experiment(
                    "bench.mlp",
                    profile="quick",
                    seeds=(seed,),
                    data=NoData(),
                    out_dir=Path(folder) / "one-by-one",
                    overrides={**overrides, "train.lr": lr},
                )
        sequential = time.perf_counter() - start

        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on the loopback, as run_sweep starts it
        import ray

        from respkit.scale import run_sweep

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        ray_start = time.perf_counter() - start
        start = time.perf_counter()
        results = run_sweep(
            "bench.mlp",
            seeds=SEEDS,
            grid=GRID,
            overrides=overrides,
            profile="quick",
            data=NoData(),
            out_dir=Path(folder) / "sweep",
            workers=2,
            verbose=0,
        )
        swept = time.perf_counter() - start
        start = time.perf_counter()
        ray.shutdown()
        ray_stop = time.perf_counter() - start
    assert len(results) == 4

    ideal = sequential / 2
    print(f"4 trials of {args.steps} steps, one CPU thread each")
    print(f"one by one:                 {sequential:7.1f} s  (ideal on 2 workers: {ideal:.1f} s)")
    print(f"sweep on 2 workers:         {swept:7.1f} s  ratio to ideal {swept / ideal:.2f}")
    print(
        f"  with Ray's start and stop: {ray_start + swept + ray_stop:6.1f} s  "
        f"ratio to ideal {(ray_start + swept + ray_stop) / ideal:.2f}"
    )


if __name__ == "__main__":
    main()
