"""respkit.axes: the budget and label-fraction points, and the verdict chapter 6 reads from them."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from test_report_bench import SCORE, make_run, noisy

from respkit.axes import (
    AXES_DIR,
    AXIS_METHODS,
    POINTS,
    Point,
    budget_overrides,
    label_overrides,
    load_axes,
    stages,
    training_labels,
)
from respkit.experiments import _jsonable, apply_overrides
from respkit.recipes import common, get_recipe
from respkit.recipes.clar import labelled_indices
from respkit.report import axes as report

# 4,261 training events: 7 classes in SPRSound's proportions, roughly.
LABELS = np.repeat(np.arange(7), [3000, 150, 600, 20, 50, 400, 41])


def cpu(recipe):
    return get_recipe(recipe).Config.for_profile("cpu")


@pytest.mark.parametrize("recipe", AXIS_METHODS)
def test_the_stages_an_axis_scales_are_those_the_recipe_trains(recipe):
    """``describe`` lists each trained stage's epochs ("6 + 4"); the axis scales exactly those fields."""
    config = cpu(recipe)
    described = get_recipe(recipe).describe(config).epochs
    assert described == " + ".join(str(stage.epochs) for stage in stages(recipe, config).values())


def test_a_budget_factor_multiplies_every_trained_stage_and_nothing_else():
    config = cpu("supcon.mixup")
    assert budget_overrides("supcon.mixup", config, 2.0) == {
        "pretrain.epochs": 2 * config.pretrain.epochs,
        "finetune.epochs": 2 * config.finetune.epochs,
    }
    assert apply_overrides(config, budget_overrides("supcon.mixup", config, 1.0)) == config
    assert budget_overrides("supcon.resnet", cpu("supcon.resnet"), 0.01) == {"train.epochs": 1}  # at least one


def test_every_method_gets_the_same_labelled_events():
    """A supervised run's ``max_train`` draws exactly the events whose labels CLAR keeps."""
    config = cpu("supcon.resnet")
    for fraction in (0.01, 0.1):
        changes = label_overrides("supcon.resnet", config, fraction, LABELS)
        kept = common.proportional_indices(LABELS, changes["max_train"], config.split_seed)
        clar = labelled_indices(LABELS, fraction, cpu("clar.joint").split_seed)
        np.testing.assert_array_equal(kept, clar)
    assert label_overrides("clar.joint", cpu("clar.joint"), 0.1, LABELS) == {"label_fraction": 0.1}
    assert label_overrides("supcon.resnet", config, 1.0, LABELS) == {}


@pytest.mark.parametrize("recipe", ["supcon.resnet", "supcon.mixup"])
def test_fewer_labels_train_for_as_many_optimiser_steps(recipe):
    """Full batches per epoch times epochs: the same at 10 % of the labels as at all of them (to rounding)."""
    config = cpu(recipe)
    changes = label_overrides(recipe, config, 0.1, LABELS)
    n = len(common.proportional_indices(LABELS, changes["max_train"], config.split_seed))
    batches = config.batch_size
    for name, stage in stages(recipe, config).items():
        full = (len(LABELS) // batches) * stage.epochs
        few = (n // batches) * changes[f"{name}.epochs"]
        assert abs(few - full) <= n // batches  # at most one epoch of rounding
        assert changes[f"{name}.warmup_epochs"] * (n // batches) == pytest.approx(
            stage.warmup_epochs * (len(LABELS) // batches)
        )


def test_a_patch_model_draws_a_full_epoch_from_its_labelled_events():
    config = cpu("patchmix.finetune")
    changes = label_overrides("patchmix.finetune", config, 0.01, LABELS)
    assert changes == {"max_train": round(0.01 * len(LABELS)), "epoch_items": len(LABELS)}


def test_too_few_labels_for_one_batch_are_refused():
    with pytest.raises(ValueError, match="fewer than one batch"):
        label_overrides("supcon.resnet", cpu("supcon.resnet"), 0.001, LABELS)


def test_budget_1_with_every_label_is_the_bench():
    assert Point("labels", 1.0).path("a", "b") == Point("budget", 1.0).path("a", "b") == Path("b")
    assert Point("labels", 0.1).path("a", "b") == Path("a") / "labels-0.1"
    assert len({p.folder for p in POINTS}) == len(POINTS) - 1


# --- the verdict, on hand-made runs ---------------------------------------------------------------
def axes_of(better_at):
    """Baseline at hit rate 0.5 everywhere; SupCon + MixUp at 0.95 at the points of ``better_at``, else equal."""
    found = {}
    for point in (Point("budget", 1.0), Point("labels", 0.1)):
        base = make_run("supcon.resnet", [noisy(0.5, s) for s in range(3)])
        rate = 0.95 if point in better_at else 0.5
        found[point] = [base, make_run("supcon.mixup", [noisy(rate, s) for s in range(3)])]
    return found


def test_the_verdict_names_where_a_method_is_ahead_and_where_it_is_not_told_apart():
    axes = axes_of({Point("labels", 0.1)})
    rows = report.help_rows(axes, SCORE, chance=0.3, n=200)
    by_point = {row["point_of"]: row for row in rows}
    assert by_point[Point("labels", 0.1)]["low"] > 0
    assert by_point[Point("budget", 1.0)]["within_noise"]
    text = report.when_text(rows, axes, chance=0.3)
    assert "**SupCon + MixUp** helps: ahead of ResNet18 + CE at 10% of the labels" in text
    assert "not told apart from ResNet18 + CE at epochs × 1" in text


def test_a_method_ahead_nowhere_is_said_to_help_nowhere_and_flagged_runs_are_not_compared():
    axes = axes_of(set())
    text = report.when_text(report.help_rows(axes, SCORE, chance=0.3, n=200), axes, chance=0.3)
    assert "helps at none of these points" in text
    flagged = {
        p: [
            runs[0],
            make_run("supcon.mixup", [np.zeros_like(runs[0].predictions[0]["val"]["y_true"])] * 3, pred_classes=1),
        ]
        for p, runs in axes.items()
    }
    assert report.help_rows(flagged, SCORE, chance=0.3, n=50) == []
    text = report.when_text([], flagged, 0.3)
    assert text.startswith("No unflagged method could be set against")
    assert "Flagged, so not compared: SupCon + MixUp (10% of the labels), SupCon + MixUp (epochs × 1)." in text


def test_tables_show_mean_and_standard_error_with_flags():
    axes = axes_of(set())
    table = report.axis_table(axes, "labels", chance=0.3)
    run = axes[Point("labels", 0.1)][0]
    scores = [m["score"] for m in run.results["metrics_per_seed"]]
    se = np.std(scores, ddof=1) / np.sqrt(3)
    assert f"{100 * np.mean(scores):.1f} ± {100 * se:.1f}" in table
    assert "10% of the labels" in table.splitlines()[0]


@pytest.mark.skipif(not os.environ.get("RESPKIT_DATA"), reason="the recorded points were trained on real data")
def test_recorded_points_are_those_the_current_code_would_load():
    """Each recorded file holds the config ``python -m respkit bench --axes`` builds today from the data."""
    from respkit.experiments import resolve_default_data

    axes = load_axes(AXES_DIR)
    assert set(axes) == set(POINTS)
    data = resolve_default_data()
    if data.sprsound.simulated:
        pytest.skip("RESPKIT_DATA holds no SPRSound recordings")
    for point, runs in axes.items():
        assert {run.method.recipe for run in runs} == set(AXIS_METHODS)
        for run in runs:
            recipe = run.method.recipe
            config = cpu(recipe).replace(task="1-2")
            if point.axis == "budget":
                changes = budget_overrides(recipe, config, point.value)
            else:
                changes = label_overrides(recipe, config, point.value, training_labels(config, data))
            expected = apply_overrides(config, {"task": "1-2", **changes})
            assert _jsonable(dataclasses.asdict(expected)) == run.results["config"], (point, recipe)
