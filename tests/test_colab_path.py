"""A reader's first cell on Colab, replayed here without a network.

Colab gives a runtime that already holds torch and torchaudio and no respkit. The test builds a wheel of
this checkout and, for every chapter, makes such a runtime: a fresh virtual environment that sees this
environment's packages (torch included) but not respkit. It then runs the chapter's own first cell in
IPython, with ``RESPKIT_INSTALL`` pointing at the wheel, as Colab would, and requires that

- respkit is installed from the wheel and nothing else is (torch above all: it is not reinstalled);
- ``setup_chapter`` says which data it found and, on Colab, how to download what is missing;
- the recorded results shipped in the wheel render as a table.

``PIP_NO_INDEX`` makes any attempt to download a dependency fail instead of reaching the network.
"""

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import torch

import respkit
from respkit import book, project
from respkit.axes import AXES_DIR
from respkit.bench import BENCH_DIR
from respkit.report.anchor import ANCHOR_DIR

ROOT = Path(__file__).resolve().parents[1]
MARKER = "colab-path-report:"

# What runs in the fresh runtime after the chapter's cell: report what came from where.
REPORT = f"""
import json, sys, torch, respkit
from respkit.book import recorded_results
from respkit.report import results_table
print(results_table(recorded_results(), ["score"]))
print({MARKER!r} + json.dumps({{"respkit": respkit.__file__, "torch": torch.__file__,
                                "profile": session.profile, "recorded": len(recorded_results())}}))
"""

RUNNER = """
import sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
for path in sys.argv[1:]:
    result = shell.run_cell(open(path).read())
    if not result.success:
        sys.exit(1)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built from a copy (an in-tree build would leave build/ in the repository)."""
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(ROOT / "respkit", source / "respkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = dist.glob("respkit-*.whl")
    return path


@pytest.fixture(scope="module")
def preinstalled(tmp_path_factory) -> Path:
    """This environment's packages minus respkit, as links in one folder: Colab's preinstalled packages."""
    site = Path(torch.__file__).resolve().parents[1]
    folder = tmp_path_factory.mktemp("preinstalled")
    for entry in site.iterdir():
        if "respkit" not in entry.name.lower() and entry.suffix != ".pth":
            (folder / entry.name).symlink_to(entry)
    return folder


def fresh_runtime(folder: Path, preinstalled: Path) -> Path:
    """A virtual environment that sees ``preinstalled`` (through a .pth file) and holds nothing itself."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "colab-preinstalled.pth").write_text(f"{preinstalled}\n")
    return python


def first_code_cell(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_the_wheel_ships_the_recorded_results(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("respkit/results/"))
    recorded = [*book.RECORDED_RESULTS.glob("*.json")]
    for folder in (BENCH_DIR, ANCHOR_DIR, *AXES_DIR.iterdir()):  # chapter 6: bench, public code, axis points
        recorded += [*folder.glob("*.json"), *folder.glob("*.npz")]
    root = book.RECORDED_RESULTS.parent.parent
    assert shipped == sorted(p.relative_to(root).as_posix() for p in recorded)
    assert any(n.endswith("/LICENSE") for n in names)


@pytest.mark.parametrize("chapter", project.CHAPTERS, ids=lambda c: Path(c.notebook).stem)
def test_first_cell_installs_from_the_override_and_keeps_torch(chapter, wheel, preinstalled, simulated, tmp_path):
    python = fresh_runtime(tmp_path / "runtime", preinstalled)
    site = next((tmp_path / "runtime").glob("lib/python*/site-packages"))
    (tmp_path / "cell.py").write_text(first_code_cell(ROOT / chapter.notebook))
    (tmp_path / "report.py").write_text(REPORT)
    (tmp_path / "runner.py").write_text(RUNNER)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RESPKIT_PROFILE", "VIRTUAL_ENV")},
        project.INSTALL_ENV: str(wheel),
        "PIP_NO_INDEX": "1",  # a missing dependency fails here instead of downloading
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONNOUSERSITE": "1",
        "CUDA_VISIBLE_DEVICES": "",  # the same profile (quick) on any machine
        "COLAB_RELEASE_TAG": "test",  # what Colab's runtime sets: the setup's Colab advice shows
    }
    run = subprocess.run(
        [python, "runner.py", "cell.py", "report.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # the output explains a failure
    out = run.stdout
    assert run.returncode == 0, out + run.stderr

    report = json.loads(out.split(MARKER)[1].splitlines()[0])
    # respkit came from the wheel into the new runtime; torch stayed where it was, and nothing else was added.
    assert Path(report["respkit"]).is_relative_to(site)
    assert Path(report["torch"]).resolve() == Path(torch.__file__).resolve()
    added = {p.name for p in site.iterdir()} - {"colab-preinstalled.pth", "__pycache__"}
    assert added == {"respkit", f"respkit-{respkit.__version__}.dist-info"}

    # The setup line says what it found, and (on Colab, without data) how to get each missing dataset.
    assert f"respkit {respkit.__version__} | {chapter.title}\nprofile quick" in out
    for name in chapter.datasets:
        assert f"{name} simulated" in out
        assert f"download_{name}()" in out and book.DOWNLOAD_SIZES[name] in out

    # Every shipped results file renders as a row of the table.
    shipped = len(list(book.RECORDED_RESULTS.glob("*.json")))
    assert report["recorded"] == shipped > 0
    recipes = {json.loads(path.read_text())["recipe"] for path in book.RECORDED_RESULTS.glob("*.json")}
    assert sum(line.startswith(tuple(f"| {r} |" for r in recipes)) for line in out.splitlines()) == shipped
