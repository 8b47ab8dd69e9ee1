"""The reader's path, without a network: every link and the install spec come from respkit/project.py,
recorded results ship with the package, the ``full`` profile will not train on simulated data
unasked, and the book's math renders with no CDN."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
import yaml

from respkit import book, project
from respkit.axes import AXES_DIR
from respkit.bench import BENCH_DIR
from respkit.report.anchor import ANCHOR_DIR

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import screenshot  # noqa: E402 (tools/ is not a package)
import sync_notebooks  # noqa: E402
import typed_numbers  # noqa: E402


# --- one source for links and install ---------------------------------------------------------------
def test_book_buttons_point_at_the_project_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository = config["repository"]
    assert (repository["url"], repository["branch"]) == (project.REPOSITORY, project.BRANCH)
    # jupyter-book's launch button: <colab_url>/github/<owner/name>/blob/<branch>/<path_to_book>/<page>.ipynb
    colab = config["launch_buttons"]["colab_url"]
    slug = repository["url"].removeprefix("https://github.com/")
    for chapter in project.CHAPTERS:
        path = "/".join(p for p in (repository["path_to_book"], chapter.notebook) if p)
        assert chapter.colab_url == f"{colab}/github/{slug}/blob/{repository['branch']}/{path}"


def test_pyproject_names_the_same_repository_licence_and_package_data():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["urls"] == {"Repository": project.REPOSITORY, "Documentation": project.BOOK_URL}
    assert meta["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    # chapter 6's results and predictions: the bench, its axes (a folder per point), the public code's run
    bench, axes, anchor = (d.relative_to(book.RECORDED_RESULTS.parent) for d in (BENCH_DIR, AXES_DIR, ANCHOR_DIR))
    assert meta["tool"]["setuptools"]["package-data"]["respkit"] == [
        f"{book.RECORDED_RESULTS.name}/*.json",
        f"{bench}/*.json",
        f"{bench}/*.npz",
        f"{axes}/*/*.json",
        f"{axes}/*/*.npz",
        f"{anchor}/*.json",
        f"{anchor}/*.npz",
    ]


def test_toc_lists_the_chapters_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [entry["file"] for entry in toc["chapters"]]
    notebooks = [p for p in pages if (ROOT / f"{p}.ipynb").exists()]
    assert notebooks == [c.notebook.removesuffix(".ipynb") for c in project.CHAPTERS]


def test_notebooks_and_readme_are_in_sync_with_the_project():
    # Fails after a hand edit of a setup cell, the Colab metadata or README's chapter table:
    # run `python tools/sync_notebooks.py`.
    assert sync_notebooks.unlisted_notebooks() == []
    assert sync_notebooks.out_of_sync() == []


def _exercises(markdown: list[str]) -> list[str]:
    """The exercise items (``1. ...`` at a line's start, hints and solutions indented under them) of the
    Markdown from the ``## Exercises`` heading to the next section or the end."""
    start = next(k for k, t in enumerate(markdown) if "## Exercises" in t)
    section = "\n".join(markdown[start:]).split("## Exercises", 1)[1]
    section = re.split(r"^## ", section, flags=re.MULTILINE)[0]
    return re.split(r"^(?=\d+\. )", section, flags=re.MULTILINE)[1:]


@pytest.mark.parametrize("chapter", project.CHAPTERS, ids=lambda c: Path(c.notebook).stem)
def test_each_chapter_teaches_in_the_book_s_shape(chapter):
    # Objectives at the top; a summary; 2-4 exercises, each with a hint and a worked solution that the
    # page folds away; code cells short enough to read as the method, lines that fit the page; no number
    # typed into the prose (tools/typed_numbers.py).
    cells = json.loads((ROOT / chapter.notebook).read_text())["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    assert re.search(r"\*\*You will learn\*\*\s*\n(\s*\n)?(- .+\n?){3,}", markdown[0]), "objectives in the first cell"
    assert any("## Summary" in t for t in markdown)
    exercises = _exercises(markdown)
    assert 2 <= len(exercises) <= 4
    for item in exercises:
        for part in ("Hint", "Solution"):
            assert re.search(rf"^\s*:::{{admonition}} {part}\s*\n\s*:class: dropdown", item, re.MULTILINE), (
                f"exercise {item[:40]!r} needs a folded {part}"
            )
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert [line for source in code for line in source.splitlines() if len(line) > 88] == []  # no sideways scroll
    assert [len(s.splitlines()) for s in code if len(s.splitlines()) > 30] == []
    typed = [found for t in markdown for found in typed_numbers.typed_numbers(t)]
    assert typed == []


def test_the_typed_number_check_catches_a_planted_count_and_spares_what_may_stay_typed():
    planted = "The training set holds 1,949 recordings, of which 248 are DAS, and 63.4 % are Normal."
    assert len(typed_numbers.typed_numbers(planted)) == 3
    allowed = (
        "Hu et al. report a score of 73.4 on task 2-2 {cite:p}`hu2023supcon`. A $128 \\times 798$ image, "
        "`n_mels=64`, 3 s clips at 8 kHz, chapter 3, exercise 2, stage 1, ResNet18, 2-D scans, ICBHI 2017, "
        "[a link](https://example.org/42), two (2) views.\n\n```python\nx = 1949\n```\n## 4. A heading\n"
    )
    assert typed_numbers.typed_numbers(allowed) == []
    # The same count inside a fenced block of an indented solution is code, not prose.
    assert typed_numbers.typed_numbers("   ```python\n   n = 6656\n   ```\nSee 6656 events.") == ["…See 6656 events.…"]


def test_readme_links_the_book_and_every_chapter_on_colab():
    readme = (ROOT / "README.md").read_text()
    assert f"<{project.BOOK_URL}>" in readme
    for chapter in project.CHAPTERS:
        assert f"({project.COLAB_BADGE})]({chapter.colab_url})" in readme
        assert chapter.book_url in readme
    assert "Rocha" in readme and "Zhang" in readme  # the datasets' citation requests


def test_sync_is_idempotent_and_writes_gpu_metadata(tmp_path):
    (tmp_path / "book").mkdir()
    chapter = project.CHAPTERS[0]
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# 1. Title\n"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": ["import respkit\n", "session = setup_chapter('old')"],
            },
        ],
        "metadata": {"colab": {"name": "kept"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    once = sync_notebooks.dumps(sync_notebooks.sync_notebook(notebook, chapter))
    twice = sync_notebooks.dumps(sync_notebooks.sync_notebook(json.loads(once), chapter))
    assert once == twice
    synced = json.loads(once)
    assert synced["metadata"]["accelerator"] == "GPU"
    assert synced["metadata"]["colab"] == {"name": "kept", "provenance": [], "gpuType": "T4"}
    source = "".join(synced["cells"][1]["source"])
    assert f'spec = "{project.INSTALL_SPEC}"' in source and 'os.environ.get("RESPKIT_INSTALL", spec)' in source
    assert source.endswith(f'title = "{chapter.title}"\nsession = setup_chapter(title, datasets=["icbhi", "sprsound"])')
    # A title too long for one 88-column line is wrapped, and the cell still runs the same call.
    long_title = sync_notebooks.title_line("x" * 80)
    assert max(map(len, long_title.splitlines())) <= 88 and eval(long_title.split("=", 1)[1]) == "x" * 80
    assert synced["cells"][0] == notebook["cells"][0]


def test_sync_refuses_a_first_code_cell_that_is_not_the_setup():
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["x = 1"]}], "metadata": {}}
    with pytest.raises(ValueError, match="setup cell"):
        sync_notebooks.sync_notebook(notebook, project.CHAPTERS[0])


# --- recorded results ship with the package ---------------------------------------------------------
def test_recorded_results_live_in_the_package_and_load():
    assert book.RECORDED_RESULTS.parent == Path(book.__file__).resolve().parent
    files = sorted(book.RECORDED_RESULTS.glob("*.json"))
    assert files, "no recorded results shipped"
    windows = book.recorded_results("supcon.windows-*")
    assert [r["recipe"] for r in windows] == ["supcon.windows"] * len(windows) and windows
    for result in book.recorded_results():
        assert {"recipe", "profile", "seeds", "summary", "command"} <= set(result)
        assert Path(result["path"]).parent == book.RECORDED_RESULTS


# --- the full profile and simulated data -------------------------------------------------------------
@pytest.fixture
def gpu(monkeypatch):
    """A machine that looks like a Colab GPU to the profile choice (the device stays the CPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("RESPKIT_DEVICE", "cpu")
    for name in ("RESPKIT_PROFILE", book.ALLOW_SIMULATED_FULL_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "profile, env, simulated, allow, expected",
    [
        (None, {}, [], False, "full"),  # real data: the hardware's choice stands
        (None, {}, ["icbhi"], False, "quick"),  # picked by hardware: falls back, says why
        (None, {"RESPKIT_ALLOW_SIMULATED_FULL": "1"}, ["icbhi"], False, "full"),
        (None, {"RESPKIT_ALLOW_SIMULATED_FULL": "0"}, ["icbhi"], False, "quick"),
        ("full", {}, ["sprsound"], True, "full"),
        ("quick", {}, ["icbhi", "sprsound"], False, "quick"),
    ],
)
def test_choose_profile(gpu, monkeypatch, profile, env, simulated, allow, expected):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    chosen, fallback = book.choose_profile(profile, simulated, allow)
    assert chosen == expected
    if profile is None and expected == "quick":  # fell back from the hardware's choice: says why
        assert fallback.startswith(" and ".join(simulated) + " would be simulated")
    else:
        assert fallback == ""


@pytest.mark.parametrize("by", ["argument", "environment"])
def test_full_requested_on_simulated_data_is_refused(gpu, monkeypatch, by):
    if by == "environment":
        monkeypatch.setenv("RESPKIT_PROFILE", "full")
    with pytest.raises(book.SimulatedDataError, match="download_sprsound") as error:
        book.choose_profile("full" if by == "argument" else None, ["sprsound"])
    assert "allow_simulated_full=True" in str(error.value)


def test_setup_on_colab_without_data_says_how_to_get_it(gpu, simulated, monkeypatch, capsys):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    session = book.setup_chapter("Chapter 4: test", datasets=["icbhi"])
    out = capsys.readouterr().out
    assert session.profile == "quick"
    assert "profile quick, not full: icbhi would be simulated" in out
    assert "download_icbhi()" in out and book.DOWNLOAD_SIZES["icbhi"] in out
    assert "download_sprsound" not in out  # this chapter does not use SPRSound
    assert 'drive.mount("/content/drive")' in out


def test_setup_off_colab_prints_only_its_summary(simulated, monkeypatch, capsys):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("RESPKIT_PROFILE", raising=False)
    book.setup_chapter("Chapter 2: test", datasets=["sprsound"])
    lines = capsys.readouterr().out.splitlines()  # chapter, then profile and device, then data: no hint
    assert len(lines) == 3 and lines[0].endswith("Chapter 2: test") and lines[1].startswith("profile quick")
    assert lines[2].startswith("data: ") and "sprsound simulated" in lines[2]
    assert "icbhi" not in lines[2]  # the chapter asked for SPRSound only: its setup line names that alone


# --- the book renders offline ------------------------------------------------------------------------
EQUATIONS = r"""# Equations

Inline $\bar A = e^{\Delta A}$, and a display:

$$
h_t = \bar A\, h_{t-1} + \bar B\, u_t, \qquad \bar B = (\Delta A)^{-1}\left(e^{\Delta A} - I\right) \Delta B .
$$
"""


def _widget_notebook() -> dict:
    """A notebook as the book build leaves it after a widget was shown: a view output and the saved state."""
    state = {
        "abc": {
            "model_name": "IntSliderModel",
            "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0",
            "state": {"value": 3},
        }
    }
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Widgets\n"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "source": ["slider"],
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "application/vnd.jupyter.widget-view+json": {
                                "model_id": "abc",
                                "version_major": 2,
                                "version_minor": 0,
                            },
                            "text/plain": ["IntSlider(value=3)"],
                        },
                    }
                ],
            },
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "widgets": {
                "application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2, "version_minor": 0}
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory) -> Path:
    """A two-page book built with the project's own _config.yml (execution off): its HTML folder."""
    folder = tmp_path_factory.mktemp("tinybook")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    (folder / "references.bib").write_text((ROOT / "references.bib").read_text())
    (folder / "_toc.yml").write_text("format: jb-book\nroot: equations\nchapters:\n  - file: widgets\n")
    (folder / "equations.md").write_text(EQUATIONS)
    (folder / "widgets.ipynb").write_text(json.dumps(_widget_notebook()))
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jupyter_book), "build", str(folder), "-W"], check=True, capture_output=True, timeout=300)
    return folder / "_build" / "html"


def test_built_pages_load_nothing_from_the_network(tiny_book):
    assert (tiny_book / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for page in ("equations.html", "widgets.html"):
        html = (tiny_book / page).read_text()
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html)
        assert [url for url in remote if not url.startswith(project.REPOSITORY)] == [], page
    widgets = (tiny_book / "widgets.html").read_text()
    assert "IntSlider(value=3)" in widgets  # the widget's text form stands in for the dead widget


def test_math_is_typeset_with_the_network_unavailable(tiny_book):
    if screenshot.find_browser() is None:
        pytest.skip("no Chromium or Chrome (apt-get install chromium)")
    page = tiny_book / "equations.html"
    with screenshot.serve(tiny_book) as base:
        dom = screenshot.dump_dom(base + page.name, offline=True)
    assert dom.count("<mjx-container") == 2  # the inline and the display equation
    assert screenshot.math_problems(page, dom) == []


def test_the_caveat_names_the_simulated_datasets_as_the_prose_does(simulated, monkeypatch):
    session = book.Session(
        chapter="t", profile="quick", device=torch.device("cpu"), data=simulated, seed=0, runs_dir=Path(".")
    )
    text = session.caveat(("sprsound", "icbhi")).data
    assert "**simulated** SPRSound and ICBHI data" in text and "**quick** profile" in text
