"""Bad input, hand-made: every problem is an error naming the file, or a warning counted in summary()."""

import json
import re

import numpy as np
import pytest
import soundfile as sf

from respkit.data import ICBHI, SPRSound, audio_info, load_audio
from respkit.data.audio import AudioError, NonFiniteAudioError

REC = "101_1b1_Al_sc_Meditron"


def _named(path) -> str:
    return re.escape(str(path))


# -- audio files ----------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=_named(tmp_path / "nope.wav")):
        load_audio(tmp_path / "nope.wav", None)


def test_empty_files(tmp_path):
    (tmp_path / "zero_bytes.wav").write_bytes(b"")
    sf.write(tmp_path / "zero_frames.wav", np.zeros(0, np.float32), 8000)
    for name in ("zero_bytes.wav", "zero_frames.wav"):
        with pytest.raises(AudioError, match=_named(tmp_path / name) + ".*empty|no audio"):
            load_audio(tmp_path / name, None)


def test_truncated_wav(tmp_path):
    sf.write(tmp_path / "full.wav", np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])  # a download stopped half way
    (tmp_path / "header_only.wav").write_bytes(data[:30])
    with pytest.raises(AudioError, match=_named(tmp_path / "cut.wav") + ": truncated"):
        load_audio(tmp_path / "cut.wav", None)
    with pytest.raises(AudioError, match=_named(tmp_path / "header_only.wav")):
        load_audio(tmp_path / "header_only.wav", None)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused(tmp_path, bad):
    # Only a float file can hold them; clamping would have turned an infinity into a full-scale click.
    samples = np.full((8000, 2), 0.1, np.float32)
    samples[2000, 1] = samples[6000, 0] = bad
    sf.write(tmp_path / "damaged.wav", samples, 8000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match=_named(tmp_path / "damaged.wav") + ": 2 NaN or infinite .* 0.250 s"):
        load_audio(tmp_path / "damaged.wav", 16000)
    assert audio_info(tmp_path / "damaged.wav").is_float


def test_not_audio(tmp_path):
    (tmp_path / "notes.wav").write_text("these are not samples\n" * 20)
    with pytest.raises(AudioError, match=_named(tmp_path / "notes.wav") + ": not a readable audio file"):
        load_audio(tmp_path / "notes.wav", 16000)


# -- ICBHI tables ---------------------------------------------------------------------------------
def _icbhi(tmp_path, annotation: str, split: str = f"{REC}\ttrain\n", seconds: float = 4.0):
    db = tmp_path / "ICBHI_final_database"
    db.mkdir(exist_ok=True)
    sf.write(db / f"{REC}.wav", np.full(int(4000 * seconds), 0.1, np.float32), 4000, subtype="PCM_16")
    (db / f"{REC}.txt").write_text(annotation)
    (tmp_path / "ICBHI_challenge_train_test.txt").write_text(split)
    return tmp_path


def test_malformed_annotation_line_names_file_and_line(tmp_path):
    root = _icbhi(tmp_path, "0.1\t1.0\t0\t0\n1.0\t2.x\t0\t0\n")
    with pytest.raises(ValueError, match=_named(root / "ICBHI_final_database" / f"{REC}.txt") + ", line 2"):
        ICBHI(root, "all", metadata_only=True)
    (root / "ICBHI_final_database" / f"{REC}.txt").write_text("0.1\t1.0\t0\n")
    with pytest.raises(ValueError, match="line 1: .*expected 4 fields"):
        ICBHI(root, "all", metadata_only=True)
    (root / "ICBHI_final_database" / f"{REC}.txt").write_text("0.1\t1.0\t0\t2\n")
    with pytest.raises(ValueError, match="line 1: .*0 or 1"):
        ICBHI(root, "all", metadata_only=True)


def test_split_line_naming_no_recording_is_counted(tmp_path):
    root = _icbhi(tmp_path, "0.1\t1.0\t0\t0\n", split=f"{REC}\ttrain\n226_1b1_Pl_sc_Meditron\ttrain\n")
    with pytest.warns(UserWarning, match="226_1b1_Pl_sc_Meditron"):
        ds = ICBHI(root, "train")
    assert len(ds) == 1 and "split-file lines naming no recording: 1" in ds.summary()


def test_malformed_split_line(tmp_path):
    root = _icbhi(tmp_path, "0.1\t1.0\t0\t0\n", split=f"{REC}\tvalidation\n")
    with pytest.raises(ValueError, match=_named(root / "ICBHI_challenge_train_test.txt") + ", line 1"):
        ICBHI(root, "train")


def test_cycle_past_the_audio_end_is_clipped_or_skipped(tmp_path):
    # 4 s of audio; one cycle inside, one running past the end, one starting after it.
    root = _icbhi(tmp_path, "0.5\t1.5\t0\t0\n3.0\t5.0\t1\t0\n4.5\t5.5\t0\t1\n")
    with pytest.warns(UserWarning, match=f"past the end of their audio in {REC}.wav"):
        ds = ICBHI(root, "train", duration=None)
    assert ds.labels.tolist() == [0, 1]
    assert ds.meta[1].end == 4.0
    assert ds[1][0].shape == (1, 16000)  # 3.0-4.0 s at 16 kHz
    summary = ds.summary()
    assert "cycles clipped at the audio end: 1" in summary
    assert "cycles starting after the audio ends (skipped): 1" in summary
    # From annotations alone nothing is clipped: the cycle counts stay those of the file.
    assert len(ICBHI(root, "train", metadata_only=True)) == 3


def test_recording_with_nan_samples_is_left_out_and_named(tmp_path):
    damaged = "102_1b1_Ar_sc_Meditron"
    root = _icbhi(tmp_path, "0.5\t1.5\t0\t0\n", split=f"{REC}\ttrain\n{damaged}\ttrain\n")
    db = root / "ICBHI_final_database"
    samples = np.full(16000, 0.1, np.float32)
    samples[5000] = np.nan
    sf.write(db / f"{damaged}.wav", samples, 4000, subtype="FLOAT")
    (db / f"{damaged}.txt").write_text("0.5\t1.5\t1\t0\n2.0\t3.0\t1\t1\n")
    with pytest.warns(UserWarning, match=_named(db / f"{damaged}.wav") + ": 1 NaN or infinite sample.* 1.250 s"):
        ds = ICBHI(root, "train")
    assert [m.recording for m in ds.meta] == [REC] and ds.labels.tolist() == [0]
    summary = ds.summary()
    assert "recordings with NaN or infinite samples: 1" in summary
    assert "cycles of recordings with NaN or infinite samples: 2" in summary
    # Labels and statistics never decode audio, so they still count the damaged recording's cycles.
    assert len(ICBHI(root, "train", metadata_only=True)) == 3


def test_recording_damaged_after_loading_is_refused_when_served(tmp_path):
    root = _icbhi(tmp_path, "0.5\t1.5\t0\t0\n")
    ds = ICBHI(root, "train")
    wav = root / "ICBHI_final_database" / f"{REC}.wav"
    samples = np.full(16000, 0.1, np.float32)
    samples[100] = np.nan
    sf.write(wav, samples, 4000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match=_named(wav)):
        ds[0]


def test_missing_audio(tmp_path):
    root = _icbhi(tmp_path, "0.5\t1.5\t0\t0\n", split=f"{REC}\ttrain\n102_1b1_Ar_sc_Meditron\ttrain\n")
    (root / "ICBHI_final_database" / "102_1b1_Ar_sc_Meditron.txt").write_text("0.5\t1.5\t1\t1\n")
    with pytest.raises(FileNotFoundError, match="1 of 2 recordings have no audio.*102_1b1_Ar_sc_Meditron"):
        ICBHI(root, "train")
    with pytest.warns(UserWarning, match="no audio"):
        ds = ICBHI(root, "train", require_audio=False)
    assert ds.missing_audio == ["102_1b1_Ar_sc_Meditron"] and ds.labels.tolist() == [0]
    assert "recordings without audio: 1" in ds.summary() and "cycles without audio: 1" in ds.summary()
    meta_only = ICBHI(root, "train", metadata_only=True)
    assert meta_only.labels.tolist() == [0, 3]
    with pytest.raises(RuntimeError, match="metadata_only"):
        meta_only[0]


def test_stray_text_file_is_skipped_and_counted(tmp_path):
    root = _icbhi(tmp_path, "0.5\t1.5\t0\t0\n")
    (root / "ICBHI_final_database" / "README.txt").write_text("notes")
    with pytest.warns(UserWarning, match="README.txt"):
        ds = ICBHI(root, "all", metadata_only=True)
    assert len(ds) == 1 and "annotation files with a non-ICBHI name: 1" in ds.summary()


# -- SPRSound JSON --------------------------------------------------------------------------------
STEM = "1_5.0_0_p1_1"


def _sprsound(tmp_path, record: dict | str, samples: np.ndarray | None = None):
    """One record of 1 s at 8 kHz (or ``samples``, written as floats) with its JSON."""
    base = tmp_path / "BioCAS2022"
    (base / "train2022_json").mkdir(parents=True, exist_ok=True)
    (base / "train2022_wav").mkdir(exist_ok=True)
    wav = base / "train2022_wav" / f"{STEM}.wav"
    if samples is None:
        sf.write(wav, np.full(8000, 0.1, np.float32), 8000, subtype="PCM_16")
    else:
        sf.write(wav, samples, 8000, subtype="FLOAT")
    text = record if isinstance(record, str) else json.dumps(record)
    (base / "train2022_json" / f"{STEM}.json").write_text(text)
    return tmp_path, base / "train2022_json" / f"{STEM}.json"


def test_json_string_and_numeric_times_unsorted_events(tmp_path):
    events = [{"start": "600", "end": "900", "type": "Wheeze"}, {"start": 100, "end": 400.5, "type": "Normal"}]
    root, _ = _sprsound(tmp_path, {"record_annotation": "CAS", "event_annotation": events})
    ds = SPRSound(root)
    assert [(m.start_ms, m.end_ms, m.annotation) for m in ds.meta] == [(100, 400.5, "Normal"), (600, 900, "Wheeze")]
    assert [m.index for m in ds.meta] == [0, 1]
    assert ds.labels.tolist() == [0, ds.classes.index("Wheeze")]
    assert ds[1][0].shape == (1, 2400)


@pytest.mark.parametrize(
    "record,problem",
    [
        ({"event_annotation": []}, "missing key"),
        (
            {"record_annotation": "Normal", "event_annotation": [{"start": "1", "type": "Normal"}]},
            r"missing key\(s\) \['end'\]",
        ),
        (
            {"record_annotation": "Normal", "event_annotation": [{"start": "1s", "end": "9", "type": "Normal"}]},
            "event 0",
        ),
        (
            {"record_annotation": "Normal", "event_annotation": [{"start": "9", "end": "1", "type": "Normal"}]},
            "start < end",
        ),
        (
            {"record_annotation": "Normal", "event_annotation": [{"start": "1", "end": "9", "type": "Squeak"}]},
            "unknown type",
        ),
        ({"record_annotation": "Fine", "event_annotation": []}, "unknown record label"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_json_names_the_file(tmp_path, record, problem):
    root, path = _sprsound(tmp_path, record)
    with pytest.raises(ValueError, match=_named(path) + ".*" + problem):
        SPRSound(root)


def test_sprsound_missing_audio_and_odd_names_are_counted(tmp_path):
    root, path = _sprsound(tmp_path, {"record_annotation": "Normal", "event_annotation": []})
    (path.parent / "2_6.0_1_p2_2.json").write_text(json.dumps({"record_annotation": "DAS", "event_annotation": []}))
    (path.parent / "extra copy.json").write_text("{}")
    with pytest.warns(UserWarning):
        ds = SPRSound(root, level="record")
    assert ds.labels.tolist() == [0] and ds.missing_audio == ["2_6.0_1_p2_2"]
    summary = ds.summary()
    assert "records without audio: 1" in summary and "files with a non-SPRSound name: 1" in summary


def test_event_past_the_audio_end_is_clipped_or_skipped(tmp_path):
    # 1 s of audio; one event inside, one running past the end, one starting after it.
    events = [
        {"start": "100", "end": "400", "type": "Normal"},
        {"start": "600", "end": "1500", "type": "Wheeze"},
        {"start": "1200", "end": "1400", "type": "Fine Crackle"},
    ]
    root, _ = _sprsound(tmp_path, {"record_annotation": "CAS", "event_annotation": events})
    with pytest.warns(UserWarning, match=f"past the end of their audio in {STEM}.wav"):
        ds = SPRSound(root)
    assert ds.labels.tolist() == [0, ds.classes.index("Wheeze")]
    assert (ds.meta[1].start_ms, ds.meta[1].end_ms) == (600, 1000)
    assert ds[1][0].shape == (1, 3200)  # 600-1000 ms at 8 kHz
    summary = ds.summary()
    assert "events clipped at the audio end: 1" in summary
    assert "events starting after the audio ends (skipped): 1" in summary
    # The record itself is whole: nothing to clip at record level.
    assert "skipped" not in SPRSound(root, level="record").summary()


def test_sprsound_record_with_nan_samples_is_left_out_and_named(tmp_path):
    samples = np.full(8000, 0.1, np.float32)
    samples[4000] = np.nan
    events = [{"start": "100", "end": "400", "type": "Normal"}, {"start": "600", "end": "900", "type": "Wheeze"}]
    root, _ = _sprsound(tmp_path, {"record_annotation": "CAS", "event_annotation": events}, samples)
    wav = root / "BioCAS2022" / "train2022_wav" / f"{STEM}.wav"
    with pytest.warns(UserWarning, match=_named(wav) + ": 1 NaN or infinite sample.* 0.500 s"):
        ds = SPRSound(root)
    assert len(ds) == 0
    assert "recordings with NaN or infinite samples: 1" in ds.summary()
    assert "events of records with NaN or infinite samples: 2" in ds.summary()
