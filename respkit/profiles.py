"""Run profiles: ``quick`` and ``cpu`` on a CPU, ``full`` on a GPU.

Every experiment comes in three sizes. ``full`` reproduces the paper's settings and needs a GPU;
``quick`` shrinks models, data and steps so that a chapter runs in minutes on a laptop and still
learns; ``cpu`` trains on the real data at a size a 2-core laptop finishes in about a quarter of an
hour per run (the benchmark chapter's results). The choice between ``quick`` and ``full`` is
automatic; ``RESPKIT_PROFILE`` (or an argument) overrides it, and ``cpu`` is only used when asked for.
"""

from __future__ import annotations

import os
import random
from typing import Literal

import numpy as np
import torch

Profile = Literal["quick", "cpu", "full"]
PROFILES: tuple[Profile, ...] = ("quick", "cpu", "full")


def select_profile(profile: str | None = None) -> Profile:
    """Return the profile to use: the argument, else ``RESPKIT_PROFILE``, else by hardware."""
    chosen = profile or os.environ.get("RESPKIT_PROFILE") or ("full" if torch.cuda.is_available() else "quick")
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}: choose one of {', '.join(PROFILES)} (RESPKIT_PROFILE)")
    return chosen


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the argument, else ``RESPKIT_DEVICE``, else CUDA when present."""
    name = device or os.environ.get("RESPKIT_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def show_progress() -> bool:
    """Whether long work shows tqdm progress bars on stderr: ``RESPKIT_PROGRESS=1``.

    The command line sets it, so that a run on the full training set says what it is doing; a notebook
    leaves it unset and keeps its outputs to one line per epoch at most.
    """
    return os.environ.get("RESPKIT_PROGRESS") == "1"


def configure_threads(profile: str, device: torch.device) -> int:
    """Torch's CPU threads for ``profile``: one for ``quick`` on a CPU, else torch's default; returns the count.

    The quick profile's models are small: a second thread gains little on them, and where anything else
    uses the other core (a notebook server, a build), threads that wait for each other at every operation
    made training steps ten to sixty times slower on a 2-core machine. ``RESPKIT_THREADS`` overrides it.
    """
    wanted = os.environ.get("RESPKIT_THREADS")
    if wanted is not None:
        torch.set_num_threads(int(wanted))
    elif profile == "quick" and device.type == "cpu":
        torch.set_num_threads(1)
    return torch.get_num_threads()


def seed_processes(profile: str, n_seeds: int) -> int:
    """How many seeds of an experiment train at once, each in a process of its own; 1: one after another.

    ``quick`` on a CPU trains on one thread (:func:`configure_threads`), so the other cores would sit idle:
    there the seeds spread over ``cores // threads`` processes, and a chapter's three seeds on two cores
    take about the time of two. Processes, not threads: they share nothing, so a seed's numbers are the
    same either way. On a GPU the seeds take turns. ``RESPKIT_SEED_PROCESSES`` overrides it.
    """
    wanted = os.environ.get("RESPKIT_SEED_PROCESSES")
    if wanted is not None:
        processes = int(wanted)
    elif profile == "quick" and select_device().type == "cpu":
        processes = (os.cpu_count() or 1) // torch.get_num_threads()
    else:
        processes = 1
    return max(1, min(processes, n_seeds))
