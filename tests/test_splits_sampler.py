"""Patient-wise splits never share a patient; the sampler balances classes; Subset keeps the metadata."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from respkit.data import ICBHI, ClassBalancedSampler, RespiratoryDataset, Subset, patient_split
from respkit.data.splits import patient_folds, shared_patients


def _toy(n_patients: int = 40, per_patient: int = 5):
    """Patients with 5 items each; a third of the patients have every item abnormal."""
    groups = np.repeat(np.arange(n_patients), per_patient)
    labels = (groups % 3 == 0).astype(np.int64)
    return SimpleNamespace(groups=groups, labels=labels)


@pytest.mark.parametrize("stratify", [True, False])
def test_patient_split_is_disjoint_deterministic_and_sized(stratify):
    ds = _toy()
    train, val = patient_split(ds, val_fraction=0.2, seed=3, stratify=stratify)
    assert shared_patients(ds.groups[train], ds.groups[val]) == []
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(200))
    assert len(val) == 40  # 8 of 40 patients, 5 items each
    again = patient_split(ds, val_fraction=0.2, seed=3, stratify=stratify)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(patient_split(ds, 0.2, seed=4, stratify=stratify)[1], val)


def test_stratified_split_keeps_the_class_mix():
    ds = _toy(n_patients=60)
    _, val = patient_split(ds, val_fraction=0.2, seed=0)
    assert abs(ds.labels[val].mean() - ds.labels.mean()) < 0.05  # 1/3 abnormal on both sides


def test_patient_folds_cover_every_item_once():
    ds = _toy()
    folds = patient_folds(ds.groups, n_folds=5, seed=0)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(200))
    for train, test in folds:
        assert shared_patients(ds.groups[train], ds.groups[test]) == []
    with pytest.raises(ValueError, match="patients"):
        patient_folds(np.array([1, 1, 2]), n_folds=5)


def test_real_icbhi_validation_split(icbhi_root):
    ds = ICBHI(icbhi_root, "train", metadata_only=True)
    train, val = patient_split(ds)
    assert shared_patients(ds.groups[train], ds.groups[val]) == []
    assert len(train) + len(val) == 4142 and 0.1 < len(val) / 4142 < 0.3


def test_class_balanced_sampler_draws_classes_equally():
    labels = [0] * 90 + [1] * 9 + [2] * 1
    sampler = ClassBalancedSampler(labels, num_samples=30000, generator=torch.Generator().manual_seed(0))
    drawn = np.array(labels)[list(sampler)]
    assert len(drawn) == 30000
    assert np.allclose(np.bincount(drawn) / 30000, 1 / 3, atol=0.02)
    assert len(ClassBalancedSampler(labels)) == 100
    again = ClassBalancedSampler(labels, num_samples=50, generator=torch.Generator().manual_seed(1))
    other = ClassBalancedSampler(labels, num_samples=50, generator=torch.Generator().manual_seed(1))
    assert list(again) == list(other)
    with pytest.raises(ValueError):
        ClassBalancedSampler([])


@pytest.mark.parametrize("power, shares", [(0.0, [0.9, 0.09, 0.01]), (0.5, np.sqrt([90, 9, 1]) / (90**0.5 + 3 + 1))])
def test_class_balanced_sampler_power_sets_how_fully_it_balances(power, shares):
    labels = [0] * 90 + [1] * 9 + [2] * 1
    sampler = ClassBalancedSampler(labels, num_samples=30000, generator=torch.Generator().manual_seed(0), power=power)
    assert np.allclose(np.bincount(np.array(labels)[list(sampler)]) / 30000, shares, atol=0.02)
    with pytest.raises(ValueError, match="power"):
        ClassBalancedSampler(labels, power=1.5)


class _Tiny(RespiratoryDataset):
    """Item i is a constant waveform of value i."""

    classes = ["normal", "abnormal"]

    def __init__(self):
        super().__init__(sample_rate=100)
        self.labels = np.array([0, 1, 0, 1])
        self.groups = np.array([7, 7, 8, 9])
        self.meta = ["a", "b", "c", "d"]

    def _waveform(self, i):
        return torch.full((1, 10), float(i))


def test_subset_keeps_classes_labels_groups_meta():
    ds = _Tiny()
    sub = Subset(ds, [3, 1])
    assert sub.classes == ds.classes and sub.sample_rate == 100
    assert sub.labels.tolist() == [1, 1] and sub.groups.tolist() == [9, 7] and sub.meta == ["d", "b"]
    wave, label = sub[0]
    assert wave[0, 0] == 3.0 and label == 1
    nested = Subset(sub, [1])
    assert nested.meta == ["b"] and nested[0][0][0, 0] == 1.0
    assert "normal: 0" in sub.summary() and "abnormal: 2" in sub.summary()
