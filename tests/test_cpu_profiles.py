"""The ``cpu`` profile of every method on chapter 6's bench: same data, same patients, no peeking."""

from __future__ import annotations

import dataclasses

import pytest

from respkit.bench import METHODS, load_bench
from respkit.experiments import _jsonable, apply_overrides
from respkit.recipes import get_recipe
from respkit.train import TrainConfig


@pytest.mark.parametrize("recipe", [method.recipe for method in METHODS])
def test_cpu_profile_trains_on_every_event_of_task_1_2_and_never_selects_on_held_out_patients(recipe):
    config = get_recipe(recipe).Config.for_profile("cpu")
    assert (config.dataset, config.task) == ("sprsound", "1-2")
    assert config.max_train is None and config.max_val is None and config.max_test is None
    # The held-out patients are the bench's test set: every stage keeps its last epoch.
    stages = [getattr(config, f.name) for f in dataclasses.fields(config)]
    stages = [stage for stage in stages if isinstance(stage, TrainConfig)]
    assert stages and all(stage.select_metric is None for stage in stages)


def test_every_method_splits_patients_the_same_way():
    configs = [get_recipe(method.recipe).Config.for_profile("cpu") for method in METHODS]
    assert len({(c.split_seed, c.val_fraction) for c in configs}) == 1


def test_recorded_bench_runs_are_those_the_current_code_would_load():
    """Each recorded bench file holds the config that `python -m respkit bench` builds today, so the command
    loads it instead of training again; a changed cpu profile must come with a rerun of its method."""
    runs = load_bench()
    assert {run.method.recipe for run in runs} == {method.recipe for method in METHODS}
    for run in runs:
        config = apply_overrides(get_recipe(run.method.recipe).Config.for_profile("cpu"), {"task": "1-2"})
        assert _jsonable(dataclasses.asdict(config)) == run.results["config"], run.method.recipe
