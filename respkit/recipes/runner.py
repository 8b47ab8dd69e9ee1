"""The one run of every recipe: split, build, train each declared stage, score, save.

:func:`run` is what :func:`respkit.experiments.run_experiment` calls for one seed. For every recipe it

1. reads the data through the recipe's ``data`` (held-out patients chosen by ``split_seed`` alone);
2. builds the model (torch was seeded with the run's seed, so initial weights are the seed's);
3. trains the stages the recipe yields, in order, each with the run's seed, in its own folder
   ``<workdir>/<stage>`` (checkpoints there make an interrupted run resume to the same result), or, for a
   stage declared ``shared``, in ``<out>/work/stages/<stage>-<key>``, named by everything the stage read
   (:mod:`respkit.recipes.sharing`), where a later run with the same key finds it trained;
4. predicts the validation patients, the held-out test patients and the official test sets, scores each
   split with the dataset's official metric, scores them again under the prior correction fitted on the
   validation patients (:mod:`respkit.decision`), and saves what the chapters plot
   (:func:`respkit.recipes.common.finish`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from respkit.decision import ClassPrior
from respkit.recipes import common
from respkit.recipes.base import Recipe
from respkit.recipes.sharing import ReadRecorder, stage_key
from respkit.runs import RunArtifacts, save_weights
from respkit.train import History, Trainer

SHARED_STAGES = "stages"  # the folder, beside the runs' work folders, of the stages runs share


def run(recipe: Recipe, config: Any, data: Any, seed: int, workdir: str | Path) -> dict[str, float]:
    """Train and score ``recipe`` once with ``config`` and ``seed``; return the run's metrics."""
    workdir = Path(workdir)
    view = ReadRecorder(config)
    splits = recipe.data(view, data)
    model = recipe.model(view, splits)
    loaders: dict[str, DataLoader] | None = None
    histories: dict[str, History] = {}
    shared: dict[str, str] = {}  # stage -> the folder it shares with other runs
    device = None
    for stage in recipe.stages(view, splits, model):
        if stage.shared:
            shared[stage.name] = f"{stage.name}-{stage_key(view, stage.name, type(recipe), data, seed)[:16]}"
            folder = workdir.parents[1] / SHARED_STAGES / shared[stage.name]
        else:
            folder = workdir / stage.name
        trainer = Trainer(stage.objective, dataclasses.replace(stage.train, seed=seed), checkpoint_dir=folder)
        device = trainer.device
        evaluate = None
        if stage.evaluate_on is not None:
            loaders = loaders or recipe.eval_loaders(view, splits)
            evaluate = common.evaluator(model, loaders[stage.evaluate_on], config, device)
        histories[stage.name] = history = trainer.fit(stage.loader, evaluate)
        _print_epochs(stage.name, history)
    evaluation = recipe.evaluate(view, splits, model, loaders or recipe.eval_loaders(view, splits), device)
    artifacts = RunArtifacts(
        list(next(iter(splits.scored().values())).classes),  # those scored (a window model's training labels differ)
        histories,
        evaluation.predictions,
        groups=evaluation.groups,
        embeddings=evaluation.embeddings,
        info=evaluation.info | ({"shared_stages": shared} if shared else {}),
    )
    if recipe.keep_weights:
        save_weights(model, workdir)
    prior = None
    if recipe.decides_by_prior:  # the class shares of training, and those the sampler drew
        prior = ClassPrior.from_training_labels(splits.train.labels, len(artifacts.classes), balanced=config.balanced)
    metrics = common.finish(workdir, config, artifacts, model, prior)
    return metrics | evaluation.metrics | _best_epoch(histories)


def _print_epochs(stage: str, history: History) -> None:
    """One line per evaluated epoch: the training loss and the score on the split the stage watched."""
    for epoch, (fit, scored) in enumerate(zip(history.train, history.eval)):
        if "score" in scored:  # an epoch without evaluation records {}
            print(
                f"{stage} epoch {epoch + 1}/{len(history.train)}: loss {fit['loss']:.3f}, score {scored['score']:.3f}"
            )


def _best_epoch(histories: dict[str, History]) -> dict[str, float]:
    """The epoch whose weights the last stage kept (selected on a split's score, else its last), when it was
    evaluated during training."""
    last = list(histories.values())[-1]
    if not any(last.eval):
        return {}
    return {"best_epoch": float(last.best_epoch if last.best_epoch is not None else len(last.eval) - 1)}
