"""What every respkit dataset shares: labels without audio, patient groups, a summary, the feature hook.

A subclass builds its item list from annotations alone in ``__init__`` (setting ``classes``, ``labels``,
``groups``, ``meta``) and implements two methods:

- ``_waveform(i)``: the item's waveform ``[1, samples]``; it calls ``self._recording(path)`` to decode
  whole recordings through a small LRU cache, so the many cycles of one recording decode it once;
- ``_source(i)``: a text naming the item's audio exactly (file, size, mtime, segment, recipe), which
  keys the feature cache.

Anything skipped or adjusted while building the list is counted in ``self.skipped`` (reason -> count)
and shows in ``summary()``. ``_audio_lengths(paths)`` gives each recording's duration for checking
annotations against, and leaves out, with a warning naming them, recordings holding NaN or infinite
samples, so that no such sample ever reaches a model.
"""

from __future__ import annotations

import warnings
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from torch.utils.data import Subset as _TorchSubset

from respkit.data.audio import NonFiniteAudioError, audio_info, load_audio
from respkit.data.cache import FeatureCache, cache_key, feature_key


class RespiratoryDataset(Dataset):
    """Base class: ``ds[i]`` is ``(waveform [1, samples] float32, label)`` or ``(transform(waveform), label)``."""

    classes: list[str]
    labels: np.ndarray  # [N] int64, from annotations only
    groups: np.ndarray  # [N] patient of each item
    meta: list[Any]  # one dataclass per item
    sample_rate: int

    def __init__(
        self,
        sample_rate: int,
        transform: nn.Module | None = None,
        cache: FeatureCache | None = None,
        recordings_in_memory: int = 8,
    ) -> None:
        self.sample_rate = sample_rate
        self.transform = transform
        self.cache = cache
        self.skipped: Counter[str] = Counter()
        self._lru: OrderedDict[Path, torch.Tensor] = OrderedDict()
        self._lru_size = recordings_in_memory
        # The feature config is fixed for the dataset's life: compute its text once.
        self._feature_key = feature_key(transform) if transform is not None and cache is not None else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        label = int(self.labels[i])
        if self.transform is None:
            return self._waveform(i), label
        if self.cache is None:
            return self.transform(self._waveform(i)), label
        transform, key = self.transform, cache_key(str(self._feature_key), self._source(i))
        return self.cache.get_or_compute(key, lambda: transform(self._waveform(i))), label

    def summary(self) -> str:
        """Items per class, patients, and what was skipped or adjusted, with reasons and counts."""
        lines = class_table(self._describe(), self.classes, self.labels, self.groups)
        if self.skipped:
            lines.append("  skipped or adjusted:")
            lines += [f"    {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        return "\n".join(lines)

    def _describe(self) -> str:
        return type(self).__name__

    # -- for subclasses ---------------------------------------------------------------------------
    def _waveform(self, i: int) -> torch.Tensor:
        raise NotImplementedError

    def _source(self, i: int) -> str:
        raise NotImplementedError

    def _audio_lengths(self, paths: Iterable[Path]) -> dict[Path, float]:
        """Each recording's duration in seconds, from its header; recordings with non-finite samples left out.

        PCM cannot store NaN or infinity, so only float files are decoded here (none in the official
        releases), through the recording cache so that serving the first items does not decode them
        again. A file with such samples is warned about by name, counted in ``summary()``, and has no
        entry in the result; ``load_audio`` still refuses one that changed after this check.
        """
        lengths, damaged = {}, []
        for path in sorted(set(paths)):
            info = audio_info(path)
            if info.is_float:
                try:
                    self._recording(path)
                except NonFiniteAudioError as err:
                    damaged.append(str(err))
                    continue
            lengths[path] = info.duration
        if damaged:
            warnings.warn(f"{len(damaged)} recording(s) left out:\n" + "\n".join(damaged), stacklevel=2)
            self.skipped["recordings with NaN or infinite samples"] += len(damaged)
        return lengths

    def _decode(self, path: Path) -> torch.Tensor:
        """The whole recording as the dataset wants it before cutting (override to add processing)."""
        return load_audio(path, self.sample_rate)

    def _recording(self, path: Path) -> torch.Tensor:
        """``_decode(path)`` through a small least-recently-used cache."""
        if path in self._lru:
            self._lru.move_to_end(path)
            return self._lru[path]
        wave = self._decode(path)
        self._lru[path] = wave
        if len(self._lru) > self._lru_size:
            self._lru.popitem(last=False)
        return wave


def file_source(path: Path) -> str:
    """Absolute path, size and mtime: enough to notice a file replaced under the cache."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def class_table(title: str, classes: list[str], labels: np.ndarray, groups: np.ndarray) -> list[str]:
    """Summary lines: the item and patient totals, then items per class."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    lines = [f"{title}: {len(labels)} items from {len(set(np.asarray(groups).tolist()))} patients"]
    return lines + [f"  {name}: {n}" for name, n in zip(classes, counts)]


class Subset(_TorchSubset):
    """A view on some items of a :class:`RespiratoryDataset` that keeps its classes, labels, groups, meta."""

    classes: list[str]
    sample_rate: int
    labels: np.ndarray
    groups: np.ndarray
    meta: list[Any]

    def __init__(self, dataset: RespiratoryDataset | Subset, indices: Sequence[int] | np.ndarray) -> None:
        # torch's stubs say Sequence[int]; an int64 array indexes the same way
        super().__init__(dataset, np.asarray(indices, dtype=np.int64))  # type: ignore[arg-type]
        self.classes = dataset.classes
        self.sample_rate = dataset.sample_rate
        self.labels = np.asarray(dataset.labels)[self.indices]
        self.groups = np.asarray(dataset.groups)[self.indices]
        self.meta = [dataset.meta[j] for j in self.indices]

    def summary(self) -> str:
        whole = len(self.dataset)  # type: ignore[arg-type]  # a RespiratoryDataset or Subset: both sized
        return "\n".join(class_table(f"subset of {whole} items", self.classes, self.labels, self.groups))
