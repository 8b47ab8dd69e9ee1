"""Run a recipe over seeds and keep the result as a file with its provenance.

:func:`run_experiment` is "load the results if they exist, else train" for whole experiments: the
results file is named after the recipe, the profile and a hash of the configuration and seeds
(``<recipe>-<profile>-<hash8>.json``). When a file with the same recipe, profile, config, seeds and
data is there, it is loaded instead of training again. A file that does not match is never
overwritten: the new results go to the next free name (``...-2.json``, ``...-3.json``).

Each file records what is needed to trust and repeat the numbers: the command, the full config, the
profile, the data (real or simulated, and where), the hardware, the seeds, every seed's metrics, their
mean ± standard deviation, the git commit and whether the tree was dirty (:mod:`respkit.provenance`),
the wall-clock time and the CPU time of every process that trained.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from respkit.files import atomic_write
from respkit.profiles import seed_everything, seed_processes, select_profile, show_progress
from respkit.provenance import provenance
from respkit.recipes import get_recipe, runner
from respkit.runs import RunArtifacts, work_folder
from respkit.train import distributed
from respkit.train.config import config_hash

# Where the data lies on disk says nothing about what it is: ignored when deciding whether to reuse.
_LOCATION_KEYS = frozenset({"root", "origin"})


def apply_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """``dataclasses.replace`` with dotted keys for nested configs: ``{"train.lr": 1e-4, "batch_size": 8}``."""
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            changes[head] = value
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted((set(changes) | set(nested)) - fields)
    if unknown:
        raise KeyError(
            f"{type(config).__name__} has no field {', '.join(unknown)}; fields: {', '.join(sorted(fields))}"
        )
    for head, sub in nested.items():
        changes[head] = apply_overrides(getattr(config, head), sub)
    return dataclasses.replace(config, **changes)


def run_experiment(
    name: str,
    profile: str | None = None,
    seeds: Sequence[int] = (0,),
    data: Any = None,
    out_dir: str | Path = "runs",
    overrides: Mapping[str, Any] | None = None,
    reuse: bool = True,
    *,
    command: str | None = None,
) -> dict[str, Any]:
    """Run recipe ``name`` once per seed (or load an earlier identical run) and return its results.

    Args:
        name: a registered recipe (see :mod:`respkit.recipes`).
        profile: ``"quick"`` or ``"full"``; default :func:`respkit.profiles.select_profile`.
        seeds: one run per seed; ``summary`` gives mean ± std over them. In ``quick`` on a CPU they train
            side by side, a process each (:func:`respkit.profiles.seed_processes`), with the same results.
        data: an object with ``describe() -> dict`` handed to the recipe (a
            :class:`respkit.data.locate.DataSource`); ``None`` resolves it with ``resolve_data()``.
        out_dir: where results files go; each seed's ``workdir`` (checkpoints) is under ``out_dir/work/``.
        overrides: config changes applied after ``Config.for_profile`` (dotted keys for nested configs).
        reuse: load a matching results file instead of training; ``False`` always trains (and writes
            a new file next to any existing one).
        command: how this run was started, for the record; default: this function call.

    Returns:
        The results dict as written to the file, plus ``"path"``, the file it lives in.
    """
    run = {"name": name, "overrides": overrides, "command": command}
    return run_experiments({name: run}, profile, seeds, data, out_dir, reuse)[name]


def run_experiments(
    runs: Mapping[str, Mapping[str, Any]],
    profile: str | None = None,
    seeds: Sequence[int] = (0,),
    data: Any = None,
    out_dir: str | Path = "runs",
    reuse: bool = True,
) -> dict[str, dict[str, Any]]:
    """Several independent experiments at once: ``runs`` maps a label to :func:`run_experiment`'s ``name`` and,
    optionally, ``overrides``, ``seeds`` and ``command``; the other arguments are shared. Returns the results
    by label, each in its own file as :func:`run_experiment` writes it.

    The seeds of every experiment that has to train share the processes, so that two one-seed experiments
    on two cores take the time of the longer one. Experiments where one reuses what another trains (the
    encoder that ``supcon.mixup`` takes from ``supcon.supcon``) belong in calls of their own, one after the other.
    """
    profile = select_profile(profile)
    data = resolve_default_data() if data is None else data
    plans = {
        label: _Plan.make(label, run, profile, run.get("seeds", seeds), data, Path(out_dir))
        for label, run in runs.items()
    }
    if len({plan.path for plan in plans.values()}) < len(plans):
        raise ValueError(f"runs {sorted(runs)} hold the same experiment twice")
    results = {}
    for label, plan in plans.items():
        if reuse and plan.match is not None:
            print(
                f"loaded results from {plan.match.name}\n"
                "(same recipe, profile, config, seeds and data; reuse=False trains again)"
            )
            results[label] = load_results(plan.match)
    todo = [plan for plan in plans.values() if plan.label not in results]
    jobs = [job for plan in todo for job in plan.jobs()]
    processes = seed_processes(profile, len(jobs)) if all(_can_spawn(plan) for plan in todo) else 1
    started, clock, outcomes = _now(), time.perf_counter(), _train_seeds(jobs, processes)
    for plan in todo:
        seed_outcomes = []
        for seed in plan.seeds:
            seed_outcomes.append(next(outcomes))
            print(f"{plan.name} seed {seed}: {headline(seed_outcomes[-1][0])}")
        results[plan.label] = plan.write(seed_outcomes, processes, started, time.perf_counter() - clock)
    return {label: results[label] for label in runs}


@dataclasses.dataclass
class _Plan:
    """One experiment of :func:`run_experiments`: what it runs, the file that holds it, and an earlier match."""

    label: str
    name: str
    config: Any
    seeds: list[int]
    data: Any
    identity: dict[str, Any]
    data_description: dict[str, Any]
    command: str
    path: Path  # where its results go: the first free name
    match: Path | None  # an earlier file of the same experiment

    @classmethod
    def make(
        cls, label: str, run: Mapping[str, Any], profile: str, seeds: Sequence[int], data: Any, out_dir: Path
    ) -> _Plan:
        name, overrides = run["name"], run.get("overrides")
        config = apply_overrides(get_recipe(name).Config.for_profile(profile), overrides or {})
        seeds = [int(seed) for seed in seeds]
        identity = {"recipe": name, "profile": profile, "config": _jsonable(dataclasses.asdict(config)), "seeds": seeds}
        data_description = _jsonable(data.describe())
        stem = f"{name}-{profile}-{config_hash(identity)[:8]}"
        match, free = _find_results(out_dir, stem, identity, data_description)
        command = run.get("command") or _call_string(name, profile, seeds, overrides)
        return cls(label, name, config, seeds, data, identity, data_description, command, free, match)

    def jobs(self) -> list[tuple]:
        return [
            (self.name, self.config, self.data, seed, work_folder({"path": str(self.path)}, seed))
            for seed in self.seeds
        ]

    def write(
        self, seed_outcomes: list[tuple[dict[str, float], float]], processes: int, started: str, wall_seconds: float
    ) -> dict[str, Any]:
        """The results file of the trained seeds (``(metrics, CPU seconds)`` each), with their provenance."""
        metrics_per_seed = [metrics for metrics, _ in seed_outcomes]
        shared = [self.shared_stages(seed) for seed in self.seeds]
        results = {
            **self.identity,
            "command": self.command,
            "data": self.data_description,
            "hardware": {**hardware(), "seed_processes": processes},
            "metrics_per_seed": metrics_per_seed,
            "summary": summarize(metrics_per_seed),
            **provenance(),  # git_commit, git_dirty, git_source, respkit_version
            "started": started,
            "finished": _now(),
            "wall_seconds": round(wall_seconds, 3),  # from the start of the call until these seeds were done
            "cpu_seconds": round(sum(cpu for _, cpu in seed_outcomes), 3),  # every thread of every seed's process
            **({"shared_stages": shared} if any(shared) else {}),
        }
        text = json.dumps(results, indent=2) + "\n"
        if distributed.is_main():  # under torchrun every rank computed the same metrics; one writes them
            atomic_write(self.path, lambda tmp: tmp.write_text(text))
            print(f"wrote results to {self.path.name}")
        return {**results, "path": str(self.path)}

    def shared_stages(self, seed: int) -> dict[str, str]:
        """The stages seed ``seed`` shared with other runs (stage -> folder under ``work/stages``), as its
        run recorded them: two results files that name the same folder trained that stage once."""
        try:
            return RunArtifacts.load(work_folder({"path": str(self.path)}, seed)).info.get("shared_stages", {})
        except FileNotFoundError:  # under torchrun, rank 0 saves them; the other ranks write no file
            return {}


def _train_seeds(jobs: list[tuple], processes: int) -> Iterator[tuple[dict[str, float], float]]:
    """Each job's metrics and CPU seconds, in order: here one after another, or in ``processes`` fresh processes.

    A seed's process writes what it prints into a buffer that is printed here when its turn comes, so that
    a notebook shows the same log either way (a child's output would otherwise go to the kernel's terminal).
    """
    if processes == 1:
        yield from (_train_seed(*job) for job in jobs)
        return
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    futures = [pool.submit(_train_seed_quietly, torch.get_num_threads(), *job) for job in jobs]
    try:
        for future in futures:
            result, printed, warned = future.result()
            sys.stdout.write(printed)
            sys.stderr.write(warned)
            yield result
    except BaseException:  # an error or an interrupt: return now; seeds under way finish their checkpoints
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _train_seed(name: str, config: Any, data: Any, seed: int, workdir: Path) -> tuple[dict[str, float], float]:
    seed_everything(seed)
    cpu_clock = time.process_time()
    metrics = runner.run(get_recipe(name), config, data, seed, workdir)
    return {key: float(value) for key, value in metrics.items()}, time.process_time() - cpu_clock


def _train_seed_quietly(threads: int, *job: Any) -> tuple[tuple[dict[str, float], float], str, str]:
    """:func:`_train_seed` in a process of its own, with its parent's threads; returns what it printed too.

    Progress bars (``RESPKIT_PROGRESS=1``) go straight to the terminal, where they belong.
    """
    torch.set_num_threads(threads)
    printed, warned = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(sys.stderr if show_progress() else warned):
        result = _train_seed(*job)
    return result, printed.getvalue(), warned.getvalue()


def _can_spawn(plan: _Plan) -> bool:
    """Whether fresh processes can train the seeds. Not when the recipe was defined in a notebook or a script
    (a fresh process cannot find it), nor in one rank of a torchrun job, nor when the program is a plain
    script: a fresh process would run the script's top level again (multiprocessing's "spawn"), so a script
    trains its seeds in turn. Notebooks, ``python -m`` modules and ``python -c`` are safe."""
    main = sys.modules["__main__"]
    plain_script = getattr(main, "__spec__", None) is None and hasattr(main, "__file__")
    defined_here = "__main__" in (type(get_recipe(plan.name)).__module__, type(plan.config).__module__)
    return not (plain_script or defined_here or distributed.enabled())


def headline(metrics: Mapping[str, float]) -> str:
    """A seed's line in a run's log: each split's score and the held-out split's chance (the rest is in the file)."""
    scores = [
        f"{key.removesuffix('score').rstrip('_') or 'val'} {metrics[key]:.3f}"
        for key in metrics
        if key == "score" or key.endswith("_score")
    ]
    chance = f" (chance {metrics['chance']:.3f})" if "chance" in metrics else ""
    return "score " + ", ".join(scores) + chance if scores else ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def summarize(metrics_per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation (ddof=1; 0 for a single seed) and count of each metric all seeds report."""
    keys = [k for k in metrics_per_seed[0] if all(k in m for m in metrics_per_seed)] if metrics_per_seed else []
    summary = {}
    for key in keys:
        values = np.array([m[key] for m in metrics_per_seed], dtype=float)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary[key] = {"mean": float(values.mean()), "std": std, "n": len(values)}
    return summary


def load_results(path: str | Path) -> dict[str, Any]:
    """A results file as a dict, with ``"path"`` added."""
    return {**json.loads(Path(path).read_text()), "path": str(path)}


def hardware() -> dict[str, Any]:
    """What the run ran on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),  # what CPU time over wall time is to be read against
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def resolve_default_data() -> Any:
    """The data every chapter uses by default (imported lazily: locating may write the simulator's data)."""
    from respkit.data.locate import resolve_data

    return resolve_data()


# ---------------------------------------------------------------------------------------------------
def _find_results(out_dir: Path, stem: str, identity: dict, data: dict) -> tuple[Path | None, Path]:
    """The first existing file matching this run (or ``None``), and the first free file name."""
    match, index = None, 1
    while True:
        path = out_dir / (f"{stem}.json" if index == 1 else f"{stem}-{index}.json")
        if not path.exists():
            return match, path
        stored = json.loads(path.read_text())
        same = all(stored.get(key) == value for key, value in identity.items())
        if match is None and same and _without_location(stored.get("data")) == _without_location(data):
            match = path
        index += 1


def _without_location(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_location(v) for k, v in value.items() if k not in _LOCATION_KEYS}
    return value


def _jsonable(value: Any) -> Any:
    """What ``value`` reads back as from JSON (tuples become lists, paths strings), for comparisons."""
    return json.loads(json.dumps(value, default=str))


def _call_string(name: str, profile: str, seeds: list[int], overrides: Mapping[str, Any] | None) -> str:
    return f"run_experiment({name!r}, profile={profile!r}, seeds={tuple(seeds)!r}, overrides={dict(overrides or {})!r})"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
