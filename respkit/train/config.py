"""The training configuration: every knob of :class:`respkit.train.Trainer` in one dataclass.

A recipe builds a :class:`TrainConfig` per profile (``quick`` / ``full``); the trainer reads nothing
else. :func:`config_fingerprint` names a configuration by its content, so that a checkpoint written
for one configuration is never resumed under another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

Optimizer = Literal["adam", "adamw", "sgd"]

# Fields that change what is printed, not what is learned: left out of the fingerprint so that a
# run may be resumed with a different logging cadence.
_COSMETIC_FIELDS = frozenset({"log_every"})


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Defaults are the Patch-Mix CL settings at a small scale.

    Attributes:
        epochs: passes over the training loader.
        lr: peak learning rate (reached at the end of the warm-up).
        optimizer: ``"adam"``, ``"adamw"`` (decoupled weight decay) or ``"sgd"``.
        weight_decay: L2 penalty (Adam, SGD) or decoupled decay (AdamW).
        momentum: SGD momentum; ignored by Adam and AdamW.
        warmup_epochs: linear warm-up length in epochs; fractional values are allowed, 0 disables it.
        min_lr_ratio: the cosine schedule ends at ``lr * min_lr_ratio`` (Patch-Mix CL: 1e-3).
        grad_clip: clip the global gradient norm to this value; ``None`` disables clipping.
        amp: mixed precision on CUDA (bfloat16 where supported, else float16 with a GradScaler);
            ignored on the CPU so that a config runs unchanged everywhere.
        weight_averaging: ``None`` or the factor β of the Patch-Mix weight averaging: after every
            optimizer step the weights become ``β · (weights before the step) + (1 − β) · (weights
            after it)`` and training continues from them (see :class:`respkit.train.trainer.StepAveraging`).
        seed: seeds the start of every epoch (shuffling, dropout, augmentations).
        select_metric: a key of ``evaluate()``'s dict (higher is better) whose best epoch's weights
            are kept and restored at the end; ``None`` keeps the last epoch's weights.
        max_steps_per_epoch: cap on optimizer steps per epoch (the ``quick`` profile); ``None``: no cap.
        log_every: steps between progress-bar updates and NaN checks (each one waits for the GPU).
        recompute_batchnorm: after training, replace every BatchNorm's running statistics by their average
            over one pass of training batches through the final weights. Running statistics are a moving
            average over past steps; while the weights still move (a constant learning rate), they trail
            the weights, and the network evaluated in eval mode is not the one trained.
    """

    epochs: int = 10
    lr: float = 5e-5
    optimizer: Optimizer = "adam"
    weight_decay: float = 1e-6
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 1e-3
    grad_clip: float | None = None
    amp: bool = True
    weight_averaging: float | None = None
    seed: int = 0
    select_metric: str | None = None
    max_steps_per_epoch: int | None = None
    log_every: int = 10
    recompute_batchnorm: bool = False

    def __post_init__(self) -> None:
        # Fail at construction, where the mistake is, rather than epochs into a run.
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', not {self.optimizer!r}")
        if self.epochs < 1 or self.lr <= 0 or self.log_every < 1:
            raise ValueError("epochs, lr and log_every must be positive")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must lie in [0, epochs], got {self.warmup_epochs}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.weight_averaging is not None and not 0 <= self.weight_averaging < 1:
            raise ValueError(f"weight_averaging must be None or in [0, 1), got {self.weight_averaging}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError("max_steps_per_epoch must be None or positive")


def config_hash(fields: dict[str, Any]) -> str:
    """A stable hex digest of a JSON-ready dict (key order does not matter)."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_fingerprint(config: TrainConfig) -> str:
    """The digest of every field that changes the trained weights (``log_every`` does not)."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in _COSMETIC_FIELDS}
    return config_hash(fields)
