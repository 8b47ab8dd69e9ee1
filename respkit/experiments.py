"""Run a recipe over seeds and keep the result as a file with its provenance.

:func:`run_experiment` is "load the results if they exist, else train" for whole experiments: the
results file is named after the recipe, the profile and a hash of the configuration and seeds
(``<recipe>-<profile>-<hash8>.json``). When a file with the same recipe, profile, config, seeds and
data is there, it is loaded instead of training again. A file that does not match is never
overwritten: the new results go to the next free name (``...-2.json``, ``...-3.json``).

Each file records what is needed to trust and repeat the numbers: the command, the full config, the
profile, the data (real or simulated, and where), the hardware, the seeds, every seed's metrics, their
mean ± standard deviation, the git commit and whether the tree was dirty (:mod:`respkit.provenance`),
the wall-clock time and the CPU time of the process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from respkit.files import atomic_write
from respkit.profiles import seed_everything, select_profile
from respkit.provenance import provenance
from respkit.recipes import get_recipe
from respkit.runs import work_folder
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
        raise KeyError(f"{type(config).__name__} has no field {', '.join(unknown)}; fields: {', '.join(sorted(fields))}")
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
        seeds: one run per seed; ``summary`` gives mean ± std over them.
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
    recipe = get_recipe(name)
    profile = select_profile(profile)
    config = apply_overrides(recipe.Config.for_profile(profile), overrides or {})
    seeds = [int(seed) for seed in seeds]
    if data is None:
        data = resolve_default_data()
    identity = {"recipe": name, "profile": profile, "config": _jsonable(dataclasses.asdict(config)), "seeds": seeds}
    data_description = _jsonable(data.describe())

    stem = f"{name}-{profile}-{config_hash(identity)[:8]}"
    match, free = _find_results(Path(out_dir), stem, identity, data_description)
    if reuse and match is not None:
        print(f"loaded results from {match.name}\n"
              "(same recipe, profile, config, seeds and data; reuse=False trains again)")
        return load_results(match)

    started, clock, cpu_clock = _now(), time.perf_counter(), time.process_time()
    metrics_per_seed = []
    for seed in seeds:
        seed_everything(seed)
        workdir = work_folder({"path": str(free)}, seed)
        metrics = recipe.run(config, data, seed, workdir)
        metrics_per_seed.append({key: float(value) for key, value in metrics.items()})
        print(f"{name} seed {seed}: {headline(metrics_per_seed[-1])}")

    results = {
        **identity,
        "command": command or _call_string(name, profile, seeds, overrides),
        "data": data_description,
        "hardware": hardware(),
        "metrics_per_seed": metrics_per_seed,
        "summary": summarize(metrics_per_seed),
        **provenance(),  # git_commit, git_dirty, git_source, respkit_version
        "started": started,
        "finished": _now(),
        "wall_seconds": round(time.perf_counter() - clock, 3),
        "cpu_seconds": round(time.process_time() - cpu_clock, 3),  # this process, every thread, all seeds
    }
    text = json.dumps(results, indent=2) + "\n"
    if distributed.is_main():  # under torchrun every rank computed the same metrics; one writes them
        atomic_write(free, lambda tmp: tmp.write_text(text))
        print(f"wrote results to {free.name}")
    return {**results, "path": str(free)}


def headline(metrics: Mapping[str, float]) -> str:
    """A seed's line in a run's log: each split's score and the held-out split's chance (the rest is in the file)."""
    scores = [f"{key.removesuffix('score').rstrip('_') or 'val'} {metrics[key]:.3f}"
              for key in metrics if key == "score" or key.endswith("_score")]
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
