"""Shared fixtures: where the real data is, and scratch folders.

Tests that need the real datasets read them from ``RESPKIT_DATA`` (CI sets it to ``../shared/data``)
and are skipped, with a reason, where it is not set.
"""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # small models; two threads on a busy 2-core machine wait on each other


@pytest.fixture(autouse=True)
def seeds_in_turn(monkeypatch):
    """Seeds train one after another in the tests (in this process, where they can be watched);
    tests of seeds in processes of their own set ``RESPKIT_SEED_PROCESSES`` themselves."""
    monkeypatch.setenv("RESPKIT_SEED_PROCESSES", "1")


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = os.environ.get("RESPKIT_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("RESPKIT_DATA does not point at the real data")
    return Path(root)


@pytest.fixture(scope="session")
def icbhi_root(real_data) -> Path:
    root = real_data / "icbhi"
    if not (root / "ICBHI_final_database").is_dir():
        pytest.skip(f"no ICBHI under {real_data}")
    return root


@pytest.fixture(scope="session")
def sprsound_root(real_data) -> Path:
    root = real_data / "sprsound"
    if not (root / "BioCAS2022").is_dir():
        pytest.skip(f"no SPRSound under {real_data}")
    return root


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """The simulator's default datasets in a private cache folder, written once per test module.

    Modules that need a smaller or differently shaped simulation define their own ``simulated``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RESPKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("RESPKIT_DATA", raising=False)
        from respkit.data.locate import resolve_data

        yield resolve_data()
