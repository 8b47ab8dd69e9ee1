"""Write what the chapters and README derive from respkit/project.py, so that it cannot drift.

    python tools/sync_notebooks.py          # rewrites what is out of date, prints what it changed
    python tools/sync_notebooks.py --check  # changes nothing; exits 1 listing what is out of date

What it owns, and nothing else:

- each chapter's first code cell: install respkit where it is missing (Colab) from
  ``project.INSTALL_SPEC`` or ``$RESPKIT_INSTALL``, then ``setup_chapter(title, datasets=...)``;
- each notebook's Colab metadata: open on a GPU runtime;
- README's link to the published book and its chapter table (between the ``chapters`` markers): for
  each chapter, its page and a Colab badge.

Running it twice changes nothing the second time. ``tools/check_notebooks.py`` runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from respkit import project

ROOT = Path(__file__).resolve().parents[1]
README_START = "<!-- chapters: written by tools/sync_notebooks.py from respkit/project.py -->"
README_END = "<!-- end of chapters -->"
COLAB_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4"}}


def setup_cell(chapter: project.Chapter) -> str:
    """The source of a chapter's first code cell."""
    datasets = ", ".join(f'"{name}"' for name in chapter.datasets)
    return (
        (
            "# Setup, written by tools/sync_notebooks.py. Where respkit is missing (Colab),\n"
            "# install it and keep the preinstalled torch; $" + project.INSTALL_ENV + " may name\n"
            "# another source (a fork, a wheel, a checkout). Then pick the profile, seed\n"
            "# everything and find the data.\n"
            "try:\n"
            "    import respkit\n"
            "except ImportError:\n"
            "    import os\n"
            "\n"
            f'    spec = "{chapter.install_spec}"\n'
            f'    source = os.environ.get("{project.INSTALL_ENV}", spec)\n'
            '    %pip install -q "{source}"\n'
            "from respkit.book import setup_chapter\n"
            "\n"
        )
        + title_line(chapter.title)
        + f"session = setup_chapter(title, datasets=[{datasets}])"
    )


def title_line(title: str) -> str:
    """``title = "..."``, wrapped in parentheses where it would pass 88 columns (no cell scrolls sideways)."""
    line = f'title = "{title}"\n'
    return line if len(line) <= 89 else f'title = (\n    "{title}"\n)\n'


def readme_chapters() -> str:
    """README's link to the book and chapter table, markers included."""
    rows = [
        f"**Read it** at <{project.BOOK_URL}>; **run it** on a Colab GPU, one chapter at a time:",
        "",
        "| chapter | read | run |",
        "| --- | --- | --- |",
    ]
    for chapter in project.CHAPTERS:
        badge = f"[![Open In Colab]({project.COLAB_BADGE})]({chapter.colab_url})"
        rows.append(f"| {chapter.title} | [published book]({chapter.book_url}) | {badge} |")
    return "\n".join([README_START, *rows, README_END])


def sync_notebook(notebook: dict, chapter: project.Chapter) -> dict:
    """``notebook`` with its setup cell and Colab metadata from the single source (modified in place)."""
    cell = next((c for c in notebook["cells"] if c["cell_type"] == "code"), None)
    if cell is None or "setup_chapter(" not in "".join(cell["source"]):
        raise ValueError(f"{chapter.notebook}: the first code cell must be the setup cell (it calls setup_chapter)")
    cell["source"] = setup_cell(chapter).splitlines(keepends=True)
    metadata = notebook["metadata"]
    metadata["accelerator"] = COLAB_METADATA["accelerator"]
    metadata["colab"] = {"provenance": [], **metadata.get("colab", {}), **COLAB_METADATA["colab"]}
    return notebook


def sync_readme(text: str) -> str:
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md has no chapter table between {README_START!r} and {README_END!r}")
    return pattern.sub(lambda _: readme_chapters(), text)


def dumps(notebook: dict) -> str:
    """The notebooks' committed formatting (what Jupyter writes)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def unlisted_notebooks(root: Path = ROOT) -> list[str]:
    """Notebooks under book/ that respkit.project.CHAPTERS does not name (they would get no setup cell)."""
    listed = {chapter.notebook for chapter in project.CHAPTERS}
    return sorted(
        name for p in (root / "book").glob("*.ipynb") if (name := p.relative_to(root).as_posix()) not in listed
    )


def out_of_sync(root: Path = ROOT, write: bool = False) -> list[str]:
    """Files whose derived parts differ from the single source; rewritten when ``write``."""
    derivations = {
        chapter.notebook: lambda text, chapter=chapter: dumps(sync_notebook(json.loads(text), chapter))
        for chapter in project.CHAPTERS
    }
    derivations["README.md"] = sync_readme
    stale = []
    for name, derive in derivations.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        synced = derive(text)
        if synced != text:
            stale.append(name)
            if write:
                path.write_text(synced, encoding="utf-8")
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when something is out of date")
    args = parser.parse_args()
    unlisted = unlisted_notebooks()
    if unlisted:
        print("Notebooks missing from respkit.project.CHAPTERS (add them there):", *unlisted, sep="\n  ")
        return 1
    stale = out_of_sync(write=not args.check)
    if args.check and stale:
        print("Out of sync with respkit/project.py (run python tools/sync_notebooks.py):", *stale, sep="\n  ")
        return 1
    for name in stale:
        print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
