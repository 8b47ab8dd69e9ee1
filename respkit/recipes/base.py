"""The one shape of every recipe: a config that extends :class:`RecipeConfig`, and a :class:`Recipe`.

A recipe is a class with

* ``Config``: a frozen dataclass extending :class:`RecipeConfig`, built per profile by
  ``Config.for_profile(profile)`` (which calls the classmethod of that name: ``full``, ``quick``, ``cpu``);
* ``run(config, data, seed, workdir) -> dict[str, float]``: train and evaluate once. ``workdir`` is private
  to this run and seed (checkpoints, :class:`respkit.runs.RunArtifacts`).

Variants of a method are subclasses whose ``Config`` changes a few defaults; nothing else differs.

The split rule lives here, once: which patients are held out depends on ``split_seed`` only, never on
the run's seed. Seeds then differ in training randomness alone, so a mean ± std over seeds measures the
method and not the luck of the split, and every recipe reads its score on the same patients.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from respkit.profiles import PROFILES

C = TypeVar("C", bound="RecipeConfig")


@dataclass(frozen=True)
class RecipeConfig:
    """What every recipe's data and loaders depend on.

    Attributes:
        dataset: a registered dataset, ``"sprsound"`` or ``"icbhi"``.
        task: the dataset's task (SPRSound: ``"1-1"``, ``"1-2"``, ``"2-1"``, ``"2-2"``; ICBHI: ``None``).
        split_seed: chooses the held-out patients; the same for every seed and every recipe by default.
        val_fraction: share of the training set's patients held out (the ``val`` split).
        max_train, max_val, max_test: class-proportional subsamples for small profiles (``None``: all).
            Drawn with ``split_seed`` too, so every seed trains and is scored on the same items.
        batch_size: training batch; evaluation uses twice as many.
        num_workers: loader worker processes.
    """

    dataset: str = "sprsound"
    task: str | None = "1-2"
    split_seed: int = 0
    val_fraction: float = 0.2
    max_train: int | None = None
    max_val: int | None = None
    max_test: int | None = None
    batch_size: int = 32
    num_workers: int = 0

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


class Recipe:
    """One experiment. Subclasses set ``Config`` and implement :meth:`run`; the first docstring line names it."""

    Config: ClassVar[type[RecipeConfig]]

    def run(self, config: Any, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        raise NotImplementedError
