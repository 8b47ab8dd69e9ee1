"""The recipe layer's promises: one shape, a new recipe in one module, the same held-out patients for every seed.

The example recipe in docs/ARCHITECTURE.md is executed here as written, registered under a test name and
trained briefly on the simulator: if the documented shape stops working, this test says so.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import respkit.recipes
from respkit.experiments import run_experiment
from respkit.recipes import list_recipes
from respkit.runs import RunArtifacts

ROOT = Path(__file__).parents[1]


def test_every_registered_recipe_has_the_one_shape():
    from respkit.recipes.base import Recipe, RecipeConfig

    for name in list_recipes():
        recipe = respkit.recipes.get_recipe(name)
        assert isinstance(recipe, Recipe) and issubclass(recipe.Config, RecipeConfig), name
        quick, full = recipe.Config.for_profile("quick"), recipe.Config.for_profile("full")
        assert quick.split_seed == full.split_seed and quick.val_fraction == full.val_fraction, name


SUPCON_TINY = {  # a few steps of chapter 3's recipes on the simulator: the point is the plumbing
    "max_train": 40,
    "max_val": 24,
    "batch_size": 8,
    "n_mfcc": 16,
    "width": 4,
    "embedding_dim": 8,
    "event_seconds": 1.0,
    "pretrain.epochs": 1,
    "pretrain.max_steps_per_epoch": 2,
    "finetune.epochs": 1,
    "finetune.max_steps_per_epoch": 2,
}


def encoders(out: Path) -> list[Path]:
    return sorted((out / "work" / "stages").glob("pretrain-*"))


def test_the_documented_example_recipe_runs(simulated, tmp_path):
    """docs/ARCHITECTURE.md's new loss, executed as written: it trains, is scored on the same patients as
    SupCon, and does not take SupCon's encoder (its code differs)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in block.splitlines())
    code = code.replace('"supcon.align_uniform"', '"docs_example.align_uniform"')  # not a module of the package
    namespace: dict = {}
    exec(code, namespace)
    loss = namespace["AlignUniform"](weight=0.0)
    z = torch.nn.functional.normalize(torch.randn(6, 1, 5), dim=-1).expand(6, 2, 5)
    assert loss(z).item() == pytest.approx(0.0, abs=1e-6)  # identical views: perfectly aligned
    run = {"data": simulated, "out_dir": tmp_path, "profile": "quick", "overrides": SUPCON_TINY}
    example = run_experiment("docs_example.align_uniform", **run)
    supcon = run_experiment("supcon.supcon", **run)
    pretrain = RunArtifacts.of(example).histories["pretrain"].step_loss
    assert len(pretrain) == 2 and all(np.isfinite(pretrain))
    assert 0 <= example["metrics_per_seed"][0]["score"] <= 1
    np.testing.assert_array_equal(
        RunArtifacts.of(example).predictions["val"].y_true, RunArtifacts.of(supcon).predictions["val"].y_true
    )
    assert len(encoders(tmp_path)) == 2


def test_a_stage_is_shared_exactly_when_everything_it_reads_is_equal(simulated, tmp_path):
    """Two runs that differ in a field stage 1 reads train two encoders; two that differ only in what stage 2
    reads share one, and the second finds it trained (its stage-1 history is the first's)."""
    run = {"data": simulated, "out_dir": tmp_path, "profile": "quick"}
    first = run_experiment("supcon.supcon", overrides=SUPCON_TINY, **run)
    assert len(encoders(tmp_path)) == 1
    warmer = run_experiment("supcon.supcon", overrides={**SUPCON_TINY, "temperature": 0.5}, **run)  # stage 1 reads it
    assert len(encoders(tmp_path)) == 2
    mixup = run_experiment("supcon.mixup", overrides=SUPCON_TINY, **run)  # only stage 2 differs
    longer_probe = run_experiment("supcon.supcon", overrides={**SUPCON_TINY, "finetune.epochs": 2}, **run)
    assert len(encoders(tmp_path)) == 2
    assert mixup["shared_stages"] == longer_probe["shared_stages"] == first["shared_stages"]
    assert warmer["shared_stages"] != first["shared_stages"]
    histories = [RunArtifacts.of(r).histories["pretrain"].step_loss for r in (first, mixup, warmer)]
    assert histories[0] == histories[1] != histories[2]


def test_no_recipe_writes_its_own_run_loop():
    """Recipes declare; the runner runs: no recipe class has a ``run``, and no recipe module builds a Trainer."""
    from respkit.recipes.base import Recipe

    for name in list_recipes():
        recipe = type(respkit.recipes.get_recipe(name))
        assert "run" not in dir(recipe), name
        assert recipe.stages is not Recipe.stages, name
    modules = sorted((ROOT / "respkit" / "recipes").glob("*.py"))
    builders = [p.name for p in modules if "Trainer(" in p.read_text() and p.name != "runner.py"]
    assert builders == []


def test_every_config_comes_back_from_its_results_file():
    """``Config.from_dict`` of what a results file stores (JSON) is the config that ran, for every profile."""
    for name in list_recipes():
        config_class = respkit.recipes.get_recipe(name).Config
        for profile in ("quick", "cpu"):
            try:
                config = config_class.for_profile(profile)
            except NotImplementedError:
                continue
            stored = json.loads(json.dumps(dataclasses.asdict(config)))
            assert config_class.from_dict(stored) == config, (name, profile)


TWO_SEEDS = {  # tiny settings: the point is whom each seed is scored on, not what it learns
    "supcon.mixup": SUPCON_TINY,
    "clar.pretrain_finetune": {
        "max_train": 40,
        "max_val": 24,
        "batch_size": 8,
        "duration": 1.0,
        "projection_dim": 8,
        "model_kwargs": {"widths": (4, 4, 8, 8)},
        "train.epochs": 1,
        "finetune.epochs": 1,
    },
}


@pytest.mark.parametrize("recipe", sorted(TWO_SEEDS))
def test_two_seeds_of_a_recipe_are_scored_on_the_same_patients(recipe, simulated, tmp_path):
    results = run_experiment(
        recipe, profile="quick", seeds=(0, 1), data=simulated, out_dir=tmp_path, overrides=TWO_SEEDS[recipe]
    )
    from respkit.runs import RunArtifacts

    first, second = (RunArtifacts.of(results, seed) for seed in (0, 1))
    np.testing.assert_array_equal(first.groups["val"], second.groups["val"])
    np.testing.assert_array_equal(first.predictions["val"].y_true, second.predictions["val"].y_true)


def test_the_read_recorder_notes_fields_read_directly_through_properties_and_methods():
    from respkit.recipes.sharing import ReadRecorder
    from respkit.recipes.supcon import SupConConfig, clip_frames

    view = ReadRecorder(SupConConfig(task="2-1"))
    assert view.width == 64 and set(view.read) == {"width"}
    assert view.clip_seconds == 15.0  # a property: the fields it reads are noted
    assert {"task", "record_seconds"} <= set(view.read) and "event_seconds" not in view.read
    assert clip_frames(view) == 1 + 15 * 8000 // 128 and "hop_length" in view.read
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.width = 8
