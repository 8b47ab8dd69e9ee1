"""Look at the rendered book the way a reader does: headless Chromium takes a screenshot.

    python tools/screenshot.py _build/html/book/ch1_listening.html _build/screenshots/ch1.png

Also checks the page's HTML for what must render: figures, audio players and resolved citations.
Needs Debian's `chromium` (apt-get install chromium); exits 2 with that advice when it is missing.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


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


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 4000) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found: apt-get install chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "--hide-scrollbars",
             "--virtual-time-budget=5000", f"--screenshot={out}", page.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    problems = check_html(args.page)
    screenshot(args.page, args.out)
    print(f"screenshot: {args.out}")
    for problem in problems:
        print(f"problem in {args.page}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
