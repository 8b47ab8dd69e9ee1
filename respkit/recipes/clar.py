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
or zero-padded to ``duration``, held in memory as waveforms, and scored on held-out patients at the last epoch.

The pre-training stage of ``pretrain_finetune`` depends neither on the labels nor on the fine-tuning
settings, so runs that differ only in those share it: it is kept once per seed in
``<out_dir>/work/clar-pretrain-<hash>/seed<seed>/`` and reused ("load the checkpoint if it exists").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from respkit.augment import CLAR_AUGMENTATIONS, clar_augmentation
from respkit.data import ClassBalancedSampler
from respkit.data.streams import Streams
from respkit.features import CLARFeatures, LogMel
from respkit.models import create_model
from respkit.recipes import common, register_recipe
from respkit.recipes.base import Recipe, RecipeConfig
from respkit.runs import RunArtifacts
from respkit.train import History, TrainConfig, Trainer, predict
from respkit.train.clar import CLARNetwork, CLARObjective
from respkit.train.config import config_hash

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
        # (15 steps of 32 per epoch), 6 epochs. Fine-tuning a trained encoder at 3e-3 fitted 10 % of the labels in
        # a few epochs and the held-out score fell (real events, 3 seeds: 0.59, 0.505 in CI); at 3e-4: 0.71.
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


@dataclass(frozen=True)
class Events:
    """Waveforms ``[N, 1, L]`` and labels ``[N]`` of every split, with the training ``Subset`` and the patients."""

    train: Any
    waves: dict[str, Tensor]
    labels: dict[str, Tensor]
    groups: dict[str, np.ndarray]

    @property
    def classes(self) -> list[str]:
        return list(self.train.classes)


_EVENTS: dict[str, Events] = {}  # decoded events of the last split, by everything that defines them


def load_events(config: CLARConfig, data: Any) -> Events:
    """The events of ``config``'s splits, decoded once per process (runs share them; do not modify)."""
    split = RecipeConfig(**{f.name: getattr(config, f.name) for f in dataclasses.fields(RecipeConfig)})
    key = config_hash(
        {
            "split": dataclasses.asdict(split),
            "data": data.describe(),
            "duration": config.duration,
            "sample_rate": config.sample_rate,
        }
    )
    if key not in _EVENTS:
        _EVENTS.clear()  # one split at a time: a whole training set of waveforms is large
        data_splits = common.splits(data, split, duration=config.duration)
        waves, labels, groups = {}, {}, {}
        for name, ds in {"train": data_splits.train, "val": data_splits.val, **data_splits.tests}.items():
            stacked = torch.stack([ds[i][0] for i in range(len(ds))])  # [N, 1, L] at 8 kHz
            rate = config.sample_rate
            waves[name] = AF.resample(stacked, SPRSOUND_RATE, rate) if rate != SPRSOUND_RATE else stacked
            labels[name] = torch.as_tensor(ds.labels, dtype=torch.long)
            groups[name] = np.asarray(ds.groups)
        _EVENTS[key] = Events(data_splits.train, waves, labels, groups)
    return _EVENTS[key]


def labelled_indices(train: Any, fraction: float, seed: int) -> np.ndarray:
    """Positions in ``train`` of the events whose labels are used: ``round(fraction · N)``, per class in
    proportion, at least one per class (:func:`respkit.recipes.common.subsample`)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.arange(len(train))
    return np.asarray(common.subsample(train, round(fraction * len(train)), seed).indices)


def streams(events: Events, labelled: np.ndarray, batch_size: int) -> dict[str, DataLoader]:
    """The two streams of ``len(train) // batch_size`` steps each; their order comes from the trainer's epoch seed.

    ``"labelled"``: class-balanced batches ``(wave, y)`` drawn with replacement from the labelled events;
    ``"unlabelled"``: shuffled batches of every training waveform alone (the contrastive stream sees no label).
    """
    waves, labels = events.waves["train"], events.labels["train"]
    steps = len(waves) // batch_size
    if steps == 0:
        raise ValueError(f"{len(waves)} training events make no batch of {batch_size}")
    sampler = ClassBalancedSampler(labels[labelled].numpy(), num_samples=steps * batch_size)
    return {
        "labelled": DataLoader(
            TensorDataset(waves[labelled], labels[labelled]), batch_size=batch_size, sampler=sampler, drop_last=True
        ),
        # a tensor is a dataset of its rows (torch's stubs ask for a Dataset)
        "unlabelled": DataLoader(waves, batch_size=batch_size, shuffle=True, drop_last=True),  # type: ignore[arg-type]
    }


class CLARRecipe(Recipe):
    """Shared set-up of the three recipes; ``stages`` says which streams each training stage draws."""

    Config = CLARConfig
    stages: Mapping[str, tuple[str, ...]]  # stage name -> streams; the last stage is evaluated

    def run(self, config: CLARConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        workdir, events = Path(workdir), load_events(config, data)
        labelled = labelled_indices(events.train, config.label_fraction, config.split_seed)
        loaders = streams(events, labelled, config.batch_size)
        torch.manual_seed(seed)  # the network's initial weights
        network = build_network(config, len(events.classes))
        objective = CLARObjective(
            network,
            clar_augmentation(config.augmentations, config.sample_rate),
            config.temperature,
            config.contrastive_weight,
        )
        eval_loaders = {
            split: DataLoader(
                TensorDataset(events.waves[split], events.labels[split]), batch_size=2 * config.batch_size
            )
            for split in events.waves
            if split != "train"
        }
        histories: dict[str, History] = {}
        for stage, names in self.stages.items():
            last = stage == list(self.stages)[-1]
            trainer = Trainer(
                objective,
                dataclasses.replace(self.train_config(config, stage), seed=seed),
                checkpoint_dir=self.checkpoint_dir(config, data, seed, workdir, stage),
            )
            evaluate = common.evaluator(network, eval_loaders["val"], config, trainer.device) if last else None
            histories[stage] = trainer.fit(Streams(**{name: loaders[name] for name in names}), evaluate)
        for epoch, metrics in enumerate(histories[stage].eval):
            print(
                f"epoch {epoch + 1}/{len(histories[stage].eval)}: train loss "
                f"{histories[stage].train[epoch]['loss']:.3f}, held-out score {metrics['score']:.3f}"
            )
        artifacts = RunArtifacts(
            events.classes,
            histories,
            {split: predict(network, loader) for split, loader in eval_loaders.items()},
            groups={split: events.groups[split] for split in eval_loaders},
        )
        return {**common.finish(workdir, config, artifacts, network), "labelled_events": float(len(labelled))}

    def train_config(self, config: CLARConfig, stage: str) -> TrainConfig:
        return config.train

    def checkpoint_dir(self, config: CLARConfig, data: Any, seed: int, workdir: Path, stage: str) -> Path:
        return workdir


@register_recipe("clar.supervised")
class SupervisedCLAR(CLARRecipe):
    """CE only, on the labelled events (augmented as in the contrastive recipes)."""

    stages = {"train": ("labelled",)}


@register_recipe("clar.joint")
class JointCLAR(CLARRecipe):
    """CLAR: CE on labelled events plus NT-Xent on all events, in every step."""

    stages = {"train": ("labelled", "unlabelled")}


@register_recipe("clar.pretrain_finetune")
class PretrainFinetuneCLAR(CLARRecipe):
    """NT-Xent pre-training on all events (no labels), then CE fine-tuning of every weight on labelled events."""

    stages = {"pretrain": ("unlabelled",), "finetune": ("labelled",)}

    def train_config(self, config: CLARConfig, stage: str) -> TrainConfig:
        return config.finetune if stage == "finetune" else config.train

    def checkpoint_dir(self, config: CLARConfig, data: Any, seed: int, workdir: Path, stage: str) -> Path:
        if stage == "finetune":
            return workdir / "finetune"
        return workdir.parents[1] / f"clar-pretrain-{pretraining_key(config, data)[:12]}" / f"seed{seed}"


def pretraining_key(config: CLARConfig, data: Any) -> str:
    """A digest of everything the pre-training stage depends on (not the labels, not the fine-tuning)."""
    fields = dataclasses.asdict(config)
    for unused in ("label_fraction", "finetune", "contrastive_weight"):
        fields.pop(unused)
    return config_hash({"config": fields, "data": data.describe()})


def describe(results: Mapping[str, Any]) -> str:
    """A row label for a results table: method, label fraction and augmentations,
    e.g. ``joint, 10 % labels, fade+time_mask``."""
    config = results["config"]
    method = results["recipe"].removeprefix("clar.")
    return f"{method}, {config['label_fraction']:.0%} labels, {'+'.join(config['augmentations'])}"
