"""Check that notebooks are committed without outputs, in sync with respkit/project.py, and type no numbers.

    python tools/check_notebooks.py book          # fails listing offending notebooks
    python tools/check_notebooks.py book --strip  # removes outputs and execution counts in place
    python tools/check_notebooks.py book/ch3_supcon.ipynb   # one notebook (outputs and typed numbers)

Outputs: the book build executes the notebooks, so committed outputs are only noise in diffs.
Typed numbers: a number in a Markdown cell is written by hand and stays the same in every build, so a count,
score or ratio there is false in all builds but one (tools/typed_numbers.py says what is allowed).
Sync: each chapter's setup cell, its Colab metadata and README's chapter table are written by
tools/sync_notebooks.py; a hand edit to any of them fails here (run that tool to fix it).
"""

import argparse
import json
import sys
from pathlib import Path

from sync_notebooks import dumps, out_of_sync, unlisted_notebooks  # tools/ is on sys.path when run as a script
from typed_numbers import typed_numbers


def dirty_cells(notebook: dict) -> int:
    return sum(
        1 for c in notebook["cells"] if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    )


def strip(notebook: dict) -> dict:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--strip", action="store_true", help="strip outputs in place instead of failing")
    args = parser.parse_args()
    bad, typed, missing_ids = [], [], []
    paths = (
        [args.folder]
        if args.folder.is_file()
        else sorted(p for p in args.folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    )
    for path in paths:
        notebook = json.loads(path.read_text())
        if notebook.get("nbformat_minor", 0) >= 5 and any("id" not in cell for cell in notebook["cells"]):
            bad.append(
                f"{path}: cells without an id (nbformat 4.5 requires one; nbformat.validator.normalize adds them)"
            )
        for k, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] == "markdown":
                typed += [f"{path} cell {k}: {found}" for found in typed_numbers("".join(cell["source"]))]
        if dirty_cells(notebook):
            if args.strip:
                path.write_text(dumps(strip(notebook)))
            else:
                bad.append(f"{path}: {dirty_cells(notebook)} code cells with outputs or execution counts")
    if bad:
        print("Notebooks must be committed without outputs (run with --strip):", *bad, sep="\n  ")
    if missing_ids:
        print(
            "Cells without an id (nbformat 4.5 requires one; nbformat.validator.normalize adds them):",
            *missing_ids,
            sep="\n  ",
        )
    if typed:
        print(
            "Numbers typed into Markdown (compute them and show the sentence with respkit.report.say, or write a "
            "constant of the method as math or code):",
            *typed,
            sep="\n  ",
        )
    if args.folder.is_file():
        return 1 if bad or typed or missing_ids else 0
    unlisted, stale = unlisted_notebooks(), out_of_sync()
    if unlisted:
        print("Notebooks missing from respkit.project.CHAPTERS (add them there):", *unlisted, sep="\n  ")
    if stale:
        print("Out of sync with respkit/project.py (run python tools/sync_notebooks.py):", *stale, sep="\n  ")
    return 1 if bad or typed or missing_ids or unlisted or stale else 0


if __name__ == "__main__":
    sys.exit(main())
