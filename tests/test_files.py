"""respkit.files: one environment variable places every folder; writes are all or nothing; one checksum."""

import hashlib
import os
from pathlib import Path

import pytest
import torch

from respkit import files


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("RESPKIT_CACHE", "RESPKIT_WEIGHTS", "RESPKIT_DATA"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_folders_live_under_the_user_cache(clean_env, tmp_path):
    clean_env.setenv("HOME", str(tmp_path))  # Path.home() reads HOME on POSIX
    root = tmp_path / ".cache" / "respkit"
    assert files.cache_dir() == root
    assert (files.data_dir(), files.features_dir(), files.simulator_dir(), files.weights_dir()) == (
        root / "data",
        root / "features",
        root / "synthetic",
        root / "weights",
    )


def test_respkit_cache_moves_every_folder_and_respkit_weights_only_the_weights(clean_env, tmp_path):
    clean_env.setenv("RESPKIT_CACHE", str(tmp_path / "c"))
    moved = [files.data_dir(), files.features_dir(), files.simulator_dir(), files.weights_dir()]
    assert moved == [tmp_path / "c" / name for name in ("data", "features", "synthetic", "weights")]
    clean_env.setenv("RESPKIT_WEIGHTS", str(tmp_path / "w"))
    assert files.weights_dir() == tmp_path / "w"
    assert files.data_dir() == tmp_path / "c" / "data"  # the others stay


def _leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert _leftovers(tmp_path, "results.json") == []  # the temporary file is gone

    def interrupted(tmp: Path) -> None:
        tmp.write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C is handled like any error
        files.atomic_write(target, interrupted)
    assert target.read_text() == "old" and _leftovers(tmp_path, "results.json") == []

    files.atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new" and _leftovers(tmp_path, "results.json") == []


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_write_creates_folders_and_files_with_the_umask_permissions(tmp_path, durable):
    target = tmp_path / "a" / "b" / "f.txt"
    old = os.umask(0o027)
    try:
        files.atomic_write(target, lambda tmp: tmp.write_text("x"), durable=durable)
    finally:
        os.umask(old)
    assert target.read_text() == "x"
    # 0o666 less the umask, as for any new file (a mkstemp temporary would have made it 0o600).
    assert target.stat().st_mode & 0o777 == 0o640


def test_atomic_save_round_trips(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 7}
    files.atomic_save(state, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 7


def test_sha256sum_matches_hashlib_across_chunks(tmp_path):
    data = bytes(range(256)) * 10_000 + b"tail"  # 2.4 MiB: more than two 1 MiB chunks, and a ragged end
    (tmp_path / "f").write_bytes(data)
    assert files.sha256sum(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert files.sha256sum(tmp_path / "empty") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
