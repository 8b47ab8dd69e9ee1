"""Respiratory sound datasets in their official layouts, with patient-wise splits and a feature cache.

Every dataset derives from :class:`RespiratoryDataset`: ``ds.classes``, ``ds.labels`` (no audio decoded),
``ds.groups`` (patients), ``ds.meta``, ``ds.summary()``, and ``ds[i] -> (waveform [1, samples], label)``.
Each dataset registers itself (:mod:`respkit.data.registry`), which is how ``resolve_data()`` finds it.
"""

from respkit.data.audio import AudioError, NonFiniteAudioError, audio_info, load_audio
from respkit.data.base import RespiratoryDataset, Subset
from respkit.data.cache import FeatureCache, feature_key
from respkit.data.icbhi import ICBHI
from respkit.data.locate import DataSource, resolve_data
from respkit.data.registry import DatasetSpec, get_dataset, register_dataset, score_function
from respkit.data.sampler import ClassBalancedSampler
from respkit.data.splits import patient_folds, patient_split, shared_patients
from respkit.data.sprsound import SPRSound

__all__ = [
    "ICBHI",
    "SPRSound",
    "RespiratoryDataset",
    "Subset",
    "FeatureCache",
    "feature_key",
    "ClassBalancedSampler",
    "patient_split",
    "patient_folds",
    "shared_patients",
    "load_audio",
    "audio_info",
    "AudioError",
    "NonFiniteAudioError",
    "DataSource",
    "resolve_data",
    "DatasetSpec",
    "get_dataset",
    "register_dataset",
    "score_function",
]
