"""Checkpoint files: safe loading and the random-number-generator states.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that it loads with
``torch.load(weights_only=True)``: no pickled code runs when a checkpoint is opened. That is why the
NumPy generator state is stored as a tensor rather than as NumPy's own tuple.

The trainer writes them with :func:`respkit.files.atomic_save`: the file is written beside its
destination, flushed to disk and moved over it with :func:`os.replace`, so a crash during a save leaves the
previous checkpoint intact, never half a file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU (the trainer moves the states to its device)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict[str, Any]:
    """The states of every global generator a training step may draw from."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        # the legacy tuple: (kind, keys [624], pos, has_gauss, gauss); numpy's stubs type its parts loosely
        "numpy": [np_kind, torch.from_numpy(np.asarray(np_keys, dtype=np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned. CUDA states are restored when the device count matches."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))  # a loaded checkpoint turns tuples into lists
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_kind, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
