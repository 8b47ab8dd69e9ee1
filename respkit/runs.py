"""Where a run keeps its files, and the one type for what every run leaves there.

:func:`respkit.experiments.run_experiment` writes one results file per experiment,
``<out>/<recipe>-<profile>-<hash8>.json``, and gives each seed a private folder beside it,
``<out>/work/<results stem>/seed<seed>`` (:func:`work_folder`): checkpoints, and the
:class:`RunArtifacts` that the chapters plot (training curves, predictions per split, embeddings).

This module sits below the recipes (it imports none of them), so that recipes, experiments and the
book can all use the same rule without an import cycle. Results files committed under ``respkit/results/``
come without their work folders: :meth:`RunArtifacts.of` says so by name when one is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from respkit.files import atomic_write
from respkit.train.evaluate import Predictions
from respkit.train.trainer import History

HISTORY_FILE = "history.json"  # training curves of each stage
PREDICTIONS_FILE = "predictions.npz"  # labels, predictions, scores, patients, embeddings of each split
INFO_FILE = "artifacts.json"  # classes, per-split metrics and anything else JSON-ready the recipe keeps
WEIGHTS_FILE = "model.pt"  # the trained classifier's state dict, for recipes whose chapter analyses it


def work_folder(results: Mapping[str, Any], seed: int | None = None) -> Path:
    """The private folder of one seed of a run: ``<out>/work/<results stem>/seed<seed>``.

    ``results`` is what :func:`respkit.experiments.run_experiment` returned (its ``"path"``);
    ``seed`` defaults to its first seed.
    """
    path = Path(results["path"])
    seed = results["seeds"][0] if seed is None else seed
    return path.parent / "work" / path.stem / f"seed{seed}"


@dataclass
class RunArtifacts:
    """What one seed of a run saved beside its metrics, by split and by training stage.

    Splits are named ``"val"`` (held-out patients of the training set), ``"test"`` (ICBHI's official
    test side), ``"inter"`` and ``"intra"`` (SPRSound's official test sets), as far as a run has them.

    Attributes:
        classes: class names, index 0 the normal class.
        histories: per training stage (``"train"``, or ``"pretrain"`` and ``"finetune"``) its History.
        predictions: per split, labels ``[N]``, predictions ``[N]`` and softmax scores ``[N, C]``.
        groups: per split, the patient of each item ``[N]`` (for a patient-wise bootstrap).
        embeddings: per split, encoder features ``[N, D]`` where the recipe keeps them.
        metrics: per split, the official score's numbers and per-class recall.
        info: anything else JSON-ready that a chapter looks at (e.g. window labels of records).
    """

    classes: list[str]
    histories: dict[str, History] = field(default_factory=dict)
    predictions: dict[str, Predictions] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> History:
        """The History of the last training stage (the one whose weights were evaluated)."""
        return list(self.histories.values())[-1]

    def save(self, folder: str | Path) -> None:
        """Write the three files into ``folder`` (each atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for split, p in self.predictions.items():
            arrays |= {f"{split}/y_true": p.y_true, f"{split}/y_pred": p.y_pred, f"{split}/scores": p.scores}
        arrays |= {f"{split}/groups": np.asarray(g) for split, g in self.groups.items()}
        arrays |= {f"{split}/embeddings": e for split, e in self.embeddings.items()}
        histories = {stage: h.to_dict() for stage, h in self.histories.items()}
        info = {"classes": list(self.classes), "metrics": self.metrics, "info": self.info}
        atomic_write(folder / PREDICTIONS_FILE, lambda tmp: save_npz(tmp, arrays))
        atomic_write(folder / HISTORY_FILE, lambda tmp: tmp.write_text(json.dumps(histories) + "\n"))
        atomic_write(folder / INFO_FILE, lambda tmp: tmp.write_text(json.dumps(info, indent=1) + "\n"))

    @classmethod
    def load(cls, folder: str | Path) -> RunArtifacts:
        """Read what :meth:`save` wrote into ``folder``."""
        folder = Path(folder)
        missing = [name for name in (PREDICTIONS_FILE, HISTORY_FILE, INFO_FILE) if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder}: no {', '.join(missing)}; this run's work folder is not here "
                "(run_experiment(..., reuse=False) trains again and writes it)"
            )
        info = json.loads((folder / INFO_FILE).read_text())
        histories = {k: History.from_dict(v) for k, v in json.loads((folder / HISTORY_FILE).read_text()).items()}
        artifacts = cls(info["classes"], histories, metrics=info["metrics"], info=info["info"])
        with np.load(folder / PREDICTIONS_FILE, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
        for split in dict.fromkeys(key.split("/")[0] for key in arrays):  # in the order they were saved
            if f"{split}/y_true" in arrays:
                artifacts.predictions[split] = Predictions(
                    arrays[f"{split}/y_true"], arrays[f"{split}/y_pred"], arrays[f"{split}/scores"]
                )
            if f"{split}/groups" in arrays:
                artifacts.groups[split] = arrays[f"{split}/groups"]
            if f"{split}/embeddings" in arrays:
                artifacts.embeddings[split] = arrays[f"{split}/embeddings"]
        return artifacts

    @classmethod
    def of(cls, results: Mapping[str, Any], seed: int | None = None) -> RunArtifacts:
        """The artifacts of seed ``seed`` (default: the first) of the run that ``results`` describes."""
        return cls.load(work_folder(results, seed))


def save_weights(model: nn.Module, folder: str | Path) -> None:
    """Keep a trained model's weights (on the CPU) in ``folder``, for chapters that analyse the model."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    atomic_write(Path(folder) / WEIGHTS_FILE, lambda tmp: torch.save(state, tmp))


def load_weights(results: Mapping[str, Any], seed: int | None = None) -> dict[str, torch.Tensor]:
    """The state dict that :func:`save_weights` kept for one seed of a run."""
    path = work_folder(results, seed) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; this run's work folder is not here")
    return torch.load(path, map_location="cpu", weights_only=True)


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` compressed to ``path`` as named (``np.savez`` would append ".npz" to a temporary name)."""
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]  # numpy's stubs type **kwds as allow_pickle
