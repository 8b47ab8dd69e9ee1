"""Provenance: the commit and dirty flag of a real (temporary) git checkout, the environment fallback,
and results files written before these fields existed."""

import json
import shutil
import subprocess

import pytest

from respkit import __version__
from respkit.bench import BENCH_DIR, load_bench, predictions_path
from respkit.book import RECORDED_RESULTS
from respkit.data.registry import score_function
from respkit.experiments import load_results
from respkit.provenance import COMMIT_VARIABLE, DIRTY_VARIABLE, provenance
from respkit.report import results_table

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd, *args) -> str:
    # Identity and signing given here so the test does not depend on the machine's git config.
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A repository holding a package ``pkg`` with one commit, and no provenance variables set."""
    monkeypatch.delenv(COMMIT_VARIABLE, raising=False)
    monkeypatch.delenv(DIRTY_VARIABLE, raising=False)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "pkg/__init__.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_then_dirty_checkout(checkout):
    head = git(checkout, "rev-parse", "HEAD")
    clean = provenance(checkout / "pkg")
    assert clean == {
        "git_commit": head,
        "git_dirty": False,
        "git_source": f"git checkout holding {checkout / 'pkg'}",
        "respkit_version": __version__,
    }
    (checkout / "notes.txt").write_text("untracked files do not make the tree dirty\n")
    assert provenance(checkout / "pkg")["git_dirty"] is False
    (checkout / "pkg" / "__init__.py").write_text("x = 2\n")
    assert provenance(checkout / "pkg") == {**clean, "git_dirty": True}
    git(checkout, "commit", "-q", "-am", "second")
    second = provenance(checkout / "pkg")
    assert second["git_commit"] == git(checkout, "rev-parse", "HEAD") != head and second["git_dirty"] is False


def test_untracked_package_is_not_credited_with_the_surrounding_commit(checkout):
    # A copy of the package that git does not track (as in a virtual environment inside a repository).
    shutil.copytree(checkout / "pkg", checkout / "venv" / "pkg")
    assert provenance(checkout / "venv" / "pkg")["git_commit"] is None


def test_without_git_the_environment_is_recorded_or_the_gap_is_said(tmp_path, monkeypatch):
    monkeypatch.delenv(COMMIT_VARIABLE, raising=False)
    monkeypatch.delenv(DIRTY_VARIABLE, raising=False)
    unknown = provenance(tmp_path)
    assert (unknown["git_commit"], unknown["git_dirty"]) == (None, None)
    assert unknown["git_source"].startswith("unknown:") and COMMIT_VARIABLE in unknown["git_source"]
    monkeypatch.setenv(COMMIT_VARIABLE, "0123abc")
    assert provenance(tmp_path) == {
        "git_commit": "0123abc",
        "git_dirty": None,
        "git_source": f"${COMMIT_VARIABLE}",
        "respkit_version": __version__,
    }
    monkeypatch.setenv(DIRTY_VARIABLE, "1")
    assert provenance(tmp_path)["git_dirty"] is True
    monkeypatch.setenv(DIRTY_VARIABLE, "false")
    assert provenance(tmp_path)["git_dirty"] is False


def test_a_checkout_wins_over_the_environment(checkout, monkeypatch):
    monkeypatch.setenv(COMMIT_VARIABLE, "stale")
    assert provenance(checkout / "pkg")["git_commit"] == git(checkout, "rev-parse", "HEAD")


def test_results_written_before_provenance_still_load(tmp_path):
    # The shape of the committed respkit/results/*.json: "git_commit": null, no git_dirty or git_source.
    old = {
        "recipe": "toy",
        "profile": "full",
        "config": {},
        "seeds": [0],
        "metrics_per_seed": [{"score": 0.5}],
        "summary": {"score": {"mean": 0.5, "std": 0.0, "n": 1}},
        "git_commit": None,
        "respkit_version": "0.1.0",
    }
    (tmp_path / "toy-full-00000000.json").write_text(json.dumps(old))
    loaded = load_results(tmp_path / "toy-full-00000000.json")
    assert loaded["git_commit"] is None and "git_dirty" not in loaded
    assert results_table([loaded], ["score"]).splitlines()[-1] == "| toy | full | 1 | 50.00 |"


def test_committed_results_files_still_load():
    files = sorted(RECORDED_RESULTS.glob("*.json"))
    assert files, f"no results files under {RECORDED_RESULTS}"
    for path in files:
        loaded = load_results(path)
        assert "git_commit" in loaded and results_table([loaded], ["score"]).count("\n") == 2


def test_bench_results_have_complete_provenance_and_their_predictions():
    """Chapter 6 ranks these files: each must say which clean commit made it, how, on what, and at what cost."""
    files = sorted(BENCH_DIR.glob("*.json"))
    for path in files:
        results = load_results(path)
        assert results["git_commit"] and len(results["git_commit"]) == 40 and results["git_dirty"] is False, path.name
        assert results["profile"] == "cpu" and results["cpu_seconds"] > 0 and results["command"], path.name
        assert results["data"]["sprsound"]["simulated"] is False, path.name  # the bench is real data only
        assert predictions_path(results).is_file(), path.name
    runs = load_bench()
    for run in runs:  # every seed's held-out predictions score what the results file says
        seeds = run.results["seeds"]
        assert sorted(run.predictions) == seeds
        for seed, metrics in zip(seeds, run.results["metrics_per_seed"]):
            held_out = run.predictions[seed]["val"]
            score = score_function("sprsound", run.results["config"]["task"])
            assert score(held_out["y_true"], held_out["y_pred"])["score"] == pytest.approx(metrics["score"])
