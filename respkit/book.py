"""The setup every chapter runs first, and small display helpers for the book.

A chapter's first cell installs respkit on Colab when it is missing and then calls
:func:`setup_chapter`, which picks the run profile, seeds everything, locates the data and
prints one line saying what was chosen. Keeping this here, not in each notebook, means the
chapters cannot drift apart.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
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
    started: float = field(default_factory=time.perf_counter, compare=False)

    def finish(self) -> None:
        """Print how long the chapter took on this machine (the last line of every chapter)."""
        minutes, seconds = divmod(time.perf_counter() - self.started, 60)
        print(f"{self.chapter}: {int(minutes)} min {seconds:.0f} s on {platform_summary(self.device)}, profile {self.profile}")

    def __str__(self) -> str:
        return (
            f"respkit {respkit.__version__} | {self.chapter} | profile {self.profile} | "
            f"device {platform_summary(self.device)} | seed {self.seed} | {self.data.notice}"
        )


def platform_summary(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU with its core count."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({os.cpu_count()} cores)"


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


def recorded_results(pattern: str = "*") -> list[dict]:
    """Results files of recorded runs committed under ``results/`` whose names match ``pattern`` (glob).

    Empty outside a checkout (a pip-installed respkit has no ``results/``).
    """
    from respkit.experiments import load_results  # imported here: experiments imports the recipes

    root = repository_root()
    if root is None:
        return []
    return [load_results(path) for path in sorted((root / "results").glob(f"{pattern}.json"))]
