"""Where the data lives: one rule for the library, the book and the tests.

For each dataset, in this order:

1. ``$RESPKIT_DATA`` — a folder holding ``icbhi/`` (the official ICBHI layout) and/or
   ``sprsound/BioCAS2022/`` (the official SPRSound layout);
2. the user cache, ``$RESPKIT_CACHE/data`` (default ``~/.cache/respkit/data``), where
   :mod:`respkit.data.download` puts the official releases;
3. the built-in simulator (:mod:`respkit.data.synthetic`), which writes the same two layouts once
   into the cache, so the real loaders read it unchanged.

The choice is always said aloud (:attr:`DataSource.notice`): a chapter never trains on simulated
sounds without telling its reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Origin = Literal["RESPKIT_DATA", "cache", "simulator"]

#: Bump when the simulator's output changes, so that an old simulated folder is not reused.
SIMULATOR_VERSION = 1


def cache_dir() -> Path:
    """The user cache folder (``$RESPKIT_CACHE``, default ``~/.cache/respkit``)."""
    return Path(os.environ.get("RESPKIT_CACHE", Path.home() / ".cache" / "respkit")).expanduser()


@dataclass(frozen=True)
class DatasetLocation:
    """One dataset's root folder and where it came from."""

    name: str  # "icbhi" or "sprsound"
    root: Path
    origin: Origin

    @property
    def simulated(self) -> bool:
        return self.origin == "simulator"

    def describe(self) -> str:
        kind = "simulated" if self.simulated else "real"
        return f"{self.name} {kind} ({self.origin}: {self.root})"


@dataclass(frozen=True)
class DataSource:
    """The two datasets a chapter may use, each real or simulated."""

    icbhi: DatasetLocation
    sprsound: DatasetLocation

    @property
    def notice(self) -> str:
        return "data: " + "; ".join(loc.describe() for loc in (self.icbhi, self.sprsound))

    def describe(self) -> dict:
        """A JSON-ready description, stored in every results file."""
        return {
            loc.name: {"root": str(loc.root), "origin": loc.origin, "simulated": loc.simulated}
            for loc in (self.icbhi, self.sprsound)
        }


# What marks a folder as holding each dataset in its official layout.
_MARKERS = {"icbhi": Path("ICBHI_final_database"), "sprsound": Path("BioCAS2022")}


def _find(name: str) -> DatasetLocation | None:
    candidates: list[tuple[Origin, Path]] = []
    if os.environ.get("RESPKIT_DATA"):
        candidates.append(("RESPKIT_DATA", Path(os.environ["RESPKIT_DATA"]).expanduser() / name))
    candidates.append(("cache", cache_dir() / "data" / name))
    for origin, root in candidates:
        if (root / _MARKERS[name]).is_dir():
            return DatasetLocation(name, root.resolve(), origin)
    return None


def simulated_root(seed: int = 0) -> Path:
    """The folder of the simulator's default datasets (written on first use)."""
    return cache_dir() / "synthetic" / f"v{SIMULATOR_VERSION}-seed{seed}"


def _simulate(name: str, seed: int = 0) -> DatasetLocation:
    from respkit.data import synthetic  # imported lazily: only needed without real data

    root = simulated_root(seed) / name
    if not (root / _MARKERS[name]).is_dir():
        writer = synthetic.write_icbhi if name == "icbhi" else synthetic.write_sprsound
        writer(root, seed=seed)
    return DatasetLocation(name, root.resolve(), "simulator")


def resolve_data(simulate_missing: bool = True) -> DataSource:
    """Locate ICBHI and SPRSound; fall back to the simulator for whichever is missing.

    With ``simulate_missing=False`` a missing dataset raises :class:`FileNotFoundError`
    with instructions instead.
    """
    found = {}
    for name in ("icbhi", "sprsound"):
        location = _find(name)
        if location is None:
            if not simulate_missing:
                raise FileNotFoundError(
                    f"no {name} data found: set RESPKIT_DATA to a folder holding {name}/{_MARKERS[name]}, "
                    f"or download it with respkit.data.download.download_{name}()"
                )
            location = _simulate(name)
        found[name] = location
    return DataSource(**found)
