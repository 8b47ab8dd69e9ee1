"""Chapter 1's baselines: a small CNN on log-mel spectrograms, scored with each challenge's official metric.

Nothing here is borrowed from a paper on purpose. The baselines are the floor that the contrastive
methods of later chapters have to beat, trained the plainest reasonable way:

* ``baseline.sprsound`` — SPRSound events (task 1-2, seven classes; or 1-1 with ``task="1-1"``), 3 s
  centre-cropped or zero-padded at 8 kHz. It trains on the SPRSound training set minus 20 % of its
  patients and reports the official score on those held-out patients. No choice is made on them: the
  weights are those of the last epoch, so the held-out score is not tuned to the patients it is read on.
  For task 1-2 it also reports the 1-1 score of the same predictions (any adventitious class counts as
  "Adventitious").
* ``baseline.icbhi`` — ICBHI cycles (normal, crackle, wheeze, both), on whatever audio is present. The
  epoch is chosen on validation patients held out of the official train side, and the official test
  side is scored once, with the ICBHI score (4-class and 2-class).

Both draw classes evenly in training (:class:`respkit.data.ClassBalancedSampler`): with eight normal
events in ten, a plainly shuffled model learns to answer "Normal", which both scores punish.

Each run writes ``history.json`` (the training curves) and ``predictions.npz`` (labels, predictions,
softmax scores and class names of the reported set) into its work folder; :func:`load_artifacts` reads
them back from the results of :func:`respkit.experiments.run_experiment`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from respkit.features import LogMel
from respkit.metrics import sprsound_score
from respkit.models import create_model
from respkit.experiments import work_folder
from respkit.recipes import common, register_recipe
from respkit.train import History, Predictions, Supervised, TrainConfig, Trainer, predict

HISTORY_FILE = "history.json"
PREDICTIONS_FILE = "predictions.npz"


@dataclass(frozen=True)
class LogMelConfig:
    """Log-mel settings (:class:`respkit.features.LogMel`); the sample rate comes from the dataset."""

    n_fft: int = 512
    hop_length: int = 128
    n_mels: int = 64
    top_db: float = 80.0

    def build(self, sample_rate: int) -> LogMel:
        return LogMel(sample_rate, self.n_fft, self.hop_length, self.n_mels, self.top_db)


@dataclass(frozen=True)
class SPRSoundConfig:
    """``baseline.sprsound``: what is trained on which events, per profile.

    ``max_train`` / ``max_val`` subsample events per class in proportion (``None``: all); ``widths`` are the
    channels of the four CNN blocks (:class:`respkit.models.cnn.SmallCNN`).
    """

    task: str = "1-2"
    duration: float = 3.0
    features: LogMelConfig = field(default_factory=LogMelConfig)
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    drop_rate: float = 0.2
    batch_size: int = 64
    balanced: bool = True
    val_fraction: float = 0.2
    max_train: int | None = None
    max_val: int | None = None
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=30, lr=1e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1)
    )

    @classmethod
    def for_profile(cls, profile: str) -> SPRSoundConfig:
        if profile == "full":  # every training event, 30 epochs: minutes on a GPU
            return cls()
        if profile != "quick":
            raise ValueError(f"unknown profile {profile!r}: 'quick' or 'full'")
        # About a minute of an idle 2-core CPU: a narrower CNN, 6 epochs of 15 balanced batches.
        return cls(
            widths=(16, 32, 64, 128),
            batch_size=32,
            max_train=1200,
            max_val=400,
            train=TrainConfig(
                epochs=6, lr=2e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=0.5, max_steps_per_epoch=15
            ),
        )


@dataclass(frozen=True)
class ICBHIConfig:
    """``baseline.icbhi``: cycles fixed to ``duration`` seconds at 16 kHz, as in the Patch-Mix recipe."""

    duration: float = 8.0
    features: LogMelConfig = field(default_factory=lambda: LogMelConfig(n_fft=1024, hop_length=160))
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    drop_rate: float = 0.2
    batch_size: int = 32
    balanced: bool = True
    val_fraction: float = 0.2
    max_train: int | None = None
    max_test: int | None = None
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, lr=1e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1, select_metric="score"
        )
    )

    @classmethod
    def for_profile(cls, profile: str) -> ICBHIConfig:
        if profile == "full":
            return cls()
        if profile != "quick":
            raise ValueError(f"unknown profile {profile!r}: 'quick' or 'full'")
        # A few seconds: 4 s cycles, at most 8 epochs of 6 balanced batches.
        return cls(
            duration=4.0,
            widths=(16, 32, 64, 128),
            batch_size=16,
            max_train=300,
            max_test=300,
            train=TrainConfig(
                epochs=8, lr=2e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=0.5,
                select_metric="score", max_steps_per_epoch=6,
            ),
        )


@register_recipe("baseline.sprsound")
class SPRSoundBaseline:
    """Small CNN on log-mel, SPRSound events; official score on held-out patients."""

    Config = SPRSoundConfig

    def run(self, config: SPRSoundConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        if not config.task.startswith("1"):
            raise ValueError(f"baseline.sprsound classifies events: task must be '1-1' or '1-2', got {config.task!r}")
        train_config = _seeded(config.train, seed)
        features = config.features.build(sample_rate=8000)  # the SPRSound loaders serve 8 kHz, the release's rate
        train, val = common.sprsound_splits(
            data, config.task, transform=features, duration=config.duration, val_fraction=config.val_fraction,
            seed=seed, max_train=config.max_train, max_val=config.max_val,
        )
        score = common.score_function("sprsound", config.task)
        predictions = _fit(config, train_config, train, val, score, workdir, seed)
        metrics = score(predictions.y_true, predictions.y_pred)
        if config.task == "1-2":  # the same predictions read as task 1-1: any adventitious class is "Adventitious"
            binary = sprsound_score((predictions.y_true > 0).astype(int), (predictions.y_pred > 0).astype(int), "1-1")
            metrics |= {f"{key}_1_1": value for key, value in binary.items()}
        return metrics


@register_recipe("baseline.icbhi")
class ICBHIBaseline:
    """Small CNN on log-mel, ICBHI cycles with audio; epoch chosen on validation patients, official test scored."""

    Config = ICBHIConfig

    def run(self, config: ICBHIConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        train_config = _seeded(config.train, seed)
        features = config.features.build(sample_rate=16000)  # ICBHI cycles are resampled to 16 kHz
        train, val, test = common.icbhi_splits(
            data, transform=features, duration=config.duration, val_fraction=config.val_fraction, seed=seed,
            max_train=config.max_train, max_test=config.max_test,
        )
        score = common.score_function("icbhi")
        predictions = _fit(config, train_config, train, val, score, workdir, seed, report=test)
        return score(predictions.y_true, predictions.y_pred)


def _seeded(train: TrainConfig, seed: int) -> TrainConfig:
    """The training config with the run's seed (epoch reseeding, sampler order)."""
    return replace(train, seed=seed)


Score = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


def _fit(config: SPRSoundConfig | ICBHIConfig, train_config: TrainConfig, train: Any, val: Any, score: Score,
         workdir: Path, seed: int, report: Any = None) -> Predictions:
    """Train the CNN on ``train``, evaluating on ``val`` every epoch; predict ``report`` (default ``val``).

    Writes the history and the predictions of the reported set into ``workdir`` and returns them.
    """
    workdir = Path(workdir)
    model = create_model("cnn_small", num_classes=len(train.classes), widths=config.widths, drop_rate=config.drop_rate)
    train_loader = common.make_loader(train, config.batch_size, train=True, balanced=config.balanced, seed=seed)
    val_loader = common.make_loader(val, 2 * config.batch_size, train=False)
    trainer = Trainer(Supervised(model), train_config, checkpoint_dir=workdir, progress=False)
    history = trainer.fit(train_loader, evaluate=common.evaluator(model, val_loader, score, trainer.device))
    for epoch, (fit_stats, eval_stats) in enumerate(zip(history.train, history.eval)):
        print(f"epoch {epoch + 1}/{train_config.epochs}: train loss {fit_stats['loss']:.3f}, "
              f"held-out score {eval_stats['score']:.3f}")

    report_loader = val_loader if report is None else common.make_loader(report, 2 * config.batch_size, train=False)
    predictions = predict(model, report_loader, trainer.device)
    (workdir / HISTORY_FILE).write_text(json.dumps(history.to_dict()))
    np.savez(workdir / PREDICTIONS_FILE, y_true=predictions.y_true, y_pred=predictions.y_pred,
             scores=predictions.scores, classes=np.array(train.classes))
    return predictions


@dataclass(frozen=True)
class Artifacts:
    """What a baseline run saved beside its metrics: training curves and the reported set's predictions."""

    history: History
    predictions: Predictions
    classes: list[str]




def load_artifacts(results: Mapping[str, Any], seed: int = 0) -> Artifacts:
    """The history and predictions that seed ``seed`` of a baseline run wrote into its work folder."""
    folder = work_folder(results, seed)
    if not (folder / HISTORY_FILE).is_file() or not (folder / PREDICTIONS_FILE).is_file():
        raise FileNotFoundError(
            f"{folder}: no {HISTORY_FILE} / {PREDICTIONS_FILE}; the results file {results['path']} was kept but "
            "its work folder was not (run_experiment(..., reuse=False) trains again and rewrites both)"
        )
    history = History.from_dict(json.loads((folder / HISTORY_FILE).read_text()))
    with np.load(folder / PREDICTIONS_FILE, allow_pickle=False) as saved:
        predictions = Predictions(y_true=saved["y_true"], y_pred=saved["y_pred"], scores=saved["scores"])
        classes = saved["classes"].tolist()
    return Artifacts(history, predictions, classes)
