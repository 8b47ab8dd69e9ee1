"""ICBHI 2017: counts and splits against REFERENCES.md, and the Patch-Mix cycle recipe on known audio."""

import numpy as np
import pytest
import soundfile as sf
import torch

from respkit.data import ICBHI, shared_patients
from respkit.data.icbhi import CLASSES

# REFERENCES.md: cycles per class (normal, crackle, wheeze, both).
ALL = [3642, 1864, 886, 506]
TRAIN = [2063, 1215, 501, 363]
TEST = [1579, 649, 385, 143]


def _counts(ds) -> list[int]:
    return np.bincount(ds.labels, minlength=4).tolist()


@pytest.fixture(scope="module")
def official(icbhi_root):
    with pytest.warns(UserWarning, match="226_1b1_Pl_sc_Meditron"):
        train = ICBHI(icbhi_root, "train", metadata_only=True)
    test = ICBHI(icbhi_root, "test", metadata_only=True)
    return train, test


def test_all_cycles(icbhi_root):
    ds = ICBHI(icbhi_root, "all", metadata_only=True)
    assert ds.classes == CLASSES == ["normal", "crackle", "wheeze", "both"]
    assert len(ds) == 6898 and _counts(ds) == ALL
    assert len({m.recording for m in ds.meta}) == 920
    assert len(set(ds.groups.tolist())) == 126
    assert "split-file lines naming no recording: 1" in ds.summary()


def test_official_split(official):
    train, test = official
    assert len(train) == 4142 and _counts(train) == TRAIN
    assert len(test) == 2756 and _counts(test) == TEST
    assert {m.split for m in train.meta} == {"train"} and {m.split for m in test.meta} == {"test"}
    assert "normal: 2063" in train.summary()


def test_official_split_shares_two_patients(official):
    assert shared_patients(*official) == [156, 218]


def test_meta_comes_from_file_names_and_tables(official):
    first = official[1].meta[0]  # test split, first file in name order
    assert (first.recording, first.patient, first.index) == ("101_1b1_Al_sc_Meditron", 101, 0)
    assert (first.location, first.mode, first.device, first.diagnosis) == ("Al", "sc", "Meditron", "URTI")
    assert (first.start, first.end, first.crackle, first.wheeze) == (0.036, 0.579, False, False)


def test_patient_folds_are_disjoint_and_cover(icbhi_root):
    tests = []
    for k in range(5):
        train = ICBHI(icbhi_root, "train", fold=k, metadata_only=True)
        test = ICBHI(icbhi_root, "test", fold=k, metadata_only=True)
        assert shared_patients(train, test) == []
        assert len(train) + len(test) == 6898
        tests.append({(m.recording, m.index) for m in test.meta})
    assert sum(len(t) for t in tests) == 6898 and len(set().union(*tests)) == 6898
    again = ICBHI(icbhi_root, "test", fold=0, metadata_only=True)
    assert {(m.recording, m.index) for m in again.meta} == tests[0]  # deterministic


def test_missing_audio_is_reported(icbhi_root):
    with pytest.raises(FileNotFoundError, match="901 of 920 recordings have no audio"):
        ICBHI(icbhi_root, "all")
    with pytest.warns(UserWarning, match="no audio"):
        ds = ICBHI(icbhi_root, "all", require_audio=False)
    assert len(ds.missing_audio) == 901 and len({m.recording for m in ds.meta}) == 19
    assert "recordings without audio: 901" in ds.summary()


def test_real_cycles_are_8_seconds_at_16khz(icbhi_root):
    with pytest.warns(UserWarning):
        ds = ICBHI(icbhi_root, "all", require_audio=False)
    first_of_each = {}
    for i, m in enumerate(ds.meta):
        first_of_each.setdefault(m.recording, i)
    assert len(first_of_each) == 19
    for i in first_of_each.values():
        wave, label = ds[i]
        assert wave.shape == (1, 128000) and wave.dtype == torch.float32
        assert label == ds.labels[i] and wave.abs().max() <= 1.0


# -- the recipe, on a hand-made recording whose samples are known --------------------------------
@pytest.fixture
def ramp_root(tmp_path):
    """One 16 kHz recording (no resampling) of a ramp, with one 1 s cycle and one 10 s cycle."""
    db = tmp_path / "ICBHI_final_database"
    db.mkdir()
    signal = np.linspace(-0.9, 0.9, 16000 * 12, dtype=np.float32)
    sf.write(db / "101_1b1_Al_sc_Meditron.wav", signal, 16000, subtype="FLOAT")
    (db / "101_1b1_Al_sc_Meditron.txt").write_text("2.0\t3.0\t1\t0\n1.0\t11.0\t0\t1\n")
    (tmp_path / "ICBHI_challenge_train_test.txt").write_text("101_1b1_Al_sc_Meditron\ttrain\n")
    return tmp_path, torch.from_numpy(signal)


def test_repeat_padding_tiles_the_cycle(ramp_root):
    root, signal = ramp_root
    ds = ICBHI(root, "train")
    assert ds.labels.tolist() == [1, 2]
    wave, _ = ds[0]  # cycle 2-3 s: 16000 samples tiled to 128000
    cycle = signal[32000:48000]
    assert wave.shape == (1, 128000)
    for k in range(7):
        assert torch.allclose(wave[0, k * 16000 : (k + 1) * 16000], cycle)
    # The last 1000 samples fade linearly to zero.
    assert torch.allclose(wave[0, -1000:], cycle[-1000:] * torch.linspace(1, 0, 1000), atol=1e-6)


def test_long_cycles_keep_their_first_8_seconds(ramp_root):
    root, signal = ramp_root
    wave, _ = ICBHI(root, "train")[1]  # cycle 1-11 s
    assert torch.allclose(wave[0], signal[16000 : 16000 + 128000])


def test_zero_padding_centres_the_cycle_and_recording_fades(ramp_root):
    root, signal = ramp_root
    ds = ICBHI(root, "train", pad="zero")
    wave, _ = ds[0]
    left = (128000 - 16000) // 2
    assert torch.count_nonzero(wave[0, :left]) == 0 and torch.count_nonzero(wave[0, left + 16000 :]) == 0
    assert torch.allclose(wave[0, left : left + 16000], signal[32000:48000])
    # The recording itself fades in over its first 1000 samples.
    whole = ds._recording(root / "ICBHI_final_database" / "101_1b1_Al_sc_Meditron.wav")
    assert whole[0, 0] == 0 and torch.allclose(whole[0, 1000:2000], signal[1000:2000])


def test_natural_length(ramp_root):
    root, signal = ramp_root
    wave, _ = ICBHI(root, "train", duration=None)[0]
    assert torch.allclose(wave[0], signal[32000:48000])


def test_cycles_of_one_recording_decode_once(ramp_root, monkeypatch):
    import respkit.data.base as base

    root, _ = ramp_root
    decoded = []
    real = base.load_audio
    monkeypatch.setattr(base, "load_audio", lambda *args: decoded.append(args) or real(*args))
    ds = ICBHI(root, "train")
    for i in (0, 1, 0):
        ds[i]
    assert len(decoded) == 1
