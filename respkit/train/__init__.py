"""Training: the trainer, its configuration, schedule, checkpoints and deterministic evaluation."""

from respkit.train.config import TrainConfig
from respkit.train.evaluate import Predictions, embed, predict
from respkit.train.objectives import PatchMixCE, PatchMixCL, Supervised
from respkit.train.trainer import History, StepAveraging, Trainer

__all__ = [
    "History",
    "PatchMixCE",
    "PatchMixCL",
    "Predictions",
    "StepAveraging",
    "Supervised",
    "TrainConfig",
    "Trainer",
    "embed",
    "predict",
]
