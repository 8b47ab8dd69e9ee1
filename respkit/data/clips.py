"""Fixed-length clips of variable-length features, as Hu et al. (BioCAS 2023) feed their ResNet.

Events and records of SPRSound last from a fraction of a second to 15 s. Training draws a random window
of the wanted length (a shorter item lands at a random offset among zeros) and flips it in time with
probability 0.5; evaluation cuts deterministically (the centre, or the item centred among zeros), which
is one of the fixes to the paper's public code (it cut evaluation clips at random too).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from respkit.augment import RandomCrop, RandomTimeFlip
from respkit.data.audio import fix_length
from respkit.data.windows import POOR_QUALITY, WINDOW_LABELS, window_label, window_starts


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


class RecordWindows(Dataset):
    """The windows of whole records, cut as :func:`respkit.inference.decide_records` cuts them, each labelled
    by the events it overlaps (:func:`respkit.data.windows.window_label`; every window of a Poor Quality record
    is Poor Quality). Items are ``(transform(window), label)`` with labels from :data:`WINDOW_LABELS`.

    This is what the window model of ``supcon.windows`` learns from (ours). The paper trains it on events,
    cut at their annotated boundaries and placed among zeros, and then classifies windows that are cut at
    fixed times and hold no zeros. On real records such a model called most windows of abnormal records Normal
    or Poor Quality (zeros had told an event from a record); filling events with the sound around them instead
    made it call most Normal records DAS. Windows of the training records, labelled from the same annotations,
    are what the model will be shown. Each window's features are computed once and kept.

    ``records``: a record-level dataset of waveforms (``transform=None``) with SPRSound ``meta``; ``events``:
    the annotated events (``SPRSoundItem``) of those records; ``window`` and ``step`` in samples.
    """

    def __init__(self, records: Any, events: Sequence[Any], *, window: int, step: int, transform: nn.Module) -> None:
        by_record = defaultdict(list)
        for event in events:
            by_record[event.record].append(event)
        self.records, self.window, self.transform = records, window, transform
        self.classes, self.sample_rate = WINDOW_LABELS, records.sample_rate
        self.cuts: list[tuple[int, int]] = []  # (record index, first sample)
        self.meta, labels, groups = [], [], []
        ms_per_sample = 1000 / records.sample_rate
        for i, record in enumerate(records.meta):
            samples = records[i][0].shape[-1]
            poor_quality = records.classes[int(records.labels[i])] == POOR_QUALITY
            for start in window_starts(samples, window, step):
                start_ms, end_ms = start * ms_per_sample, min(start + window, samples) * ms_per_sample
                name = POOR_QUALITY if poor_quality else window_label(by_record[record.record], start_ms, end_ms)
                self.cuts.append((i, start))
                self.meta.append(dataclasses.replace(record, annotation=name, start_ms=start_ms, end_ms=end_ms))
                labels.append(WINDOW_LABELS.index(name))
                groups.append(records.groups[i])
        self.labels, self.groups = np.array(labels, dtype=np.int64), np.array(groups)
        self._features: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.cuts)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int]:
        if k not in self._features:
            i, start = self.cuts[k]
            self._features[k] = self.transform(self.records[i][0][..., start : start + self.window])
        return self._features[k], int(self.labels[k])
