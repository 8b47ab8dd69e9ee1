"""The one shape of every recipe: a config that extends :class:`RecipeConfig`, and a :class:`Recipe` that
declares its data, its model and its training stages. :func:`respkit.recipes.runner.run` runs them all.

A recipe is a class with

* ``Config``: a frozen dataclass extending :class:`RecipeConfig`, built per profile by
  ``Config.for_profile(profile)`` (which calls the classmethod of that name: ``full``, ``quick``, ``cpu``);
* ``data(config, data) -> Splits``: the training, held-out and official test items (default: the
  dataset's items as they are; override to choose features, lengths, in-memory copies);
* ``model(config, splits) -> nn.Module``: the classifier that is scored, freshly initialised;
* ``stages(config, splits, model)``: yields one :class:`Stage` per training stage, in order. Code between
  two ``yield`` runs after the first stage has trained, so a second stage can wrap what the first trained;
* optionally ``eval_loaders`` and ``evaluate``, when scoring is more than predicting every item of the
  held-out and test splits.

Variants of a method are subclasses whose ``Config`` changes a few defaults; nothing else differs.
No recipe writes a training loop, makes a checkpoint folder or scores a split: the runner does, the same
way for all of them.

The split rule lives in :func:`respkit.recipes.common.splits`, once: which patients are held out depends on
``split_seed`` only, never on the run's seed. Seeds then differ in training randomness alone, so a mean ± std
over seeds measures the method and not the luck of the split, and every recipe reads its score on the same
patients.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from respkit.profiles import PROFILES
from respkit.recipes import common
from respkit.train import TrainConfig

C = TypeVar("C", bound="RecipeConfig")


@dataclass(frozen=True)
class RecipeConfig:
    """What every recipe's data and loaders depend on.

    Attributes:
        dataset: a registered dataset, ``"sprsound"`` or ``"icbhi"``.
        task: the dataset's task (SPRSound: ``"1-1"``, ``"1-2"``, ``"2-1"``, ``"2-2"``; ICBHI: ``None``).
        split_seed: chooses the held-out patients; the same for every seed and every recipe by default.
        val_fraction: share of the training set's patients held out as test patients (the ``val`` split, whose
            scores the book reports under plain names: ``score``).
        valid_fraction: share of the remaining training patients set aside as validation patients (the
            ``valid`` split): they choose epochs, decision rules and settings, and are never reported as a
            result. Three kinds of patients, disjoint: training, validation, held-out test.
        max_train, max_val, max_test: class-proportional subsamples for small profiles (``None``: all).
            Drawn with ``split_seed`` too, so every seed trains and is scored on the same items.
        batch_size: training batch; evaluation uses twice as many.
        num_workers: loader worker processes.
        balanced: how training batches draw classes: ``True`` every class alike, ``False`` as the data has
            them, a power ``p`` in between (:class:`respkit.data.ClassBalancedSampler`); the decision rule
            (:mod:`respkit.decision`) corrects for the prior it trains under.
    """

    dataset: str = "sprsound"
    task: str | None = "1-2"
    split_seed: int = 0
    val_fraction: float = 0.2
    valid_fraction: float = 0.2
    max_train: int | None = None
    max_val: int | None = None
    max_test: int | None = None
    batch_size: int = 32
    num_workers: int = 0
    balanced: bool | float = True

    @classmethod
    def for_profile(cls: type[C], profile: str) -> C:
        """The config of ``profile``: ``full`` (a GPU, the paper's scale), ``quick`` (a CPU, minutes),
        ``cpu`` (a CPU, real data, a per-run budget of minutes)."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
        return getattr(cls, profile)()

    @classmethod
    def full(cls: type[C]) -> C:
        return cls()

    @classmethod
    def quick(cls: type[C]) -> C:
        raise NotImplementedError(f"{cls.__name__} defines no quick profile")

    @classmethod
    def cpu(cls: type[C]) -> C:
        raise NotImplementedError(f"{cls.__name__} defines no cpu profile")

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls: type[C], stored: Mapping[str, Any]) -> C:
        """The config that ``dataclasses.asdict`` (or a results file's JSON) stored: nested configs and tuples
        come back as their declared types, so ``Config.from_dict(results["config"])`` equals the run's config."""
        return _from_dict(cls, stored)


def _from_dict(cls: type, stored: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in stored:
            values[f.name] = _restore(hints[f.name], stored[f.name])
    return cls(**values)


def _restore(hint: Any, value: Any) -> Any:
    """``value`` read back from JSON as the type ``hint`` declares (dataclasses, tuples; JSON turns both into
    dicts and lists)."""
    if value is None:
        return None
    options = [hint] if typing.get_origin(hint) not in (typing.Union, _UnionType) else typing.get_args(hint)
    for option in options:
        if dataclasses.is_dataclass(option) and isinstance(value, Mapping):
            return _from_dict(option, value)  # type: ignore[arg-type]
        if typing.get_origin(option) is tuple and isinstance(value, list):
            return tuple(_restore(Any, v) for v in value)
        if typing.get_origin(option) is dict and isinstance(value, Mapping):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return value


_UnionType = type(int | None)


@dataclass
class Stage:
    """One training stage, as a recipe declares it; the runner trains it.

    Attributes:
        name: the stage's name (``"train"``, ``"pretrain"``, ``"finetune"``): its history and its folder.
        objective: an ``nn.Module`` that maps a batch to ``{"loss": tensor, **floats to log}``; it holds the
            model and whatever else trains (a projector, a probe).
        loader: the training batches of one epoch (a ``DataLoader``, or several read in step).
        train: optimiser, schedule and epochs (the run's seed is set by the runner).
        evaluate_on: a split scored after every epoch, for the history and for ``train.select_metric``: the
            validation patients (``"valid"``), or a test split where a public protocol chose on it; ``None``:
            no evaluation during training.
        shared: other runs may reuse this stage's result. The runner keeps it under a key computed from
            every config field read before the stage was declared (:mod:`respkit.recipes.sharing`), so two
            runs share it exactly when everything it could depend on is equal.
    """

    name: str
    objective: nn.Module
    loader: Iterable
    train: TrainConfig
    evaluate_on: str | None = None
    shared: bool = False


@dataclass
class Evaluation:
    """What a recipe's evaluation gives the runner: predictions per split and what it keeps beside them."""

    predictions: dict[str, Any]
    groups: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    embeddings: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # run-level numbers for the results file


@dataclass(frozen=True)
class Description:
    """A run's design in words, the same four facts for every recipe (chapter 6's tables read them).

    Attributes:
        network: the network and its size, e.g. ``"resnet18, width 16"``.
        features: what it reads, e.g. ``"MFCC (32 coefficients)"``.
        training: how the scored classifier is trained, e.g. ``"end to end"``.
        epochs: the epochs of each stage, ``"6 + 4"`` for two stages.
    """

    network: str
    features: str
    training: str
    epochs: str


class Recipe:
    """One experiment. Subclasses set ``Config`` and declare :meth:`model` and :meth:`stages`; the first
    docstring line names it. ``keep_weights`` saves the trained model's weights for the chapters that
    analyse it; ``decides_by_prior`` (on unless the scored classes are not those trained, as for records
    decided from windows) adds the prior-corrected decision's scores beside the argmax's; ``decision`` is the
    one the command line reports (``"argmax"``, or ``"prior"`` for a recipe that asks for the correction)."""

    Config: ClassVar[type[RecipeConfig]]
    keep_weights: ClassVar[bool] = False
    decides_by_prior: ClassVar[bool] = True  # score every split again under the prior correction fitted on valid
    decision: ClassVar[str] = "argmax"

    def data(self, config: Any, data: Any) -> Any:
        """The splits the run trains and is scored on (:func:`respkit.recipes.common.splits`)."""
        return common.splits(data, config)

    def model(self, config: Any, splits: Any) -> nn.Module:
        raise NotImplementedError

    def stages(self, config: Any, splits: Any, model: nn.Module) -> Iterator[Stage]:
        raise NotImplementedError

    def eval_loaders(self, config: Any, splits: Any) -> dict[str, DataLoader]:
        """Fixed-order batches of every split that is predicted: validation, held-out, official tests."""
        return {split: common.eval_loader(ds, config) for split, ds in splits.predicted().items()}

    def describe(self, config: Any) -> Description:
        """The run's design in words (network, features, training, epochs per stage)."""
        raise NotImplementedError

    def evaluate(
        self, config: Any, splits: Any, model: nn.Module, loaders: Mapping[str, DataLoader], device: Any
    ) -> Evaluation:
        """Predict every split of ``loaders``; keep each split's patients for a paired bootstrap."""
        return Evaluation(
            common.predict_splits(model, loaders, device),
            groups={split: np.asarray(ds.groups) for split, ds in splits.predicted().items()},
        )
