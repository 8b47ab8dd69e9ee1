"""Chapter 3: SupCon pre-training and MixUp fine-tuning of a ResNet18 on SPRSound (Hu et al., BioCAS 2023).

The recipes are the rows of the paper's ablation (its Table III), for any challenge task (``config.task``:
"1-1", "1-2" on events, "2-1", "2-2" on whole records):

* ``supcon.resnet`` — the baseline: ResNet18 trained end to end with cross-entropy;
* ``supcon.supcon`` — stage 1 trains the encoder with the supervised contrastive loss on two views of
  every item; stage 2 trains a linear classifier on the frozen encoder with cross-entropy;
* ``supcon.mixup`` — the same with MixUp in stage 2: the paper's method;
* ``supcon.windows`` — record tasks (2-1, 2-2) through sliding 3 s windows: the ``supcon.mixup`` model
  trained on events plus a Poor Quality class, and :func:`respkit.inference.record_label_from_windows`.

The pipeline (REFERENCES.md): 8 kHz audio, peak-normalised to ±0.5 with zero mean; 64 MFCCs (n_fft 512,
hop 128) z-scored per item; the MFCCs of each event (or record) are cut to 3 s (records: 15 s) by a
random crop, or placed at a random position among zeros when shorter, and flipped in time with
probability 0.5; batches drawn by a class-balanced sampler. All three models see exactly these inputs.

Pitfalls of the paper's public code, avoided here:

* evaluation clips are cut deterministically (centre crop or centred zero-padding), not at random;
* held-out items are whole patients (``common.sprsound_splits``), not a random split over events;
* the frozen encoder stays in eval mode during stage 2 (:class:`LinearProbe`), so its BatchNorm
  statistics do not drift with the fine-tuning batches;
* MixUp is applied to training batches only, never in evaluation;
* the reported model is the last epoch's, by choice: the held-out patients are our test set, and picking
  an epoch on them would flatter the score (the public code's "best" checkpoint was a reference to the
  live weights, so it was the last epoch too, by accident); the trainer copies, if a metric is selected;
* the learning rate is constant (``min_lr_ratio=1.0``) and the config says so; the public code's cosine
  option read a misspelled attribute, so what schedule it ran is not what its options claim.

Each run writes ``predictions.npz`` (held-out labels, predictions, scores and encoder embeddings, and the
official test sets') and ``history.json`` into its work folder; :func:`load_artifacts` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from respkit.augment import RandomCrop, RandomTimeFlip
from respkit.data import SPRSound, Subset
from respkit.data.audio import fix_length
from respkit.data.sprsound import RECORD_LABELS, TASKS
from respkit.features import MFCC, PeakNormalize
from respkit.inference import POOR_QUALITY, WINDOW_LABELS, record_label_from_windows, sliding_windows
from respkit.losses import SupCon, mixed_cross_entropy
from respkit.metrics import per_class_recall
from respkit.mix import MixUp
from respkit.models import ProjectionHead, create_model
from respkit.experiments import work_folder
from respkit.recipes import common, register_recipe
from respkit.train import Supervised, TrainConfig, Trainer, predict
from respkit.train.config import config_hash

SAMPLE_RATE = 8000
TEST_SPLITS = ("inter_test", "intra_test")


def _sgd(epochs: int, lr: float, **changes: Any) -> TrainConfig:
    """The paper's optimiser: SGD, momentum 0.9, weight decay 1e-4, constant learning rate."""
    return TrainConfig(epochs=epochs, lr=lr, optimizer="sgd", momentum=0.9, weight_decay=1e-4,
                       min_lr_ratio=1.0, **changes)


# ---------------------------------------------------------------------------------------------------
# Configurations
@dataclass(frozen=True)
class BaselineConfig:
    """ResNet18 with cross-entropy (``supcon.resnet``); the fields shared by every recipe of the chapter.

    ``quick`` shrinks everything to fit a CPU budget of well under a minute per run: a ResNet18 of a
    quarter width, 32 MFCCs at hop 256 (94 frames for 3 s instead of 188), 4 s records, 192 training
    items and 120 held out, a few epochs of at most 6 steps at a larger learning rate. ``full`` is the paper's protocol (for a
    GPU), with 4 loader workers.
    """

    task: str = "1-2"  # "1-1", "1-2" (events) or "2-1", "2-2" (records)
    event_seconds: float = 3.0  # clip length of events (and of windows)
    record_seconds: float = 15.0  # clip length of records
    n_mfcc: int = 64
    n_fft: int = 512
    hop_length: int = 128
    width: int = 64  # ResNet18 channels of the first stage (64: the standard network)
    batch_size: int = 32
    balanced: bool = True  # class-balanced sampling (weights 1 / class count)
    val_fraction: float = 0.2  # patients held out of the training set for evaluation
    split_seed: int = 0  # the same held-out patients for every seed and recipe
    max_train: int | None = None  # subsample (per class, proportionally) for quick runs
    max_val: int | None = None
    num_workers: int = 0
    train: TrainConfig = field(default_factory=lambda: _sgd(50, 1e-3))

    @classmethod
    def for_profile(cls, profile: str) -> BaselineConfig:
        if profile == "full":
            return cls(num_workers=4)
        return cls(**_QUICK_DATA, train=_sgd(4, 0.02, max_steps_per_epoch=6))

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")

    @property
    def level(self) -> str:
        return TASKS[self.task][0]

    @property
    def clip_seconds(self) -> float:
        return self.event_seconds if self.level == "event" else self.record_seconds


@dataclass(frozen=True)
class SupConConfig(BaselineConfig):
    """Two stages (``supcon.supcon``): SupCon pre-training of the encoder, then a linear classifier.

    ``mixup_alpha`` is ``None`` here (plain cross-entropy in stage 2) and 1.0 in ``supcon.mixup``.
    """

    embedding_dim: int = 128  # projection head 512 -> 512 -> 128 (at width 64), L2-normalised
    temperature: float = 0.1
    pretrain: TrainConfig = field(default_factory=lambda: _sgd(50, 1e-3))
    finetune: TrainConfig = field(default_factory=lambda: _sgd(20, 1e-3))
    mixup_alpha: float | None = None

    @classmethod
    def for_profile(cls, profile: str) -> SupConConfig:
        if profile == "full":
            return cls(num_workers=4)
        return cls(**_QUICK_DATA, pretrain=_sgd(3, 0.05, max_steps_per_epoch=6),
                   finetune=_sgd(2, 0.02, max_steps_per_epoch=6))


@dataclass(frozen=True)
class MixUpConfig(SupConConfig):
    """``supcon.mixup``: stage 2 with MixUp, alpha 1.0."""

    mixup_alpha: float | None = 1.0


@dataclass(frozen=True)
class WindowsConfig(MixUpConfig):
    """``supcon.windows``: a record task decided from 3 s windows every ``window_step`` seconds.

    The window model is trained on the events of the training records plus their Poor Quality records
    (one random 3 s crop of such a record per draw), with the classes of :data:`WINDOW_LABELS`.
    """

    task: str = "2-2"
    window_step: float = 2.0  # 3 s windows with 1 s overlap
    min_run: int = 2  # consecutive windows that must agree

    @property
    def clip_seconds(self) -> float:
        return self.event_seconds  # the model sees windows as long as the events it learns from

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.level != "record":
            raise ValueError(f"supcon.windows decides records: task must be '2-1' or '2-2', got {self.task!r}")


# Quick profile: smaller inputs, a quarter-width ResNet18 and a few hundred items.
_QUICK_DATA = dict(n_mfcc=32, hop_length=256, record_seconds=4.0, width=16, max_train=192, max_val=120)


# ---------------------------------------------------------------------------------------------------
# Inputs: features, fixed-length clips
def features(config: BaselineConfig) -> nn.Module:
    """Waveform ``[1, samples]`` at 8 kHz -> z-scored MFCCs ``[1, n_mfcc, frames]`` (peak-normalised first)."""
    return nn.Sequential(
        PeakNormalize(0.5),
        MFCC(SAMPLE_RATE, n_mfcc=config.n_mfcc, n_fft=config.n_fft, hop_length=config.hop_length),
    )


def clip_frames(seconds: float, hop_length: int) -> int:
    """MFCC frames of a clip of ``seconds`` (centred frames: ``1 + samples // hop``; 3 s, hop 128: 188)."""
    return 1 + round(seconds * SAMPLE_RATE) // hop_length


def random_clip(x: torch.Tensor, frames: int) -> torch.Tensor:
    """A random window of ``frames`` columns of ``x [..., T]``; a shorter ``x`` lands at a random offset among zeros.

    Padding both sides by the shortfall and then cropping at random places the whole short clip
    uniformly in the window (zeros are the mean of z-scored features); a longer one is cropped uniformly.
    """
    short = max(frames - x.shape[-1], 0)
    padded = F.pad(x, (short, short))
    return RandomCrop(frames)(padded.unsqueeze(0)).squeeze(0)


class Clips(Dataset):
    """Fixed-length clips of a dataset of variable-length features ``[1, F, T_i]``.

    ``train=False``: the centre ``frames`` columns, or the item centred among zeros: deterministic.
    ``train=True``: ``n_views`` independent random clips (:func:`random_clip`), each reversed in time
    with probability ``flip_p``; the randomness comes from torch's global generator, which the trainer
    reseeds every epoch. Items are ``[1, F, frames]``, or ``[n_views, 1, F, frames]`` when ``n_views > 1``.
    Keeps ``labels``, ``groups``, ``classes`` and ``meta`` for samplers and analysis.
    """

    def __init__(self, dataset: Any, frames: int, *, train: bool, n_views: int = 1, flip_p: float = 0.5) -> None:
        if n_views < 1:
            raise ValueError(f"n_views must be >= 1, got {n_views}")
        self.dataset, self.frames, self.train, self.n_views = dataset, frames, train, n_views
        self.flip = RandomTimeFlip(flip_p)
        self.labels, self.groups = np.asarray(dataset.labels), np.asarray(dataset.groups)
        self.classes, self.meta = dataset.classes, getattr(dataset, "meta", None)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, label = self.dataset[i]  # [1, F, T]
        if not self.train:
            return fix_length(x, self.frames, crop="centre", pad="zero"), label
        views = torch.stack([random_clip(x, self.frames) for _ in range(self.n_views)])  # [V, 1, F, frames]
        views = self.flip(views)  # each view flipped on its own
        return (views if self.n_views > 1 else views[0]), label


class WindowTrainingSet(Dataset):
    """Events labelled with their type plus Poor Quality records labelled "Poor Quality" (:data:`WINDOW_LABELS`).

    The window model of ``supcon.windows`` has to say when a window holds no usable sound; Poor Quality
    records list no events, so whole records (cut to a window by :class:`Clips`) teach that class.
    """

    def __init__(self, events: Any, poor_quality: Any) -> None:
        self.events, self.poor_quality = events, poor_quality
        self.classes = WINDOW_LABELS
        pq_label = WINDOW_LABELS.index(POOR_QUALITY)
        self.labels = np.concatenate([np.asarray(events.labels), np.full(len(poor_quality), pq_label)]).astype(np.int64)
        self.groups = np.concatenate([np.asarray(events.groups), np.asarray(poor_quality.groups)])
        self.meta = [*events.meta, *poor_quality.meta]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        n = len(self.events)
        x, _ = self.events[i] if i < n else self.poor_quality[i - n]
        return x, int(self.labels[i])


# ---------------------------------------------------------------------------------------------------
# Objectives
class SupConObjective(nn.Module):
    """Stage 1: ``SupCon(normalize(projector(encoder(view))))`` over the views of a batch ``([B, V, 1, F, T], [B])``."""

    def __init__(self, model: nn.Module, projector: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model, self.projector, self.loss = model, projector, SupCon(temperature)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        views, y = batch
        batch_size, n_views = views.shape[:2]
        features = self.model.forward_features(views.flatten(0, 1))  # [B·V, D], item-major
        z = F.normalize(self.projector(features), dim=-1).view(batch_size, n_views, -1)  # [B, V, 128]
        return {"loss": self.loss(z, y)}


class LinearProbe(nn.Module):
    """Stage 2: train only ``model.head`` on the frozen encoder, with cross-entropy or MixUp.

    The encoder's weights are frozen *and* it stays in eval mode whatever ``train()`` says: in train
    mode its BatchNorm layers would keep updating their running statistics from the fine-tuning
    batches (MixUp's blends included), so the encoder that is evaluated would not be the one SupCon
    trained. MixUp mixes the input clips (``λ·x + (1 − λ)·x[perm]``, Zhang et al. 2018) and the loss
    mixes the two targets' cross-entropies.
    """

    def __init__(self, model: nn.Module, mixup: MixUp | None = None) -> None:
        super().__init__()
        self.model, self.mixup = model, mixup
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in model.head.parameters():
            parameter.requires_grad_(True)

    def train(self, mode: bool = True) -> LinearProbe:
        super().train(mode)
        self.model.eval()  # the head is a Linear layer: eval mode changes nothing for it
        return self

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        mix = self.mixup(x) if self.mixup is not None else None
        with torch.no_grad():
            features = self.model.forward_features(mix.mixed if mix is not None else x)  # [B, D]
        logits = self.model.forward_head(features)
        if mix is None:
            return {"loss": F.cross_entropy(logits, y)}
        return {"loss": mixed_cross_entropy(logits, y, mix.perm, mix.lam), "lam": mix.lam}


# ---------------------------------------------------------------------------------------------------
# Training
def train_loader(ds: Any, config: BaselineConfig, seed: int) -> DataLoader:
    return common.make_loader(ds, config.batch_size, train=True, balanced=config.balanced, seed=seed,
                              num_workers=config.num_workers)


def eval_loader(ds: Any, config: BaselineConfig) -> DataLoader:
    return common.make_loader(ds, 2 * config.batch_size, train=False, num_workers=config.num_workers)


def build_model(config: BaselineConfig, n_classes: int) -> nn.Module:
    return create_model("resnet18", in_chans=1, num_classes=n_classes, width=config.width)


def train_two_stage(config: SupConConfig, train_set: Any, seed: int, workdir: Path,
                    encoder_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Stage 1 (SupCon, checkpoints in ``encoder_dir``) then stage 2 (linear head, in ``workdir/finetune``).

    Returns the trained classifier and both stages' histories. Stage 1 depends on neither the stage-2
    settings nor MixUp, so ``supcon.supcon`` and ``supcon.mixup`` pass the same ``encoder_dir`` and the
    second one finds the finished encoder there instead of training it again.
    """
    frames = clip_frames(config.clip_seconds, config.hop_length)
    model = build_model(config, len(train_set.classes))
    projector = ProjectionHead(model.num_features, model.num_features, config.embedding_dim)
    views = Clips(train_set, frames, train=True, n_views=2)
    stage1 = Trainer(SupConObjective(model, projector, config.temperature), dataclasses.replace(config.pretrain, seed=seed),
                     checkpoint_dir=encoder_dir, progress=False)
    pretrain_history = stage1.fit(train_loader(views, config, seed))

    mixup = MixUp(config.mixup_alpha) if config.mixup_alpha is not None else None
    clips = Clips(train_set, frames, train=True)
    stage2 = Trainer(LinearProbe(model, mixup), dataclasses.replace(config.finetune, seed=seed),
                     checkpoint_dir=workdir / "finetune", progress=False)
    finetune_history = stage2.fit(train_loader(clips, config, seed))
    return model, {"pretrain": pretrain_history.to_dict(), "finetune": finetune_history.to_dict()}


def encoder_dir(config: SupConConfig, data: Any, seed: int, workdir: Path, purpose: str) -> Path:
    """Where stage 1 keeps its checkpoint: named by everything stage 1 depends on, beside the run folders.

    ``workdir`` is ``<out>/work/<results stem>/seed<seed>`` (``respkit.experiments``); encoders go to
    ``<out>/work/supcon-encoders/<hash>``, so runs that differ only in stage 2 share one.
    """
    stage1 = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("finetune", "mixup_alpha")}
    key = config_hash({"stage1": stage1, "data": data.describe(), "seed": seed, "purpose": purpose})
    return workdir.parent.parent / "supcon-encoders" / key[:16]


# ---------------------------------------------------------------------------------------------------
# Evaluation
@torch.no_grad()
def embed(model: nn.Module, loader: DataLoader) -> np.ndarray:
    """Encoder features ``[N, D]`` of every item of ``loader`` (eval mode), for t-SNE."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model.forward_features(x.to(device)).float().cpu() for x, _ in loader]
    model.train(was_training)
    return torch.cat(out).numpy()


def scores(task: str, classes: list[str], y_true: np.ndarray, y_pred: np.ndarray, prefix: str = "") -> dict[str, float]:
    """The official score's numbers and the recall of every class (``recall/<class>``), keys prefixed."""
    metrics = dict(common.score_function("sprsound", task)(y_true, y_pred))
    metrics.update({f"recall/{name}": value for name, value in per_class_recall(y_true, y_pred, classes).items()})
    return {f"{prefix}{key}": value for key, value in metrics.items()}


def test_sets(data: Any, config: BaselineConfig, transform: nn.Module | None) -> dict[str, Any]:
    """The official test sets that exist under the data root ({"inter_test": ds, ...}); missing ones are left out."""
    found = {}
    for split in TEST_SPLITS:
        try:
            found[split] = common.sprsound_test(data, config.task, split, transform=transform, duration=None)
        except FileNotFoundError:
            continue
    return found


def evaluate_direct(model: nn.Module, config: BaselineConfig, data: Any, val: Any, transform: nn.Module,
                    workdir: Path, histories: dict[str, Any]) -> dict[str, float]:
    """Score ``model`` on the held-out patients and the official test sets; save predictions and histories."""
    frames = clip_frames(config.clip_seconds, config.hop_length)
    val_loader = eval_loader(Clips(val, frames, train=False), config)
    result = predict(model, val_loader)
    metrics = scores(config.task, val.classes, result.y_true, result.y_pred)
    arrays = {"classes": np.array(val.classes), "val_true": result.y_true, "val_pred": result.y_pred,
              "val_scores": result.scores, "val_embeddings": embed(model, val_loader)}
    for split, ds in test_sets(data, config, transform).items():
        test = predict(model, eval_loader(Clips(ds, frames, train=False), config))
        name = split.removesuffix("_test")
        metrics.update(scores(config.task, ds.classes, test.y_true, test.y_pred, prefix=f"{name}_"))
        arrays.update({f"{name}_true": test.y_true, f"{name}_pred": test.y_pred})
    save_artifacts(workdir, arrays, histories)
    return metrics


def save_artifacts(workdir: Path, arrays: dict[str, np.ndarray], histories: dict[str, Any],
                   extra: dict[str, Any] | None = None) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(workdir / "predictions.npz", **arrays)
    (workdir / "history.json").write_text(json.dumps({**histories, **(extra or {})}, indent=1) + "\n")


def load_artifacts(results: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """What a run of this module saved: ``predictions.npz``'s arrays plus ``history.json``'s entries.

    ``results`` is what ``run_experiment`` returned (its ``"path"`` names the results file); ``seed``
    defaults to the first seed of the run. Raises ``FileNotFoundError`` naming the folder when the work
    folder is not there (results files committed under ``results/`` come without theirs).
    """
    workdir = work_folder(results, seed)
    if not (workdir / "predictions.npz").is_file():
        raise FileNotFoundError(f"{workdir}: no predictions.npz; the run's work folder is not there")
    with np.load(workdir / "predictions.npz") as arrays:
        loaded: dict[str, Any] = {key: arrays[key] for key in arrays.files}
    loaded["classes"] = loaded["classes"].tolist()
    loaded.update(json.loads((workdir / "history.json").read_text()))
    return loaded


# ---------------------------------------------------------------------------------------------------
# Recipes
@register_recipe("supcon.resnet")
class ResNetBaseline:
    """ResNet18 trained with cross-entropy on MFCC clips (class-balanced sampling, crop and flip)."""

    Config = BaselineConfig

    def run(self, config: BaselineConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        transform = features(config)
        train, val = _splits(data, config, transform)
        frames = clip_frames(config.clip_seconds, config.hop_length)
        model = build_model(config, len(train.classes))
        trainer = Trainer(Supervised(model), dataclasses.replace(config.train, seed=seed),
                          checkpoint_dir=workdir / "train", progress=False)
        history = trainer.fit(train_loader(Clips(train, frames, train=True), config, seed))
        return evaluate_direct(model, config, data, val, transform, workdir, {"train": history.to_dict()})


@register_recipe("supcon.supcon")
class SupConLinear:
    """SupCon pre-training of the ResNet18 encoder, then a linear classifier on the frozen encoder."""

    Config = SupConConfig

    def run(self, config: SupConConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        transform = features(config)
        train, val = _splits(data, config, transform)
        model, histories = train_two_stage(config, train, seed, workdir,
                                           encoder_dir(config, data, seed, workdir, purpose="direct"))
        return evaluate_direct(model, config, data, val, transform, workdir, histories)


@register_recipe("supcon.mixup")
class SupConMixUp(SupConLinear):
    """SupCon pre-training, then the linear classifier fine-tuned with MixUp (alpha 1): the paper's method."""

    Config = MixUpConfig


@register_recipe("supcon.windows")
class SlidingWindows:
    """Record tasks from 3 s windows: a SupCon + MixUp window model and the two-consecutive-windows rule."""

    Config = WindowsConfig

    def run(self, config: WindowsConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        transform = features(config)
        # The records' patient split is the one the direct recipes use for this task: same held-out records.
        records_train, records_val = _splits(data, config, transform=None)
        train_set = window_training_set(data, config, transform, {m.record for m in records_train.meta})
        model, histories = train_two_stage(config, train_set, seed, workdir,
                                           encoder_dir(config, data, seed, workdir, purpose="windows"))
        decided = decide_records(model, config, transform, records_val)
        metrics = scores(config.task, records_val.classes, decided["true"], decided["pred"])
        arrays = {"classes": np.array(records_val.classes), "val_true": decided["true"], "val_pred": decided["pred"]}
        windows = {"val": decided["windows"]}
        for split, ds in test_sets(data, config, transform=None).items():
            name = split.removesuffix("_test")
            decided = decide_records(model, config, transform, ds)
            metrics.update(scores(config.task, ds.classes, decided["true"], decided["pred"], prefix=f"{name}_"))
            arrays.update({f"{name}_true": decided["true"], f"{name}_pred": decided["pred"]})
            windows[name] = decided["windows"]
        save_artifacts(workdir, arrays, histories, extra={"windows": windows})
        return metrics


def window_training_set(data: Any, config: WindowsConfig, transform: nn.Module, records: set[str]) -> WindowTrainingSet:
    """Events (task 1-2) and Poor Quality records of the training ``records``, with cached features."""
    cache = common.feature_cache()
    root = data.sprsound.root
    events = SPRSound(root, split="train", level="event", task="1-2", transform=transform, cache=cache)
    whole = SPRSound(root, split="train", level="record", task="2-2", transform=transform, cache=cache)
    pq = RECORD_LABELS.index(POOR_QUALITY)
    keep_events = [i for i, m in enumerate(events.meta) if m.record in records]
    keep_pq = [i for i, m in enumerate(whole.meta) if m.record in records and whole.labels[i] == pq]
    train_set = WindowTrainingSet(Subset(events, keep_events), Subset(whole, keep_pq))
    precompute(train_set)
    return train_set


@torch.no_grad()
def decide_records(model: nn.Module, config: WindowsConfig, transform: nn.Module, records: Any) -> dict[str, Any]:
    """Label each record of ``records`` (waveform items) by classifying its windows and applying the rule.

    Every window gets its own features (peak normalisation and z-scoring per window), as the events the
    model was trained on did. Returns ``true`` and ``pred`` (task class indices) and ``windows``: per record,
    its name, true and predicted labels and the window labels, for the chapter's look at failures.
    """
    device = next(model.parameters()).device
    model.eval()
    frames = clip_frames(config.clip_seconds, config.hop_length)
    window, step = round(config.clip_seconds * SAMPLE_RATE), round(config.window_step * SAMPLE_RATE)
    to_task = TASKS[config.task][2]
    true, pred, details = [], [], []
    for i in range(len(records)):
        waveform, label = records[i]  # [1, samples]
        clips = torch.stack([fix_length(transform(w), frames, crop="centre", pad="zero")
                             for w in sliding_windows(waveform, window, step)])  # [W, 1, F, frames]
        window_labels = [WINDOW_LABELS[k] for k in model(clips.to(device)).argmax(dim=1).tolist()]
        decision = record_label_from_windows(window_labels, config.min_run)
        true.append(int(label))
        pred.append(to_task[decision])
        details.append({"record": records.meta[i].record, "true": records.classes[int(label)],
                        "pred": records.classes[to_task[decision]], "windows": window_labels})
    return {"true": np.array(true, dtype=np.int64), "pred": np.array(pred, dtype=np.int64), "windows": details}


def _splits(data: Any, config: BaselineConfig, transform: nn.Module | None) -> tuple[Any, Any]:
    """Patient-wise ``(train, val)`` of natural-length items (``common.sprsound_splits``), features cached."""
    train, val = common.sprsound_splits(data, config.task, transform=transform, duration=None,
                                        val_fraction=config.val_fraction, seed=config.split_seed,
                                        max_train=config.max_train, max_val=config.max_val)
    if transform is not None:
        precompute(train)
        precompute(val)
    return train, val


def precompute(ds: Any) -> None:
    """Compute (and cache) the features of every item in storage order, so each recording is decoded once.

    Left to the first epoch, a class-balanced sampler would visit events in random order and decode a
    whole recording for every event (the loader keeps only a few recordings in memory).
    """
    for i in range(len(ds)):
        ds[i]
