"""The setup every chapter runs first, and the recorded results the chapters show.

A chapter's first cell installs respkit where it is missing (Colab) and then calls
:func:`setup_chapter`, which picks the run profile, seeds everything, locates the data and
prints one line saying what was chosen. Keeping this here, not in each notebook, means the
chapters cannot drift apart (``tools/sync_notebooks.py`` writes that first cell).

Two guards protect a reader's time:

- on Colab, the setup says which of the chapter's datasets are real and, for each simulated one,
  how to get the real one (a one-line download with its size, or a Google Drive folder);
- the ``full`` profile (the papers' scale, GPU hours) never trains on simulated data unless asked
  for explicitly: chosen automatically it falls back to ``quick``, and requested by name it raises
  :class:`SimulatedDataError` (opt in with ``allow_simulated_full=True`` or
  ``RESPKIT_ALLOW_SIMULATED_FULL=1``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import respkit
from respkit.data.locate import DataSource, resolve_data
from respkit.experiments import load_results
from respkit.files import cache_dir
from respkit.profiles import Profile, configure_threads, seed_everything, select_device, select_profile

#: Results files of recorded runs, shipped inside the package so that every install can render them.
RECORDED_RESULTS = Path(__file__).resolve().parent / "results"
#: Set to 1 to let the ``full`` profile train on simulated data (the same as ``allow_simulated_full=True``).
ALLOW_SIMULATED_FULL_ENV = "RESPKIT_ALLOW_SIMULATED_FULL"
#: What each download costs, said before a reader starts one.
#: How the prose names each registered dataset.
DATASET_NAMES = {"sprsound": "SPRSound", "icbhi": "ICBHI"}
DOWNLOAD_SIZES = {
    "icbhi": "about 1.2 GB",
    "sprsound": "about 0.5 GB on disk, from a larger archive",  # GitHub's zip of the whole repository
}
#: Where the setup suggests keeping the data on Google Drive, so that it outlives the Colab runtime.
DRIVE_DATA = "/content/drive/MyDrive/respkit-data"


class SimulatedDataError(RuntimeError):
    """The ``full`` profile was requested while a dataset the chapter trains on is simulated."""


@dataclass(frozen=True)
class Session:
    """What a chapter runs with: profile, device, data, seed and where runs are stored."""

    chapter: str
    profile: Profile
    device: torch.device
    data: DataSource
    seed: int
    runs_dir: Path
    datasets: tuple[str, ...] = ("icbhi", "sprsound")  # the ones the chapter uses: its setup line names these
    started: float = field(default_factory=time.perf_counter, compare=False)

    def finish(self) -> None:
        """Print how long the chapter took on this machine (the last line of every chapter)."""
        minutes, seconds = divmod(time.perf_counter() - self.started, 60)
        took = f"{int(minutes)} min {seconds:.0f} s on {platform_summary(self.device)}"
        print(f"{self.chapter}:\n{took}, profile {self.profile}")

    #: Seeds of each chapter's headline comparison: enough for a mean ± std in every profile.
    seeds = (0, 1, 2)

    def caveat(self, datasets: Sequence[str] = ("sprsound",)) -> Any:
        """A warning box to show above results read on simulated data or trained in the small ``quick`` profile."""
        simulated = [name for name in datasets if getattr(self.data, name).simulated]
        lines = []
        if simulated:
            lines.append(
                f"These results come from **simulated** {' and '.join(DATASET_NAMES.get(n, n) for n in simulated)} "
                "data (respkit's simulator), "
                "not from recordings: they show that the method runs and what it does on sounds "
                "whose difficulty is known, not how it does on patients."
            )
        if self.profile == "quick":
            lines.append(
                "The **quick** profile trains small models for minutes on a CPU: compare methods "
                "with each other, not with the papers' numbers."
            )
        if not lines:
            return None
        from IPython.display import Markdown  # a notebook's, not the library's, dependency

        return Markdown(":::{admonition} Read these numbers with care\n:class: warning\n" + " ".join(lines) + "\n:::")

    def __str__(self) -> str:
        return (  # three short lines: a notebook's output does not wrap
            f"respkit {respkit.__version__} | {self.chapter}\n"
            f"profile {self.profile} | device {platform_summary(self.device)} | seed {self.seed}\n"
            f"{self.data.notice_for(self.datasets)}"
        )


def platform_summary(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU with its core count."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({os.cpu_count()} cores)"


def runs_dir() -> Path:
    """Where experiment results are written and reused (``$RESPKIT_RUNS``, else the user cache)."""
    return Path(os.environ.get("RESPKIT_RUNS", cache_dir() / "runs")).expanduser()


def on_colab() -> bool:
    """Whether this kernel runs on Google Colab (its kernel imports ``google.colab``; its runtime sets
    ``COLAB_RELEASE_TAG``)."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def setup_chapter(
    chapter: str,
    seed: int = 0,
    profile: str | None = None,
    *,
    datasets: Sequence[str] = ("icbhi", "sprsound"),
    allow_simulated_full: bool = False,
) -> Session:
    """Pick profile and device, seed everything, locate the data, and say so in one line.

    Args:
        chapter: the title printed in the setup line and at the end.
        seed: seeds Python, NumPy and torch.
        profile: ``"quick"`` or ``"full"``; default ``RESPKIT_PROFILE``, else by hardware.
        datasets: the datasets the chapter trains on; only these decide whether ``full`` may run.
        allow_simulated_full: let ``full`` train on simulated data (also ``RESPKIT_ALLOW_SIMULATED_FULL=1``).

    Raises:
        SimulatedDataError: ``full`` requested by name while one of ``datasets`` is simulated, without
            the opt-in. The message says how to get the data.
    """
    data = resolve_data()
    simulated = [name for name in datasets if getattr(data, name).simulated]
    chosen, fallback = choose_profile(profile, simulated, allow_simulated_full)
    session = Session(
        chapter=chapter,
        profile=chosen,
        device=select_device(),
        data=data,
        seed=seed,
        runs_dir=runs_dir(),
        datasets=tuple(datasets),
    )
    configure_threads(session.profile, session.device)
    seed_everything(seed)
    print(session)
    if fallback:
        print(f"profile quick, not full: {fallback}")
    if simulated and (fallback or on_colab()):
        print(how_to_get_data(simulated))
    return session


def choose_profile(
    profile: str | None, simulated: Sequence[str], allow_simulated_full: bool = False
) -> tuple[Profile, str]:
    """The profile to run, and why ``full`` was turned down ("" when it was not).

    ``full`` on simulated data is hours of GPU time that teach nothing about real lungs, so it needs an
    explicit opt-in. Picked by hardware it falls back to ``quick`` (the reason is returned, to be said); asked
    for by name (argument or ``RESPKIT_PROFILE``) it raises :class:`SimulatedDataError`.
    """
    chosen = select_profile(profile)
    allowed = allow_simulated_full or os.environ.get(ALLOW_SIMULATED_FULL_ENV, "") not in ("", "0")
    if chosen != "full" or not simulated or allowed:
        return chosen, ""
    reason = (
        f"{' and '.join(simulated)} would be simulated, and the full profile trains at the papers' scale "
        f"(GPU hours) on real data only"
    )
    if profile or os.environ.get("RESPKIT_PROFILE"):
        raise SimulatedDataError(
            f"profile full was requested, but {reason}. Get the data, or choose profile='quick', or opt in with "
            f"allow_simulated_full=True ({ALLOW_SIMULATED_FULL_ENV}=1).\n{how_to_get_data(simulated)}"
        )
    return "quick", reason


def how_to_get_data(names: Sequence[str]) -> str:
    """For each missing dataset, the one-line download and its size; then the same into Google Drive."""
    from respkit.data.registry import get_dataset  # the registry knows each dataset's downloader

    downloads, hints = [], []
    for name in names:
        download = get_dataset(name).download
        if download is None:
            hints.append(f"  # {name}: {get_dataset(name).how_to_get()}")
        else:
            downloads.append((name, f"from {download.__module__} import {download.__name__}", download.__name__))
    lines = ["To use the real data, run these lines in a new cell, then run the setup cell again:", *hints]
    for name, line, call in downloads:
        lines.append(f"  {f'{line}; {call}()':72s} # {name}, {DOWNLOAD_SIZES.get(name, 'size unknown')}")
    lines += [
        "The download stays on this runtime's disk and goes with it. To keep it, download into Google Drive:",
        '  from google.colab import drive; drive.mount("/content/drive")',
        f'  import os; os.environ["RESPKIT_DATA"] = "{DRIVE_DATA}"',
        *(f'  {line}; {call}(os.environ["RESPKIT_DATA"])' for _, line, call in downloads),
        "and in later sessions run only the first two lines. A data folder holds icbhi/ and sprsound/ (README, Data).",
    ]
    return "\n".join(lines)


def recorded_results(pattern: str = "*") -> list[dict]:
    """Results files of recorded runs (:data:`RECORDED_RESULTS`) whose names match ``pattern`` (glob).

    They ship as package data, so a pip or Colab install renders the same tables as the published book.
    """

    return [load_results(path) for path in sorted(RECORDED_RESULTS.glob(f"{pattern}.json"))]
