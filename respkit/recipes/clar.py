"""Chapter 2's experiments: CLAR (Al-Tahan & Mohsenzadeh, AISTATS 2021) on SPRSound events.

Three recipes train the same network (:class:`respkit.train.clar.CLARNetwork`) with the same loss
(:class:`respkit.train.clar.CLARObjective`) and differ only in the streams each step draws:

* ``clar.supervised`` — cross-entropy (CE) on the labelled events;
* ``clar.pretrain_finetune`` — NT-Xent on two augmented views of every training event (labels unused),
  then CE fine-tuning of all the weights on the labelled events (the SimCLR protocol);
* ``clar.joint`` — CE on labelled events and NT-Xent on all events in the same steps: CLAR's proposal.

One :class:`CLARConfig` serves all three, so every variant is an override: ``label_fraction`` (the share
of training events whose labels may be used; the others are used by the contrastive term only) and
``augmentations`` (names from :data:`respkit.augment.CLAR_AUGMENTATIONS`, applied in that order to the
waveforms, batch-wise on the training device). The supervised term sees the same augmentations, so the
three methods differ in their losses only.

Data: SPRSound events, task 1-1 by default (with 10 % of the labels, task 1-2's rarest classes would keep
one labelled example or none; chapter 6's ``cpu`` bench uses 1-2 with every label). Events are centre-cropped
or zero-padded to ``duration``, held in memory as waveforms (:class:`respkit.recipes.common.InMemory`), and
scored on held-out patients with the last epoch's weights; the held-out score is also recorded after every
epoch of the last stage.

The pre-training stage of ``pretrain_finetune`` is declared ``shared``: it reads neither the labels nor the
fine-tuning settings (the labelled stream is built after it), so runs that differ only in those train it
once per seed, in ``<out_dir>/work/stages/pretrain-<key>/`` (:mod:`respkit.recipes.runner`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torchaudio.functional as AF
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from respkit.augment import CLAR_AUGMENTATIONS, clar_augmentation
from respkit.data import ClassBalancedSampler
from respkit.data.streams import Streams
from respkit.features import CLARFeatures, LogMel
from respkit.models import create_model
from respkit.recipes import common, register_recipe
from respkit.recipes.base import Description, Recipe, RecipeConfig, Stage
from respkit.recipes.common import InMemory
from respkit.train import TrainConfig
from respkit.train.clar import CLARNetwork, CLARObjective

SPRSOUND_RATE = 8000  # the release's sample rate, served by the SPRSound loaders


@dataclass(frozen=True)
class FeatureConfig:
    """The time-frequency input: ``"logmel"`` (1 channel) or ``"clar"`` (STFT magnitude, phase, log-mel)."""

    kind: str = "clar"
    n_fft: int = 2048
    hop_length: int = 128
    n_mels: int = 128
    win_length: int | None = 256  # CLAR: 16 ms windows at 16 kHz, zero-padded to n_fft
    top_db: float = 80.0

    @property
    def channels(self) -> int:
        return 3 if self.kind == "clar" else 1

    def build(self, sample_rate: int) -> nn.Module:
        if self.kind == "clar":
            return CLARFeatures(sample_rate, self.n_fft, self.hop_length, self.n_mels, self.win_length, self.top_db)
        if self.kind == "logmel":
            return LogMel(sample_rate, self.n_fft, self.hop_length, self.n_mels, self.top_db)
        raise ValueError(f"features.kind must be 'clar' or 'logmel', got {self.kind!r}")


@dataclass(frozen=True)
class CLARConfig(RecipeConfig):
    """What every ``clar.*`` recipe trains, per profile.

    Attributes:
        task: SPRSound event task, ``"1-1"`` (default, see the module docstring) or ``"1-2"``.
        duration: seconds each event is centre-cropped or zero-padded to.
        sample_rate: the network's rate; SPRSound's 8 kHz audio is resampled to it.
        label_fraction: share of the training events whose labels are used, in (0, 1].
        augmentations: CLAR augmentation names, applied in order to every view (and to the CE input).
        features: the time-frequency input.
        model, model_kwargs: the encoder, ``create_model(model, num_classes=0, in_chans=..., **model_kwargs)``.
        projection_dim: output size of the projection head (CLAR: 128).
        temperature: NT-Xent temperature (CLAR: 0.5).
        contrastive_weight: ``loss = CE + contrastive_weight · NT-Xent`` in ``joint``.
        batch_size: items per stream and step.
        train: optimisation of ``supervised``, ``joint`` and the pre-training stage.
        finetune: optimisation of the fine-tuning stage of ``pretrain_finetune``.
    """

    task: str | None = "1-1"
    duration: float = 3.0
    sample_rate: int = 16000
    label_fraction: float = 1.0
    augmentations: tuple[str, ...] = ("fade", "time_mask")
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: str = "resnet18"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    projection_dim: int = 128
    temperature: float = 0.5
    contrastive_weight: float = 1.0
    batch_size: int = 128
    # The CLAR paper's optimiser settings are not followed here: respkit's choices for a ResNet18 from scratch.
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=100, lr=1e-3, optimizer="adamw", weight_decay=1e-4, warmup_epochs=5)
    )
    finetune: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=100, lr=1e-3, optimizer="adamw", weight_decay=1e-4, warmup_epochs=5)
    )

    def __post_init__(self) -> None:
        if not 0.0 < self.label_fraction <= 1.0:
            raise ValueError(f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if self.dataset != "sprsound" or not str(self.task).startswith("1"):
            raise ValueError(f"the clar recipes classify SPRSound events: task '1-1' or '1-2', got {self.task!r}")
        if isinstance(self.augmentations, str) or set(self.augmentations) - set(CLAR_AUGMENTATIONS):
            raise ValueError(
                f"augmentations must be a sequence of names from {sorted(CLAR_AUGMENTATIONS)}, "
                f"e.g. ('fade', 'time_mask'); got {self.augmentations!r}"
            )
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (NT-Xent needs negatives), got {self.batch_size}")

    @classmethod
    def quick(cls) -> CLARConfig:
        # Seconds per run on one CPU thread: 2 s at 8 kHz, a narrow CNN on a small log-mel, 480 training events
        # (15 steps of 32 per epoch), 6 epochs. The fine-tuning rate was chosen on validation patients among 3e-3,
        # 1e-3 and 3e-4 (10 % of the labels, real events, 3 seeds; tools/choose_settings.py, results files in
        # respkit/results/choices/): 3e-4 scored best (0.647 ± 0.042 against 0.617 and 0.564).
        quick_train = TrainConfig(epochs=6, lr=3e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=0.5)
        return cls(
            duration=2.0,
            sample_rate=SPRSOUND_RATE,
            max_train=480,
            max_val=300,
            max_test=300,
            features=FeatureConfig(kind="logmel", n_fft=256, hop_length=128, n_mels=32, win_length=None),
            model="cnn_small",
            model_kwargs={"widths": (8, 16, 32, 64)},
            projection_dim=64,
            batch_size=32,
            train=quick_train,
            finetune=dataclasses.replace(quick_train, lr=3e-4),
        )

    @classmethod
    def cpu(cls) -> CLARConfig:
        # Chapter 6's bench: every event of task 1-2, a quarter-width ResNet18 on CLAR's 3 channels at 32 x 94
        # (at 64 x 188 a step cost four times as much: 6 epochs would not fit minutes per run).
        cpu_train = TrainConfig(epochs=6, lr=2e-3, optimizer="adamw", weight_decay=1e-3, warmup_epochs=0.5)
        return cls(
            task="1-2",
            duration=3.0,
            sample_rate=SPRSOUND_RATE,
            batch_size=64,
            model_kwargs={"width": 16},
            features=FeatureConfig(kind="clar", n_fft=256, hop_length=256, n_mels=32, win_length=256),
            train=cpu_train,
            finetune=cpu_train,
        )


def build_network(config: CLARConfig, num_classes: int) -> CLARNetwork:
    """The network of ``config``, randomly initialised (seed torch first for a reproducible draw)."""
    encoder = create_model(config.model, num_classes=0, in_chans=config.features.channels, **config.model_kwargs)
    return CLARNetwork(config.features.build(config.sample_rate), encoder, num_classes, config.projection_dim)


def load_events(config: CLARConfig, data: Any) -> common.Splits:
    """Every split's events as waveforms ``[N, 1, duration · sample_rate]`` in memory, resampled from
    SPRSound's 8 kHz to ``config.sample_rate``; the held-out patients depend on ``split_seed`` alone."""

    def in_memory(ds: Any) -> InMemory:
        events = InMemory.of(ds)  # [N, 1, L] at 8 kHz
        if config.sample_rate == SPRSOUND_RATE:
            return events
        waves = AF.resample(events.x, SPRSOUND_RATE, config.sample_rate)
        return InMemory(waves, events.labels, events.groups, events.classes)

    return common.splits(data, config, duration=config.duration).map(in_memory)


def labelled_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions of the training events whose labels are used: ``round(fraction · N)`` of the ``N`` events of
    ``labels``, drawn with ``seed`` per class in proportion, at least one per class
    (:func:`respkit.recipes.common.proportional_indices`)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    return common.proportional_indices(labels, round(fraction * len(labels)), seed)


def labelled_stream(train: InMemory, labelled: np.ndarray, batch_size: int, power: float = 1.0) -> DataLoader:
    """Class-balanced batches ``(wave, y)`` drawn with replacement from the labelled events (``power``: the
    sampler's, 1 draws every class alike), as many per epoch as the unlabelled stream has
    (``len(train) // batch_size``), whatever the label fraction."""
    steps = _steps(train, batch_size)
    sampler = ClassBalancedSampler(train.labels[labelled], power=power, num_samples=steps * batch_size)
    events = TensorDataset(train.x[labelled], train.y[labelled])
    return DataLoader(events, batch_size=batch_size, sampler=sampler, drop_last=True)


def unlabelled_stream(train: InMemory, batch_size: int) -> DataLoader:
    """Shuffled batches of every training waveform alone: the contrastive stream sees no label."""
    _steps(train, batch_size)
    # a tensor is a dataset of its rows (torch's stubs ask for a Dataset)
    return DataLoader(train.x, batch_size=batch_size, shuffle=True, drop_last=True)  # type: ignore[arg-type]


def _steps(train: InMemory, batch_size: int) -> int:
    """Steps per epoch: one per full batch of training events."""
    if len(train) < batch_size:
        raise ValueError(f"{len(train)} training events make no batch of {batch_size}")
    return len(train) // batch_size


class CLARRecipe(Recipe):
    """What the three recipes share: the events, the network, and one training stage that draws ``draws``.

    The streams' orders come from the trainer's epoch seed: a loader draws its order when an epoch starts.
    """

    Config = CLARConfig
    draws: ClassVar[tuple[str, ...]]  # the streams each step of the training stage reads
    # Its argmax over-calls the rare classes: on the bench's validation patients the prior correction fitted
    # there lifted clar.joint's score the most of any method (valid_score against valid_prior_score in
    # respkit/results/bench/clar.joint-cpu-*.json), so the command line reports that decision.
    decision = "prior"

    def data(self, config: CLARConfig, data: Any) -> common.Splits:
        return load_events(config, data)

    def model(self, config: CLARConfig, splits: common.Splits) -> CLARNetwork:
        return build_network(config, len(splits.classes))

    def stages(self, config: CLARConfig, splits: common.Splits, model: CLARNetwork) -> Iterator[Stage]:
        augment = clar_augmentation(config.augmentations, config.sample_rate)
        objective = CLARObjective(model, augment, config.temperature, config.contrastive_weight)
        batches = Streams(**{name: self.stream(name, config, splits.train) for name in self.draws})
        yield Stage("train", objective, batches, config.train, evaluate_on="valid")

    def describe(self, config: CLARConfig) -> Description:
        options = config.model_kwargs
        size = f"width {options['width']}" if "width" in options else f"widths {options.get('widths', 'default')}"
        if config.features.kind == "clar":
            features = "CLAR's three channels (STFT magnitude and phase, log-mel)"
        else:
            features = f"log-mel ({config.features.n_mels} bands)"
        terms = "cross-entropy and NT-Xent together" if "unlabelled" in self.draws else "cross-entropy"
        return Description(f"{config.model}, {size}", features, f"end to end, {terms}", str(config.train.epochs))

    def stream(self, name: str, config: CLARConfig, train: InMemory) -> DataLoader:
        """The stream ``name`` (``"labelled"`` or ``"unlabelled"``) over the training events; only the labelled
        one reads ``label_fraction``."""
        if name == "unlabelled":
            return unlabelled_stream(train, config.batch_size)
        labelled = labelled_indices(train.labels, config.label_fraction, config.split_seed)
        return labelled_stream(train, labelled, config.batch_size, float(config.balanced))


@register_recipe("clar.supervised")
class SupervisedCLAR(CLARRecipe):
    """CE only, on the labelled events (augmented as in the contrastive recipes)."""

    draws = ("labelled",)


@register_recipe("clar.joint")
class JointCLAR(CLARRecipe):
    """CLAR: CE on labelled events plus NT-Xent on all events, in every step."""

    draws = ("labelled", "unlabelled")


@register_recipe("clar.pretrain_finetune")
class PretrainFinetuneCLAR(CLARRecipe):
    """NT-Xent pre-training on all events (no labels), then CE fine-tuning of every weight on labelled events."""

    draws = ("unlabelled", "labelled")  # one stage each, in this order

    def stages(self, config: CLARConfig, splits: common.Splits, model: CLARNetwork) -> Iterator[Stage]:
        augment = clar_augmentation(config.augmentations, config.sample_rate)
        # NT-Xent alone, then CE alone: contrastive_weight, which weighs joint's two terms, plays no part.
        objective = CLARObjective(model, augment, config.temperature)
        unlabelled = Streams(unlabelled=self.stream("unlabelled", config, splits.train))
        yield Stage("pretrain", objective, unlabelled, config.train, shared=True)
        # Built after the pre-training was declared, so its key holds neither the labels nor the fine-tuning.
        labelled = Streams(labelled=self.stream("labelled", config, splits.train))
        yield Stage("finetune", objective, labelled, config.finetune, evaluate_on="valid")

    def describe(self, config: CLARConfig) -> Description:
        return dataclasses.replace(
            super().describe(config),
            training="NT-Xent pre-training, then cross-entropy fine-tuning end to end",
            epochs=f"{config.train.epochs} + {config.finetune.epochs}",
        )


def describe(results: Mapping[str, Any]) -> str:
    """A row label for a results table: method, label fraction and augmentations,
    e.g. ``joint, 10 % labels, fade+time_mask``."""
    config = results["config"]
    method = results["recipe"].removeprefix("clar.")
    return f"{method}, {config['label_fraction']:.0%} labels, {'+'.join(config['augmentations'])}"
