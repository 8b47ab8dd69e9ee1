"""Downloaders for the official ICBHI 2017 and SPRSound releases.

Both write into ``dest`` (default ``~/.cache/respkit/data``, where ``respkit.data.locate`` looks) in the
layout the loaders read: ``dest/icbhi/...`` and ``dest/sprsound/BioCAS2022/...``.

:func:`fetch` is the careful core:

- it streams into ``<file>.part`` and, when that exists from an interrupted run, asks the server for
  the rest (HTTP Range); a server that ignores Range sends everything and the file restarts;
- it checks the size (``Content-Length`` / ``Content-Range``, or a known size) and sha256 when known;
  a mismatch deletes the ``.part`` and raises;
- only a verified file is moved into place, with ``os.replace`` (atomic);
- a file already in place is never overwritten, and extraction skips files that exist;
- a network failure raises :class:`DownloadError` with the URL and what to do by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

DEFAULT_ROOT = Path.home() / ".cache" / "respkit" / "data"
ICBHI_BASE_URL = "https://bhichallenge.med.auth.gr/sites/default/files/ICBHI_final_database/"
ICBHI_ARCHIVE = "ICBHI_final_database.zip"
ICBHI_TABLES = ["ICBHI_challenge_train_test.txt", "ICBHI_Challenge_diagnosis.txt"]
ICBHI_OPTIONAL = ["ICBHI_Challenge_demographic_information.txt"]
ICBHI_RECORDINGS = 920
SPRSOUND_URL = "https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound/archive/refs/heads/main.zip"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or extraction that failed; the message says what to do by hand."""


def fetch(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    manual: str = "",
    context: ssl.SSLContext | None = None,
) -> Path:
    """Download ``url`` to ``dest`` with resume, verification and an atomic final move (module docstring).

    ``manual`` is appended to error messages: how to get the file by hand.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256 is not None and _sha256(dest) != sha256:
            raise DownloadError(f"{dest} exists but its sha256 is not {sha256}; it is left untouched, remove it to download again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            total = _receive(response, part, offset)
    except urllib.error.HTTPError as err:
        if not (err.code == 416 and offset):  # 416: nothing left past our offset, the .part is complete
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}. {manual}".strip()) from err
        total = None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        kept = f" The partial file {part} is kept; run again to resume." if part.exists() else ""
        raise DownloadError(f"could not download {url} ({reason}).{kept} {manual}".strip()) from err
    _verify(part, url, total=total, size=size, sha256=sha256)
    os.replace(part, dest)
    return dest


def extract_zip(archive: str | Path, dest: str | Path, rename: Callable[[str], str | None] = lambda name: name) -> int:
    """Extract ``archive`` under ``dest``; returns how many files were written.

    ``rename`` maps a member name to its path under ``dest``, or to None to leave it out. Files that
    already exist are kept as they are (never overwritten); each new file is written to a temporary name
    and moved into place, so an interrupted extraction leaves no half files. Members that would land
    outside ``dest`` are refused.
    """
    archive, dest = Path(archive), Path(dest).resolve()
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = None if info.is_dir() else rename(info.filename)
                if name is None:
                    continue
                target = (dest / name).resolve()
                if not target.is_relative_to(dest):
                    raise DownloadError(f"{archive}: member {info.filename!r} would be written outside {dest}")
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                with zf.open(info) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                os.replace(tmp, target)
                written += 1
    except zipfile.BadZipFile as err:
        raise DownloadError(f"{archive}: not a valid zip archive ({err}); delete it and download again") from err
    return written


def download_icbhi(dest: str | Path | None = None, base_url: str = ICBHI_BASE_URL, verify_tls: bool = True) -> Path:
    """Fetch ICBHI 2017 into ``dest/icbhi`` (about 1.2 GB); returns that folder.

    ``base_url`` may point at a mirror holding the same files. The official host's TLS certificate is
    often invalid: ``verify_tls=False`` accepts it anyway (the files are then unauthenticated).
    Free for research use; cite Rocha et al., Physiol. Meas. 40(3) 035001, 2019.
    """
    root = Path(dest or DEFAULT_ROOT) / "icbhi"
    manual = (
        f"To install by hand, download {base_url}{ICBHI_ARCHIVE} and the tables {', '.join(ICBHI_TABLES)} "
        f"from {base_url} (or a mirror), unzip the archive into {root} so that {root / 'ICBHI_final_database'} "
        f"holds the .wav and .txt files, and put the tables beside it."
    )
    context = None
    if not verify_tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    for name in ICBHI_TABLES + ICBHI_OPTIONAL:
        try:
            fetch(base_url + name, root / name, manual=manual, context=context)
        except DownloadError as err:
            if name not in ICBHI_OPTIONAL:
                raise
            warnings.warn(f"optional table not downloaded: {err}")
    database = root / "ICBHI_final_database"
    if database.is_dir() and len(list(database.glob("*.wav"))) >= ICBHI_RECORDINGS:
        return root
    archive = fetch(base_url + ICBHI_ARCHIVE, root / ICBHI_ARCHIVE, manual=manual, context=context)

    def into_database(name: str) -> str | None:
        if name.startswith("__MACOSX/"):
            return None
        return name if name.startswith("ICBHI_final_database/") else f"ICBHI_final_database/{name}"

    extract_zip(archive, root, into_database)
    archive.unlink()  # 1.2 GB that the extracted folder now holds
    return root


def download_sprsound(dest: str | Path | None = None, url: str = SPRSOUND_URL) -> Path:
    """Fetch the SPRSound repository archive and extract its ``BioCAS2022/`` folder into ``dest/sprsound``.

    Returns ``dest/sprsound``. Cite Zhang et al., IEEE TBioCAS 16(5), 2022.
    """
    root = Path(dest or DEFAULT_ROOT) / "sprsound"
    if (root / "BioCAS2022" / "train2022_json").is_dir():
        return root
    manual = (
        f"To install by hand, download {url} (or clone https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound) "
        f"and copy its BioCAS2022/ folder to {root / 'BioCAS2022'}."
    )
    archive = fetch(url, root / "SPRSound.zip", manual=manual)

    def release_only(name: str) -> str | None:
        # GitHub archives hold one top folder (SPRSound-main/); keep what lies under its BioCAS2022/.
        inner = name.split("/", 1)[-1]
        return inner if inner.startswith("BioCAS2022/") else None

    if extract_zip(archive, root, release_only) == 0 and not (root / "BioCAS2022").is_dir():
        raise DownloadError(f"{archive}: holds no BioCAS2022/ folder. {manual}")
    archive.unlink()
    return root


def _receive(response, part: Path, offset: int) -> int | None:
    """Append (HTTP 206) or rewrite (anything else) ``part`` from ``response``; returns the expected total size."""
    status = getattr(response, "status", None)
    content_range = response.headers.get("Content-Range", "")
    if status == 206 and content_range.startswith(f"bytes {offset}-"):
        mode, total = "ab", content_range.rsplit("/", 1)[-1]
    else:  # the server sent the whole file: start over
        mode, offset, total = "wb", 0, response.headers.get("Content-Length")
    total = int(total) if total and total.isdigit() else None
    with open(part, mode) as out, tqdm(
        total=total, initial=offset, unit="B", unit_scale=True, desc=part.name, disable=None
    ) as bar:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
    return total


def _verify(part: Path, url: str, *, total: int | None, size: int | None, sha256: str | None) -> None:
    got = part.stat().st_size
    if total is not None and got < total:
        raise DownloadError(f"{url}: connection closed after {got} of {total} bytes; {part} is kept, run again to resume")
    for expected, what in ((total, "the server's size"), (size, "the known size")):
        if expected is not None and got != expected:
            part.unlink()
            raise DownloadError(f"{url}: got {got} bytes, {what} is {expected}; the partial file was deleted, run again")
    if sha256 is not None and _sha256(part) != sha256:
        part.unlink()
        raise DownloadError(f"{url}: sha256 mismatch (expected {sha256}); the download was deleted, run again")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
