"""Fixed-length clips of variable-length features, as Hu et al. (BioCAS 2023) feed their ResNet.

Events and records of SPRSound last from a fraction of a second to 15 s. Training draws a random window
of the wanted length (a shorter item lands at a random offset among zeros) and flips it in time with
probability 0.5; evaluation cuts deterministically (the centre, or the item centred among zeros), which
is one of the fixes to the paper's public code (it cut evaluation clips at random too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from respkit.augment import RandomCrop, RandomTimeFlip
from respkit.data.audio import fix_length
from respkit.inference import POOR_QUALITY, WINDOW_LABELS


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
    """Events labelled with their type, plus whole Normal and Poor Quality records (:data:`WINDOW_LABELS`).

    The window model of ``supcon.windows`` has to say when a window holds no usable sound; Poor Quality
    records list no events, so whole records (cut to a window by :class:`Clips`) teach that class. It also
    has to call a window of plain breathing Normal, and a window is not an event: it spans several breaths
    and pauses where a short event sits among zeros. Every window of a Normal record is a Normal window, so
    those records teach that class as it will be seen (the paper trains on events and Poor Quality only; on
    simulated data its window model called most windows of Normal records crackles). ``records`` must hold
    only records labelled Normal or Poor Quality, the two labels that hold for every window of a record.
    """

    def __init__(self, events: Any, records: Any) -> None:
        self.events, self.records = events, records
        self.classes, self.sample_rate = WINDOW_LABELS, events.sample_rate
        names = [records.classes[int(label)] for label in records.labels]
        other = sorted(set(names) - {"Normal", POOR_QUALITY})
        if other:
            raise ValueError(f"whole records teach only Normal and {POOR_QUALITY} windows; got records of {other}")
        record_labels = np.array([WINDOW_LABELS.index(name) for name in names], dtype=np.int64)
        self.labels = np.concatenate([np.asarray(events.labels), record_labels]).astype(np.int64)
        self.groups = np.concatenate([np.asarray(events.groups), np.asarray(records.groups)])
        self.meta = [*events.meta, *records.meta]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        n = len(self.events)
        x, _ = self.events[i] if i < n else self.records[i - n]
        return x, int(self.labels[i])
