"""The dataset registry: the two datasets it holds, their scores, and a third dataset added in one line."""

import copy
import pickle
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from respkit.data import ICBHI, SPRSound, load_audio
from respkit.data.base import RespiratoryDataset, file_source
from respkit.data.download import download_icbhi, download_sprsound
from respkit.data.locate import DatasetLocation, DataSource, resolve_data
from respkit.data.registry import DATASETS, DatasetSpec, get_dataset, register_dataset, score_function
from respkit.data.synthetic import write_icbhi, write_sprsound
from respkit.metrics import icbhi_score


# -- a third dataset, all in one place: its loader, its simulator, its score -----------------------
class Toy(RespiratoryDataset):
    """A made-up dataset: ``TOY/<patient>_<label>.wav``, label 0 (normal) or 1."""

    classes = ["normal", "abnormal"]

    def __init__(self, root: Path, sample_rate: int = 8000) -> None:
        super().__init__(sample_rate)
        self.files = sorted((Path(root) / "TOY").glob("*.wav"))
        self.meta = [f.stem for f in self.files]
        self.groups = np.array([int(f.stem.split("_")[0]) for f in self.files])
        self.labels = np.array([int(f.stem.split("_")[1]) for f in self.files], dtype=np.int64)

    def _waveform(self, i: int):
        return self._recording(self.files[i]).clone()

    def _source(self, i: int) -> str:
        return file_source(self.files[i])


def write_toy(root: Path, seed: int = 0) -> Path:
    """Three patients with one normal and one abnormal recording each."""
    rng = np.random.default_rng(seed)
    (Path(root) / "TOY").mkdir(parents=True)
    for patient in range(3):
        for label in (0, 1):
            sf.write(Path(root) / "TOY" / f"{patient}_{label}.wav", rng.uniform(-0.5, 0.5, 800), 8000, subtype="FLOAT")
    return Path(root)


def toy_score(task=None):
    return partial(icbhi_score, n_classes=2)


@pytest.fixture
def registry():
    """The registry is global: leave it as the other tests expect."""
    saved = dict(DATASETS)
    yield DATASETS
    DATASETS.clear()
    DATASETS.update(saved)


@pytest.fixture
def toy(registry):
    # Adding a dataset: its module (above) and this one line.
    return register_dataset(DatasetSpec("toy", marker="TOY", loader=Toy, metric=toy_score, simulate=write_toy))


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """A RESPKIT_DATA holding the two built-in layouts' markers (enough for locating; nothing is read)."""
    root = tmp_path / "data"
    (root / "icbhi" / "ICBHI_final_database").mkdir(parents=True)
    (root / "sprsound" / "BioCAS2022").mkdir(parents=True)
    monkeypatch.setenv("RESPKIT_DATA", str(root))
    monkeypatch.setenv("RESPKIT_CACHE", str(tmp_path / "cache"))
    return root


# -- the built-in datasets ------------------------------------------------------------------------
def test_the_two_datasets_are_registered_with_everything_locate_needs():
    icbhi, sprsound = get_dataset("icbhi"), get_dataset("sprsound")
    assert (icbhi.marker, icbhi.loader, icbhi.simulate, icbhi.download) == (
        "ICBHI_final_database",
        ICBHI,
        write_icbhi,
        download_icbhi,
    )
    assert (sprsound.marker, sprsound.loader, sprsound.simulate, sprsound.download) == (
        "BioCAS2022",
        SPRSound,
        write_sprsound,
        download_sprsound,
    )
    assert "download_icbhi()" in icbhi.how_to_get() and "icbhi/ICBHI_final_database" in icbhi.how_to_get()


def test_score_function_gives_the_official_scores():
    # ICBHI: 2 normal (1 kept normal), 2 abnormal (1 predicted as exactly its class, 1 as another).
    icbhi = score_function("icbhi")(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]))
    assert (icbhi["sp"], icbhi["se"], icbhi["score"], icbhi["se_2class"]) == (0.5, 0.5, 0.5, 1.0)
    # SPRSound 1-1: sp = 1/2, se = 1, as = 3/4, hs = 2/3, score = (3/4 + 2/3) / 2.
    spr = score_function("sprsound", "1-1")(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    assert spr["score"] == pytest.approx((3 / 4 + 2 / 3) / 2) and spr["hs"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "args,problem",
    [
        (("sprsound",), "depends on the task"),
        (("sprsound", "3-1"), "unknown SPRSound task"),
        (("esc50",), "unknown dataset 'esc50'; registered: icbhi, sprsound"),
    ],
)
def test_score_function_errors_say_what_to_pass(args, problem):
    with pytest.raises(ValueError, match=problem):
        score_function(*args)


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="'icbhi' is registered twice"):
        register_dataset(DatasetSpec("icbhi", marker="TOY", loader=Toy, metric=toy_score))


# -- a third dataset --------------------------------------------------------------------------------
def test_a_registered_dataset_is_found_scored_and_read(toy, data_root):
    write_toy(data_root / "toy")
    data = resolve_data(simulate_missing=False)
    assert data.toy == DatasetLocation("toy", (data_root / "toy").resolve(), "RESPKIT_DATA")
    assert data.describe()["toy"] == {
        "root": str((data_root / "toy").resolve()),
        "origin": "RESPKIT_DATA",
        "simulated": False,
    }
    assert data.icbhi.root == (data_root / "icbhi").resolve() and "toy real" in data.notice
    ds = toy.loader(data.toy.root)
    assert ds.labels.tolist() == [0, 1] * 3 and len(set(ds.groups.tolist())) == 3
    wave, label = ds[1]
    assert label == 1 and torch.equal(wave, load_audio(data_root / "toy" / "TOY" / "0_1.wav", 8000))
    assert score_function("toy")(np.array([0, 1, 1]), np.array([0, 1, 0]))["se"] == 0.5


def test_a_missing_dataset_is_simulated_by_its_writer(toy, data_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="no toy data found: set RESPKIT_DATA to a folder holding toy/TOY"):
        resolve_data(simulate_missing=False)
    data = resolve_data()
    assert data.toy.origin == "simulator" and data.toy.root.is_relative_to((tmp_path / "cache").resolve())
    assert data.icbhi.origin == "RESPKIT_DATA"  # found ones are not simulated
    assert len(Toy(data.toy.root)) == 6


def test_simulation_is_renamed_into_place_whole_even_when_two_threads_race(registry, data_root):
    import threading
    import time

    def slow_toy(root, seed=0):
        time.sleep(0.2)  # both threads are inside the writer at once
        return write_toy(root, seed)

    register_dataset(DatasetSpec("toy", marker="TOY", loader=Toy, metric=toy_score, simulate=slow_toy))
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(len(Toy(resolve_data().toy.root)))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [6, 6]
    root = resolve_data().toy.root
    assert [p.name for p in root.parent.iterdir()] == ["toy"]  # the loser's staging folder is gone


def test_an_interrupted_simulation_is_written_again(registry, data_root):
    from respkit.data.locate import simulated_root
    from respkit.data.synthetic import MANIFEST

    partial_root = simulated_root() / "toy"
    write_toy(partial_root)
    (partial_root / "TOY" / "2_1.wav").unlink()  # the run stopped before its last file...
    (partial_root / MANIFEST).write_text('{"complete": false}')  # ...and its manifest says so
    register_dataset(DatasetSpec("toy", marker="TOY", loader=Toy, metric=toy_score, simulate=write_toy))
    assert len(Toy(resolve_data().toy.root)) == 6


def test_a_missing_dataset_without_simulator_is_left_out_and_explained(registry, data_root):
    register_dataset(DatasetSpec("toy", marker="TOY", loader=Toy, metric=toy_score))
    data = resolve_data()
    assert list(data.locations) == ["icbhi", "sprsound"]
    with pytest.raises(AttributeError, match="no toy data found: set RESPKIT_DATA to a folder holding toy/TOY"):
        _ = data.toy
    with pytest.raises(AttributeError, match="no dataset 'nope'"):
        _ = data.nope


def test_data_source_is_keyword_built_and_survives_pickling(tmp_path):
    data = DataSource(
        icbhi=DatasetLocation("icbhi", tmp_path / "a", "cache"),
        sprsound=DatasetLocation("sprsound", tmp_path / "b", "simulator"),
    )
    assert data.sprsound.simulated and not data.icbhi.simulated
    assert pickle.loads(pickle.dumps(data)) == data == copy.deepcopy(data)
    # The notice says what and whence, never the machine's path (it is printed in the rendered book).
    assert data.notice == "data: icbhi real (from cache); sprsound simulated (from simulator)"
