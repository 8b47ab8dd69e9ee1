"""respkit.detection.dataset: whole SPRSound recordings as (features, frame targets), by hand and on the simulator."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from respkit.data import Subset
from respkit.data.sprsound import SPRSound
from respkit.detection.dataset import RecordingFrames, annotation_path
from respkit.features import LogMel

HOP = 0.02  # LogMel(8000, hop_length=160)
EVENTS = [
    {"start": "600", "end": "900", "type": "Normal"},
    {"start": "200", "end": "500", "type": "Fine Crackle"},  # listed out of order, overlapping the Wheeze
    {"start": "100", "end": "300", "type": "Wheeze"},
]


@pytest.fixture
def one_record(tmp_path):
    """A one-second SPRSound record with the three events above, in the official layout."""
    root = tmp_path / "BioCAS2022"
    (root / "train2022_json").mkdir(parents=True)
    (root / "train2022_wav").mkdir()
    name = "40000001_5.0_0_p1_1"
    (root / "train2022_json" / f"{name}.json").write_text(
        json.dumps({"record_annotation": "CAS & DAS", "event_annotation": EVENTS})
    )
    noise = np.random.default_rng(0).normal(scale=0.1, size=8000).astype(np.float32)
    sf.write(root / "train2022_wav" / f"{name}.wav", noise, 8000)
    return SPRSound(tmp_path, level="record", task="2-1", transform=LogMel(8000, n_fft=512, hop_length=160, n_mels=16))


def test_whole_recording_targets_are_the_hand_counted_frames(one_record):
    """Frame t is active when its centre (t + 1/2) * 20 ms lies in [onset, offset): the Wheeze (0.1-0.3 s) covers
    frames 5-14, the Fine Crackle (0.2-0.5 s) DAS frames 10-24; Normal is no class of cas_das."""
    frames = RecordingFrames(one_record, "cas_das", HOP)
    features, targets = frames[0]
    assert features.shape == (1, 16, 51)  # 1 + 8000 // 160 frames
    expected = np.zeros((2, 51), dtype=np.float32)
    expected[0, 5:15] = 1
    expected[1, 10:25] = 1
    np.testing.assert_array_equal(targets.numpy(), expected)
    assert frames.classes == ["CAS", "DAS"]
    assert frames.events == [[(0.1, 0.3, "CAS"), (0.2, 0.5, "DAS")]]
    assert frames.labels.tolist() == [1] and frames.groups.tolist() == ["40000001"]


def test_the_breath_row_covers_every_annotated_event(one_record):
    """With ``breaths=True`` a last row is active over every event, Normal (0.6-0.9 s: frames 30-44) included."""
    features, targets = RecordingFrames(one_record, "cas_das", HOP, breaths=True)[0]
    assert targets.shape == (3, features.shape[-1])
    expected = np.zeros(51, dtype=np.float32)
    expected[5:25] = 1  # the union of the Wheeze and the Fine Crackle, 0.1-0.5 s
    expected[30:45] = 1
    np.testing.assert_array_equal(targets[2].numpy(), expected)
    np.testing.assert_array_equal(targets[:2].numpy(), RecordingFrames(one_record, "cas_das", HOP)[0][1].numpy())


def test_a_training_window_cuts_features_and_targets_at_the_same_frames(one_record):
    whole_features, whole_targets = RecordingFrames(one_record, "cas_das", HOP)[0]
    clips = RecordingFrames(one_record, "cas_das", HOP, clip_frames=20)
    torch.manual_seed(3)
    starts = set()
    for _ in range(12):
        features, targets = clips[0]
        assert features.shape == (1, 16, 20) and targets.shape == (2, 20)
        start = next(s for s in range(32) if torch.equal(whole_features[..., s : s + 20], features))
        torch.testing.assert_close(targets, whole_targets[:, start : start + 20])
        starts.add(start)
    assert len(starts) > 1  # random windows, not one fixed crop


def test_a_short_recording_is_padded_with_silence_and_no_events(one_record):
    whole_features, whole_targets = RecordingFrames(one_record, "cas_das", HOP)[0]
    features, targets = RecordingFrames(one_record, "cas_das", HOP, clip_frames=60)[0]
    torch.testing.assert_close(features[..., :51], whole_features)
    assert torch.all(features[..., 51:] == whole_features.min())
    torch.testing.assert_close(targets[:, :51], whole_targets)
    assert not targets[:, 51:].any()


def test_annotation_path_sees_through_nested_subsets(one_record):
    nested = Subset(Subset(one_record, [0]), [0])
    assert annotation_path(nested, 0) == one_record.root / "train2022_json" / "40000001_5.0_0_p1_1.json"


def test_simulated_recordings_have_events_exactly_where_the_record_is_adventitious(simulated):
    """Offline, the simulator's JSON feeds the same code: an Adventitious record (task 2-1) has active frames,
    a Normal or Poor Quality one none, and every event lies inside its recording."""
    records = SPRSound(simulated.sprsound.root, level="record", task="2-1", transform=LogMel(8000, 512, 160, 16))
    frames = RecordingFrames(Subset(records, np.arange(0, len(records), 7)), "cas_das", HOP)
    for i in range(len(frames)):
        features, targets = frames[i]
        assert targets.shape == (2, features.shape[-1])
        assert bool(targets.any()) == (frames.labels[i] == 1)
        assert all(0 <= on < off <= features.shape[-1] * HOP for on, off, _ in frames.events[i])
