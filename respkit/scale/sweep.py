"""Sweeps on Ray Tune: many runs of :func:`respkit.experiments.run_experiment`, spread over a machine or a cluster.

A sweep is a set of *trials*. Each trial is ``run_experiment(recipe, seeds=(seed,), overrides=...)``, so it
writes exactly the results file that ``python -m respkit run`` writes for that configuration and seed, and
loads it instead of training when it is already there. The results files stay the single record: Ray Tune
only schedules (one trial per free CPU, or per GPU when the cluster has GPUs), and an interrupted sweep
resumes by being started again, every finished trial being found as its file.

Two kinds of sweep:

* a **grid** (``grid={"train.lr": [1e-3, 3e-3]}``): every recipe × every grid point × every seed, one
  trial each, so seeds of one configuration run side by side;
* a **search** (``search={"train.lr": ("loguniform", 1e-4, 1e-2)}``): a search algorithm (Optuna's TPE
  through Tune, or random sampling) proposes ``samples`` configurations of one recipe; a trial runs every
  seed of its configuration (one results file per seed, as in a grid) and reports their mean ``metric``.
  The metric must be read on held-out patients: the recipes name those metrics plainly (``score``) and
  prefix the test sets' (``test_score``, ``inter_score``), and a test set's metric is refused here.

Ray starts on this machine for the sweep and stops after it (on the loopback interface, with every core and
GPU it finds), unless ``address`` names a running cluster (``ray start --head`` on one machine, ``ray start
--address=...`` on the others), or Ray is already initialised in this process, as in a notebook or a test.
Ray and Optuna are the optional extra ``respkit[scale]``; nothing else in respkit imports them.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from respkit.experiments import load_results, resolve_default_data, run_experiment
from respkit.recipes import get_recipe, list_recipes, register_recipe

#: Prefixes of metrics read on test sets (``test_score``, ``inter_score``, ``intra_score``): never searched on.
TEST_PREFIXES = ("test_", "inter_", "intra_")

#: The search-space kinds a ``search`` entry may name, with their Tune constructors.
DOMAINS = ("uniform", "loguniform", "randint", "choice")

# Variables the trials need to see as the driver does (profile, data and cache folders, device).
_FORWARDED_PREFIX = "RESPKIT_"


def run_sweep(
    recipes: str | Sequence[str],
    *,
    seeds: Sequence[int] = (0,),
    grid: Mapping[str, Sequence[Any]] | None = None,
    overrides: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
    samples: int = 8,
    metric: str = "score",
    mode: str = "max",
    algorithm: str = "optuna",
    profile: str | None = None,
    data: Any = None,
    out_dir: str | Path = "runs",
    address: str | None = None,
    workers: int | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float | None = None,
    command: str | None = None,
    verbose: int = 1,
) -> list[dict[str, Any]]:
    """Run a sweep on Ray Tune and return every trial's results (as :func:`run_experiment` returns them).

    Args:
        recipes: recipe names or glob patterns (``"baseline.*"``); a search takes exactly one recipe.
        seeds: the seeds of every configuration.
        grid: config field (dotted, as ``--set``) -> the values to try; the grid is their product.
        overrides: config changes shared by every trial.
        search: config field -> a search domain, ``(kind, *arguments)`` with ``kind`` in :data:`DOMAINS`
            (``("loguniform", 1e-4, 1e-2)``, ``("choice", ["adam", "sgd"])``) or a Ray Tune domain.
        samples: how many configurations a search tries.
        metric, mode: what a search maximises (``"max"``) or minimises, read on held-out patients.
        algorithm: ``"optuna"`` (TPE, seeded) or ``"random"``; for a search only.
        profile, data, out_dir: as :func:`run_experiment`; ``data=None`` is resolved once here, so that
            trials never race to write the simulator's data. On a cluster its folders must exist on every node.
        address: a running Ray cluster (``"host:6379"``); ``None`` starts Ray here for the sweep.
        workers: at most this many trials at once (default: as many as the resources allow).
        cpus_per_trial, gpus_per_trial: what each trial reserves; GPUs default to 1 when the cluster has any.
        command: recorded in every results file; default: the trial's own ``run_experiment`` call.
        verbose: Ray Tune's progress output (0 silent, 1 default, 2 detailed).

    Raises:
        RuntimeError: after the sweep, when trials failed (the others' results files are written).
    """
    names = expand_recipes([recipes] if isinstance(recipes, str) else recipes)
    seeds = [int(seed) for seed in seeds]
    if grid and search:
        raise ValueError("a grid and a search do not mix: a search varies every field it tunes itself")
    if search and len(names) != 1:
        raise ValueError(f"a search tunes one recipe; {len(names)} match: {', '.join(names)}")
    if search and metric.startswith(TEST_PREFIXES):
        raise ValueError(
            f"metric {metric!r} is read on a test set; a search must choose on held-out patients "
            "(the plain names, such as 'score')"
        )
    if data is None:
        data = resolve_default_data()
    out_dir = Path(out_dir).resolve()  # trials run in other working folders

    ray, tune = _import_ray(local=address is None)
    started = not ray.is_initialized()
    if started:
        # Workers of a Ray started here inherit this environment; a cluster's are given its RESPKIT_ variables.
        env = {key: value for key, value in os.environ.items() if key.startswith(_FORWARDED_PREFIX)}
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level="WARNING",
            log_to_driver=verbose > 0,  # silent: the trials' own prints stay in Ray's logs, not the notebook
            runtime_env={"env_vars": env} if address and env else None,
        )
    storage = tempfile.mkdtemp(prefix="respkit-tune-")  # Tune's own bookkeeping; the results files are the record
    try:
        if gpus_per_trial is None:
            gpus_per_trial = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        trainable = tune.with_parameters(
            _trial,
            profile=profile,
            data=data,
            out_dir=str(out_dir),
            seeds=seeds,
            metric=metric,
            command=command,
            shipped=_shipped_recipes(names, ray),
        )
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
            param_space=_param_space(tune, names, seeds, grid, overrides, search),
            tune_config=tune.TuneConfig(
                max_concurrent_trials=workers,
                reuse_actors=True,
                **(_search_settings(tune, samples, metric, mode, algorithm) if search else {}),
            ),
            run_config=tune.RunConfig(name="sweep", storage_path=storage, verbose=verbose),
        )
        grid_results = tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if started:
            ray.shutdown()

    failed = [str(result.error).strip().splitlines()[-1] for result in grid_results if result.error is not None]
    if failed:  # Tune has printed each traceback; the last line of each says what went wrong
        raise RuntimeError(f"{len(failed)} of {len(grid_results)} trials failed: " + "; ".join(sorted(set(failed))))
    return [load_results(path) for result in grid_results for path in result.metrics["paths"].splitlines()]


def expand_recipes(patterns: Sequence[str]) -> list[str]:
    """Recipe names matching each name or glob pattern, in order, without repeats."""
    names: list[str] = []
    for pattern in patterns:
        if any(char in pattern for char in "*?["):
            matches = fnmatch.filter(list_recipes(), pattern)
            if not matches:
                raise KeyError(f"no recipe matches {pattern!r}; available: {', '.join(list_recipes())}")
        else:
            get_recipe(pattern)  # fails early, listing the recipes, on a typo
            matches = [pattern]
        names += [name for name in matches if name not in names]
    return names


def search_domain(tune: Any, spec: Any) -> Any:
    """A Ray Tune domain from ``(kind, *arguments)`` (see :data:`DOMAINS`); a Tune domain passes through."""
    if not (isinstance(spec, (tuple, list)) and spec and spec[0] in DOMAINS):
        return spec
    kind, *arguments = spec
    return getattr(tune, kind)(*arguments)


# ---------------------------------------------------------------------------------------------------
def _trial(
    config: dict[str, Any],
    *,
    profile: str | None,
    data: Any,
    out_dir: str,
    seeds: list[int],
    metric: str,
    command: str | None,
    shipped: dict[str, type],
) -> dict[str, Any]:
    """One trial, in a Ray worker: ``run_experiment`` per seed; the results files' paths and the mean ``metric``.

    The paths are one string, a line each: Tune's loggers skip strings quietly, and lists with a warning.
    """
    for name, recipe in shipped.items():
        register_recipe(name)(recipe)
    trial_seeds = [config["seed"]] if "seed" in config else seeds  # a grid trial has one seed, a search's all
    paths, values = [], []
    for seed in trial_seeds:
        results = run_experiment(
            config["recipe"],
            profile=profile,
            seeds=(seed,),
            data=data,
            out_dir=out_dir,
            overrides=config["overrides"],
            command=command,
        )
        paths.append(results["path"])
        if metric in results["summary"]:
            values.append(results["summary"][metric]["mean"])
    if "seed" not in config and len(values) < len(trial_seeds):
        raise KeyError(f"recipe {config['recipe']!r} reports no metric {metric!r}; see its results file {paths[0]}")
    return {"paths": "\n".join(paths), **({metric: float(np.mean(values))} if values else {})}


def _param_space(
    tune: Any,
    names: list[str],
    seeds: list[int],
    grid: Mapping[str, Sequence[Any]] | None,
    overrides: Mapping[str, Any] | None,
    search: Mapping[str, Any] | None,
) -> dict[str, Any]:
    varied = {key: search_domain(tune, spec) for key, spec in (search or {}).items()}
    if not search:
        varied |= {key: tune.grid_search(list(values)) for key, values in (grid or {}).items()}
    overlap = set(varied) & set(overrides or {})
    if overlap:
        raise ValueError(f"{', '.join(sorted(overlap))} is both fixed (overrides) and varied")
    space: dict[str, Any] = {
        "recipe": names[0] if search else tune.grid_search(names),
        "overrides": {**(overrides or {}), **varied},
    }
    if not search:
        space["seed"] = tune.grid_search(seeds)
    return space


def _search_settings(tune: Any, samples: int, metric: str, mode: str, algorithm: str) -> dict[str, Any]:
    if algorithm == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg: Any = OptunaSearch(seed=0)  # seeded: a restarted search proposes the same first configurations
    elif algorithm == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        search_alg = BasicVariantGenerator(random_state=0)
    else:
        raise ValueError(f"unknown search algorithm {algorithm!r}: 'optuna' or 'random'")
    return {"search_alg": search_alg, "num_samples": samples, "metric": metric, "mode": mode}


def _shipped_recipes(names: list[str], ray: Any) -> dict[str, type]:
    """Recipes registered outside respkit (a notebook, a test, a script), sent to the workers by value.

    A worker finds respkit's own recipes by importing them; one defined elsewhere exists only in this
    process, so its class (and the rest of its module that it uses) is pickled by value.
    """
    shipped = {}
    for name in names:
        recipe = type(get_recipe(name))
        if not recipe.__module__.startswith("respkit."):
            if recipe.__module__ != "__main__":  # __main__ is pickled by value anyway
                ray.cloudpickle.register_pickle_by_value(sys.modules[recipe.__module__])
            shipped[name] = recipe
    return shipped


def _import_ray(local: bool) -> tuple[Any, Any]:
    """``ray`` and ``ray.tune``, or an error saying how to install them."""
    if local and "ray" not in sys.modules:
        # Read by Ray at import: a Ray started here then listens on the loopback interface only
        # (the variable's name is Ray's; on Linux it means "not a cluster node").
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        from ray import tune
    except ImportError as error:
        raise ImportError(
            "sweeps run on Ray Tune, which is not installed: pip install 'respkit[scale]' "
            "(or: pip install 'ray[tune]' optuna)"
        ) from error
    return ray, tune
