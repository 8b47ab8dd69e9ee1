"""Downloads against a local HTTP server (no network): resume, restart, checksums, failures, extraction, folders."""

import hashlib
import http.server
import io
import re
import socket
import threading
import zipfile

import pytest

from respkit.__main__ import main
from respkit.data import download as dl
from respkit.data.download import DownloadError, Remote, download_icbhi, download_sprsound, extract_zip, fetch
from respkit.models.pretrained import WEIGHTS

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()
CUT = 30_000  # where /cut drops the connection on a request without Range


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` by path: Range honoured except at /norange; /cut dies after CUT bytes; else 404.

    ``requests`` logs ``(path, Range header)`` of every request, for the tests to inspect.
    """

    requests: list = []
    files: dict = {}

    def do_GET(self):
        requested = self.headers.get("Range")
        self.requests.append((self.path, requested))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if requested and self.path != "/norange":
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut" and not requested:
            self.wfile.write(body[:CUT])  # announced in full, then the connection drops
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.requests = []
    _Handler.files = {"/file": PAYLOAD, "/norange": PAYLOAD, "/cut": PAYLOAD}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_fresh_download_verifies_and_lands_atomically(server, tmp_path):
    path = fetch(Remote(f"{server}/file", SHA, len(PAYLOAD)), tmp_path / "data.bin")
    assert path == tmp_path / "data.bin" and path.read_bytes() == PAYLOAD
    assert _names(tmp_path) == ["data.bin"]  # no .part, no temporary file


def test_resume_after_a_cut_connection(server, tmp_path):
    with pytest.raises(DownloadError, match=r"could not download .*/cut .*data\.bin\.part keeps the bytes.*resume"):
        fetch(Remote(f"{server}/cut", SHA), tmp_path / "data.bin", retries=0)
    assert (tmp_path / "data.bin.part").read_bytes() == PAYLOAD[:CUT]
    assert not (tmp_path / "data.bin").exists()
    fetch(Remote(f"{server}/cut", SHA), tmp_path / "data.bin", retries=0)  # the next run asks for the rest
    assert _Handler.requests == [("/cut", None), ("/cut", f"bytes={CUT}-")]
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD and _names(tmp_path) == ["data.bin"]


def test_a_retry_resumes_within_one_call(server, tmp_path):
    fetch(Remote(f"{server}/cut", SHA, len(PAYLOAD)), tmp_path / "data.bin", retries=1)
    assert _Handler.requests == [("/cut", None), ("/cut", f"bytes={CUT}-")]
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_server_without_range_support_restarts(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes from another file")
    fetch(Remote(f"{server}/norange", SHA), tmp_path / "data.bin", retries=0)
    assert _Handler.requests == [("/norange", "bytes=29-")]  # asked to resume, got the whole file
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD and _names(tmp_path) == ["data.bin"]


def test_a_complete_part_file_is_finished_without_a_new_body(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)  # e.g. killed between the download and the move
    fetch(Remote(f"{server}/file", SHA), tmp_path / "data.bin", retries=0)
    assert _Handler.requests == [("/file", f"bytes={len(PAYLOAD)}-")]  # answered 416: nothing left to send
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_names_the_file_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match=r"checksum mismatch for data\.bin from .*/file"):
        fetch(Remote(f"{server}/file", "0" * 64), tmp_path / "data.bin", retries=0)
    assert _names(tmp_path) == []
    with pytest.raises(DownloadError, match=f"has {len(PAYLOAD)} bytes, not the pinned 5; the download was deleted"):
        fetch(Remote(f"{server}/file", size=5), tmp_path / "data.bin", retries=0)
    assert _names(tmp_path) == []


def test_a_file_in_place_is_kept_unless_it_fails_its_pin(server, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"mine")
    assert fetch(Remote(f"{server}/file"), tmp_path / "data.bin").read_bytes() == b"mine"  # no pin: kept
    assert _Handler.requests == []
    fetch(Remote(f"{server}/file", SHA), tmp_path / "data.bin")  # pinned and wrong: downloaded again
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD and len(_Handler.requests) == 1


def test_http_client_errors_name_the_url_and_are_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/missing: HTTP 404.*copy it by hand"):
        fetch(Remote(f"{server}/missing"), tmp_path / "m", retries=2, manual="copy it by hand")
    assert _Handler.requests == [("/missing", None)]
    assert _names(tmp_path) == []


def test_unreachable_host_gives_manual_instructions(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"could not download http://127.0.0.1:{port}/x.*copy it by hand"):
        fetch(Remote(f"http://127.0.0.1:{port}/x"), tmp_path / "x", retries=0, manual="copy it by hand", timeout=5)


def test_file_url(tmp_path):
    (tmp_path / "src.bin").write_bytes(PAYLOAD)
    fetch(Remote((tmp_path / "src.bin").as_uri(), SHA, len(PAYLOAD)), tmp_path / "out" / "copy.bin")
    assert (tmp_path / "out" / "copy.bin").read_bytes() == PAYLOAD and _names(tmp_path / "out") == ["copy.bin"]


def test_extract_keeps_user_files_and_refuses_escapes(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/keep.txt", "from the archive")
        zf.writestr("top/new.txt", "new")
    out = tmp_path / "out"
    (out / "top").mkdir(parents=True)
    (out / "top" / "keep.txt").write_text("edited by the user")
    assert extract_zip(archive, out) == 1
    assert (out / "top" / "keep.txt").read_text() == "edited by the user"
    assert (out / "top" / "new.txt").read_text() == "new"

    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(DownloadError, match="outside"):
        extract_zip(archive, out)
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="bad.zip: not a valid zip"):
        extract_zip(tmp_path / "bad.zip", out)


def _sprsound_zip(top: str = f"SPRSound-{dl.SPRSOUND_COMMIT}") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/README.md", "readme")
        zf.writestr(f"{top}/BioCAS2022/train2022_json/1_5.0_0_p1_1.json", "{}")
        zf.writestr(f"{top}/BioCAS2022/train2022_wav/1_5.0_0_p1_1.wav", PAYLOAD)
        zf.writestr(f"{top}/BioCAS2023/test2023_json/x.json", "{}")
    return buffer.getvalue()


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_download_sprsound_keeps_only_the_2022_release(server, tmp_path):
    _Handler.files["/repo.zip"] = _sprsound_zip()
    root = download_sprsound(tmp_path / "data", Remote(f"{server}/repo.zip"))
    assert root == tmp_path / "data" / "sprsound"
    assert _files(root) == ["BioCAS2022/train2022_json/1_5.0_0_p1_1.json", "BioCAS2022/train2022_wav/1_5.0_0_p1_1.wav"]
    assert (root / "BioCAS2022/train2022_wav/1_5.0_0_p1_1.wav").read_bytes() == PAYLOAD
    assert download_sprsound(tmp_path / "data", Remote(f"{server}/gone")) == root  # already there: no request
    assert [path for path, _ in _Handler.requests] == ["/repo.zip"]


def test_a_truncated_archive_is_a_clear_error_and_is_deleted(server, tmp_path):
    whole = _sprsound_zip()
    _Handler.files["/repo.zip"] = whole[: len(whole) // 2]  # the server itself serves a cut file
    with pytest.raises(DownloadError, match=r"SPRSound\.zip: not a valid zip archive.*deleted, run again"):
        download_sprsound(tmp_path / "data", Remote(f"{server}/repo.zip"))
    assert _files(tmp_path / "data") == []  # no archive, no partial release
    _Handler.files["/repo.zip"] = whole  # the next run downloads afresh
    assert _files(download_sprsound(tmp_path / "data", Remote(f"{server}/repo.zip")))[0].startswith("BioCAS2022/")


def _icbhi_release(server):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:  # members without a top folder, as some mirrors pack it
        zf.writestr("101_1b1_Al_sc_Meditron.txt", "0.036\t0.579\t0\t0\n")
        zf.writestr("__MACOSX/._101_1b1_Al_sc_Meditron.txt", "junk")
    _Handler.files.update(
        {
            "/icbhi/ICBHI_final_database.zip": archive.getvalue(),
            "/icbhi/ICBHI_challenge_train_test.txt": b"101_1b1_Al_sc_Meditron\ttest\n",
            "/icbhi/ICBHI_Challenge_diagnosis.txt": b"101\tURTI\n",
        }
    )  # no demographic table: optional, so only a warning
    return f"{server}/icbhi/"


def test_download_icbhi_builds_the_official_layout(server, tmp_path):
    base_url = _icbhi_release(server)
    with pytest.warns(UserWarning, match="optional table"):
        root = download_icbhi(tmp_path / "data", base_url=base_url)
    assert _files(root) == [
        "ICBHI_Challenge_diagnosis.txt",
        "ICBHI_challenge_train_test.txt",
        "ICBHI_final_database/101_1b1_Al_sc_Meditron.txt",
    ]
    _Handler.files.clear()
    with pytest.raises(DownloadError, match="HTTP 404.*To install by hand"):
        download_icbhi(tmp_path / "other", base_url=base_url)


def test_respkit_cache_moves_downloads_and_lookups_together(server, tmp_path, monkeypatch):
    from respkit.data.locate import resolve_data

    monkeypatch.setenv("RESPKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RESPKIT_DATA", raising=False)
    _Handler.files["/repo.zip"] = _sprsound_zip()
    with pytest.warns(UserWarning, match="optional table"):
        download_icbhi(base_url=_icbhi_release(server))  # no dest: the cache
    download_sprsound(remote=Remote(f"{server}/repo.zip"))
    found = resolve_data(simulate_missing=False)  # finds both there, or raises
    assert (found.icbhi.origin, found.sprsound.origin) == ("cache", "cache")
    assert found.icbhi.root == (tmp_path / "cache" / "data" / "icbhi").resolve()
    assert found.sprsound.root == (tmp_path / "cache" / "data" / "sprsound").resolve()


def test_command_line_download(server, tmp_path, monkeypatch, capsys):
    _Handler.files["/repo.zip"] = _sprsound_zip()
    monkeypatch.setattr(dl, "SPRSOUND", Remote(f"{server}/repo.zip"))
    assert main(["download", "sprsound", "--dest", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "sprsound")
    assert (tmp_path / "sprsound" / "BioCAS2022" / "train2022_json").is_dir()
    with pytest.raises(SystemExit, match="nothing to download called 'icbhi2'; known: .*icbhi.*ast-audioset"):
        main(["download", "icbhi2"])


def test_sources_are_pinned():
    """SPRSound comes from one commit, never a moving branch; the weights have a revision, sha256 and size."""
    archive = r"https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound/archive/[0-9a-f]{40}\.zip"
    assert re.fullmatch(archive, dl.SPRSOUND.url)
    for spec in WEIGHTS.values():
        assert "/resolve/main/" not in spec.url
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256) and spec.size > 0
