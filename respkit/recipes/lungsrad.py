"""Chapter 5's experiments: Lung-SRAD, the DASS state-space model with spectral regularisation and Dual-Axis Patch-Mix.

Lung-SRAD (Interspeech 2026) fine-tunes DASS (a VMamba on fbanks, :mod:`respkit.models.dass`) on ICBHI and
adds two things, which its ablation switches on one at a time. One recipe class serves every row; the
variants differ only in three config fields:

=======================  ================  ========  ========  =====================================
recipe                   ``spectral_reg``  ``time``  ``freq``  paper (ICBHI score, mean of 5 seeds)
=======================  ================  ========  ========  =====================================
``lungsrad.finetune``    no                no        no        61.06 ± 1.27 (DASS fine-tune)
``lungsrad.spectral``    yes               no        no        62.22 ± 1.29
``lungsrad.time``        yes               yes       no        62.83
``lungsrad.freq``        yes               no        yes       63.18
``lungsrad.full``        yes               yes       yes       64.48 ± 0.25 (Lung-SRAD)
``lungsrad.ast``         (AST, no mix)                         59.55 (AST fine-tune, Patch-Mix CL paper)
=======================  ================  ========  ========  =====================================

The ablation is read as cumulative (each mix row keeps the spectral regularisation), which is how
"+ time-only mix" and "+ frequency-only mix" above the full model read. ``lungsrad.ast`` trains an AST under
the very same protocol and inputs, so the chapter can compare the two backbones' feature maps.

The objective (:class:`respkit.train.PatchMixCL`, the one of chapter 4 with two mixers) is

    L = CE(f(x), y) + α_t · L_CL(time mix) + α_f · L_CL(freq mix)

where each ``L_CL`` is the Patch-Mix contrastive loss (:class:`respkit.losses.PatchMixContrastiveLoss`,
τ = 0.2, its own projector) between the stop-gradient feature of the clean input and the feature of the
input whose patch grid had one contiguous segment of time columns (or frequency rows) replaced by another
item's (:class:`respkit.mix.PatchMix` with ``contiguous=True``, ratio from Beta(1, 1)).

Protocol (``full``): ICBHI's official split; validation patients held out of its train side choose the
epoch (:func:`respkit.recipes.common.icbhi_splits`), the official test side is scored once. 8 s cycles at
16 kHz, 128-bin Kaldi fbank (798 frames; DASS itself was pre-trained on 1,024 frames, ``target_frames``
pads to that), SpecAugment (2 frequency masks up to 48 bins, 2 time masks up to 160 frames), DASS-small,
Adam lr 5e-5, batch 16, τ = 0.2. Not stated by the paper and taken from the Patch-Mix CL recipe it builds
on: 50 epochs, weight decay 1e-6, cosine schedule to lr·1e-3, α_t = α_f = 1, mixed precision.
The AudioSet DASS weights (``DASS_small.pth`` from the DASS authors) are read from a local file: set
``pretrained`` (or ``RESPKIT_DASS_WEIGHTS`` for the ``full`` profile); nothing is downloaded. Without them
DASS starts from random weights, which the results file records (``config.pretrained`` is ``null``).

Each run saves into its work folder the training history, the test predictions and the selected
weights (``model.pt``); :func:`load_artifacts` and :func:`load_trained_model` read them back from
the results of :func:`respkit.experiments.run_experiment`.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from respkit.augment import SpecAugment
from respkit.features import ASTFbank
from respkit.mix import PatchMix
from respkit.models import create_model
from respkit.models.ast import AUDIOSET_POS_EMBED_SIZE
from respkit.models.dass import load_dass_checkpoint
from respkit.experiments import work_folder
from respkit.recipes import common, register_recipe
from respkit.train import History, PatchMixCL, Predictions, TrainConfig, Trainer, predict

HISTORY_FILE = "history.json"
PREDICTIONS_FILE = "predictions.npz"
MODEL_FILE = "model.pt"
WEIGHTS_ENV = "RESPKIT_DASS_WEIGHTS"  # where the full profile looks for DASS_small.pth
RELEASED_DASS = ("dass_small", "dass_medium")  # the sizes with AudioSet weights from the DASS authors


@dataclass(frozen=True)
class LungSRADConfig:
    """Everything one Lung-SRAD run depends on (see the module docstring for the protocol).

    Attributes:
        model: a registered model name: ``dass_small`` (paper), ``dass_tiny`` (quick), or an AST.
        pretrained: DASS: path of a released checkpoint (``DASS_small.pth``), loaded without its head;
            AST: passed to ``create_model(pretrained=...)`` (``"audioset"``). ``None``: random weights.
        spectral_reg: Gaussian smoothing (kernel 5, σ 3) after blocks ``spectral_blocks`` of stage
            ``spectral_stage`` (DASS only; see :mod:`respkit.models.dass` for how the paper's indices are read).
        time_mix, freq_mix: add the Patch-Mix contrastive loss on contiguous time / frequency segments.
        alpha_time, alpha_freq: their weights α_t, α_f. temperature: τ of both. mix_alpha: Beta(a, a) of the ratio.
        duration, n_mels, target_frames: the input: cycles fixed to ``duration`` s at 16 kHz, ``n_mels``-bin
            fbank, cut or padded to ``target_frames`` frames (``None``: 100 per second, 798 for 8 s).
        spec_freq_width, spec_time_width: SpecAugment's mask widths (2 masks on each axis); 0 disables an axis.
        batch_size, balanced: training batches, drawn class-balanced or plainly shuffled (the paper's way).
        val_fraction: share of the official train side's patients held out to choose the epoch.
        max_train, max_test: subsample (per class) for the quick profile; ``None`` uses everything.
        train: the optimisation settings (:class:`respkit.train.TrainConfig`).
    """

    model: str = "dass_small"
    pretrained: str | None = None
    spectral_reg: bool = False
    spectral_stage: int = 2
    spectral_blocks: tuple[int, ...] = (2, 3)
    time_mix: bool = False
    freq_mix: bool = False
    alpha_time: float = 1.0
    alpha_freq: float = 1.0
    temperature: float = 0.2
    mix_alpha: float = 1.0
    duration: float = 8.0
    n_mels: int = 128
    target_frames: int | None = None
    spec_freq_width: int = 48
    spec_time_width: int = 160
    batch_size: int = 16
    balanced: bool = False
    val_fraction: float = 0.2
    max_train: int | None = None
    max_test: int | None = None
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=50, lr=5e-5, optimizer="adam", weight_decay=1e-6, min_lr_ratio=1e-3, amp=True,
            select_metric="score",
        )
    )

    @classmethod
    def for_profile(cls, profile: str) -> LungSRADConfig:
        if profile == "full":
            return cls(pretrained=os.environ.get(WEIGHTS_ENV))
        if profile != "quick":
            raise ValueError(f"unknown profile {profile!r}: 'quick' or 'full'")
        # Seconds of an idle 2-core CPU per run: a 1.5 M-parameter DASS on 2 s cycles, 12 steps of 8.
        # A random-weight model barely moves at the paper's lr in so few steps, hence 1e-3; and the
        # batches are class-balanced so that a dozen steps do not settle on "normal".
        return cls(
            model="dass_tiny",
            spectral_stage=2,
            spectral_blocks=(0, 1),  # dass_tiny's third stage has two blocks
            duration=2.0,
            spec_time_width=40,  # the paper's 160 of 798 frames, scaled to 198
            batch_size=8,
            balanced=True,
            max_train=200,
            max_test=200,
            train=TrainConfig(
                epochs=3, lr=1e-3, optimizer="adam", weight_decay=1e-6, min_lr_ratio=1e-3, amp=True,
                select_metric="score", max_steps_per_epoch=4,
            ),
        )

    @property
    def is_dass(self) -> bool:
        return self.model.startswith("dass")

    def __post_init__(self) -> None:
        if not self.is_dass and self.spectral_reg:
            raise ValueError(f"spectral_reg smooths DASS blocks; model {self.model!r} is not a DASS")
        if self.pretrained is not None and self.is_dass and not Path(self.pretrained).is_file():
            raise FileNotFoundError(
                f"pretrained={self.pretrained!r}: no such file; give the path of the released DASS checkpoint "
                f"(DASS_small.pth), or None to start from random weights"
            )


def build_features(config: LungSRADConfig) -> ASTFbank:
    """The fbank the models read: 16 kHz, ``n_mels`` bins, AudioSet normalisation."""
    return ASTFbank(sample_rate=16000, n_mels=config.n_mels, target_frames=config.target_frames)


def input_frames(config: LungSRADConfig) -> int:
    """Frames of one input: ``target_frames``, else those of ``duration`` seconds (25 ms window, 10 ms hop)."""
    return config.target_frames or 1 + (round(config.duration * 16000) - 400) // 160


def build_model(config: LungSRADConfig, num_classes: int = 4, load_pretrained: bool = True) -> nn.Module:
    """The configured backbone with a fresh ``num_classes`` head (and its pre-trained weights, if any)."""
    if config.is_dass:
        spectral = None
        if config.spectral_reg:
            spectral = {"stage": config.spectral_stage, "blocks": config.spectral_blocks, "kernel_size": 5,
                        "sigma": 3.0}
        model = create_model(config.model, num_classes=num_classes, spectral_reg=spectral)
        if config.pretrained is not None and load_pretrained:
            state = torch.load(config.pretrained, map_location="cpu", weights_only=True)
            load_dass_checkpoint(model, state.get("state_dict", state), load_head=False)
        return model
    # AudioSet AST keeps the positional grid it was trained on (resized at run time): the trained weights need it too
    grid = {"pos_embed_size": AUDIOSET_POS_EMBED_SIZE} if config.pretrained == "audioset" else {}
    return create_model(config.model, pretrained=config.pretrained if load_pretrained else None,
                        num_classes=num_classes, n_mels=config.n_mels, input_frames=input_frames(config), **grid)


def build_objective(config: LungSRADConfig, model: nn.Module) -> PatchMixCL:
    """Cross-entropy plus one contiguous Patch-Mix contrastive loss per mixed axis (none: plain fine-tuning)."""
    axes = {"time": (config.time_mix, config.alpha_time), "freq": (config.freq_mix, config.alpha_freq)}
    weights = {axis: alpha for axis, (used, alpha) in axes.items() if used}
    mixers = {axis: PatchMix(axis, config.mix_alpha, contiguous=True) for axis in weights}
    augment = SpecAugment(2, config.spec_freq_width, 2, config.spec_time_width)
    return PatchMixCL(model, mixers, weights, augment, config.temperature)


class LungSRAD:
    """Lung-SRAD ablation on ICBHI (DASS; spectral regularisation; time / frequency Patch-Mix CL)."""

    def __init__(self, description: str, **variant: Any) -> None:
        self.__doc__ = description
        self.variant = variant
        self.Config = _VariantConfig(variant)

    def run(self, config: LungSRADConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        if config.model in RELEASED_DASS and config.pretrained is None:
            warnings.warn(f"{config.model} starts from random weights: set pretrained (or {WEIGHTS_ENV} for the "
                          "full profile) to the released DASS_small.pth to fine-tune from AudioSet as the paper does")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        train_config = replace(config.train, seed=seed)
        train, val, test = common.icbhi_splits(
            data, transform=build_features(config), duration=config.duration, val_fraction=config.val_fraction,
            seed=seed, max_train=config.max_train, max_test=config.max_test,
        )
        model = build_model(config, num_classes=len(train.classes))
        objective = build_objective(config, model)
        score = common.score_function("icbhi")
        train_loader = common.make_loader(train, config.batch_size, train=True, balanced=config.balanced, seed=seed)
        val_loader = common.make_loader(val, 2 * config.batch_size, train=False)
        trainer = Trainer(objective, train_config, checkpoint_dir=workdir, progress=False)
        history = trainer.fit(train_loader, evaluate=common.evaluator(model, val_loader, score, trainer.device))
        for epoch, (fit_stats, eval_stats) in enumerate(zip(history.train, history.eval)):
            print(f"epoch {epoch + 1}/{train_config.epochs}: train loss {fit_stats['loss']:.3f}, "
                  f"validation score {eval_stats['score']:.3f}")

        predictions = predict(model, common.make_loader(test, 2 * config.batch_size, train=False), trainer.device)
        (workdir / HISTORY_FILE).write_text(json.dumps(history.to_dict()))
        np.savez(workdir / PREDICTIONS_FILE, y_true=predictions.y_true, y_pred=predictions.y_pred,
                 scores=predictions.scores, classes=np.array(train.classes))
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, workdir / MODEL_FILE)
        return score(predictions.y_true, predictions.y_pred)


@dataclass(frozen=True)
class _VariantConfig:
    """``Config`` of one variant: :meth:`LungSRADConfig.for_profile` with the variant's fields set."""

    variant: Mapping[str, Any]

    def for_profile(self, profile: str) -> LungSRADConfig:
        config = LungSRADConfig.for_profile(profile)
        if self.variant.get("model") == "ast":  # the same protocol with an AST of the profile's size
            ast = "ast_base" if profile == "full" else "ast_tiny"
            return replace(config, model=ast, pretrained="audioset" if profile == "full" else None)
        return replace(config, **self.variant)


VARIANTS = {
    "finetune": LungSRAD("DASS fine-tuned with cross-entropy (Lung-SRAD's baseline row)."),
    "spectral": LungSRAD("DASS + spectral-aware regularisation (Gaussian smoothing in two blocks).",
                         spectral_reg=True),
    "time": LungSRAD("DASS + spectral regularisation + Patch-Mix CL on contiguous time segments.",
                     spectral_reg=True, time_mix=True),
    "freq": LungSRAD("DASS + spectral regularisation + Patch-Mix CL on contiguous frequency segments.",
                     spectral_reg=True, freq_mix=True),
    "full": LungSRAD("Lung-SRAD: DASS + spectral regularisation + Dual-Axis Patch-Mix CL (time and frequency).",
                     spectral_reg=True, time_mix=True, freq_mix=True),
    "ast": LungSRAD("AST fine-tuned under Lung-SRAD's protocol (the backbone the paper compares against).",
                    model="ast"),
}
for _name, _recipe in VARIANTS.items():
    register_recipe(f"lungsrad.{_name}")(_recipe)


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Artifacts:
    """What a run saved beside its metrics: training curves and the test predictions."""

    history: History
    predictions: Predictions
    classes: list[str]




def _saved(results: Mapping[str, Any], seed: int, name: str) -> Path:
    path = work_folder(results, seed) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not found; the results file {results['path']} was kept but its work folder was not "
            "(run_experiment(..., reuse=False) trains again and rewrites it)"
        )
    return path


def load_artifacts(results: Mapping[str, Any], seed: int = 0) -> Artifacts:
    """The history and test predictions that seed ``seed`` of a Lung-SRAD run wrote into its work folder."""
    history = History.from_dict(json.loads(_saved(results, seed, HISTORY_FILE).read_text()))
    with np.load(_saved(results, seed, PREDICTIONS_FILE), allow_pickle=False) as saved:
        predictions = Predictions(y_true=saved["y_true"], y_pred=saved["y_pred"], scores=saved["scores"])
        classes = saved["classes"].tolist()
    return Artifacts(history, predictions, classes)


def config_from_results(results: Mapping[str, Any]) -> LungSRADConfig:
    """The :class:`LungSRADConfig` stored (as JSON) in a results dict."""
    stored = dict(results["config"])
    train = TrainConfig(**stored.pop("train"))
    stored["spectral_blocks"] = tuple(stored["spectral_blocks"])
    if stored["model"].startswith("dass"):
        stored["pretrained"] = None  # the trained weights are loaded instead; the file need not exist here
    return LungSRADConfig(**stored, train=train)


def load_trained_model(results: Mapping[str, Any], seed: int = 0) -> nn.Module:
    """The model of seed ``seed`` with the weights its run selected, in eval mode, on the CPU."""
    config = config_from_results(results)
    model = build_model(config, load_pretrained=False)
    model.load_state_dict(torch.load(_saved(results, seed, MODEL_FILE), map_location="cpu", weights_only=True))
    return model.eval()


def input_batch(config: LungSRADConfig, data: Any, n: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` test cycles as the models read them (``[n, 1, n_mels, frames]`` fbanks) and their labels.

    Drawn per class in proportion, so the spectral analysis of the chapter looks at the same inputs
    for every model.
    """
    _, _, test = common.icbhi_splits(data, transform=build_features(config), duration=config.duration,
                                     seed=seed, max_test=n)
    x, y = zip(*(test[i] for i in range(len(test))))
    return torch.stack(x), torch.tensor(y)

