"""The download core against a local HTTP server (no network): resume, restart, checksums, failures, extraction."""

import hashlib
import http.server
import socket
import threading
import zipfile

import pytest

from respkit.data.download import DownloadError, download_icbhi, download_sprsound, extract_zip, fetch

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` by path, honouring Range except at /norange; anything else is a 404."""

    ranges: list = []  # Range headers seen, for the tests to inspect
    files: dict = {}

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.ranges.append(self.headers.get("Range"))
        requested = self.headers.get("Range")
        if requested and self.path != "/norange":
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.ranges = []
    _Handler.files = {"/file": PAYLOAD, "/norange": PAYLOAD}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fresh_download_verifies_and_lands_atomically(server, tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch(f"{server}/file", tmp_path / "data.bin", sha256=sha, size=len(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "data.bin.part").exists()


def test_resume_from_a_partial_file(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server}/file", tmp_path / "data.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert _Handler.ranges == ["bytes=1000-"]
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_server_without_range_support_restarts(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes from another file")
    fetch(f"{server}/norange", tmp_path / "data.bin")
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(f"{server}/file", tmp_path / "data.bin", sha256="0" * 64)
    assert not (tmp_path / "data.bin").exists() and not (tmp_path / "data.bin.part").exists()
    with pytest.raises(DownloadError, match="known size is 5"):
        fetch(f"{server}/file", tmp_path / "data.bin", size=5)


def test_existing_file_is_never_overwritten(server, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"mine")
    assert fetch(f"{server}/file", tmp_path / "data.bin").read_bytes() == b"mine"
    with pytest.raises(DownloadError, match="left untouched"):
        fetch(f"{server}/file", tmp_path / "data.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert (tmp_path / "data.bin").read_bytes() == b"mine"


def test_unreachable_host_gives_manual_instructions(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"could not download http://127.0.0.1:{port}/x.*copy it by hand"):
        fetch(f"http://127.0.0.1:{port}/x", tmp_path / "x", manual="copy it by hand", timeout=5)


def test_http_error_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match="/missing: HTTP 404"):
        fetch(f"{server}/missing", tmp_path / "m")


def test_file_url(tmp_path):
    (tmp_path / "src.bin").write_bytes(PAYLOAD)
    fetch((tmp_path / "src.bin").as_uri(), tmp_path / "copy.bin", size=len(PAYLOAD))
    assert (tmp_path / "copy.bin").read_bytes() == PAYLOAD


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


def test_download_sprsound_keeps_only_the_2022_release(server, tmp_path):
    archive = tmp_path / "repo.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("SPRSound-main/README.md", "readme")
        zf.writestr("SPRSound-main/BioCAS2022/train2022_json/1_5.0_0_p1_1.json", "{}")
        zf.writestr("SPRSound-main/BioCAS2023/test2023_json/x.json", "{}")
    _Handler.files["/repo.zip"] = archive.read_bytes()
    root = download_sprsound(tmp_path / "data", url=f"{server}/repo.zip")
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["BioCAS2022/train2022_json/1_5.0_0_p1_1.json"]
    assert download_sprsound(tmp_path / "data", url=f"{server}/gone") == root  # already there: no request


def test_download_icbhi_builds_the_official_layout(server, tmp_path):
    archive = tmp_path / "db.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # members without a top folder, as some mirrors pack it
        zf.writestr("101_1b1_Al_sc_Meditron.txt", "0.036\t0.579\t0\t0\n")
        zf.writestr("__MACOSX/._101_1b1_Al_sc_Meditron.txt", "junk")
    _Handler.files.update({
        "/icbhi/ICBHI_final_database.zip": archive.read_bytes(),
        "/icbhi/ICBHI_challenge_train_test.txt": b"101_1b1_Al_sc_Meditron\ttest\n",
        "/icbhi/ICBHI_Challenge_diagnosis.txt": b"101\tURTI\n",
    })  # no demographic table: optional, so only a warning
    with pytest.warns(UserWarning, match="optional table"):
        root = download_icbhi(tmp_path / "data", base_url=f"{server}/icbhi/")
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "ICBHI_Challenge_diagnosis.txt", "ICBHI_challenge_train_test.txt", "ICBHI_final_database/101_1b1_Al_sc_Meditron.txt",
    ]
    _Handler.files.clear()
    with pytest.raises(DownloadError, match="HTTP 404.*To install by hand"):
        download_icbhi(tmp_path / "other", base_url=f"{server}/icbhi/")
