"""Where the data lives: one rule for the library, the book and the tests.

For each dataset, in this order:

1. ``$RESPKIT_DATA`` — a folder holding ``icbhi/`` (the official ICBHI layout) and/or
   ``sprsound/BioCAS2022/`` (the official SPRSound layout);
2. the user cache, :func:`respkit.files.data_dir` (``$RESPKIT_CACHE/data``, default ``~/.cache/respkit/data``),
   where :mod:`respkit.data.download` puts the official releases;
3. the built-in simulator (:mod:`respkit.data.synthetic`), which writes the same two layouts once
   into :func:`respkit.files.simulator_dir`, so the real loaders read it unchanged.

The datasets, the folder that marks each one's layout, its simulator and downloader come from the
registry (:mod:`respkit.data.registry`): nothing here names a dataset.

The choice is always said aloud (:attr:`DataSource.notice`): a chapter never trains on simulated
sounds without telling its reader.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from respkit.data.registry import DATASETS, DatasetSpec
from respkit.files import data_dir, simulator_dir

Origin = Literal["RESPKIT_DATA", "cache", "simulator"]


@dataclass(frozen=True)
class DatasetLocation:
    """One dataset's root folder and where it came from."""

    name: str  # a registered dataset: "icbhi", "sprsound", ...
    root: Path
    origin: Origin

    @property
    def simulated(self) -> bool:
        return self.origin == "simulator"

    def describe(self) -> str:
        """One phrase for a notice: name, real or simulated, and where it came from (not the machine's path)."""
        kind = "simulated" if self.simulated else "real"
        return f"{self.name} {kind} (from {self.origin})"


class DataSource:
    """The datasets a chapter may use, each real or simulated: ``data.icbhi.root``, ``data.sprsound.root``.

    Built with one keyword per dataset, ``DataSource(icbhi=DatasetLocation(...), sprsound=...)``.
    """

    def __init__(self, **locations: DatasetLocation) -> None:
        self.locations = dict(locations)

    def __getattr__(self, name: str) -> DatasetLocation:
        # Through __dict__: unpickling and copying look up attributes before __init__ has run.
        locations = self.__dict__.get("locations", {})
        if name in locations:
            return locations[name]
        if name.startswith("__") or name not in DATASETS:
            raise AttributeError(f"{type(self).__name__} has no dataset {name!r}; it holds {', '.join(locations)}")
        raise AttributeError(f"no {name} data found: {DATASETS[name].how_to_get()}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataSource) and self.locations == other.locations

    def __repr__(self) -> str:
        return f"DataSource({', '.join(f'{name}={loc!r}' for name, loc in self.locations.items())})"

    @property
    def notice(self) -> str:
        return self.notice_for(self.locations)

    def notice_for(self, names: Iterable[str]) -> str:
        """The notice for some of the datasets: the ones a chapter uses."""
        return "data: " + "; ".join(self.locations[name].describe() for name in names if name in self.locations)

    def describe(self) -> dict:
        """A JSON-ready description, stored in every results file."""
        return {
            loc.name: {"root": str(loc.root), "origin": loc.origin, "simulated": loc.simulated}
            for loc in self.locations.values()
        }


def _find(spec: DatasetSpec) -> DatasetLocation | None:
    candidates: list[tuple[Origin, Path]] = []
    if os.environ.get("RESPKIT_DATA"):
        candidates.append(("RESPKIT_DATA", Path(os.environ["RESPKIT_DATA"]).expanduser() / spec.name))
    candidates.append(("cache", data_dir() / spec.name))
    for origin, root in candidates:
        if (root / spec.marker).is_dir():
            return DatasetLocation(spec.name, root.resolve(), origin)
    return None


def simulated_root(seed: int = 0) -> Path:
    """The folder of the simulator's default datasets (written on first use), named by its version and seed.

    The version is the simulator's one number, ``SIMULATOR_VERSION``, also stored in every manifest: bumping
    it moves to a new folder, so an old simulated folder is never reused.
    """
    # Imported here, as the simulator is only needed without real data; its version is read at call time.
    from respkit.data.synthetic import sounds

    return simulator_dir() / f"v{sounds.SIMULATOR_VERSION}-seed{seed}"


def _simulate(spec: DatasetSpec, seed: int = 0) -> DatasetLocation:
    """The simulated dataset, written first if no complete one is there.

    It is written into a private folder beside its place and renamed into it when complete: two
    processes starting at once (chapters executed side by side) never read a half-written dataset, and
    an interrupted run leaves nothing that looks finished.
    """
    if spec.simulate is None:
        raise ValueError(f"{spec.name} has no simulator: {spec.how_to_get()}")
    root = simulated_root(seed) / spec.name
    if not _simulation_complete(spec, root):
        from respkit.profiles import show_progress

        # The command line shows progress: a minute of silence before the first epoch reads as a hang.
        started = time.perf_counter()
        if show_progress():
            print(f"no {spec.name} data found: the simulator writes it once into {root} ...", file=sys.stderr)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=root.parent))
        try:
            spec.simulate(staging, seed=seed)
            if root.exists() and not _simulation_complete(spec, root):
                shutil.rmtree(root)  # an interrupted run's folder, written in place by an older respkit
            try:
                staging.rename(root)
            except OSError:  # another process put its complete copy there first: the same bytes
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if show_progress():
            print(f"simulated {spec.name} written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return DatasetLocation(spec.name, root.resolve(), "simulator")


def _simulation_complete(spec: DatasetSpec, root: Path) -> bool:
    """Whether ``root`` holds the dataset's layout, and its manifest, if it has one, says it was finished."""
    from respkit.data.synthetic import MANIFEST

    if not (root / spec.marker).is_dir():
        return False
    try:
        return json.loads((root / MANIFEST).read_text()).get("complete") is True
    except FileNotFoundError:  # a simulator that writes no manifest
        return True
    except (OSError, ValueError):
        return False


def would_simulate(name: str) -> bool:
    """Whether dataset ``name`` would come from the simulator (neither ``$RESPKIT_DATA`` nor the cache has it),
    decided without writing anything."""
    return _find(DATASETS[name]) is None


def resolve_data(simulate_missing: bool = True) -> DataSource:
    """Locate every registered dataset (ICBHI, SPRSound, ...); fall back to the simulator for those missing.

    With ``simulate_missing=False`` a missing dataset raises :class:`FileNotFoundError` with
    instructions instead. A missing dataset without a simulator is left out; asking the result for it
    says how to get it.
    """
    found = {}
    for spec in DATASETS.values():
        location = _find(spec)
        if location is None:
            if not simulate_missing:
                raise FileNotFoundError(f"no {spec.name} data found: {spec.how_to_get()}")
            if spec.simulate is None:
                continue
            location = _simulate(spec)
        found[spec.name] = location
    return DataSource(**found)
