"""The protocol every recipe keeps: three kinds of patients, and choices made on validation patients only.

Training patients train; validation patients (drawn from the training patients by ``split_seed``) choose
epochs and decision rules; held-out test patients (``val``) and the official test sets are only reported.
"""

from __future__ import annotations

import numpy as np
import pytest

from respkit.decision import ClassPrior
from respkit.experiments import run_experiment
from respkit.recipes import common, get_recipe, list_recipes
from respkit.recipes.base import RecipeConfig
from respkit.runs import RunArtifacts
from respkit.train import Predictions


def one_recipe_per_data_hook() -> list[str]:
    """A recipe for each distinct way of reading the data (variants share their family's)."""
    chosen: dict[str, str] = {}
    for name in list_recipes():
        recipe = get_recipe(name)
        if not type(recipe).__module__.startswith("respkit.recipes."):
            continue  # the stand-ins other test modules register
        owner = next(c for c in type(recipe).__mro__ if "data" in vars(c))
        chosen.setdefault(f"{owner.__module__}.{owner.__qualname__}:{recipe.Config.for_profile('quick').dataset}", name)
    return sorted(chosen.values())


@pytest.mark.parametrize("name", one_recipe_per_data_hook())
def test_training_validation_and_held_out_patients_are_disjoint(name, simulated):
    recipe = get_recipe(name)
    config = recipe.Config.for_profile("quick").replace(max_train=60, max_val=30, max_test=10)
    splits = recipe.data(config, simulated)
    patients = {split: set(np.asarray(ds.groups).tolist()) for split, ds in [("train", splits.train)]}
    patients |= {"valid": set(np.asarray(splits.valid.groups).tolist())}
    patients |= {"val": set(np.asarray(splits.val.groups).tolist())}
    assert all(patients.values()), f"{name}: an empty split: {patients}"
    assert not patients["train"] & patients["valid"], name
    assert not patients["train"] & patients["val"], name
    assert not patients["valid"] & patients["val"], name


def test_epoch_selection_reads_the_validation_patients(simulated, tmp_path, monkeypatch):
    """The per-epoch evaluation that chooses the epoch is handed the validation split, and nothing else."""
    seen = []
    evaluator = common.evaluator

    def recording(model, loader, config, device=None):
        seen.append(set(np.asarray(loader.dataset.groups).tolist()))
        return evaluator(model, loader, config, device)

    monkeypatch.setattr(common, "evaluator", recording)
    overrides = {"max_train": 48, "max_val": 24, "max_test": 16, "duration": 1.0, "batch_size": 8}
    overrides |= {"model_kwargs": {"embed_dim": 16, "depth": 1, "num_heads": 2}, "epoch_items": 16}
    overrides |= {"train.epochs": 2, "train.select_metric": "score"}
    results = run_experiment("patchmix.cl", profile="quick", data=simulated, out_dir=tmp_path, overrides=overrides)
    artifacts = RunArtifacts.of(results)
    assert seen == [set(artifacts.groups["valid"].tolist())]
    assert seen[0].isdisjoint(artifacts.groups["val"].tolist())
    assert "valid_score" in results["summary"] and "best_epoch" in results["summary"]


def test_the_decision_rule_is_fitted_on_validation_predictions_alone():
    """``decide_by_prior`` fits tau on ``valid`` and applies it everywhere: whatever the held-out split's labels
    and scores, the fitted tau is the same, and the held-out predictions follow the rule's formula."""
    rng = np.random.default_rng(0)
    classes, config = ["Normal", "Adventitious", "Poor Quality"], RecipeConfig(dataset="sprsound", task="2-1")
    train_labels = rng.choice(3, size=300, p=[0.7, 0.2, 0.1])
    prior = ClassPrior.from_training_labels(train_labels, 3)

    def predictions(n: int, seed: int) -> Predictions:
        g = np.random.default_rng(seed)
        y = g.choice(3, size=n, p=[0.7, 0.2, 0.1])
        scores = g.dirichlet(np.ones(3), size=n) * 0.5 + np.eye(3)[y] * 0.3  # informative, over-calling
        scores /= scores.sum(axis=1, keepdims=True)
        return Predictions(y, scores.argmax(axis=1), scores)

    valid = predictions(200, 1)
    taus, held_out = [], []
    for seed in (2, 3, 4):
        artifacts = RunArtifacts(classes, predictions={"valid": valid, "val": predictions(150, seed)})
        metrics = common.decide_by_prior(config, artifacts, prior)
        taus.append(metrics["prior_tau"])
        held_out.append((artifacts, metrics))
    assert len(set(taus)) == 1
    artifacts, metrics = held_out[0]
    val = artifacts.predictions["val"]
    expected = np.argmax(np.log(np.maximum(val.scores, 1e-12)) + taus[0] * prior.log_ratio, axis=1)
    np.testing.assert_array_equal(artifacts.info["prior"]["predictions"]["val"], expected)
    assert {"prior_score", "valid_prior_score", "prior_tau"} <= set(metrics)
