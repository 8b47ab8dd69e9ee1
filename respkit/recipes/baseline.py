"""Chapter 1's baselines: a small CNN on log-mel spectrograms, scored with each challenge's official metric.

Nothing here is borrowed from a paper on purpose. The baselines are the floor that the contrastive
methods of later chapters have to beat, trained the plainest reasonable way:

* ``baseline.sprsound`` — SPRSound events (task 1-2, seven classes; or 1-1 with ``task="1-1"``), 3 s
  centre-cropped or zero-padded at 8 kHz. It trains on the SPRSound training set minus 20 % of its
  patients and reports the official score on those held-out patients (and on the official test sets
  where present). No choice is made on the held-out patients: the weights are those of the last epoch.
* ``baseline.icbhi`` — ICBHI cycles (normal, crackle, wheeze, both), on whatever audio is present. The
  epoch is chosen on validation patients held out of the official train side, and the official test
  side is scored once (``test_score``).

Both draw classes evenly in training (:class:`respkit.data.ClassBalancedSampler`): with eight normal
events in ten, a plainly shuffled model learns to answer "Normal", which both scores punish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from respkit.features import LogMel
from respkit.models import create_model
from respkit.recipes import common, register_recipe
from respkit.recipes.base import Description, Recipe, RecipeConfig, Stage
from respkit.train import Supervised, TrainConfig


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
class BaselineConfig(RecipeConfig):
    """``baseline.sprsound``: SPRSound events, task 1-2, 3 s at 8 kHz; ``widths``: the CNN's four blocks."""

    duration: float = 3.0
    sample_rate: int = 8000  # the rate the loaders serve the dataset at (SPRSound's own)
    features: LogMelConfig = field(default_factory=LogMelConfig)
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    drop_rate: float = 0.2
    batch_size: int = 64
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=30, lr=1e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1)
    )

    @classmethod
    def quick(cls) -> BaselineConfig:
        # Well under a minute of a 2-core CPU per seed: a narrower CNN on a 32-band log-mel, 1,000 training
        # events seen 6 times (features come from the on-disk cache after the first pass).
        return cls(
            features=LogMelConfig(n_mels=32, hop_length=256),
            widths=(16, 32, 64, 128),
            batch_size=32,
            max_train=1000,
            max_val=500,
            max_test=400,
            train=TrainConfig(epochs=6, lr=3e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=0.5),
        )

    @classmethod
    def cpu(cls) -> BaselineConfig:
        # Every training event, the quick profile's network, a schedule long enough to converge.
        quick = cls.quick()
        return quick.replace(
            max_train=None,
            max_val=None,
            max_test=None,
            train=quick.train.__class__(epochs=15, lr=3e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1),
        )


@dataclass(frozen=True)
class ICBHIBaselineConfig(BaselineConfig):
    """``baseline.icbhi``: ICBHI cycles fixed to 8 s at 16 kHz, as in the Patch-Mix recipe; epoch chosen on val."""

    dataset: str = "icbhi"
    task: str | None = None
    duration: float = 8.0
    sample_rate: int = 16000  # ICBHI cycles are resampled to 16 kHz
    features: LogMelConfig = field(default_factory=lambda: LogMelConfig(n_fft=1024, hop_length=160))
    batch_size: int = 32
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, lr=1e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1, select_metric="score"
        )
    )

    @classmethod
    def quick(cls) -> ICBHIBaselineConfig:
        # Seconds: 4 s cycles of whatever audio is here (19 recordings in ../shared/data, more simulated).
        return cls(
            duration=4.0,
            features=LogMelConfig(n_fft=1024, hop_length=320, n_mels=32),
            widths=(16, 32, 64, 128),
            batch_size=16,
            max_train=300,
            max_test=300,
            train=TrainConfig(
                epochs=8,
                lr=2e-3,
                optimizer="adamw",
                weight_decay=1e-2,
                warmup_epochs=0.5,
                select_metric="score",
                max_steps_per_epoch=10,
            ),
        )


@register_recipe("baseline.sprsound")
class SPRSoundBaseline(Recipe):
    """Small CNN on log-mel, SPRSound events; official score on held-out patients."""

    Config = BaselineConfig

    def data(self, config: BaselineConfig, data: Any) -> common.Splits:
        features = config.features.build(config.sample_rate)
        return common.splits(data, config, transform=features, duration=config.duration)

    def model(self, config: BaselineConfig, splits: common.Splits) -> nn.Module:
        return create_model(
            "cnn_small", num_classes=len(splits.classes), widths=config.widths, drop_rate=config.drop_rate
        )

    def stages(self, config: BaselineConfig, splits: common.Splits, model: nn.Module) -> Iterator[Stage]:
        loader = common.train_loader(splits.train, config, balanced=config.balanced)
        yield Stage("train", Supervised(model), loader, config.train, evaluate_on="valid")

    def describe(self, config: BaselineConfig) -> Description:
        widths = f"widths {config.widths[0]} to {config.widths[-1]}"
        bands = f"log-mel ({config.features.n_mels} bands)"
        return Description(f"cnn_small, {widths}", bands, "end to end", str(config.train.epochs))


@register_recipe("baseline.icbhi")
class ICBHIBaseline(SPRSoundBaseline):
    """Small CNN on log-mel, ICBHI cycles with audio; epoch chosen on validation patients, official test scored."""

    Config = ICBHIBaselineConfig
