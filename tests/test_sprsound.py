"""SPRSound 2022: counts against REFERENCES.md, the four task label sets, test slices, audio."""

import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from respkit.data import SPRSound, shared_patients

RECORDS = {"Normal": 1303, "DAS": 248, "Poor Quality": 177, "CAS": 126, "CAS & DAS": 95}
EVENTS = {
    "Normal": 5159,
    "Fine Crackle": 912,
    "Wheeze": 452,
    "Coarse Crackle": 49,
    "Rhonchi": 39,
    "Wheeze+Crackle": 30,
    "Stridor": 15,
}


def _named_counts(ds) -> dict[str, int]:
    return {ds.classes[k]: n for k, n in Counter(ds.labels.tolist()).items()}


def test_train_records(sprsound_root):
    ds = SPRSound(sprsound_root, "train", level="record", task="2-2")
    assert ds.classes == ["Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality"]
    assert len(ds) == 1949 and _named_counts(ds) == RECORDS
    assert len(set(ds.groups.tolist())) == 251


def test_train_events(sprsound_root):
    ds = SPRSound(sprsound_root, "train", level="event", task="1-2")
    assert ds.classes[0] == "Normal" and set(ds.classes) == set(EVENTS)
    assert len(ds) == 6656 and _named_counts(ds) == EVENTS


def test_task_label_mappings(sprsound_root):
    t11 = SPRSound(sprsound_root, level="event", task="1-1")
    assert t11.classes == ["Normal", "Adventitious"]
    assert np.bincount(t11.labels).tolist() == [5159, 6656 - 5159]
    t21 = SPRSound(sprsound_root, level="record", task="2-1")
    assert t21.classes == ["Normal", "Adventitious", "Poor Quality"]
    assert np.bincount(t21.labels).tolist() == [1303, 248 + 126 + 95, 177]
    # Each label agrees with the annotation it came from.
    assert all((label == 0) == (m.annotation == "Normal") for label, m in zip(t11.labels, t11.meta))
    with pytest.raises(ValueError, match="does not fit level"):
        SPRSound(sprsound_root, level="event", task="2-2")


def test_meta_from_file_name(sprsound_root):
    ds = SPRSound(sprsound_root, level="record")
    m = next(m for m in ds.meta if m.record == "40069321_15.3_0_p1_981")
    assert (m.patient, m.age, m.gender, m.location, m.record_id) == ("40069321", 15.3, "M", "left posterior", 981)
    assert m.annotation == "Poor Quality" and m.start_ms is None


def test_test_slices(sprsound_root):
    train = SPRSound(sprsound_root, "train", level="record")
    inter = SPRSound(sprsound_root / "BioCAS2022", "inter_test", level="record")  # root may be BioCAS2022
    intra = SPRSound(sprsound_root, "intra_test", level="record")
    assert len(inter) == 24 and len(intra) == 24 and not inter.missing_audio
    assert shared_patients(inter, train) == []  # inter-test patients are unseen
    assert set(intra.groups.tolist()) <= set(train.groups.tolist())  # intra-test patients are all in train
    wave, label = inter[0]
    assert wave.shape == (1, sf.info(inter._audio[inter.meta[0].record]).frames) and label == inter.labels[0]


def test_event_audio_at_8khz(sprsound_root):
    ds = SPRSound(sprsound_root, "train", level="event")
    for i in (0, 1, 2):
        m = ds.meta[i]
        wave, label = ds[i]
        assert wave.shape == (1, round(m.end_ms * 8) - round(m.start_ms * 8))
        assert label == ds.labels[i] and wave.abs().max() <= 1.0
    fixed = SPRSound(sprsound_root, "train", level="event", duration=3.0)
    assert fixed[0][0].shape == (1, 24000)


def test_wav_and_flac_are_both_read(tmp_path):
    base = tmp_path / "BioCAS2022"
    (base / "train2022_json").mkdir(parents=True)
    (base / "train2022_wav").mkdir()
    tone = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    for stem, suffix in (("1_5.0_0_p1_1", ".wav"), ("2_6.0_1_p2_2", ".flac")):
        sf.write(base / "train2022_wav" / f"{stem}{suffix}", tone, 8000, subtype="PCM_16")
        record = {"record_annotation": "Normal", "event_annotation": [{"start": "0", "end": "500", "type": "Normal"}]}
        (base / "train2022_json" / f"{stem}.json").write_text(json.dumps(record))
    ds = SPRSound(tmp_path)
    assert len(ds) == 2 and not ds.missing_audio
    assert [ds[i][0].shape for i in range(2)] == [(1, 4000), (1, 4000)]
    assert ds.meta[1].gender == "F" and ds.meta[1].location == "left lateral"
