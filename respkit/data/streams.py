"""Several loaders read in step: each step gets one batch from every named loader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader


class Streams:
    """Zip named loaders into dict batches, ``{"labelled": ..., "unlabelled": ...}``; ``len`` is the shortest.

    Semi-supervised objectives (CLAR's CE on labelled events plus NT-Xent on all events) take one batch
    of each stream per optimiser step; the trainer sees one iterable with a length, as for any loader.
    """

    def __init__(self, **loaders: DataLoader) -> None:
        if not loaders:
            raise ValueError("Streams needs at least one loader")
        self.loaders = loaders

    def __len__(self) -> int:
        return min(len(loader) for loader in self.loaders.values())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batches in zip(*self.loaders.values()):
            yield dict(zip(self.loaders, batches))
