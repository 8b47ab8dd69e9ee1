"""Execute the book's notebooks a few at a time, into the cache that ``jupyter-book build`` reads.

jupyter-book (myst-nb, ``execute_notebooks: cache``) executes the notebooks one after another while it
reads them. Each chapter trains on one CPU thread (``respkit.profiles.configure_threads``), so on a
machine with two or more cores running chapters side by side takes about half the time (a chapter run
alone spreads its seeds over the cores instead: ``respkit.profiles.seed_processes``). This script
does that before the build: every chapter whose code cells have no entry in jupyter-book's cache
(``_build/.jupyter_cache``, keyed on the code cells) runs in its own kernel, ``--jobs`` at a time, in
the notebook's folder as myst-nb would; the executed notebook is stored in that cache, and the build
then finds it there and executes nothing. A notebook that fails is not stored: the script says which
one and why and exits with status 1.

Chapters run longest first where an earlier build recorded how long they took; otherwise in book order.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

from respkit.project import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"  # jupyter-book's default: the build folder's .jupyter_cache
TIMEOUT = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]  # seconds per cell, as the build


def execute(path: Path, cache_dir: Path = CACHE) -> tuple[Path, float, str | None]:
    """Run ``path`` in a fresh kernel and store the result in the cache; ``(path, seconds, error or None)``."""
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=TIMEOUT, allow_errors=False)
    if result.err is not None:
        return path, result.time, result.exc_string
    bundle = CacheBundleIn(notebook, str(path), data={"execution_seconds": result.time})
    get_cache(str(cache_dir)).cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
    return path, result.time, None


def pending(paths: list[Path], cache_dir: Path = CACHE) -> list[Path]:
    """Those of ``paths`` without a cached execution of their current code, longest first where known."""
    cache = get_cache(str(cache_dir))
    seconds = {record.uri: record.data.get("execution_seconds", 0.0) for record in cache.list_cache_records()}
    todo = []
    for path in paths:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))  # what myst-nb looks up
        except KeyError:
            todo.append(path)
    return sorted(todo, key=lambda path: -seconds.get(str(path), 0.0))  # a stable sort keeps book order


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(os.cpu_count() or 1, 4),
        help="notebooks executed at once (default: the cores, at most 4)",
    )
    args = parser.parse_args()
    todo = pending([ROOT / chapter.notebook for chapter in CHAPTERS])
    if not todo:
        print("execute_book: every chapter's outputs are cached")
        return 0
    print(f"execute_book: {len(todo)} notebook(s), {args.jobs} at a time")
    # The chapters fill the cores already: each spreads its seeds over its share only (the kernels inherit it).
    os.environ.setdefault("RESPKIT_SEED_PROCESSES", str(max(1, (os.cpu_count() or 1) // args.jobs)))
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for future in as_completed([pool.submit(execute, path) for path in todo]):
            path, seconds, error = future.result()
            print(f"  {path.relative_to(ROOT)}: {'failed' if error else 'done'} in {seconds:.0f} s", flush=True)
            if error:
                failed.append(f"{path.relative_to(ROOT)}:\n{error}")
    print(f"execute_book: {time.perf_counter() - start:.0f} s in all")
    for failure in failed:
        print(failure, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
