"""The setup every chapter runs first, and small display helpers for the book.

A chapter's first cell installs respkit on Colab when it is missing and then calls
:func:`setup_chapter`, which picks the run profile, seeds everything, locates the data and
prints one line saying what was chosen. Keeping this here, not in each notebook, means the
chapters cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

import respkit
from respkit.data.locate import DataSource, cache_dir, resolve_data
from respkit.profiles import Profile, seed_everything, select_device, select_profile


@dataclass(frozen=True)
class Session:
    """What a chapter runs with: profile, device, data, seed and where runs are stored."""

    chapter: str
    profile: Profile
    device: torch.device
    data: DataSource
    seed: int
    runs_dir: Path

    def __str__(self) -> str:
        hardware = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return (
            f"respkit {respkit.__version__} | {self.chapter} | profile {self.profile} | "
            f"device {self.device} ({hardware}) | seed {self.seed} | {self.data.notice}"
        )


def runs_dir() -> Path:
    """Where experiment results are written and reused (``$RESPKIT_RUNS``, else the user cache)."""
    return Path(os.environ.get("RESPKIT_RUNS", cache_dir() / "runs")).expanduser()


def setup_chapter(chapter: str, seed: int = 0, profile: str | None = None) -> Session:
    """Pick profile and device, seed everything, locate the data, and say so in one line."""
    session = Session(
        chapter=chapter,
        profile=select_profile(profile),
        device=select_device(),
        data=resolve_data(),
        seed=seed,
        runs_dir=runs_dir(),
    )
    seed_everything(seed)
    print(session)
    return session


def repository_root() -> Path | None:
    """The checkout this package was installed from, if any (where ``results/`` lives)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "results").is_dir() else None
