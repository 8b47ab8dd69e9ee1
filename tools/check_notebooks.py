"""Check that notebooks are committed without outputs (the book build executes them).

    python tools/check_notebooks.py book          # fails listing offending notebooks
    python tools/check_notebooks.py book --strip  # removes outputs and execution counts in place
"""

import argparse
import json
import sys
from pathlib import Path


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
    bad = []
    for path in sorted(p for p in args.folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts):
        notebook = json.loads(path.read_text())
        if dirty_cells(notebook):
            if args.strip:
                path.write_text(json.dumps(strip(notebook), indent=1, ensure_ascii=False) + "\n")
            else:
                bad.append(f"{path}: {dirty_cells(notebook)} code cells with outputs or execution counts")
    if bad:
        print("Notebooks must be committed without outputs (run with --strip):", *bad, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
