"""The dataset registry: everything the library needs to know about a dataset, in one record.

In the manner of d2l's ``DATA_HUB`` and torchvision's datasets, each dataset is described once, by a
:class:`DatasetSpec` registered in its own module (``register_dataset(DatasetSpec(...))``, one line).
Locating the data (:mod:`respkit.data.locate`), falling back to the simulator, saying how to download
it and scoring predictions (:func:`score_function`) all read the registry, so adding a dataset
touches its own module only.

A dataset lives in ``<data root>/<name>/``; its ``marker``, a folder under that, proves the official
layout is there (``icbhi/ICBHI_final_database``, ``sprsound/BioCAS2022``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: ``score(y_true, y_pred) -> {"score": ..., ...}``: integer labels with 0 = normal (see respkit.metrics).
Score = Callable[[np.ndarray, np.ndarray], dict[str, float]]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: where it is recognised, how it is read, scored, simulated and fetched.

    Attributes:
        name: the folder under a data root and the attribute of :class:`~respkit.data.locate.DataSource`.
        marker: a folder, relative to ``<root>/<name>``, whose presence proves the official layout.
        loader: the :class:`~respkit.data.base.RespiratoryDataset` subclass that reads that folder.
        metric: ``metric(task) -> score``, the official score for a task (``None`` for a dataset with one).
        simulate: ``simulate(root, seed=...)`` writes a simulated copy in the official layout under
            ``root``; ``None`` when there is no simulator (a missing dataset is then left out).
        download: ``download(dest)`` fetches the official release into ``dest/<name>``; ``None`` when it
            must be obtained by hand.
        splits: ``splits(root, task, **loader_kwargs) -> (training set, {name: official test set})``, the
            test sets present under ``root`` (recipes hold patients out of the training set themselves).
    """

    name: str
    marker: str
    loader: type
    metric: Callable[[str | None], Score]
    simulate: Callable[..., Path] | None = None
    download: Callable[..., Path] | None = None
    splits: Callable[..., tuple[Any, dict[str, Any]]] | None = None

    def how_to_get(self) -> str:
        """What to tell a user who has no copy of this dataset."""
        hint = f"set RESPKIT_DATA to a folder holding {self.name}/{self.marker}"
        if self.download is not None:
            hint += f", or download it with {self.download.__module__}.{self.download.__qualname__}()"
        return hint


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry; returns it.

    Registering a name again from the loader's own module replaces it (a module reloaded in a
    notebook); from another module it is an error, so two datasets never share a folder name.
    """
    known = DATASETS.get(spec.name)
    if known is not None and known.loader.__module__ != spec.loader.__module__:
        raise ValueError(
            f"dataset {spec.name!r} is registered twice ({known.loader.__module__} and {spec.loader.__module__})"
        )
    DATASETS[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset ``name``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(DATASETS)}")
    return DATASETS[name]


def dataset_splits(name: str, root: Any, task: str | None, **loader_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """The training set and the official test sets of dataset ``name`` under ``root`` (:attr:`DatasetSpec.splits`)."""
    spec = get_dataset(name)
    if spec.splits is None:
        raise ValueError(f"dataset {name!r} was registered without splits, so no recipe can train on it")
    return spec.splits(root, task, **loader_kwargs)


def score_function(dataset: str, task: str | None = None) -> Score:
    """The official metric of ``dataset`` for ``task``: ``f(y_true, y_pred) -> dict`` with a ``"score"``.

    ``score_function("icbhi")``, ``score_function("sprsound", "1-2")``; a dataset whose score depends on
    the task raises ``ValueError`` when it is not given.
    """
    return get_dataset(dataset).metric(task)
