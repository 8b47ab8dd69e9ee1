"""Look at the rendered book the way a reader does: headless Chromium takes a screenshot.

    python tools/screenshot.py _build/html/book/ch1_listening.html _build/screenshots/ch1.png
    python tools/screenshot.py _build/html/book/ch5_ssm.html _build/screenshots/ch5.png --offline

The page is served from its build folder on 127.0.0.1 (as GitHub Pages serves it; ``file://`` pages
may not load fonts). With ``--offline`` every other host is unreachable for the browser, which is how
to prove that the page needs no CDN.

Also checks what must render: from the HTML, figures, audio players and resolved citations (with
``--content``); from the page as the browser left it, that every equation was typeset by MathJax.
Needs Chromium (Debian: apt-get install chromium) or Google Chrome; exits with that advice when missing.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Chromium resolves no host name except the local server's: a page that needs a CDN shows it.
OFFLINE_FLAGS = ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--proxy-server=direct://"]


def check_html(page: Path) -> list[str]:
    """Problems a reader would see: no plots, no audio players, citations left unresolved."""
    html = page.read_text(encoding="utf-8")
    problems = []
    if not re.search(r'<img[^>]+src="[^"]*(\.png|data:image)', html):
        problems.append("no rendered figures")
    if "<audio" not in html:
        problems.append("no audio players")
    if not re.search(r'class="reference internal" href="[^"]*bibliography|id="id\d+"|class="citation', html):
        problems.append("no resolved citations")
    if "??" in re.sub(r"<[^>]+>", "", html):
        problems.append("unresolved reference marks ('??')")
    return problems


def math_problems(page: Path, dom: str) -> list[str]:
    """Equations in the HTML that the browser did not typeset (MathJax missing or failed to load)."""
    expected = len(re.findall(r'class="math[ "]', page.read_text(encoding="utf-8")))
    typeset = dom.count("<mjx-container")
    if typeset < expected:
        return [f"{expected - typeset} of {expected} equations not typeset (raw TeX on the page)"]
    return []


def site_root(page: Path) -> Path:
    """The build folder the page belongs to: the nearest folder above it holding ``_static``."""
    for folder in page.resolve().parents:
        if (folder / "_static").is_dir():
            return folder
    return page.resolve().parent


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free port of 127.0.0.1 for the duration; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the base class names it `format`
        pass


def find_browser() -> str | None:
    """Chromium or Google Chrome (GitHub's runners have the latter), or None."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for name in names if (path := shutil.which(name))), None)


def chromium() -> str:
    return find_browser() or sys.exit("chromium not found: apt-get install chromium (or install Google Chrome)")


def run_browser(url: str, args: list[str], offline: bool = False) -> str:
    """Run headless Chromium on ``url`` with extra ``args``; returns its standard output."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                "--virtual-time-budget=10000",
                *(OFFLINE_FLAGS if offline else []),
                *args,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=180,
        )
    return result.stdout


def screenshot(url: str, out: Path, offline: bool = False, width: int = 1280, height: int = 4000) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run_browser(url, [f"--window-size={width},{height}", f"--screenshot={out.resolve()}"], offline)


def dump_dom(url: str, offline: bool = False) -> str:
    """The page's DOM after its scripts ran (MathJax replaces each equation by an ``<mjx-container>``)."""
    return run_browser(url, ["--dump-dom"], offline)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--offline", action="store_true", help="no host but the local server is reachable")
    parser.add_argument("--content", action="store_true", help="also require figures, audio players and citations")
    args = parser.parse_args()
    problems = check_html(args.page) if args.content else []
    root = site_root(args.page)
    with serve(root) as base:
        url = base + args.page.resolve().relative_to(root).as_posix()
        screenshot(url, args.out, args.offline)
        problems += math_problems(args.page, dump_dom(url, args.offline))
    print(f"screenshot: {args.out}")
    for problem in problems:
        print(f"problem in {args.page}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
