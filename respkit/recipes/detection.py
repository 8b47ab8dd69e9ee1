"""Chapter 7: where each adventitious sound starts and ends (SPRSound, the challenge's task since BioCAS 2024).

``detection.crnn`` trains a CRNN (:mod:`respkit.models.crnn`) on log-mel frames of whole SPRSound recordings
with frame-wise binary cross-entropy (:class:`respkit.train.detection.FrameBCE`), one target per class and
frame from the annotated events (class set ``cas_das`` by default: CAS and DAS, as the record labels group
the six types). The patients are the record-level chapters' (task 2-1, :func:`respkit.recipes.common.splits`):

* ``train``: the training patients, 8 s random windows of their recordings;
* ``valid``: validation patients drawn from the training side (``valid_fraction``), whole recordings: they
  choose every post-processing setting (a threshold and a median window per class) and the energy floor's
  margin and class (:mod:`respkit.detection.tuning`); the weights are the last epoch's;
* ``val`` (held-out patients) and the official test slices ``inter`` and ``intra``, whole recordings,
  scored once with the settings chosen.

Metrics, per scored split (plain for ``val``, prefixed ``inter_``/``intra_`` for the test sets):
``event_f`` and ``event_er`` (the challenge's ranking metrics: a 0.2 s onset collar, offsets within
``max(0.2 s, half the event)``; its README states no tolerance, so these are DCASE's), ``segment_f`` and
``segment_er`` (1 s segments), per class ``event_f/<class>``, and the same overall numbers of the two floors,
``baseline_energy/event_f``... and ``baseline_everywhere/event_f``..., scored by the same code on the same
recordings. The runner's classification metrics (``score``, ``floor``, ``pred_classes``) score a by-product,
each recording called Adventitious when the detector finds any event in it (task 2-1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from respkit.detection.baselines import event_everywhere
from respkit.detection.dataset import RecordingFrames
from respkit.detection.targets import Event, detection_classes
from respkit.detection.tuning import PostProcessing, choose_energy, choose_postprocess, detection_scores
from respkit.models import create_model
from respkit.recipes import common, register_recipe
from respkit.recipes.base import Evaluation, Recipe, RecipeConfig, Stage
from respkit.recipes.baseline import LogMelConfig
from respkit.train import TrainConfig
from respkit.train.detection import FrameBCE
from respkit.train.evaluate import Predictions

BASELINE_KEYS = ("event_f", "event_er", "event_precision", "event_recall", "segment_f", "segment_er")


@dataclass(frozen=True)
class DetectionConfig(RecipeConfig):
    """``detection.crnn``: a CRNN on 64-band log-mel at a 20 ms hop, 8 s training windows, CAS and DAS.

    ``min_gap`` and ``min_length`` (seconds) clean every detector's output alike, the floors' included.
    """

    task: str | None = "2-1"  # whole records, split as the record-level chapters split them
    valid_fraction: float = 0.2
    class_set: str = "cas_das"
    sample_rate: int = 8000
    features: LogMelConfig = field(default_factory=lambda: LogMelConfig(n_fft=512, hop_length=160, n_mels=64))
    clip: float = 8.0
    breaths: bool = True  # train an extra row on every annotated breath (respkit.detection.dataset.BREATH)
    widths: tuple[int, ...] = (32, 64, 64)
    pools: tuple[int, ...] = (4, 4, 2)
    hidden: int = 64
    rnn_layers: int = 2
    drop_rate: float = 0.2
    pos_weight: float = 2.0
    min_gap: float = 0.1
    min_length: float = 0.1
    er_weight: float = 1.0  # settings maximise event F - er_weight * ER on validation patients (detection.tuning)
    batch_size: int = 16
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=60, lr=1e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=2)
    )

    @property
    def hop(self) -> float:
        """Seconds between feature frames, the frame grid of the targets."""
        return self.features.hop_length / self.sample_rate

    @classmethod
    def quick(cls) -> DetectionConfig:
        # A couple of CPU-minutes: a narrower CRNN on 32 bands, 30 epochs of at most 15 steps of 16 windows of 8 s,
        # drawn from all training recordings (the simulator's 150 give 9 steps an epoch).
        return cls(
            features=LogMelConfig(n_fft=512, hop_length=160, n_mels=32),
            widths=(16, 32, 32),
            pools=(4, 4, 2),
            hidden=32,
            rnn_layers=1,
            train=TrainConfig(
                epochs=30, lr=3e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1, max_steps_per_epoch=15
            ),
        )

    @classmethod
    def cpu(cls) -> DetectionConfig:
        # The quick network, a window of every training recording in each of 30 epochs (78 steps each): about
        # 7 CPU-minutes a seed (20 epochs took 4.4 and left the loss still falling).
        return cls.quick().replace(
            train=TrainConfig(epochs=30, lr=3e-3, optimizer="adamw", weight_decay=1e-2, warmup_epochs=1)
        )


@dataclass
class DetectionSplits(common.Splits):
    """The record-level splits, plus per split its recordings as detection examples (``frames``) and as
    waveforms (``audio``, for the energy floor and the durations that segment scores need)."""

    frames: dict[str, RecordingFrames] = field(default_factory=dict)
    audio: dict[str, Any] = field(default_factory=dict)


@register_recipe("detection.crnn")
class CRNNDetection(Recipe):
    """A CRNN on whole recordings, frame-wise BCE; event F and ER on held-out patients beside two floors."""

    Config = DetectionConfig
    keep_weights = True  # the chapter draws a recording's probabilities with the trained model

    def data(self, config: DetectionConfig, data: Any) -> DetectionSplits:
        features = config.features.build(config.sample_rate)
        s = common.splits(data, config, transform=features, duration=None)
        waves = common.splits(data, config, duration=None)  # the same items (the split reads split_seed alone)
        named = {"train": s.train, "valid": s.valid, **s.scored()}
        audio = {"valid": waves.valid, **waves.scored()}
        clip = round(config.clip / config.hop)
        frames = {
            split: RecordingFrames(ds, config.class_set, config.hop, clip_frames=clip, breaths=config.breaths)
            if split == "train"
            else RecordingFrames(ds, config.class_set, config.hop)
            for split, ds in named.items()
        }
        return DetectionSplits(s.train, s.val, s.tests, s.valid, frames=frames, audio=audio)

    def model(self, config: DetectionConfig, splits: DetectionSplits) -> nn.Module:
        return create_model(
            "crnn",
            num_classes=len(detection_classes(config.class_set)) + int(config.breaths),
            n_mels=config.features.n_mels,
            widths=config.widths,
            pools=config.pools,
            hidden=config.hidden,
            rnn_layers=config.rnn_layers,
            drop_rate=config.drop_rate,
        )

    def stages(self, config: DetectionConfig, splits: DetectionSplits, model: nn.Module) -> Iterator[Stage]:
        loader = common.train_loader(splits.frames["train"], config)
        yield Stage("train", FrameBCE(model, config.pos_weight), loader, config.train)

    def eval_loaders(self, config: DetectionConfig, splits: DetectionSplits) -> dict[str, DataLoader]:
        # One whole recording per batch: lengths differ, and the CRNN takes any length.
        names = ["valid", *splits.scored()]
        return {
            split: DataLoader(splits.frames[split], batch_size=1, num_workers=config.num_workers) for split in names
        }

    def evaluate(
        self,
        config: DetectionConfig,
        splits: DetectionSplits,
        model: nn.Module,
        loaders: Mapping[str, DataLoader],
        device: Any,
    ) -> Evaluation:
        classes, hop = detection_classes(config.class_set), config.hop
        probabilities = {  # the scored rows only: [C, T_i] per recording
            split: [p[: len(classes)] for p in frame_probabilities(model, loader, device)]
            for split, loader in loaders.items()
        }
        gap, shortest = round(config.min_gap / hop), round(config.min_length / hop)
        waves = {split: [w for w, _ in ds] for split, ds in splits.audio.items()}  # [1, samples] each
        valid_events = splits.frames["valid"].events
        post = choose_postprocess(
            probabilities["valid"],
            valid_events,
            classes,
            hop,
            min_gap=gap,
            min_length=shortest,
            er_weight=config.er_weight,
        )
        energy = choose_energy(
            waves["valid"],
            valid_events,
            classes,
            config.sample_rate,
            hop,
            min_gap=config.min_gap,
            min_length=config.min_length,
            er_weight=config.er_weight,
        )
        metrics = settings_metrics(post, classes) | {"baseline_energy/margin_db": energy.margin_db}
        predictions: dict[str, Predictions] = {}
        info: dict[str, Any] = {"settings": {"post": dataclasses.asdict(post), "energy": dataclasses.asdict(energy)}}
        for split in splits.scored():
            references = splits.frames[split].events
            durations = [w.shape[-1] / config.sample_rate for w in waves[split]]
            floors = {
                "energy": [
                    energy.events(w, config.sample_rate, hop, config.min_gap, config.min_length) for w in waves[split]
                ],
                "everywhere": [event_everywhere(d, classes) for d in durations],
            }
            detected = [post.events(p, classes, hop) for p in probabilities[split]]
            scores = detection_scores(references, detected, classes, durations)
            for name, estimates in floors.items():
                floor = detection_scores(references, estimates, classes, durations)
                scores |= {f"baseline_{name}/{k}": floor[k] for k in BASELINE_KEYS}
            prefix = "" if split == "val" else f"{split}_"
            metrics |= {prefix + key: value for key, value in scores.items()}
            predictions[split] = record_summary(splits.frames[split].labels, detected)
            info[split] = {
                "records": [m.record for m in splits.frames[split].meta],
                "detected": [[list(e) for e in events] for events in detected],
            }
        return Evaluation(
            predictions,
            groups={split: np.asarray(ds.groups) for split, ds in splits.scored().items()},
            info=info,
            metrics=metrics,
        )


@torch.no_grad()
def frame_probabilities(model: nn.Module, loader: DataLoader, device: Any = None) -> list[np.ndarray]:
    """Sigmoid frame probabilities ``[C, T_i]`` of each recording of a one-recording-per-batch loader."""
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for features, _ in loader:
        logits = model(features.to(device))  # [1, C, T]
        out.append(torch.sigmoid(logits[0]).float().cpu().numpy())
    return out


def record_summary(labels: np.ndarray, detected: list[list[Event]]) -> Predictions:
    """Task 2-1 decisions of the detector: Adventitious (1) where it found any event, else Normal (0).

    The runner scores them as it scores the classifiers of the other chapters; ``scores`` are the decisions
    one-hot over the three 2-1 classes (Poor Quality is never called).
    """
    y_pred = np.array([int(bool(events)) for events in detected], dtype=np.int64)
    return Predictions(np.asarray(labels), y_pred, np.eye(3, dtype=np.float32)[y_pred])


def settings_metrics(post: PostProcessing, classes: list[str]) -> dict[str, float]:
    """The settings chosen on validation patients, per class, for the results file."""
    return {f"threshold/{c}": t for c, t in zip(classes, post.thresholds)} | {
        f"median_window/{c}": float(w) for c, w in zip(classes, post.windows)
    }
