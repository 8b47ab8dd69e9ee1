"""Where respkit keeps its files, and how it writes them: one place for both.

**Where.** One environment variable, ``RESPKIT_CACHE`` (default ``~/.cache/respkit``), moves everything
respkit writes for itself; each kind of file has its folder under it:

- :func:`data_dir`, ``<cache>/data``: the official releases. :mod:`respkit.data.download` writes them there
  and :mod:`respkit.data.locate` looks there, so moving the cache moves both together;
- :func:`features_dir`, ``<cache>/features``: the on-disk feature cache (:mod:`respkit.data.cache`);
- :func:`simulator_dir`, ``<cache>/synthetic``: the simulator's default datasets, one sub-folder per
  simulator version and seed;
- :func:`weights_dir`, ``<cache>/weights``, or ``$RESPKIT_WEIGHTS`` when set: pretrained weight files
  (:mod:`respkit.models.pretrained`).

``RESPKIT_WEIGHTS`` is the one exception to "everything under the cache": weight files are large, shared
between projects and often kept on another disk, so they may live elsewhere on their own. ``RESPKIT_DATA``
is not a cache at all: it names a folder of real data that respkit only reads (see :mod:`respkit.data.locate`).
Every function reads the environment when it is called, so a test (or a notebook) that sets a variable
moves every folder at once.

**How.** A file respkit writes is either complete or absent, never half-written: :func:`atomic_write` writes
a temporary file beside the destination (same folder, hence same file system, so the final
:func:`os.replace` is one atomic rename), flushes it to disk, and only then moves it into place.
A crash, a full disk or a Ctrl-C leaves the previous file as it was. :func:`sha256sum` is respkit's
one file checksum.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

_CHUNK = 1 << 20  # 1 MiB: large enough that hashing is disk-bound, small enough to stay out of memory


def cache_dir() -> Path:
    """The root of respkit's own files: ``$RESPKIT_CACHE``, else ``~/.cache/respkit``."""
    return Path(os.environ.get("RESPKIT_CACHE") or Path.home() / ".cache" / "respkit").expanduser()


def data_dir() -> Path:
    """Where downloads put the official releases and where ``locate`` looks for them: ``<cache>/data``."""
    return cache_dir() / "data"


def features_dir() -> Path:
    """The on-disk feature cache: ``<cache>/features``."""
    return cache_dir() / "features"


def simulator_dir() -> Path:
    """The simulator's output: ``<cache>/synthetic`` (``locate`` adds a version-and-seed sub-folder)."""
    return cache_dir() / "synthetic"


def weights_dir() -> Path:
    """Pretrained weight files: ``$RESPKIT_WEIGHTS``, else ``<cache>/weights``."""
    root = os.environ.get("RESPKIT_WEIGHTS")
    return Path(root).expanduser() if root else cache_dir() / "weights"


def atomic_write(path: str | Path, write: Callable[[Path], object], *, durable: bool = True) -> None:
    """Call ``write(tmp)`` on a fresh temporary file beside ``path``, then move it onto ``path``: all or nothing.

    If ``write`` raises (anything, KeyboardInterrupt included) the temporary file is deleted and ``path``
    keeps its old content. With ``durable`` (the default) the data and the rename are flushed to disk
    (``fsync``), so a power cut after the call cannot leave an empty file under the new name; a cache
    whose entries are cheap to recompute may pass ``durable=False`` and skip the cost.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as for any new file
    # (tempfile.mkstemp would make every result private, 0o600). O_EXCL: never reuse a file.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)``, all or nothing (:func:`atomic_write`)."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def sha256sum(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as lower-case hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX only: Windows cannot open a folder this way)."""
    if os.name == "posix":
        _fsync(folder)
