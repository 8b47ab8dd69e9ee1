"""Downloads of the official ICBHI 2017 and SPRSound releases (and, through :func:`download`, pretrained weights).

Both datasets land in ``dest`` (default :func:`respkit.files.data_dir`, ``$RESPKIT_CACHE/data``: the folder
:mod:`respkit.data.locate` reads, so moving the cache moves both) in the layouts the loaders read:
``dest/icbhi/...`` and ``dest/sprsound/BioCAS2022/...``. From the shell:
``python -m respkit download icbhi|sprsound|ast-audioset [--dest DIR]``.

Built on pooch, the scientific-Python fetcher, which keeps the registry of each file's sha256, downloads
into a temporary file beside the destination, moves it into place only once its hash matched (a mismatch
deletes it), and retries failed attempts. Two pieces are respkit's own, because pooch lacks them:

- :class:`ResumingDownloader`, a pooch downloader. Pooch's ``HTTPDownloader`` starts each attempt at byte 0
  in a randomly named temporary file, so a connection cut at 1.1 of ICBHI's 1.2 GB (a host that is often
  unreachable) loses it all. This one keeps the bytes in ``<file>.part`` and asks for the rest with an
  HTTP Range request, on pooch's next retry or on the next run; a server that ignores Range sends the
  whole file again, which replaces the ``.part``. It checks the size against the pinned one and the
  server's, shows a tqdm progress bar on stderr, and copies ``file://`` URLs (a mirror on a shared disk).
- :func:`extract_zip`. Pooch's ``Unzip`` keeps member names, but neither archive has the official layout
  (ICBHI mirrors differ in their top folder; SPRSound's archive is the whole repository under
  ``SPRSound-<commit>/``), and it overwrites what it finds. Ours renames members, never overwrites a file,
  writes each one atomically, refuses members that would land outside the destination, and turns a
  damaged archive into a clear error.

Every failure is a :class:`DownloadError` that names the URL or file and says how to install by hand.

Pins. SPRSound is fetched from a fixed commit, not from the moving ``main`` branch. A sha256 and size are
pinned wherever a verified value is known; ``None`` marks one still to be recorded on the first verified
download (pooch's log prints the sha256 of what it fetched). Until then those files are checked only
against the server's own size.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pooch
import requests
import urllib3
from tqdm.auto import tqdm

from respkit.data.registry import DATASETS
from respkit.files import atomic_write, data_dir, sha256sum

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or extraction that failed; the message says what to do by hand."""


@dataclass(frozen=True)
class Remote:
    """One file to download: where from and, when known, what its bytes must be."""

    url: str
    sha256: str | None = None  # None: not recorded yet (each entry's comment says why)
    size: int | None = None  # bytes


ICBHI_BASE_URL = "https://bhichallenge.med.auth.gr/sites/default/files/ICBHI_final_database/"
ICBHI_ARCHIVE = "ICBHI_final_database.zip"
ICBHI_TABLES = ["ICBHI_challenge_train_test.txt", "ICBHI_Challenge_diagnosis.txt"]
ICBHI_OPTIONAL = ["ICBHI_Challenge_demographic_information.txt"]
ICBHI_RECORDINGS = 920
#: The official files, by name. No verified sha256 or size is published for any of them, and none could be
#: recorded here (no network): record each on the first verified download (pooch logs the sha256).
ICBHI_FILES = {name: Remote(ICBHI_BASE_URL + name) for name in [ICBHI_ARCHIVE, *ICBHI_TABLES, *ICBHI_OPTIONAL]}

#: A commit of SJTU-YONGFU-RESEARCH-GRP/SPRSound whose tree holds ``BioCAS2022/`` (train2022_wav/json,
#: test2022_wav/json) as the loaders read it; pinned so that a later push cannot change what is fetched.
SPRSOUND_COMMIT = "174500e401f4ebf54061414c2fe082c7dccfb9d2"
#: The repository archive at that commit. GitHub builds archives on request; its sha256 and size must be
#: recorded on the first verified download.
SPRSOUND = Remote(f"https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound/archive/{SPRSOUND_COMMIT}.zip")


class ResumingDownloader:
    """A pooch downloader that survives a cut connection (see the module docstring).

    ``part`` keeps the bytes received between attempts and runs; when they are complete they are moved
    onto pooch's temporary file, which pooch then hashes and moves into place or deletes.
    """

    def __init__(self, part: Path, size: int | None = None, *, verify_tls: bool = True, timeout: float = 60.0) -> None:
        self.part, self.size, self.verify_tls, self.timeout = Path(part), size, verify_tls, timeout

    def __call__(self, url: str, output_file: str, pooch_: object) -> None:
        if urlparse(url).scheme == "file":
            shutil.copyfile(url2pathname(urlparse(url).path), self.part)
            announced: int | None = self.part.stat().st_size
        else:
            announced = self._receive(url)
        got = self.part.stat().st_size
        if None not in (self.size, announced) and announced != self.size:
            self.part.unlink()
            raise DownloadError(
                f"{url}: the file served has {announced} bytes, not the pinned {self.size}; the download was deleted"
            )
        expected = self.size if self.size is not None else announced
        if expected is not None and got < expected:
            # A network failure, reported the way pooch's retry loop expects one; the .part is kept.
            raise requests.exceptions.ConnectionError(f"connection closed after {got} of {expected} bytes")
        if expected is not None and got > expected:
            self.part.unlink()
            raise DownloadError(f"{url}: got {got} bytes, expected {expected}; the download was deleted")
        os.replace(self.part, output_file)

    def _receive(self, url: str) -> int | None:
        """Append (HTTP 206) or rewrite (HTTP 200) ``part``; returns the full size the server announced."""
        offset = self.part.stat().st_size if self.part.exists() else 0
        # identity: the bytes counted, resumed and hashed must be the file's, not a gzip of it.
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout, verify=self.verify_tls) as response:
            status, content_range = response.status_code, response.headers.get("Content-Range", "")
            if status == 416 and offset:
                # Nothing lies past our offset: the .part is complete if the file has exactly that size
                # (Content-Range: bytes */size); otherwise it is not this file's, and we start over.
                if content_range == f"bytes */{offset}":
                    return offset
                self.part.unlink()
                return self._receive(url)
            if 400 <= status < 500:  # the request is wrong, not the network: no retry helps
                raise DownloadError(f"{url}: HTTP {status} {response.reason}")
            response.raise_for_status()  # 5xx: pooch retries
            if status == 206 and content_range.startswith(f"bytes {offset}-"):
                mode, size_text = "ab", content_range.rsplit("/", 1)[-1]
            elif status == 200:  # the whole file (a server without Range support): start over
                mode, offset, size_text = "wb", 0, response.headers.get("Content-Length", "")
            else:
                raise DownloadError(f"{url}: unexpected HTTP {status} ({content_range!r}) asking from byte {offset}")
            total = int(size_text) if size_text.isdigit() else None
            with (
                open(self.part, mode) as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=self.part.name.removesuffix(".part"),
                    file=sys.stderr,
                    disable=None,
                ) as bar,
            ):
                try:
                    # Raw bytes as they arrive: requests' iter_content buffers up to a chunk and drops it
                    # when the connection breaks, which is the very data a resume needs.
                    for chunk in response.raw.stream(_CHUNK, decode_content=False):
                        out.write(chunk)
                        bar.update(len(chunk))
                except urllib3.exceptions.HTTPError as err:  # as a requests error: what pooch retries
                    received = f"{out.tell()} of {total}" if total is not None else f"{out.tell()}"
                    raise requests.exceptions.ConnectionError(f"connection broken after {received} bytes") from err
        return total


def fetch(
    remote: Remote,
    dest: str | Path,
    *,
    retries: int = 2,
    manual: str = "",
    verify_tls: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``remote`` to ``dest`` (resumed, verified, atomic; module docstring) and return ``dest``.

    A file already at ``dest`` is kept when it matches the pinned sha256 (or when none is pinned), and
    downloaded again when it does not. ``retries`` more attempts follow a network failure, each resuming
    where the last stopped, or a checksum mismatch (pooch's rule: the transfer may have been corrupted),
    each starting over. ``manual`` is appended to error messages: how to get the file by hand.
    """
    dest = Path(dest).absolute()
    part = dest.with_name(dest.name + ".part")
    store = pooch.create(
        path=dest.parent,
        base_url="",
        registry={dest.name: f"sha256:{remote.sha256}" if remote.sha256 else None},
        urls={dest.name: remote.url},
        retry_if_failed=retries,
    )
    fresh = not dest.exists()
    downloader = ResumingDownloader(part, remote.size, verify_tls=verify_tls, timeout=timeout)
    try:
        path = Path(store.fetch(dest.name, downloader=downloader))
    except DownloadError as err:
        raise DownloadError(f"{err}. {manual}".strip()) from err
    except ValueError as err:  # pooch's hash check, which has deleted the download
        raise DownloadError(f"checksum mismatch for {dest.name} from {remote.url}: {err} {manual}".strip()) from err
    except (requests.exceptions.RequestException, OSError) as err:
        kept = f" {part} keeps the bytes received; run again to resume." if part.exists() else ""
        raise DownloadError(f"could not download {remote.url} ({err}).{kept} {manual}".strip()) from err
    if fresh and remote.sha256 is None:
        pooch.get_logger().info(
            "%s has no pinned hash; it has sha256 %s and %d bytes", dest.name, sha256sum(path), path.stat().st_size
        )
    return path


def extract_zip(archive: str | Path, dest: str | Path, rename: Callable[[str], str | None] = lambda name: name) -> int:
    """Extract ``archive`` under ``dest``; returns how many files were written.

    ``rename`` maps a member name to its path under ``dest``, or to None to leave it out. Files that
    already exist are kept as they are (never overwritten); each new file is written atomically
    (:func:`respkit.files.atomic_write`), so an interrupted extraction leaves no half files. Members that would land
    outside ``dest`` are refused; a damaged or truncated archive raises :class:`DownloadError`.
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
                # Not durable (no fsync, ~10 ms a file): until the folder is complete, the archive can redo it.
                atomic_write(target, partial(_copy_member, zf, info), durable=False)
                written += 1
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise DownloadError(f"{archive}: not a valid zip archive, damaged or truncated ({err})") from err
    return written


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    with zf.open(info) as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)  # zipfile checks the member's CRC as it reads


def download_icbhi(dest: str | Path | None = None, base_url: str = ICBHI_BASE_URL, verify_tls: bool = True) -> Path:
    """Fetch ICBHI 2017 into ``dest/icbhi`` (about 1.2 GB); returns that folder.

    ``base_url`` may point at a mirror holding the same files. The official host's TLS certificate is
    often invalid: ``verify_tls=False`` accepts it anyway (the files are then unauthenticated, except
    where a sha256 is pinned). Free for research use; cite Rocha et al., Physiol. Meas. 40(3) 035001, 2019.
    """
    root = Path(dest or data_dir()) / "icbhi"
    manual = (
        f"To install by hand, download {base_url}{ICBHI_ARCHIVE} and the tables {', '.join(ICBHI_TABLES)} "
        f"from {base_url} (or a mirror), unzip the archive into {root} so that {root / 'ICBHI_final_database'} "
        f"holds the .wav and .txt files, and put the tables beside it."
    )

    def get(name: str) -> Path:
        remote = dataclasses.replace(ICBHI_FILES[name], url=base_url + name)
        return fetch(remote, root / name, manual=manual, verify_tls=verify_tls)

    for name in ICBHI_TABLES + ICBHI_OPTIONAL:
        try:
            get(name)
        except DownloadError as err:
            if name not in ICBHI_OPTIONAL:
                raise
            warnings.warn(f"optional table not downloaded: {err}", stacklevel=2)
    database = root / "ICBHI_final_database"
    if database.is_dir() and len(list(database.glob("*.wav"))) >= ICBHI_RECORDINGS:
        return root

    def into_database(name: str) -> str | None:
        if name.startswith("__MACOSX/"):
            return None
        return name if name.startswith("ICBHI_final_database/") else f"ICBHI_final_database/{name}"

    _unpack(get(ICBHI_ARCHIVE), root, into_database, manual)
    return root


def download_sprsound(dest: str | Path | None = None, remote: Remote | None = None) -> Path:
    """Fetch the SPRSound repository archive (:data:`SPRSOUND`) and extract its ``BioCAS2022/`` into ``dest/sprsound``.

    Returns ``dest/sprsound``. Cite Zhang et al., IEEE TBioCAS 16(5), 2022.
    """
    remote = remote or SPRSOUND
    root = Path(dest or data_dir()) / "sprsound"
    if (root / "BioCAS2022" / "train2022_json").is_dir():
        return root
    manual = (
        f"To install by hand, download {remote.url} (or clone https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound "
        f"at commit {SPRSOUND_COMMIT}) and copy its BioCAS2022/ folder to {root / 'BioCAS2022'}."
    )

    def release_only(name: str) -> str | None:
        # GitHub archives hold one top folder (SPRSound-<commit>/); keep what lies under its BioCAS2022/.
        inner = name.split("/", 1)[-1]
        return inner if inner.startswith("BioCAS2022/") else None

    _unpack(fetch(remote, root / "SPRSound.zip", manual=manual), root, release_only, manual)
    if not (root / "BioCAS2022").is_dir():
        raise DownloadError(f"{remote.url}: the archive holds no BioCAS2022/ folder. {manual}")
    return root


def _unpack(archive: Path, root: Path, rename: Callable[[str], str | None], manual: str) -> None:
    """Extract a downloaded archive, then delete it: its files now live under ``root``, or it was damaged.

    A damaged archive is deleted too: left in place, an unpinned one would be taken as complete by the
    next run and fail again, where deleting it makes the next run download it afresh.
    """
    try:
        extract_zip(archive, root, rename)
    except DownloadError as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{err}; it was deleted, run again to download it afresh. {manual}") from err
    archive.unlink()


#: Weight files that ``python -m respkit download`` fetches beside the datasets: command name -> WEIGHTS key.
WEIGHT_DOWNLOADS = {"ast-audioset": "ast_audioset"}


def download(what: str, dest: str | Path | None = None) -> Path:
    """``python -m respkit download``: a registered dataset (``icbhi``, ``sprsound``) or a weight file
    (``ast-audioset``) into ``dest``, by default its folder in the cache; returns where it is."""
    if what in WEIGHT_DOWNLOADS:
        from respkit.models.pretrained import weight_path  # imported here: the data package needs no models

        return weight_path(WEIGHT_DOWNLOADS[what], folder=dest)
    datasets = {name: spec.download for name, spec in DATASETS.items() if spec.download is not None}
    if what not in datasets:
        raise ValueError(f"nothing to download called {what!r}; known: {', '.join([*datasets, *WEIGHT_DOWNLOADS])}")
    return datasets[what](dest)
