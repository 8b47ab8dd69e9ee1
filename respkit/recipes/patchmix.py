"""Chapter 4's experiments: AST, plain and with Patch-Mix (Bae et al., Interspeech 2023).

Three recipes share one configuration and one training function; they differ only in the objective
(:meth:`PatchMixConfig.objective`, with the objectives of :mod:`respkit.train.objectives`):

* ``patchmix.finetune`` — cross-entropy on SpecAugmented fbanks (the paper's "AST fine-tuning").
* ``patchmix.mix_ce``   — Patch-Mix the patch grid, mixed cross-entropy ``λ·CE(y) + (1 − λ)·CE(y[perm])``
  (:class:`~respkit.train.PatchMixCE`), the variant the paper found not to help on ICBHI.
* ``patchmix.cl``       — cross-entropy on the clean input plus ``α·L_CL``, the Patch-Mix contrastive
  loss between the mixed input's projected feature and the clean batch's features
  (:class:`~respkit.train.PatchMixCL` with one random-patch mixer, logged as ``cl_patch``).

:func:`train_patch_model` is the protocol that chapter 5 (:mod:`respkit.recipes.lungsrad`) shares: a patch
model (its class ``accepts_mix``) on Kaldi fbanks in memory, SpecAugment, the epoch chosen on ``selection``.

Selection. ``selection="val"`` chooses the epoch on patients held out of the training set and looks at the
test sets once, at the end. ``selection="test"`` is the public Patch-Mix code's way: train on every training
patient, keep the epoch with the best *test* score (optimistic; results files record which). Without
``train.select_metric`` the last epoch is kept and the ``val`` score is an untouched held-out score.

Profiles. ``full``: the paper's protocol on ICBHI (AudioSet ``ast_base``, 8 s at 16 kHz, 128 mel bins, 50
epochs, batch 8, Adam 5e-5 cosine to lr·1e-3, weight averaging 0.5, SpecAugment, τ = 0.06, α = 1), on a GPU
with the whole database. ``quick``: a two-block AST of width 64 from scratch on SPRSound events (task 1-1),
1.5 s at 8 kHz, 32 mel bins every 20 ms standardised per bin, 480 class-balanced steps of 32, τ = 0.2: it
learns in seconds and does not reproduce the paper. ``cpu`` (chapter 6's bench): a four-block AST of width
96 from scratch on every event of task 1-2, 3 s clips, 6 epochs (3 CPU-minutes), τ = 0.06, last epoch kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from respkit.augment import SpecAugment
from respkit.data import ClassBalancedSampler
from respkit.features import ASTFbank, fbank_frames
from respkit.mix import PatchMix
from respkit.models import create_model, model_class
from respkit.models.ast import AUDIOSET_POS_EMBED_SIZE
from respkit.recipes import common, register_recipe
from respkit.recipes.base import Recipe, RecipeConfig
from respkit.runs import RunArtifacts, save_weights
from respkit.train import PatchMixCE, PatchMixCL, TrainConfig, Trainer

METHODS: tuple[str, ...] = ("finetune", "mix_ce", "cl")


@dataclass(frozen=True)
class PatchModelConfig(RecipeConfig):
    """What chapters 4 and 5 share: a patch model trained on fbanks (defaults: the Patch-Mix CL paper on ICBHI).

    Attributes:
        model, pretrained: a registered patch model and its weights (``None``: random weights).
        model_kwargs: a size of the config's own (random weights only), e.g. ``{"embed_dim": 64, "depth": 2}``.
        allow_random_init: ``False`` refuses to train without ``pretrained`` (a paper protocol that
            fine-tunes released weights); ``True`` trains from scratch on purpose.
        duration, sample_rate: seconds per item, at the rate the dataset serves (ICBHI 16 kHz, SPRSound 8 kHz).
        n_mels, frame_shift_ms: the fbank (:class:`respkit.features.ASTFbank`, 25 ms windows).
        standardize: rescale each mel bin by the training split's mean and std (times 2, AST's scale) instead
            of AudioSet's statistics, which suit AudioSet weights only (SPRSound's upper bins would be flat).
        freq_mask, time_mask: SpecAugment's widest masks (two of each, bins and frames); 0, 0 switches it off.
        temperature, projector_dim: τ and the projector width of the contrastive losses (``None``: features').
        balanced, epoch_items: class-balanced batches (else shuffled), and the items drawn per epoch
            (``None``: the training set's size), so a small data set still gets the steps it needs.
        selection: the split that chooses the epoch: ``"val"``, or a test split (the public code's ``"test"``).
        train: optimiser, schedule, epochs, weight averaging, ``select_metric``.
    """

    dataset: str = "icbhi"
    task: str | None = None
    model: str = "ast_base"
    pretrained: str | None = "audioset"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    allow_random_init: bool = True
    duration: float = 8.0
    sample_rate: int = 16000
    n_mels: int = 128
    frame_shift_ms: float = 10.0
    standardize: bool = False
    freq_mask: int = 48
    time_mask: int = 160
    temperature: float = 0.06
    projector_dim: int | None = 768
    batch_size: int = 8
    num_workers: int = 4
    balanced: bool = False
    epoch_items: int | None = None
    selection: str = "val"
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=50,
            lr=5e-5,
            optimizer="adam",
            weight_decay=1e-6,
            min_lr_ratio=1e-3,
            weight_averaging=0.5,
            amp=True,
            select_metric="score",
        )
    )

    def __post_init__(self) -> None:
        if not getattr(model_class(self.model), "accepts_mix", False):
            raise ValueError(f"model {self.model!r} has no patch grid to mix (its class does not accept_mix)")
        if self.frames < 16:
            raise ValueError(f"duration={self.duration} s gives {self.frames} fbank frames, fewer than one patch")

    @property
    def frames(self) -> int:
        """fbank frames of one item: 8 s at 16 kHz every 10 ms gives 798."""
        return fbank_frames(self.duration, self.sample_rate, frame_shift_ms=self.frame_shift_ms)

    def features(self) -> ASTFbank:
        return ASTFbank(self.sample_rate, self.n_mels, self.frame_shift_ms, target_frames=self.frames)

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of the model beyond its size, classes and input (chapter 5 adds smoothing)."""
        return {}

    def augment(self) -> SpecAugment | None:  # 0, 0 switches SpecAugment off
        return SpecAugment(2, self.freq_mask, 2, self.time_mask) if self.freq_mask or self.time_mask else None

    def objective(self, model: nn.Module) -> nn.Module:
        """The training objective around ``model``: the method of each recipe."""
        raise NotImplementedError

    @classmethod
    def quick(cls) -> PatchModelConfig:
        # SPRSound events (19 ICBHI recordings are too few); light SpecAugment. 1.5 s: shorter events are zero-padded,
        # and at 2 s the simulator's (0.9-1.8 s) left every patch model at chance (1.5 s: 0.70; real: 0.76 vs 0.77).
        # τ 0.2: at 0.06 the CL term held the simulator's patchmix.cl at chance (0.50 -> 0.69; real 0.76 -> 0.77).
        return cls(
            dataset="sprsound",
            task="1-1",
            max_train=2000,
            max_val=400,
            max_test=200,
            model="ast_tiny",
            pretrained=None,
            model_kwargs={"embed_dim": 64, "depth": 2, "num_heads": 2},
            duration=1.5,
            sample_rate=8000,
            n_mels=32,
            frame_shift_ms=20.0,
            standardize=True,
            freq_mask=4,
            time_mask=10,
            projector_dim=None,
            batch_size=32,
            num_workers=0,
            balanced=True,
            epoch_items=1920,
            temperature=0.2,
            train=TrainConfig(
                epochs=8,
                lr=1e-3,
                optimizer="adamw",
                weight_decay=0.05,
                warmup_epochs=0.3,
                min_lr_ratio=0.01,
                amp=False,
                log_every=30,
            ),
        )

    @classmethod
    def cpu(cls) -> PatchModelConfig:  # chapter 6's bench (see the module docstring)
        quick = cls.quick()
        return dataclasses.replace(
            quick,
            task="1-2",
            max_train=None,
            max_val=None,
            max_test=None,
            duration=3.0,
            epoch_items=None,
            model_kwargs={"embed_dim": 96, "depth": 4, "num_heads": 4},
            temperature=0.06,  # the paper's: it learns
            train=dataclasses.replace(quick.train, epochs=6, warmup_epochs=1, log_every=50),
        )


@dataclass(frozen=True)
class PatchMixConfig(PatchModelConfig):
    """One Patch-Mix experiment: ``method`` (``"finetune"``, ``"mix_ce"``, ``"cl"``), the mix and ``α``.

    ``mix_mode``/``mix_alpha``: random patches or whole time columns, ratio from ``Beta(a, a)``;
    ``cl_weight``: ``α`` of ``cl``.
    """

    method: str = "cl"
    mix_mode: str = "random"
    mix_alpha: float = 1.0
    cl_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")

    def objective(self, model: nn.Module) -> nn.Module:
        mixer = PatchMix(mode=self.mix_mode, alpha=self.mix_alpha)
        if self.method == "mix_ce":
            return PatchMixCE(model, mixer, self.augment())
        mixers = {"patch": mixer} if self.method == "cl" else {}
        return PatchMixCL(
            model,
            mixers,
            {name: self.cl_weight for name in mixers},
            self.augment(),
            self.temperature,
            self.projector_dim,
        )


def build_model(config: PatchModelConfig, num_classes: int, pretrained: str | None = None) -> nn.Module:
    """``config.model`` with a ``num_classes`` head, for ``config``'s input, with ``pretrained`` weights."""
    kwargs = {**config.model_kwargs, **config.model_options(), "num_classes": num_classes}
    if getattr(model_class(config.model), "takes_input_size", False):
        kwargs |= {"n_mels": config.n_mels, "input_frames": config.frames}
        if config.pretrained == "audioset":  # the AudioSet positions, which the trained weights keep too
            kwargs["pos_embed_size"] = AUDIOSET_POS_EMBED_SIZE
    if config.model_kwargs and not pretrained:
        # A size the registry does not name: respkit's AST factories pass their own size to the class.
        return model_class(config.model)(**kwargs)
    return create_model(config.model, pretrained=pretrained, **kwargs)


class Features(Dataset):
    """A split's fbanks in memory ``[N, 1, F, T]`` with its labels and patients: no disk read per epoch."""

    def __init__(self, x: Tensor, labels: np.ndarray, groups: np.ndarray, classes: list[str]) -> None:
        self.x, self.labels, self.groups, self.classes = x, np.asarray(labels), np.asarray(groups), classes
        self.y = torch.as_tensor(self.labels)

    @classmethod
    def of(cls, ds: Any) -> Features:  # one disk read per item, once
        return cls(torch.stack([ds[i][0] for i in range(len(ds))]), ds.labels, ds.groups, list(ds.classes))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.y[i]


def load_features(data: Any, config: PatchModelConfig) -> dict[str, Features]:
    """Every split (``train``, ``val``, tests) as :class:`Features`, through the on-disk feature cache.

    With ``config.standardize`` all splits are rescaled by the training split's mean and std of each mel bin.
    """
    data_splits = common.splits(data, config, transform=config.features(), duration=config.duration, precompute=True)
    if data_splits.train.sample_rate != config.sample_rate:
        raise ValueError(
            f"{config.dataset} is served at {data_splits.train.sample_rate} Hz, but sample_rate={config.sample_rate}"
        )
    splits = {"train": data_splits.train, "val": data_splits.val, **data_splits.tests}
    features = {name: Features.of(ds) for name, ds in splits.items()}
    if config.standardize:
        mean = features["train"].x.mean(dim=(0, 1, 3), keepdim=True)  # [1, 1, F, 1]: per mel bin
        std = features["train"].x.std(dim=(0, 1, 3), keepdim=True)
        for split in features.values():
            split.x = (split.x - mean) / (2 * std)
    return features


def train_loader(ds: Features, config: PatchModelConfig) -> DataLoader:
    """``config.epoch_items`` draws per epoch (class-balanced or shuffled), in the trainer's epoch order."""
    sampler: Sampler[int] = (
        ClassBalancedSampler(ds.labels, num_samples=config.epoch_items)
        if config.balanced
        else RandomSampler(ds, num_samples=config.epoch_items)
    )
    return DataLoader(ds, batch_size=config.batch_size, sampler=sampler, drop_last=True, num_workers=config.num_workers)


def train_patch_model(config: PatchModelConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
    """Train ``config.objective`` once, keep the epoch ``config.selection`` chooses, score every split.

    Returns the metrics of :func:`respkit.recipes.common.finish` plus ``best_epoch`` (the kept epoch).
    """
    if not config.pretrained and not config.allow_random_init:
        raise ValueError(
            f"{config.model} would start from random weights, which this protocol does not do: "
            "give pretrained= the released weights, or set allow_random_init=True on purpose"
        )
    features = load_features(data, config)
    train = features.pop("train")
    if config.selection not in features:
        raise ValueError(f"selection must be one of {', '.join(features)} ({config.dataset}), got {config.selection!r}")
    if config.selection != "val":  # the public code: every training patient trains, a test set chooses
        val = features.pop("val")
        train = Features(
            torch.cat([train.x, val.x]),
            np.concatenate([train.labels, val.labels]),
            np.concatenate([train.groups, val.groups]),
            train.classes,
        )
    model = build_model(config, len(train.classes), config.pretrained)
    objective = config.objective(model)
    trainer = Trainer(objective, dataclasses.replace(config.train, seed=seed), checkpoint_dir=workdir, progress=False)
    loaders = {split: common.eval_loader(ds, config) for split, ds in features.items()}
    history = trainer.fit(
        train_loader(train, config), evaluate=common.evaluator(model, loaders[config.selection], config, trainer.device)
    )
    # fit() has restored the selected epoch's weights (or kept the last epoch's without select_metric).
    artifacts = RunArtifacts(
        train.classes,
        {"train": history},
        common.predict_splits(model, loaders, trainer.device),
        groups={split: ds.groups for split, ds in features.items()},
        info={"selection": config.selection},
    )
    save_weights(model, workdir)
    best = history.best_epoch if history.best_epoch is not None else len(history.eval) - 1
    return common.finish(workdir, config, artifacts, model) | {"best_epoch": float(best)}


class PatchModelRecipe(Recipe):
    """The shared run of chapters 4 and 5: subclasses only set ``Config``."""

    Config: ClassVar[type[PatchModelConfig]]

    def run(self, config: PatchModelConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        return train_patch_model(config, data, seed, Path(workdir))


@register_recipe("patchmix.finetune")
class Finetune(PatchModelRecipe):
    """AST fine-tuned with cross-entropy (Patch-Mix CL's baseline)."""

    @dataclass(frozen=True)
    class Config(PatchMixConfig):
        method: str = "finetune"


@register_recipe("patchmix.mix_ce")
class MixCE(PatchModelRecipe):
    """AST with Patch-Mix and the mixed cross-entropy (the variant that does not help)."""

    @dataclass(frozen=True)
    class Config(PatchMixConfig):
        method: str = "mix_ce"


@register_recipe("patchmix.cl")
class ContrastiveLearning(PatchModelRecipe):
    """AST with Patch-Mix contrastive learning (Bae et al., Interspeech 2023)."""

    Config = PatchMixConfig
