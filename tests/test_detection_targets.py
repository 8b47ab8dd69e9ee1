"""respkit.detection.targets: class sets, frame targets by hand, the round trip, real and simulated JSON."""

import json

import numpy as np
import pytest
import soundfile as sf

from respkit.data.sprsound import EVENT_TYPES
from respkit.detection.targets import (
    CLASS_SETS,
    Event,
    detection_classes,
    events_to_frames,
    frames_to_events,
    n_frames,
    read_events,
    relabel,
)

# A real training record with three adventitious types, events listed out of order, and a Fine Crackle
# that ends (878 ms) exactly where a Wheeze+Crackle starts.
REAL_RECORD = "41161556_1.7_0_p2_2993"


def test_class_sets_cover_the_annotation_types_and_leave_normal_out():
    assert detection_classes() == ["Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle"]
    assert detection_classes("cas_das") == ["CAS", "DAS"]
    assert detection_classes("adventitious") == ["Adventitious"]
    assert detection_classes("all") == EVENT_TYPES
    for name, mapping in CLASS_SETS.items():
        assert set(mapping) <= set(EVENT_TYPES)
        assert ("Normal" in mapping) == (name == "all")
    with pytest.raises(ValueError, match="unknown class set"):
        detection_classes("CAS")


def test_relabel_drops_normal_and_splits_wheeze_plus_crackle_into_cas_and_das():
    events = [(3.0, 4.0, "Wheeze+Crackle"), (0.0, 1.0, "Normal"), (1.0, 2.0, "Stridor")]
    assert relabel(events) == [Event(1.0, 2.0, "Stridor"), Event(3.0, 4.0, "Wheeze+Crackle")]
    assert relabel(events, "cas_das") == [Event(1.0, 2.0, "CAS"), Event(3.0, 4.0, "CAS"), Event(3.0, 4.0, "DAS")]
    assert relabel(events, "adventitious") == [Event(1.0, 2.0, "Adventitious"), Event(3.0, 4.0, "Adventitious")]
    with pytest.raises(ValueError, match="unknown event type 'Crackle'"):
        relabel([(0.0, 1.0, "Crackle")])


def test_events_to_frames_marks_the_frames_whose_centre_is_inside():
    # hop 0.1 s: frame t's centre is 0.05 + 0.1 t. (0.25, 0.55) holds the centres 0.25, 0.35, 0.45 (frames
    # 2-4; 0.55 is the end, excluded). (0.0, 0.12) holds 0.05 (frame 0). (0.71, 2.0) holds 0.75 and
    # 0.85 (frames 7, 8), cut at the 9th frame. (0.31, 0.34) holds no centre and leaves no trace.
    events = [(0.25, 0.55, "a"), (0.0, 0.12, "b"), (0.71, 2.0, "b"), (0.31, 0.34, "b")]
    expected = np.array(
        [
            [0, 0, 1, 1, 1, 0, 0, 0, 0],
            [1, 0, 0, 0, 0, 0, 0, 1, 1],
        ],
        dtype=np.float32,
    )
    got = events_to_frames(events, ["a", "b"], hop=0.1, frames=9)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    # Back to events: runs of frames [a, b) -> (a·hop, b·hop), sorted by onset.
    back = frames_to_events(expected, ["a", "b"], hop=0.1)
    assert [e.label for e in back] == ["b", "a", "b"]
    np.testing.assert_allclose([(e.onset, e.offset) for e in back], [(0.0, 0.1), (0.2, 0.5), (0.7, 0.9)])


def test_frame_helpers_refuse_what_they_cannot_represent():
    assert n_frames(9.216, 0.02) == 461 and n_frames(0.3, 0.1) == 3 and n_frames(0.0, 0.1) == 0
    with pytest.raises(ValueError, match="not one of the classes"):
        events_to_frames([(0.0, 1.0, "c")], ["a", "b"], hop=0.1, frames=10)
    with pytest.raises(ValueError, match="onset < offset"):
        events_to_frames([(1.0, 1.0, "a")], ["a"], hop=0.1, frames=10)
    with pytest.raises(ValueError, match=r"\[n_classes=2, n_frames\]"):
        frames_to_events(np.zeros((3, 5)), ["a", "b"], hop=0.1)


@pytest.mark.parametrize("hop", [0.01, 0.02, 0.032])
def test_events_to_frames_to_events_moves_each_boundary_by_at_most_half_a_frame(hop):
    rng = np.random.default_rng(7)
    classes = ["a", "b", "c"]
    duration = 15.0
    events = []
    for label in classes:  # per class: events of at least two frames, gaps of at least two frames
        t = float(rng.uniform(0, 1))
        while True:
            onset = t + float(rng.uniform(2 * hop, 1.0))
            offset = onset + float(rng.uniform(2 * hop, 2.0))
            if offset > duration:
                break
            events.append(Event(round(onset, 3), round(offset, 3), label))
            t = offset
    events.sort()
    frames = events_to_frames(events, classes, hop, n_frames(duration, hop))
    back = frames_to_events(frames, classes, hop)
    assert len(back) == len(events) > 20
    for original, recovered in zip(events, back):
        assert recovered.label == original.label
        assert abs(recovered.onset - original.onset) <= hop / 2 + 1e-9
        assert abs(recovered.offset - original.offset) <= hop / 2 + 1e-9


def independent_events(path):
    """The JSON read here with json alone: (start_s, end_s, type) sorted by start."""
    annotation = json.loads(path.read_text())["event_annotation"]
    return sorted((float(e["start"]) / 1000, float(e["end"]) / 1000, e["type"]) for e in annotation)


def frames_by_loop(events, classes, hop, frames):
    """Frame targets by their definition: frame t is active for class c if its centre is in an event of c."""
    target = np.zeros((len(classes), frames), dtype=np.float32)
    for c, label in enumerate(classes):
        for t in range(frames):
            centre = (t + 0.5) * hop
            target[c, t] = any(on <= centre < off for on, off, kind in events if kind == label)
    return target


def test_targets_of_a_real_sprsound_record_match_its_json(sprsound_root):
    release = sprsound_root / "BioCAS2022"
    path = release / "train2022_json" / f"{REAL_RECORD}.json"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this copy of SPRSound")
    expected = independent_events(path)
    assert read_events(path, class_set=None) == expected  # every event, Normal included, in seconds
    adventitious = [e for e in expected if e[2] != "Normal"]
    assert read_events(path) == adventitious and len(adventitious) == 7

    audio = next(release.glob(f"train2022_wav/{REAL_RECORD}.*"))
    duration = sf.info(str(audio)).duration
    hop = 0.02
    classes = detection_classes()
    frames = n_frames(duration, hop)
    targets = events_to_frames(read_events(path), classes, hop, frames)
    np.testing.assert_array_equal(targets, frames_by_loop(adventitious, classes, hop, frames))
    # The record holds Fine Crackle, Wheeze and Wheeze+Crackle, and nothing else.
    active_rows = {classes[c] for c in np.flatnonzero(targets.any(axis=1))}
    assert active_rows == {"Fine Crackle", "Wheeze", "Wheeze+Crackle"}
    # Back to events: the five Fine Crackles, the Wheeze and the Wheeze+Crackle, each within half a frame.
    back = frames_to_events(targets, classes, hop)
    assert [e.label for e in back] == [e[2] for e in adventitious]
    for recovered, original in zip(back, adventitious):
        assert max(abs(recovered.onset - original[0]), abs(recovered.offset - original[1])) <= hop / 2 + 1e-9


def test_simulated_sprsound_json_reads_the_same_way(tmp_path):
    from respkit.data.synthetic import write_sprsound

    root = write_sprsound(tmp_path, n_patients=3, seed=1)
    paths = sorted((root / "BioCAS2022").rglob("*.json"))
    assert paths
    for path in paths:
        expected = independent_events(path)
        assert read_events(path, class_set=None) == expected
        assert read_events(path, "all") == sorted(Event(*e) for e in expected)
        wav = sf.info(str(next(path.parents[2].rglob(f"{path.stem}.wav"))))
        assert all(offset <= wav.duration + 1e-9 for _, offset, _ in expected)


def test_a_broken_json_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "1_2.0_0_p1_3.json"
    event = {"start": "9", "end": "5", "type": "Wheeze"}
    path.write_text(json.dumps({"record_annotation": "Normal", "event_annotation": [event]}))
    with pytest.raises(ValueError, match=r"1_2\.0_0_p1_3\.json.*start < end"):
        read_events(path)


def test_a_detection_release_file_without_record_label_is_read(tmp_path):
    # BioCAS 2024/2025 test-set files hold event_annotation only; the classification loader still needs a label.
    from respkit.data.sprsound import read_json

    path = tmp_path / "1_2.0_0_p1_3.json"
    events = [{"start": "1500", "end": "2250", "type": "Wheeze"}, {"start": "100", "end": "900", "type": "Normal"}]
    path.write_text(json.dumps({"event_annotation": events}))
    assert read_events(path) == [Event(1.5, 2.25, "Wheeze")]
    assert read_json(path, record_label=False) == (None, [(100.0, 900.0, "Normal"), (1500.0, 2250.0, "Wheeze")])
    with pytest.raises(ValueError, match=r"1_2\.0_0_p1_3\.json: missing key 'record_annotation'"):
        read_json(path)
