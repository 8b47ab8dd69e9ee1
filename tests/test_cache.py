"""The feature cache: computes once, keys on the exact config and source, rebuilds a corrupt entry."""

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn
from torchaudio.transforms import MelSpectrogram

from respkit.data import FeatureCache, SPRSound, feature_key


def test_get_or_compute_computes_once(tmp_path):
    cache = FeatureCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6.0).reshape(2, 3)

    first = cache.get_or_compute("abc123", compute)
    second = cache.get_or_compute("abc123", compute)
    assert len(calls) == 1 and torch.equal(first, second)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["abc123.pt"]  # no temporary left behind


def test_corrupt_entry_is_rebuilt_with_a_warning(tmp_path):
    cache = FeatureCache(tmp_path, memory_bytes=0)  # every read goes to disk
    cache.get_or_compute("k1", lambda: torch.ones(3))
    cache.path("k1").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        value = cache.get_or_compute("k1", lambda: torch.full((3,), 2.0))
    assert torch.equal(value, torch.full((3,), 2.0))
    assert torch.equal(cache.get_or_compute("k1", lambda: torch.zeros(3)), value)  # the rebuilt entry is stored


def test_feature_key_sees_every_hyper_parameter():
    base = feature_key(MelSpectrogram(sample_rate=16000, n_mels=64, hop_length=160))
    assert base == feature_key(MelSpectrogram(sample_rate=16000, n_mels=64, hop_length=160))
    # torchaudio defines no extra_repr: these differ only in attributes (hop) or also in buffers (n_fft).
    assert base != feature_key(MelSpectrogram(sample_rate=16000, n_mels=64, hop_length=320))
    assert base != feature_key(MelSpectrogram(sample_rate=16000, n_fft=1024, n_mels=64, hop_length=160))
    assert base != feature_key(nn.Sequential(MelSpectrogram(sample_rate=16000, n_mels=64, hop_length=160)))


class _Counting(nn.Module):
    """A feature that counts its calls: the mean of each 100-sample frame."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        self.calls = 0

    def extra_repr(self) -> str:
        return f"scale={self.scale}"

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.scale * wave.unfold(-1, 100, 100).mean(-1)


def test_dataset_uses_the_cache_and_notices_changed_audio(tmp_path):
    base = tmp_path / "BioCAS2022"
    (base / "train2022_json").mkdir(parents=True)
    (base / "train2022_wav").mkdir()
    audio = base / "train2022_wav" / "1_5.0_0_p1_1.wav"
    sf.write(audio, np.full(8000, 0.25, np.float32), 8000, subtype="PCM_16")
    record = {"record_annotation": "Normal", "event_annotation": [{"start": "0", "end": "500", "type": "Normal"}]}
    (base / "train2022_json" / "1_5.0_0_p1_1.json").write_text(json.dumps(record))

    feature = _Counting()
    ds = SPRSound(tmp_path, transform=feature, cache=FeatureCache(tmp_path / "cache"))
    first, label = ds[0]
    assert first.shape == (1, 40) and torch.allclose(first, torch.full((1, 40), 0.25)) and label == 0
    assert torch.equal(ds[0][0], first) and feature.calls == 1

    # A fresh dataset with the same config reads the stored entry.
    again = SPRSound(tmp_path, transform=_Counting(), cache=FeatureCache(tmp_path / "cache"))
    assert torch.equal(again[0][0], first) and again.transform.calls == 0
    # Another config, or a replaced audio file, is a new entry.
    scaled = SPRSound(tmp_path, transform=_Counting(scale=2.0), cache=FeatureCache(tmp_path / "cache"))
    assert torch.allclose(scaled[0][0], 2 * first)
    sf.write(audio, np.full(8000, -0.5, np.float32), 8000, subtype="PCM_16")
    os.utime(audio, ns=(0, 10**18))  # a new mtime even on coarse-grained file systems
    changed = SPRSound(tmp_path, transform=_Counting(), cache=FeatureCache(tmp_path / "cache"))
    assert torch.allclose(changed[0][0], torch.full((1, 40), -0.5))


def test_memory_copies_spare_the_disk_and_stay_unchanged(tmp_path):
    cache = FeatureCache(tmp_path)
    first = cache.get_or_compute("k", lambda: torch.arange(4.0))
    cache.path("k").unlink()  # a second read must not need the file
    first.add_(100)  # a caller changing its tensor in place must not change the cache
    assert torch.equal(cache.get_or_compute("k", lambda: torch.zeros(4)), torch.arange(4.0))


def test_memory_stops_at_its_budget(tmp_path):
    cache = FeatureCache(tmp_path, memory_bytes=4 * 4)  # room for one entry of four float32
    cache.get_or_compute("a", lambda: torch.ones(4))
    cache.get_or_compute("b", lambda: torch.full((4,), 2.0))
    cache.path("a").unlink()
    cache.path("b").write_bytes(b"garbage")  # "b" is not in memory: it is read from disk, found damaged
    assert torch.equal(cache.get_or_compute("a", lambda: torch.zeros(4)), torch.ones(4))
    with pytest.warns(UserWarning, match="unreadable"):
        assert torch.equal(cache.get_or_compute("b", lambda: torch.full((4,), 3.0)), torch.full((4,), 3.0))
