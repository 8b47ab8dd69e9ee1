"""Chapter 2's experiments: CLAR (Al-Tahan & Mohsenzadeh, AISTATS 2021) on SPRSound events.

Three recipes train the same network and differ only in the training signal:

* ``clar.supervised`` — cross-entropy (CE) on the labelled events;
* ``clar.pretrain_finetune`` — NT-Xent on two augmented views of every training event (labels unused),
  then CE fine-tuning of all the weights on the labelled events (the SimCLR protocol);
* ``clar.joint`` — CE on labelled events and NT-Xent on all events in the same steps: CLAR's proposal.

One :class:`CLARConfig` serves all three, so every variant is an override: ``label_fraction`` (the share
of training events whose labels may be used; the others are used by the contrastive term only) and
``augmentations`` (names from :data:`respkit.augment.CLAR_AUGMENTATIONS`, applied in that order to the
waveforms, batch-wise on the training device). The supervised term sees the same augmentations, so the
three methods differ in their losses only.

The network (:class:`CLARNetwork`) is CLAR's: features -> encoder -> projection head (``D -> D -> 128``)
-> a linear classifier on the 128-d projection, where CLAR puts it. NT-Xent compares projections.

Data: SPRSound events, task 1-1 (Normal vs Adventitious) by default. With 10 % of the labels, the rarer
classes of task 1-2 (15 Stridor events in the whole training set) would have one labelled example or
none, and the seven-class score would measure that absence rather than the method. Events are
centre-cropped or zero-padded to ``duration`` and held in memory as waveforms. The official score is
read on held-out patients (:func:`respkit.recipes.common.sprsound_splits`) with the weights of the last
epoch: no choice is made on the patients the score is read on.

Steps: every method takes ``len(train events) // batch_size`` steps per epoch, whatever the label
fraction. Each step draws a class-balanced batch of labelled events (the CE stream, sampled with
replacement) and/or a shuffled batch of all training events (the contrastive stream), as the method
needs; ``joint`` draws both.

The pre-training stage of ``pretrain_finetune`` depends neither on the labels nor on the fine-tuning
settings, so runs that differ only in those share it: it is kept once per seed in
``<out_dir>/work/clar-pretrain-<hash>/seed<seed>/`` and reused ("load the checkpoint if it exists").

Each run writes ``history.json`` (the training curves of each stage) and ``predictions.npz`` (held-out
labels, predictions, scores and patients) into its work folder; :func:`load_artifacts` reads them back
from the results of :func:`respkit.experiments.run_experiment`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from respkit.augment import CLAR_AUGMENTATIONS, TwoViews, clar_augmentation
from respkit.data import ClassBalancedSampler
from respkit.features import CLARFeatures, LogMel
from respkit.losses import NTXent
from respkit.models import ProjectionHead, create_model
from respkit.recipes import common, register_recipe
from respkit.experiments import work_folder
from respkit.train import History, Predictions, TrainConfig, Trainer, predict
from respkit.train.config import config_hash

HISTORY_FILE = "history.json"
PREDICTIONS_FILE = "predictions.npz"
SPRSOUND_RATE = 8000  # the release's sample rate, served by the SPRSound loaders


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


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
class CLARConfig:
    """What every ``clar.*`` recipe trains, per profile.

    Attributes:
        task: SPRSound event task, ``"1-1"`` (default, see the module docstring) or ``"1-2"``.
        duration: seconds each event is centre-cropped or zero-padded to.
        sample_rate: the network's rate; SPRSound's 8 kHz audio is resampled to it.
        val_fraction: share of the patients held out for the score.
        max_train, max_val: events kept per split (per class in proportion); ``None``: all.
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

    task: str = "1-1"
    duration: float = 3.0
    sample_rate: int = 16000
    val_fraction: float = 0.2
    max_train: int | None = None
    max_val: int | None = None
    label_fraction: float = 1.0
    augmentations: tuple[str, ...] = ("fade", "time_mask")
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: str = "resnet18"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    projection_dim: int = 128
    temperature: float = 0.5
    contrastive_weight: float = 1.0
    batch_size: int = 128
    # REFERENCES.md gives no optimiser settings for CLAR; these are respkit's choices for ResNet18 from scratch.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, lr=1e-3, optimizer="adamw", weight_decay=1e-4, warmup_epochs=5))
    finetune: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, lr=1e-3, optimizer="adamw", weight_decay=1e-4, warmup_epochs=5))

    def __post_init__(self) -> None:
        if not 0.0 < self.label_fraction <= 1.0:
            raise ValueError(f"label_fraction must be in (0, 1], got {self.label_fraction}")
        if not self.task.startswith("1"):
            raise ValueError(f"the clar recipes classify events: task must be '1-1' or '1-2', got {self.task!r}")
        if isinstance(self.augmentations, str) or set(self.augmentations) - set(CLAR_AUGMENTATIONS):
            raise ValueError(f"augmentations must be a sequence of names from {sorted(CLAR_AUGMENTATIONS)}, "
                             f"e.g. ('fade', 'time_mask'); got {self.augmentations!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (NT-Xent needs negatives), got {self.batch_size}")

    @classmethod
    def for_profile(cls, profile: str) -> CLARConfig:
        if profile == "full":  # CLAR's input and encoder on every training event: a GPU
            return cls()
        if profile != "quick":
            raise ValueError(f"unknown profile {profile!r}: 'quick' or 'full'")
        # About 15-25 s of an idle 2-core CPU per run: 2 s at 8 kHz, a narrow CNN on a small log-mel,
        # 400 training events (12 steps of 32 per epoch), 6 epochs.
        quick_train = TrainConfig(epochs=6, lr=2e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=0.5)
        return cls(
            duration=2.0,
            sample_rate=SPRSOUND_RATE,
            max_train=400,
            max_val=200,
            features=FeatureConfig(kind="logmel", n_fft=256, hop_length=128, n_mels=32, win_length=None),
            model="cnn_small",
            model_kwargs={"widths": (16, 32, 64, 128)},
            projection_dim=64,
            batch_size=32,
            train=quick_train,
            finetune=quick_train,
        )


# --------------------------------------------------------------------------------------------------
# Network and objective
# --------------------------------------------------------------------------------------------------


def standardize(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Each item's channels to zero mean and unit variance over (freq, time): ``[B, C, F, T]`` in and out.

    CLAR's channels have different units (dB and radians); per-item statistics put them on one scale
    without statistics fitted on a split, at the price of the absolute level (recording gains vary anyway).
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True, correction=0)
    return (x - mean) / (std + eps)


class CLARNetwork(nn.Module):
    """Waveform -> features -> encoder -> projection head -> classifier (Al-Tahan & Mohsenzadeh 2021).

    Args:
        features: waveform ``[B, 1, L]`` -> spectrogram ``[B, C, F, T]``.
        encoder: a respkit model built with ``num_classes=0`` (``forward`` gives ``[B, D]``).
        num_classes: classifier outputs.
        projection_dim: size of the projection ``z`` (CLAR: 128); the hidden layer has ``D`` units.

    ``project(wave) -> z [B, projection_dim]`` is what NT-Xent compares; ``forward(wave) -> logits
    [B, num_classes]`` is ``classifier(z)``: CLAR's classifier sits on the projection.
    """

    def __init__(self, features: nn.Module, encoder: nn.Module, num_classes: int, projection_dim: int) -> None:
        super().__init__()
        self.features = features
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.num_features, encoder.num_features, projection_dim)
        self.classifier = nn.Linear(projection_dim, num_classes)

    def spectrogram(self, wave: Tensor) -> Tensor:
        """``[B, 1, L]`` -> standardised ``[B, C, F, T]``, in float32 (dB of tiny powers needs it, even under AMP)."""
        with torch.autocast(wave.device.type, enabled=False):
            return standardize(self.features(wave.float()))

    def project(self, wave: Tensor) -> Tensor:
        return self.projector(self.encoder(self.spectrogram(wave)))  # [B, projection_dim]

    def forward(self, wave: Tensor) -> Tensor:
        return self.classifier(self.project(wave))  # [B, num_classes]


class CLARObjective(nn.Module):
    """The loss of all three recipes: ``CE + contrastive_weight · NT-Xent``, each term where the batch has its stream.

    A batch is a dict with one or both streams:

    * ``"labelled"``: ``(wave [B, 1, L], y [B])`` -> CE of the network on one augmented view;
    * ``"unlabelled"``: ``wave [B, 1, L]`` (no labels) -> NT-Xent between two augmented views' projections.

    Returns ``{"loss", "ce", "acc"}`` and/or ``{"ntxent"}`` for the terms present.
    """

    def __init__(self, network: CLARNetwork, augment: nn.Module, temperature: float = 0.5,
                 contrastive_weight: float = 1.0) -> None:
        super().__init__()
        self.network = network
        self.augment = augment
        self.views = TwoViews(augment)
        self.ntxent = NTXent(temperature)
        self.contrastive_weight = contrastive_weight

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        if not batch.keys() & {"labelled", "unlabelled"} or batch.keys() - {"labelled", "unlabelled"}:
            raise KeyError(f"a CLAR batch has the keys 'labelled' and/or 'unlabelled', got {sorted(batch)}")
        out: dict[str, Tensor] = {}
        loss = torch.zeros((), device=next(self.parameters()).device)
        if "labelled" in batch:
            wave, y = batch["labelled"]
            logits = self.network(self._augment(self.augment, wave))                     # [B, C]
            out["ce"] = F.cross_entropy(logits, y)
            out["acc"] = (logits.argmax(dim=1) == y).float().mean()
            loss = loss + out["ce"]
        if "unlabelled" in batch:
            view1, view2 = self._augment(self.views, batch["unlabelled"])                 # 2 x [B, 1, L]
            # One pass over both views: BatchNorm normalises them together, as in SimCLR.
            z1, z2 = self.network.project(torch.cat([view1, view2])).chunk(2)            # 2 x [B, proj]
            out["ntxent"] = self.ntxent(z1, z2)
            loss = loss + self.contrastive_weight * out["ntxent"]
        return {"loss": loss, **out}

    @staticmethod
    def _augment(transform: nn.Module, wave: Tensor) -> Any:
        """Signal processing in float32 also under AMP (phase vocoders and resampling, not matrix work)."""
        with torch.autocast(wave.device.type, enabled=False):
            return transform(wave.float())


def build_network(config: CLARConfig, num_classes: int) -> CLARNetwork:
    """The network of ``config``, randomly initialised (seed torch first for a reproducible draw)."""
    encoder = create_model(config.model, num_classes=0, in_chans=config.features.channels, **config.model_kwargs)
    return CLARNetwork(config.features.build(config.sample_rate), encoder, num_classes, config.projection_dim)


# --------------------------------------------------------------------------------------------------
# Data: events as waveforms in memory, and the two streams
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Events:
    """Training and held-out events: the training ``Subset`` (labels, patients) and both splits as waveforms.

    ``train_waves [N, 1, L]``, ``train_labels [N]``, ``val_waves [M, 1, L]``, ``val_labels [M]``, ``val_groups [M]``.
    """

    train: Any
    train_waves: Tensor
    train_labels: Tensor
    val_waves: Tensor
    val_labels: Tensor
    val_groups: np.ndarray  # [M] the patient of each held-out event

    @property
    def classes(self) -> list[str]:
        return list(self.train.classes)


@functools.lru_cache(maxsize=2)
def _load_events(data: Any, task: str, duration: float, sample_rate: int, val_fraction: float, seed: int,
                 max_train: int | None, max_val: int | None) -> Events:
    train, val = common.sprsound_splits(data, task, duration=duration, val_fraction=val_fraction, seed=seed,
                                        max_train=max_train, max_val=max_val)

    def stack(ds: Any) -> tuple[Tensor, Tensor]:
        waves = torch.stack([ds[i][0] for i in range(len(ds))])                          # [N, 1, L] at 8 kHz
        if sample_rate != SPRSOUND_RATE:
            waves = AF.resample(waves, SPRSOUND_RATE, sample_rate)
        return waves, torch.as_tensor(ds.labels, dtype=torch.long)

    return Events(train, *stack(train), *stack(val), np.asarray(val.groups))


def load_events(config: CLARConfig, data: Any, seed: int) -> Events:
    """The events of ``config``'s split for ``seed``, decoded once per process (runs share them; do not modify)."""
    return _load_events(data, config.task, config.duration, config.sample_rate, config.val_fraction, seed,
                        config.max_train, config.max_val)


def labelled_indices(train: Any, fraction: float, seed: int) -> np.ndarray:
    """Positions in ``train`` of the events whose labels are used: ``round(fraction · N)``, per class in
    proportion, at least one per class (:func:`respkit.recipes.common.subsample`)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.arange(len(train))
    return np.asarray(common.subsample(train, round(fraction * len(train)), seed).indices)


class Streams:
    """Zip named loaders into dict batches, ``{"labelled": ..., "unlabelled": ...}``; ``len`` is the shortest."""

    def __init__(self, **loaders: DataLoader) -> None:
        if not loaders:
            raise ValueError("Streams needs at least one loader")
        self.loaders = loaders

    def __len__(self) -> int:
        return min(len(loader) for loader in self.loaders.values())

    def __iter__(self):
        for batches in zip(*self.loaders.values()):
            yield dict(zip(self.loaders, batches))


def labelled_loader(waves: Tensor, labels: Tensor, batch_size: int, steps: int, seed: int) -> DataLoader:
    """``steps`` class-balanced batches ``(wave, y)`` drawn with replacement from the labelled events."""
    sampler = ClassBalancedSampler(labels.numpy(), num_samples=steps * batch_size,
                                   generator=torch.Generator().manual_seed(seed))
    return DataLoader(TensorDataset(waves, labels), batch_size=batch_size, sampler=sampler, drop_last=True)


def unlabelled_loader(waves: Tensor, batch_size: int, seed: int) -> DataLoader:
    """Shuffled batches of waveforms ``[B, 1, L]`` alone: the contrastive stream never sees a label."""
    return DataLoader(waves, batch_size=batch_size, shuffle=True, drop_last=True,
                      generator=torch.Generator().manual_seed(seed + 1))


# --------------------------------------------------------------------------------------------------
# The recipes
# --------------------------------------------------------------------------------------------------


class _CLARRecipe:
    """Shared set-up of the three recipes; ``fit`` says which streams and stages a method uses."""

    Config = CLARConfig

    def run(self, config: CLARConfig, data: Any, seed: int, workdir: Path) -> dict[str, float]:
        workdir = Path(workdir)
        events = load_events(config, data, seed)
        labelled = labelled_indices(events.train, config.label_fraction, seed)
        steps = len(events.train_waves) // config.batch_size
        if steps == 0:
            raise ValueError(f"{len(events.train_waves)} training events make no batch of {config.batch_size}")
        streams = {
            "labelled": labelled_loader(events.train_waves[labelled], events.train_labels[labelled],
                                        config.batch_size, steps, seed),
            "unlabelled": unlabelled_loader(events.train_waves, config.batch_size, seed),
        }
        torch.manual_seed(seed)  # the network's initial weights
        network = build_network(config, len(events.classes))
        objective = CLARObjective(network, clar_augmentation(config.augmentations, config.sample_rate),
                                  config.temperature, config.contrastive_weight)
        val_loader = DataLoader(TensorDataset(events.val_waves, events.val_labels), batch_size=2 * config.batch_size)
        score = common.score_function("sprsound", config.task)

        def fit(stream_names: tuple[str, ...], train: TrainConfig, checkpoint_dir: Path, evaluate: bool) -> History:
            trainer = Trainer(objective, replace(train, seed=seed), checkpoint_dir=checkpoint_dir, progress=False)
            return trainer.fit(Streams(**{name: streams[name] for name in stream_names}),
                               common.evaluator(network, val_loader, score, trainer.device) if evaluate else None)

        histories = self.fit(config, data, seed, workdir, fit)
        (workdir / HISTORY_FILE).write_text(json.dumps({stage: h.to_dict() for stage, h in histories.items()}))
        held_out = predict(network, val_loader)
        np.savez(workdir / PREDICTIONS_FILE, y_true=held_out.y_true, y_pred=held_out.y_pred, scores=held_out.scores,
                 groups=events.val_groups, classes=np.array(events.classes))
        last = list(histories.values())[-1]
        for epoch, metrics in enumerate(last.eval):
            print(f"epoch {epoch + 1}/{len(last.eval)}: train loss {last.train[epoch]['loss']:.3f}, "
                  f"held-out score {metrics['score']:.3f}")
        return {**last.eval[-1], "labelled_events": float(len(labelled))}

    def fit(self, config: CLARConfig, data: Any, seed: int, workdir: Path, fit: Any) -> dict[str, History]:
        raise NotImplementedError


@register_recipe("clar.supervised")
class Supervised(_CLARRecipe):
    """CE only, on the labelled events (augmented as in the contrastive recipes)."""

    def fit(self, config, data, seed, workdir, fit):
        return {"train": fit(("labelled",), config.train, workdir, evaluate=True)}


@register_recipe("clar.joint")
class Joint(_CLARRecipe):
    """CLAR: CE on labelled events plus NT-Xent on all events, in every step."""

    def fit(self, config, data, seed, workdir, fit):
        return {"train": fit(("labelled", "unlabelled"), config.train, workdir, evaluate=True)}


@register_recipe("clar.pretrain_finetune")
class PretrainFinetune(_CLARRecipe):
    """NT-Xent pre-training on all events (no labels), then CE fine-tuning of every weight on labelled events."""

    def fit(self, config, data, seed, workdir, fit):
        shared = Path(workdir).parents[1] / f"clar-pretrain-{pretraining_key(config, data)[:12]}" / f"seed{seed}"
        return {
            "pretrain": fit(("unlabelled",), config.train, shared, evaluate=False),
            "finetune": fit(("labelled",), config.finetune, Path(workdir) / "finetune", evaluate=True),
        }


def pretraining_key(config: CLARConfig, data: Any) -> str:
    """A digest of everything the pre-training stage depends on (not the labels, not the fine-tuning)."""
    fields = dataclasses.asdict(config)
    for unused in ("label_fraction", "finetune", "contrastive_weight"):
        fields.pop(unused)
    return config_hash({"config": fields, "data": data.describe()})


# --------------------------------------------------------------------------------------------------
# For the chapter
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifacts:
    """What one seed of a run saved beside its metrics.

    ``histories``: the training curves of each stage (``"train"``, or ``"pretrain"`` and ``"finetune"``);
    ``predictions``: on the held-out events; ``groups``: their patients (for a patient-wise bootstrap).
    """

    histories: dict[str, History]
    predictions: Predictions
    groups: np.ndarray
    classes: list[str]


def load_artifacts(results: Mapping[str, Any], seed: int = 0) -> Artifacts:
    """The histories and held-out predictions that seed ``seed`` of a ``clar.*`` run wrote into its work folder."""
    folder = work_folder(results, seed)
    if not (folder / HISTORY_FILE).is_file() or not (folder / PREDICTIONS_FILE).is_file():
        raise FileNotFoundError(f"{folder}: no {HISTORY_FILE} / {PREDICTIONS_FILE} beside the results file "
                                f"{results['path']} (run_experiment(..., reuse=False) trains again and rewrites them)")
    histories = {stage: History.from_dict(h) for stage, h in json.loads((folder / HISTORY_FILE).read_text()).items()}
    with np.load(folder / PREDICTIONS_FILE, allow_pickle=False) as saved:
        predictions = Predictions(y_true=saved["y_true"], y_pred=saved["y_pred"], scores=saved["scores"])
        return Artifacts(histories, predictions, saved["groups"], saved["classes"].tolist())


def patient_bootstrap(y_true: np.ndarray, predictions: Mapping[str, np.ndarray], groups: np.ndarray,
                      score: Any, n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """The score of each named prediction array over ``n`` resamples of the held-out *patients* (with replacement).

    Events of one patient are not independent, so patients, not events, are resampled. All predictions share
    each resample, which makes differences between them paired. Returns name -> ``[n]`` scores.
    """
    patients = np.unique(groups)
    members = [np.flatnonzero(groups == p) for p in patients]
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {name: [] for name in predictions}
    for _ in range(n):
        index = np.concatenate([members[i] for i in rng.integers(len(patients), size=len(patients))])
        for name, y_pred in predictions.items():
            out[name].append(score(y_true[index], y_pred[index])["score"])
    return {name: np.array(values) for name, values in out.items()}


def describe(results: Mapping[str, Any]) -> str:
    """A row label for a results table: method, label fraction and augmentations, e.g. ``joint, 10 % labels, fade+time_mask``."""
    config = results["config"]
    method = results["recipe"].removeprefix("clar.")
    return f"{method}, {config['label_fraction']:.0%} labels, {'+'.join(config['augmentations'])}"
