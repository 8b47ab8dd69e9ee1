"""The stages that chapter 3's recipes (:mod:`respkit.recipes.supcon`) are built from.

Features (:func:`features`: 8 kHz waveform to z-scored MFCCs), clips (:func:`clip_frames`), the ResNet18 and
its projection head, the two training stages (:func:`train_two_stage`: SupCon, then a linear probe), where a
stage-1 encoder is kept so that runs differing only in stage 2 share it (:func:`encoder_dir`), the scoring of
a trained model (:func:`evaluate_direct`), and the window model's training set (:func:`window_training_set`).
The configurations and the registered recipes are in :mod:`respkit.recipes.supcon`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from respkit.data import SPRSound
from respkit.data.clips import Clips, RecordWindows
from respkit.features import MFCC, LibrosaMFCC, MinMaxNormalize, PeakNormalize
from respkit.mix import MixUp
from respkit.models import ProjectionHead, create_model
from respkit.recipes import common
from respkit.runs import RunArtifacts
from respkit.train import History, Trainer, embed
from respkit.train.config import config_hash
from respkit.train.supcon import LinearProbe, ProjectionClassifier, SupConObjective

if TYPE_CHECKING:  # the configurations import this module's functions
    from respkit.recipes.supcon import BaselineConfig, SupConConfig, WindowsConfig

SAMPLE_RATE = 8000

# Fields that only stage 2 or the evaluation read: runs that differ in them share one stage-1 encoder.
STAGE2_FIELDS = ("finetune", "mixup_alpha", "mix", "probe_input", "probe_encoder_mode", "finetune_flip", "eval_crop")


def features(config: BaselineConfig) -> nn.Module:
    """Waveform ``[1, samples]`` at 8 kHz -> z-scored MFCCs ``[1, n_mfcc, frames]`` (peak-normalised first).

    ``mfcc_flavour="librosa"`` computes what the public code's ``librosa.feature.mfcc`` does: the waveform
    scaled onto [-0.5, 0.5] by its minimum and maximum, Slaney's mel scale with area-normalised filters,
    zero-padded edge frames (:class:`LibrosaMFCC`).
    """
    if config.mfcc_flavour == "librosa":
        return nn.Sequential(
            MinMaxNormalize(0.5),
            LibrosaMFCC(SAMPLE_RATE, n_mfcc=config.n_mfcc, n_fft=config.n_fft, hop_length=config.hop_length),
        )
    return nn.Sequential(
        PeakNormalize(0.5),
        MFCC(SAMPLE_RATE, n_mfcc=config.n_mfcc, n_fft=config.n_fft, hop_length=config.hop_length),
    )


def clip_frames(seconds: float, hop_length: int) -> int:
    """MFCC frames of a clip of ``seconds`` (centred frames: ``1 + samples // hop``; 3 s, hop 128: 188)."""
    return 1 + round(seconds * SAMPLE_RATE) // hop_length


def build_model(config: BaselineConfig, n_classes: int) -> nn.Module:
    return create_model("resnet18", in_chans=1, num_classes=n_classes, width=config.width)


def build_projector(config: SupConConfig, in_dim: int) -> nn.Module:
    """The projection head of stage 1: ``projection_layers`` linear layers to ``embedding_dim``, dropout first."""
    head = ProjectionHead(in_dim, in_dim, config.embedding_dim, n_layers=config.projection_layers)
    return nn.Sequential(nn.Dropout(config.projection_dropout), head) if config.projection_dropout else head


def train_two_stage(
    config: SupConConfig, train_set: Any, seed: int, workdir: Path, encoder_dir: Path
) -> tuple[nn.Module, dict[str, History]]:
    """Stage 1 (SupCon, checkpoints in ``encoder_dir``) then stage 2 (linear head, in ``workdir/finetune``).

    Returns the trained classifier and both stages' histories. Stage 1 depends on none of the
    :data:`STAGE2_FIELDS`, so ``supcon.supcon`` and ``supcon.mixup`` pass the same ``encoder_dir`` and the
    second one finds the finished encoder there instead of training it again.
    """
    frames = clip_frames(config.clip_seconds, config.hop_length)
    n_classes = len(train_set.classes)
    model = build_model(config, n_classes)
    projector = build_projector(config, model.num_features)  # type: ignore[arg-type]
    stage1 = Trainer(
        SupConObjective(model, projector, config.temperature, config.loss_scale),
        dataclasses.replace(config.pretrain, seed=seed),
        checkpoint_dir=encoder_dir,
    )
    pretrain = stage1.fit(
        common.train_loader(Clips(train_set, frames, train=True, n_views=2), config, balanced=config.balanced)
    )
    classifier = (
        model
        if config.probe_input == "features"
        else ProjectionClassifier(model, projector, config.embedding_dim, n_classes)
    )
    mixup = MixUp(config.mixup_alpha) if config.mixup_alpha is not None else None
    probe = LinearProbe(classifier, mixup, mix=config.mix, encoder_mode=config.probe_encoder_mode)
    stage2 = Trainer(probe, dataclasses.replace(config.finetune, seed=seed), checkpoint_dir=workdir / "finetune")
    clips = Clips(train_set, frames, train=True, flip_p=0.5 if config.finetune_flip else 0.0)
    finetune = stage2.fit(common.train_loader(clips, config, balanced=config.balanced))
    return classifier, {"pretrain": pretrain, "finetune": finetune}


def encoder_dir(config: SupConConfig, data: Any, seed: int, workdir: Path, purpose: str) -> Path:
    """Where stage 1 keeps its checkpoint: named by everything stage 1 depends on, beside the run folders.

    ``workdir`` is ``<out>/work/<results stem>/seed<seed>`` (:func:`respkit.runs.work_folder`); encoders go
    to ``<out>/work/supcon-encoders/<hash>``, so runs that differ only in stage 2 share one.
    """
    stage1 = {k: v for k, v in dataclasses.asdict(config).items() if k not in STAGE2_FIELDS}
    key = config_hash({"stage1": stage1, "data": data.describe(), "seed": seed, "purpose": purpose})
    return workdir.parent.parent / "supcon-encoders" / key[:16]


def evaluate_direct(
    model: nn.Module, config: BaselineConfig, data_splits: common.Splits, histories: dict[str, History], workdir: Path
) -> dict[str, float]:
    """Score ``model`` on clips of the held-out patients and the official test sets; keep the artifacts.

    Clips are the centre of each item, or random crops with ``eval_crop="random"`` (the public code; drawn
    from torch's generator, whose state after training is set by the run's seed).
    """
    frames = clip_frames(config.clip_seconds, config.hop_length)
    random_crop = getattr(config, "eval_crop", "centre") == "random"  # supcon.resnet has no such field
    loaders = {
        split: common.eval_loader(Clips(ds, frames, train=random_crop, flip_p=0.0), config)
        for split, ds in {"val": data_splits.val, **data_splits.tests}.items()
    }
    artifacts = RunArtifacts(
        data_splits.classes,
        histories,
        common.predict_splits(model, loaders),
        groups={"val": np.asarray(data_splits.val.groups)},
        embeddings={"val": embed(model, loaders["val"])},
    )
    return common.finish(workdir, config, artifacts, model)


def window_training_set(data: Any, config: WindowsConfig, transform: nn.Module, records: Any) -> Any:
    """The windows of the training ``records`` (waveforms), labelled from their events: at most ``max_train``."""
    events = SPRSound(data.sprsound.root, split="train", level="event", task="1-2")
    kept = {m.record for m in records.meta}
    window, step = round(config.clip_seconds * SAMPLE_RATE), round(config.window_step * SAMPLE_RATE)
    windows = RecordWindows(
        records, [m for m in events.meta if m.record in kept], window=window, step=step, transform=transform
    )
    train_set = common.subsample(windows, config.max_train, config.split_seed)
    common.fill_feature_cache(train_set)
    return train_set
