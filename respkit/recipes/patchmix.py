"""Chapter 4's experiments: AST on ICBHI, plain and with Patch-Mix (Bae et al., Interspeech 2023).

Three recipes share one configuration and one training function; they differ only in the objective
(:func:`build_objective`, with the objectives of :mod:`respkit.train.objectives`):

* ``patchmix.finetune`` — cross-entropy on SpecAugmented fbanks (the paper's "AST fine-tuning"):
  :class:`~respkit.train.PatchMixCL` with no mixer.
* ``patchmix.mix_ce``   — Patch-Mix the patch grid and use the mixed cross-entropy
  ``λ·CE(y) + (1 − λ)·CE(y[perm])``, the variant the paper found not to help on ICBHI
  (:class:`~respkit.train.PatchMixCE`).
* ``patchmix.cl``       — cross-entropy on the clean input plus ``α·L_CL``, the Patch-Mix contrastive
  loss between the mixed input's projected feature and the clean batch's features
  (:class:`~respkit.train.PatchMixCL` with one random-patch mixer, logged as ``cl_patch``).

Checkpoint selection. By default the best epoch is chosen on a validation split: patients of the
official training side held out of training (:func:`respkit.recipes.common.icbhi_splits`); the test
patients are looked at once, at the end. ``selection="test"`` reproduces what the public Patch-Mix code
does instead — train on the whole training side and keep the epoch with the best *test* score — which
reads the test set to choose the model, so its numbers are optimistic. Results files record which.

Profiles. ``full`` is the paper's protocol (AudioSet-pretrained ``ast_base``, 8 s, 50 epochs, batch 8,
Adam 5e-5, cosine to lr·1e-3, weight averaging 0.5, SpecAugment, τ = 0.06, α = 1); it downloads the
AudioSet weights on first use and needs a GPU and the whole ICBHI database. ``quick`` trains a 4-layer
``ast_tiny`` from scratch (no download) on 2 s inputs for a few epochs: a check that everything runs
on a CPU in about a minute, not a reproduction.

Each run leaves ``predictions.npz`` (test labels, predictions, softmax scores) and ``history.json`` (the
trainer's :class:`~respkit.train.History`) in its work folder; :func:`load_artifacts` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import ConcatDataset

from respkit.augment import SpecAugment
from respkit.experiments import work_folder
from respkit.features import ASTFbank
from respkit.mix import PatchMix
from respkit.models import create_model
from respkit.recipes import common, register_recipe
from respkit.train import History, PatchMixCE, PatchMixCL, TrainConfig, Trainer, predict

Method = Literal["finetune", "mix_ce", "cl"]
METHODS: tuple[str, ...] = ("finetune", "mix_ce", "cl")
SELECTIONS = ("val", "test")
SAMPLE_RATE = 16000  # AST's fbank is defined at 16 kHz; the ICBHI loader resamples to it


def fbank_frames(duration: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames of a 25 ms / 10 ms Kaldi fbank over ``duration`` seconds: 8 s gives 798."""
    samples = round(duration * sample_rate)
    return 1 + (samples - sample_rate // 40) // (sample_rate // 100)


@dataclass(frozen=True)
class Config:
    """One Patch-Mix experiment on ICBHI (defaults: the paper's protocol, as ``for_profile("full")``).

    Attributes:
        model, pretrained: a registered AST size and its weights (``None``, ``"imagenet"``, ``"audioset"``).
        duration: seconds per cycle (longer cycles keep their start, shorter ones are tiled).
        freq_mask, time_mask: SpecAugment's widest frequency (bins) and time (frames) masks, two of each;
            0 and 0 switch it off.
        mix_mode, mix_alpha: Patch-Mix unit (``"random"`` patches or ``"time"`` columns) and the
            ``Beta(mix_alpha, mix_alpha)`` of its ratio; used by ``mix_ce`` and ``cl``.
        cl_weight, temperature, projector_dim: ``α``, ``τ`` and the projector's hidden width of the
            contrastive loss (``cl`` only).
        batch_size, num_workers: the training loader.
        selection: ``"val"`` (held-out training patients) or ``"test"`` (the public code's choice; optimistic).
        split_seed: which training patients are held out for validation (fixed across run seeds, so
            seeds differ only in training randomness, as in the paper's mean over 5 seeds).
        max_train: cap on training cycles (class-proportional subsample); ``None`` uses all.
        train: optimiser, schedule, epochs, weight averaging (the trainer's config).
    """

    model: str = "ast_base"
    pretrained: str | None = "audioset"
    duration: float = 8.0
    freq_mask: int = 48
    time_mask: int = 160
    mix_mode: str = "random"
    mix_alpha: float = 1.0
    cl_weight: float = 1.0
    temperature: float = 0.06
    projector_dim: int = 768
    batch_size: int = 8
    num_workers: int = 4
    selection: str = "val"
    split_seed: int = 0
    max_train: int | None = None
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=50, lr=5e-5, optimizer="adam", weight_decay=1e-6, min_lr_ratio=1e-3,
            weight_averaging=0.5, amp=True, select_metric="score",
        )
    )

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.duration <= 0 or fbank_frames(self.duration) < 16:
            raise ValueError(f"duration={self.duration} s gives fewer than the 16 fbank frames of one AST patch")

    @classmethod
    def for_profile(cls, profile: str) -> Config:
        if profile == "full":
            return cls()
        if profile != "quick":
            raise ValueError(f"unknown profile {profile!r}: 'quick' or 'full'")
        # A CPU-sized stand-in: tiny AST, no pretrained weights (nothing to download), 2 s inputs
        # (12 x 19 patches instead of 12 x 79), time masks scaled to the shorter input, a few epochs.
        # From scratch, the paper's lr of 5e-5 would barely move the weights in so few steps.
        return cls(
            model="ast_tiny", pretrained=None, duration=2.0, time_mask=40, projector_dim=192, num_workers=0,
            max_train=64,
            train=TrainConfig(epochs=3, lr=1e-3, optimizer="adam", weight_decay=1e-6, min_lr_ratio=1e-3,
                              weight_averaging=0.5, amp=False, select_metric="score", log_every=3),
        )


def build_objective(config: Config, method: Method) -> PatchMixCL | PatchMixCE:
    """The model (``config.model``, ``config.pretrained`` weights, 4 ICBHI classes) inside ``method``'s objective."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    model = create_model(config.model, pretrained=config.pretrained, num_classes=4, n_mels=128,
                         input_frames=fbank_frames(config.duration))
    augment = SpecAugment(freq_width=config.freq_mask, time_width=config.time_mask) \
        if config.freq_mask or config.time_mask else None
    mixer = PatchMix(mode=config.mix_mode, alpha=config.mix_alpha)
    if method == "mix_ce":
        return PatchMixCE(model, mixer, augment)
    mixers = {"patch": mixer} if method == "cl" else {}
    return PatchMixCL(model, mixers, {name: config.cl_weight for name in mixers}, augment, config.temperature,
                      config.projector_dim)


def run(config: Config, data: Any, seed: int, workdir: Path, method: Method) -> dict[str, float]:
    """Train ``method`` once, choose the epoch per ``config.selection``, score it on the test patients.

    Returns the official ICBHI metrics on the test set (``sp``, ``se``, ``score`` and their 2-class
    versions), ``best_epoch`` and ``selection_score`` (the score that chose it, on val or test).
    """
    fbank = ASTFbank(sample_rate=SAMPLE_RATE, target_frames=fbank_frames(config.duration))
    train, val, test = common.icbhi_splits(data, transform=fbank, duration=config.duration,
                                           seed=config.split_seed, max_train=config.max_train)
    if config.selection == "test":  # the public code: every training patient trains, the test set chooses
        train, selection_set = ConcatDataset([train, val]), test
    else:
        selection_set = val
    objective = build_objective(config, method)
    score = common.score_function("icbhi")
    trainer = Trainer(objective, dataclasses.replace(config.train, seed=seed), checkpoint_dir=workdir)
    history = trainer.fit(
        common.make_loader(train, config.batch_size, train=True, seed=seed, num_workers=config.num_workers),
        evaluate=common.evaluator(objective.model, common.make_loader(selection_set, 32, train=False), score),
    )
    # fit() has restored the selected epoch's weights.
    predictions = predict(objective.model, common.make_loader(test, 32, train=False, num_workers=config.num_workers))
    save_artifacts(workdir, predictions.y_true, predictions.y_pred, predictions.scores, history)
    best = history.best_epoch if history.best_epoch is not None else len(history.eval) - 1
    return {**score(predictions.y_true, predictions.y_pred), "best_epoch": float(best),
            "selection_score": history.eval[best]["score"]}


def save_artifacts(workdir: Path, y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray,
                   history: History) -> None:
    """Write ``predictions.npz`` and ``history.json`` into ``workdir`` (read back by :func:`load_artifacts`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "predictions.npz", y_true=y_true, y_pred=y_pred, scores=scores)
    (workdir / "history.json").write_text(json.dumps(history.to_dict()) + "\n")


def load_artifacts(results: dict[str, Any], seed: int | None = None) -> tuple[dict[str, np.ndarray], History]:
    """The test predictions (``y_true``, ``y_pred``, ``scores``) and training history of one seed of a run.

    ``results`` is what :func:`respkit.experiments.run_experiment` returned; ``seed`` defaults to its
    first seed. Raises ``FileNotFoundError`` naming the folder when the run's work folder is not here
    (results files committed under ``results/`` come without it).
    """
    workdir = work_folder(results, seed)
    if not (workdir / "predictions.npz").is_file():
        raise FileNotFoundError(f"{workdir}: no predictions.npz; this run's work folder is not on this machine")
    with np.load(workdir / "predictions.npz") as arrays:
        predictions = {key: arrays[key] for key in arrays.files}
    return predictions, History.from_dict(json.loads((workdir / "history.json").read_text()))


class _PatchMixRecipe:
    Config = Config
    method: Method

    def run(self, config: Config, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        return run(config, data, seed, workdir, self.method)


@register_recipe("patchmix.finetune")
class Finetune(_PatchMixRecipe):
    """AST fine-tuned with cross-entropy on ICBHI (Patch-Mix CL's baseline)."""

    method = "finetune"


@register_recipe("patchmix.mix_ce")
class MixCE(_PatchMixRecipe):
    """AST with Patch-Mix and the mixed cross-entropy (the variant that does not help)."""

    method = "mix_ce"


@register_recipe("patchmix.cl")
class ContrastiveLearning(_PatchMixRecipe):
    """AST with Patch-Mix contrastive learning (Bae et al., Interspeech 2023)."""

    method = "cl"
