"""tools/execute_book.py: a notebook it executed is taken from the cache by jupyter-book, not run again."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_book  # noqa: E402 (tools/ is not a package)

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def write_notebook(path: Path, code: str) -> Path:
    notebook = nbformat.v4.new_notebook(metadata=KERNEL)
    notebook.cells = [nbformat.v4.new_markdown_cell("# A page"), nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, path)
    return path


def test_executed_notebooks_are_cached_for_the_build_and_failures_are_not(tmp_path):
    # Each execution appends to runs.txt in the notebook's folder: the file counts the executions.
    page = write_notebook(tmp_path / "page.ipynb", "with open('runs.txt', 'a') as f:\n    f.write('x')\nprint(6 * 7)")
    broken = write_notebook(tmp_path / "broken.ipynb", "raise ValueError('no such file: data.wav')")
    cache = tmp_path / "_build" / ".jupyter_cache"  # where jupyter-book looks by default

    assert execute_book.pending([page, broken], cache) == [page, broken]
    assert execute_book.execute(page, cache)[2] is None
    path, _, error = execute_book.execute(broken, cache)
    assert path == broken and "no such file: data.wav" in error
    assert execute_book.pending([page, broken], cache) == [broken]  # a failure is not stored

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config.pop("bibtex_bibfiles")
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run([str(jupyter_book), "build", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    assert "Using cached notebook" in build.stdout + build.stderr
    assert (tmp_path / "runs.txt").read_text() == "x"  # executed once, by execute_book
    assert "42" in (tmp_path / "_build" / "html" / "page.html").read_text()
    assert json.loads(page.read_text())["cells"][1]["outputs"] == []  # the notebook file itself stays clean
