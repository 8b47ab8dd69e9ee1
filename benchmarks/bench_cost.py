"""What each method of chapter 6's bench costs: training items per second, and CPU-minutes per recorded run.

Items per second are measured, in this run, on the method's own ``cpu`` configuration and data: the
recipe runs one epoch cut at ``--short`` optimizer steps, then at ``--long`` steps (in every stage it
trains; steps counted from its histories), after a warm-up run. Loading features, building the model and
evaluating cost the same in both, so the difference of the two times is the training of the extra steps::

    items/s = (steps of the long run - steps of the short run) · batch_size / (t_long - t_short)

An item is one of the ``batch_size`` examples of a step, whatever the method does with it (two views for
the contrastive stages, a mixed partner for the mixing ones; CLAR's joint steps also draw an unlabelled
batch, not counted). The CPU-minutes are those of the recorded bench run (``respkit/results/bench``:
``cpu_seconds`` over its seeds): a method can be fast per item and still cost more per run if its recipe
takes more steps.

    RESPKIT_DATA=../shared/data python benchmarks/bench_cost.py                   # all methods
    RESPKIT_DATA=../shared/data python benchmarks/bench_cost.py supcon.resnet --long 60
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import tempfile
import time

import torch

from respkit.bench import METHODS, get_method, load_bench
from respkit.experiments import run_experiment
from respkit.recipes import get_recipe
from respkit.runs import RunArtifacts
from respkit.train import TrainConfig


def stage_overrides(recipe: str, steps: int) -> dict[str, object]:
    """One epoch of at most ``steps`` steps in every ``TrainConfig`` field of ``recipe`` (the stages it trains)."""
    config = get_recipe(recipe).Config.for_profile("cpu")
    stages = [f.name for f in dataclasses.fields(config) if isinstance(getattr(config, f.name), TrainConfig)]
    one_short_epoch = {"epochs": 1, "max_steps_per_epoch": steps}
    return {f"{stage}.{key}": value for stage in stages for key, value in one_short_epoch.items()}


def timed_run(recipe: str, task: str, steps: int) -> tuple[float, int]:
    """Seconds of one run cut at ``steps`` steps per stage, and the optimizer steps it took in all its stages.

    Each run gets its own folder, so that no stage is found finished by an earlier run and skipped.
    """
    with tempfile.TemporaryDirectory() as out_dir, contextlib.redirect_stdout(io.StringIO()):  # the table only
        start = time.perf_counter()
        results = run_experiment(
            recipe,
            profile="cpu",
            seeds=[0],
            out_dir=out_dir,
            overrides={"task": task, **stage_overrides(recipe, steps)},
            reuse=False,
        )
        seconds = time.perf_counter() - start
        histories = RunArtifacts.of(results).histories.values()
    return seconds, sum(len(history.step_loss) for history in histories)


def items_per_second(recipe: str, task: str, short: int, long: int) -> float:
    batch_size = get_recipe(recipe).Config.for_profile("cpu").batch_size
    timed_run(recipe, task, short)  # warm-up: decoded audio and feature caches
    t_short, steps_short = timed_run(recipe, task, short)
    t_long, steps_long = timed_run(recipe, task, long)
    return (steps_long - steps_short) * batch_size / (t_long - t_short)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", help="some of the bench's recipes (default: all)")
    parser.add_argument("--task", default="1-2")
    parser.add_argument("--short", type=int, default=5, help="steps per stage of the short run")
    parser.add_argument("--long", type=int, default=40, help="steps per stage of the long run")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the bench runs: one thread per run
    recorded = {run.method.recipe: run for run in load_bench(task=args.task)}
    print(f"task {args.task}, one thread, {args.long - args.short} steps per stage timed")
    print(f"{'method':22s} {'items/s':>9s} {'CPU-min/run':>12s} {'seeds':>6s}")
    for method in [get_method(name) for name in args.recipes] or METHODS:
        speed = items_per_second(method.recipe, args.task, args.short, args.long)
        run = recorded.get(method.recipe)
        minutes = f"{run.cpu_minutes_per_run:12.1f}" if run else f"{'not run':>12s}"
        seeds = f"{len(run.results['seeds']):6d}" if run else f"{'':>6s}"
        print(f"{method.label:22s} {speed:9.0f} {minutes} {seeds}", flush=True)


if __name__ == "__main__":
    main()
