"""A small reference model that measures how hard a simulated dataset is: its score is the simulator's ceiling.

A method that cannot beat a logistic regression on log-mel statistics has learnt little; one that scores
far above it on the simulator has found something the simulator gives away. So the simulator's default
difficulty (:data:`~respkit.data.synthetic.sounds.DIFFICULTY`) is set to put this model in a stated band,
:data:`REFERENCE_SCORE`, well above the always-Normal floor (SPRSound 0.25, ICBHI 0.50) and short of
perfect, and ``tests/test_simulator_difficulty.py`` checks that it lands there, in seconds.

The model: every item is read by the real loader at 4 kHz (the 0–2 kHz band, where lung sounds live and
which every device records, so the ICBHI devices' upper bands do not tell the model who recorded it), turned
into a 32-band log-mel spectrogram (32 ms windows, 8 ms hops), its loudness removed (its mean subtracted),
and summarised per band by mean, standard deviation and maximum over time and by the mean and maximum
frame-to-frame rise (the onsets crackles make): 160 numbers. A class-balanced, L2-regularised logistic
regression is fitted on the official training split and scored on the official test splits pooled
(SPRSound: inter and intra; ICBHI: test) with the official metric.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from respkit.features import LogMel

#: The reference model's official score on the default simulated datasets, ``(dataset, task) -> (low, high)``:
#: the range over simulator seeds 0–4 at the default size and :data:`~respkit.data.synthetic.sounds.DIFFICULTY`,
#: widened by 0.02 each side. Methods worth their name land near or above the band; the always-Normal floor is
#: 0.25 (SPRSound) and 0.50 (ICBHI).
REFERENCE_SCORE: dict[tuple[str, str | None], tuple[float, float]] = {
    ("sprsound", "1-2"): (0.77, 0.86),  # measured 0.795-0.838
    ("sprsound", "1-1"): (0.84, 0.91),  # measured 0.860-0.893
    ("icbhi", None): (0.68, 0.82),  # measured 0.705-0.795
}

SAMPLE_RATE = 4000
_LOG_MEL = LogMel(sample_rate=SAMPLE_RATE, n_fft=128, hop_length=32, n_mels=32, top_db=80.0)


def reference_features(dataset) -> np.ndarray:
    """``[items, 160]`` log-mel statistics of every item of a dataset read at :data:`SAMPLE_RATE`."""
    rows = []
    threads = torch.get_num_threads()
    # One item's spectrogram is tiny: a thread pool costs more than it saves (10-20x more on a busy machine).
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for i in range(len(dataset)):
                waveform, _ = dataset[i]
                mel = _LOG_MEL(waveform)[0]  # [n_mels, frames]
                mel = mel - mel.mean()  # the recording's loudness is no clue
                rise = mel[:, 1:] - mel[:, :-1]
                rows.append(torch.cat([mel.mean(1), mel.std(1), mel.amax(1), rise.abs().mean(1), rise.amax(1)]))
    finally:
        torch.set_num_threads(threads)
    return torch.stack(rows).numpy()


def reference_score(root: str | Path, dataset: str, task: str | None = None) -> dict[str, float]:
    """The reference model's official scores (``"score"`` and its parts) on the dataset under ``root``.

    ``dataset`` is a registered name ("sprsound", "icbhi") and ``root`` its folder (``<root>/BioCAS2022``,
    ``<root>/ICBHI_final_database``); ``task`` as for :func:`respkit.data.registry.score_function`.
    Deterministic: the same folder gives the same score. On one CPU core for the default sizes: a second
    (ICBHI, SPRSound task 1-1) to four (SPRSound task 1-2).
    """
    from respkit.data.registry import dataset_splits, score_function  # the loaders import this package

    train, tests = dataset_splits(dataset, root, task, sample_rate=SAMPLE_RATE, duration=None)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=3000))
    model.fit(reference_features(train), train.labels)
    truth = np.concatenate([test.labels for test in tests.values()])
    predicted = np.concatenate([model.predict(reference_features(test)) for test in tests.values()])
    return score_function(dataset, task)(truth, predicted)
