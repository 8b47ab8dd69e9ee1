"""Chapter 6's bench: what ``run_bench`` keeps, what ``load_bench`` reads back, the paired comparison the
chapter draws from it, and the chapter itself executed on a tiny bench and on an empty folder.

The bench here is two methods at toy size on the simulator (seconds); the real one is ``python -m respkit
bench``, whose results ship under ``respkit/results/bench``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from respkit.bench import METHODS, load_bench, predictions_path, run_bench
from respkit.data.registry import score_function
from respkit.runs import RunArtifacts, work_folder
from respkit.stats import compare_pairs

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "ch6_bench.ipynb"
SEEDS = 2
# Toy sizes: the cpu profile's recipes, a few dozen events, one epoch.
TINY = {
    "duration": 1.0,
    "batch_size": 8,
    "epoch_items": 16,
    "max_train": 48,
    "max_val": 24,
    "max_test": 16,
    "train.epochs": 1,
}
TINY_AST = {**TINY, "model_kwargs": {"embed_dim": 16, "depth": 1, "num_heads": 2}}
TINY_BY_RECIPE = {  # AST before DASS in METHODS; their file names sort the other way round
    "patchmix.finetune": TINY_AST,
    "patchmix.cl": TINY_AST,
    "lungsrad.finetune": TINY,
}


@pytest.fixture(scope="module")
def bench(simulated, tmp_path_factory):
    """A two-method bench on the simulator: its folder and the results dicts ``run_bench`` returned."""
    folder = tmp_path_factory.mktemp("bench")
    results = {}
    for recipe, overrides in TINY_BY_RECIPE.items():
        (results[recipe],) = run_bench([recipe], seeds=SEEDS, out_dir=folder, data=simulated, overrides=overrides)
    return folder, results


def test_predictions_file_holds_every_seeds_artifacts(bench):
    folder, results = bench
    runs = load_bench(folder)
    assert {run.method.recipe for run in runs} == set(TINY_BY_RECIPE)
    for run in runs:
        assert sorted(run.predictions) == list(range(SEEDS))
        for seed, splits in run.predictions.items():
            artifacts = RunArtifacts.load(work_folder(results[run.method.recipe], seed))
            assert set(splits) == set(artifacts.predictions) and "val" in splits
            for split, stored in splits.items():
                np.testing.assert_array_equal(stored["y_true"], artifacts.predictions[split].y_true)
                np.testing.assert_array_equal(stored["y_pred"], artifacts.predictions[split].y_pred)
                if split in artifacts.groups:
                    np.testing.assert_array_equal(stored["groups"], artifacts.groups[split].astype(str))
            assert "groups" in splits["val"]  # the paired bootstrap resamples these patients


def test_load_bench_keeps_the_results_and_measures_cost(bench):
    folder, results = bench
    for run in load_bench(folder):
        expected = results[run.method.recipe]
        assert run.results["summary"] == expected["summary"] and run.results["seeds"] == list(range(SEEDS))
        assert run.mean("score") == expected["summary"]["score"]["mean"]
        assert run.cpu_minutes_per_run == pytest.approx(expected["cpu_seconds"] / SEEDS / 60)
        assert run.mean("parameters") > 0 and run.results["hardware"]["cpu_count"] >= 1


def test_load_bench_orders_by_methods_and_skips_other_tasks(bench, tmp_path):
    folder, results = bench
    for path in folder.glob("*.*"):
        shutil.copy(path, tmp_path)
    # The same run relabelled as task 1-1, under a name that sorts before every other file.
    source = results["lungsrad.finetune"]
    other = json.loads(Path(source["path"]).read_text())
    other["config"]["task"] = "1-1"
    relabelled = tmp_path / "aaa.other-cpu-00000000.json"
    relabelled.write_text(json.dumps(other))
    shutil.copy(predictions_path(source), predictions_path({"path": str(relabelled)}))

    runs = load_bench(tmp_path, task="1-2")
    order = [m.recipe for m in METHODS if m.recipe in TINY_BY_RECIPE]
    assert [run.method.recipe for run in runs] == order  # METHODS' order, not the files' (lungsrad < patchmix)
    assert sorted(p.name for p in tmp_path.glob("*.json"))[0] == relabelled.name
    assert all(run.results["config"]["task"] == "1-2" for run in runs)
    (only,) = load_bench(tmp_path, task="1-1")
    assert Path(only.results["path"]).name == relabelled.name
    assert load_bench(tmp_path, task="2-2") == []


def test_run_bench_reuses_results_and_predictions(bench, simulated):
    folder, results = bench
    recipe = "patchmix.finetune"
    files = {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}
    started = time.perf_counter()
    (again,) = run_bench([recipe], seeds=SEEDS, out_dir=folder, data=simulated, overrides=TINY_BY_RECIPE[recipe])
    assert time.perf_counter() - started < 5  # loaded, not trained
    assert again["path"] == results[recipe]["path"] and again["summary"] == results[recipe]["summary"]
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()} == files


# --- the paired comparison of chapter 6 ------------------------------------------------------------------
def test_compare_pairs_averages_seeds_and_calls_ties_noise():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 10)  # 30 patients, 10 events each
    y_true = rng.integers(0, 7, groups.size)
    normal = np.zeros_like(y_true)
    predictions = {"perfect": [y_true, y_true], "normal": [normal], "copy": [normal.copy()], "mixed": [y_true, normal]}
    score = score_function("sprsound", "1-2")
    pairs = [("perfect", "normal"), ("normal", "copy"), ("mixed", "normal")]
    rows = compare_pairs(y_true, groups, predictions, pairs, score, n=200)
    better, tie, mixed = rows
    assert (better["a"], better["b"]) == ("perfect", "normal")
    assert better["point"] == pytest.approx(1 - score(y_true, normal)["score"])
    assert better["low"] > 0 and better["p_better"] == 1.0 and not better["within_noise"]
    assert tie["point"] == tie["low"] == tie["high"] == 0.0 and tie["within_noise"]
    # A method's score is the mean of its seeds' scores: halfway between perfect and always normal.
    assert mixed["point"] == pytest.approx(better["point"] / 2)
    assert mixed["low"] == pytest.approx(better["low"] / 2)


def test_compare_pairs_resamples_patients_not_events():
    # One patient holds every abnormal event: resampling patients often leaves it out, so the interval of
    # "perfect - always normal" is wide; resampling events (one patient per event) would make it narrow.
    y_true = np.r_[np.ones(20, int), np.zeros(80, int)]
    by_patient = np.r_[np.zeros(20, int), np.arange(1, 81)]
    normal = np.zeros_like(y_true)
    score = score_function("sprsound", "1-2")
    args = ({"perfect": [y_true], "normal": [normal]}, [("perfect", "normal")], score)
    (patients,) = compare_pairs(y_true, by_patient, *args, n=300)
    (events,) = compare_pairs(y_true, np.arange(100), *args, n=300)
    assert patients["high"] - patients["low"] > 5 * (events["high"] - events["low"])


# --- the chapter ---------------------------------------------------------------------------------------
def execute_chapter(folder: Path) -> list[str]:
    """Run chapter 6 on the bench in ``folder`` (its load line pointed there); return its text outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(CHAPTER, as_version=4)
    line = "load_bench(BENCH_DIR, task=TASK)"
    (cell,) = [c for c in notebook.cells if line in c.source]
    cell.source = cell.source.replace(line, f"load_bench({str(folder)!r}, task=TASK)")
    env = {**os.environ, "RESPKIT_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(CHAPTER.parent)}}
    )
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        client.execute()
    texts = []
    for c in notebook.cells:
        for output in c.get("outputs", []):
            texts.append(output.get("text", "") + output.get("data", {}).get("text/markdown", ""))
    return texts


def test_chapter_without_results_says_how_to_make_them_and_trains_nothing(simulated, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    with pytest.raises(nbclient.exceptions.CellExecutionError) as stopped:
        execute_chapter(tmp_path)
    message = str(stopped.value)
    assert "FileNotFoundError" in message and "python -m respkit bench --task 1-2" in message
    assert "trains nothing" in message
    assert list(tmp_path.iterdir()) == []  # nothing was written: nothing trained


def test_chapter_renders_a_bench(bench):
    folder, _ = bench
    before = sorted(path for path in folder.rglob("*"))
    texts = "\n".join(execute_chapter(folder))
    for expected in (
        "| method | chapter | parameters | CPU-min/run |",
        "| method | bench: held-out score | the paper reports |",
        "not run yet: SupCon",
    ):
        assert expected in texts
    # The tiny runs are flagged (one class, no better than guessing): flagged runs are shown with their
    # flag and never compared, and a pair with a missing method is left out.
    assert "**predicts one class (held out" in texts
    assert "AST + Patch-Mix CL − AST fine-tune" not in texts and "Lung-SRAD − DASS fine-tune" not in texts
    assert sorted(path for path in folder.rglob("*")) == before  # it trained nothing
