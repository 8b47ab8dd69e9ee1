"""The simulator is learnable at a stated difficulty, and each difficulty knob does what it says.

The reference model (:mod:`respkit.data.synthetic.reference`, a logistic regression on log-mel statistics)
must reach :data:`REFERENCE_SCORE` on the default simulated SPRSound (tasks 1-2 and 1-1) and ICBHI, in
seconds: well above the always-Normal floor (SPRSound 0.25, ICBHI 0.50) and short of perfect, so the
chapters' methods can differ on it. Quieter or fewer adventitious sounds must score measurably lower. Every
knob is also checked on the ground truth it produces (overlap's effect on the score, 0.05-0.13 on task 1-2,
is within the spread between seeds of so small a test set, so only its mechanism is tested).
"""

import dataclasses
import json
import time

import numpy as np
import pytest

from respkit.data.synthetic import (
    CONTINUOUS,
    CRACKLES,
    DIFFICULTY,
    MANIFEST,
    PHYSIOLOGY,
    REFERENCE_SCORE,
    Difficulty,
    reference_score,
    simulate_cycle,
    write_icbhi,
    write_sprsound,
)

FLOOR = {"sprsound": 0.25, "icbhi": 0.50}  # what always answering Normal scores
SR = 8000


# --- the knobs, on the ground truth ------------------------------------------------------------


def _adventitious(kind, difficulty, seed, **kwargs):
    _, events = simulate_cycle(kind, SR, seed_or_rng=seed, snr_db=40, difficulty=difficulty, **kwargs)
    return [e for e in events if e.kind in CRACKLES or e.kind in CONTINUOUS]


def test_physiology_is_the_default_and_event_level_scales_every_amplitude():
    for seed in range(4):
        for kind in ("both", "stridor", "coarse_crackle"):
            a, _ = simulate_cycle(kind, SR, seed_or_rng=seed)
            b, _ = simulate_cycle(kind, SR, seed_or_rng=seed, difficulty=PHYSIOLOGY)
            assert np.array_equal(a, b)
            loud = _adventitious(kind, PHYSIOLOGY, seed)
            quiet = _adventitious(kind, Difficulty(event_level_db=-6.0), seed)
            # The same draws, only 6 dB quieter (a factor 10^(-6/20) = 0.501 in amplitude).
            assert [e.start_s for e in quiet] == [e.start_s for e in loud]
            assert np.allclose([q.amplitude / e.amplitude for q, e in zip(quiet, loud)], 0.501187, rtol=1e-5)


def test_event_rate_scales_crackle_counts_and_tone_coverage():
    def mean_count(rate):
        return np.mean([len(_adventitious("fine_crackle", Difficulty(event_rate=rate), s)) for s in range(12)])

    # Fine crackles: 4-10 a cycle at rate 1 (a few dropped for overlap), 2-5 at rate 0.5.
    assert 5.0 <= mean_count(1.0) <= 7.5 and 2.5 <= mean_count(0.5) <= 3.8

    def mean_share(rate):  # the wheeze's share of the cycle
        shares = []
        for seed in range(12):
            _, events = simulate_cycle("wheeze", SR, 2.4, seed, difficulty=Difficulty(event_rate=rate))
            shares.append(sum(e.duration_s for e in events if e.kind == "wheeze") / 2.4)
        return np.mean(shares)

    assert mean_share(0.5) < 0.6 * mean_share(1.0)
    with pytest.raises(ValueError):
        Difficulty(event_rate=0.0)


def test_full_overlap_gives_subtypes_a_siblings_sound_but_their_own_timing_and_label():
    fine = CRACKLES["fine_crackle"]
    for seed in range(5):
        events = _adventitious("fine_crackle", Difficulty(overlap=1.0), seed)
        _, phases = simulate_cycle("fine_crackle", SR, seed_or_rng=seed, difficulty=Difficulty(overlap=1.0))
        insp = next(e for e in phases if e.kind == "inspiration")
        for e in events:
            assert e.kind == "fine_crackle"
            # Coarse pitch and length (280-420 Hz, 12-25 ms), fine timing (late inspiratory).
            assert 280 <= e.frequency_hz <= 420 and e.duration_s > 0.010
            assert e.start_s >= insp.start_s + fine.windows[0][1] * insp.duration_s
        wheeze = _adventitious("wheeze", Difficulty(overlap=1.0), seed)[0]
        # A rhonchus's pitch (100-180 Hz) or a stridor's (600-1200 Hz), never the wheeze's own 200-600 Hz.
        assert wheeze.kind == "wheeze" and (wheeze.frequency_hz < 200 or wheeze.frequency_hz >= 600)
    with pytest.raises(ValueError):
        Difficulty(overlap=1.5)


def test_writers_draw_noise_from_the_difficulty_and_record_it(tmp_path):
    hard = Difficulty(noise_snr_db=(5.0, 6.0))
    root = write_sprsound(tmp_path / "sprsound", n_patients=4, seed=1, difficulty=hard)
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["parameters"]["difficulty"] == json.loads(json.dumps(dataclasses.asdict(hard)))
    for record in manifest["recordings"].values():
        assert record["clipped"] or 5.0 <= record["snr_db"] <= 6.0


# --- the reference model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_sims(tmp_path_factory):
    root = tmp_path_factory.mktemp("default")
    return {"sprsound": write_sprsound(root / "sprsound", seed=0), "icbhi": write_icbhi(root / "icbhi", seed=0)}


@pytest.fixture(scope="module")
def default_scores(default_sims):
    """``(dataset, task) -> (score, CPU seconds)`` of the reference model on the default simulated data."""
    scores = {}
    for dataset, task in REFERENCE_SCORE:
        started = time.process_time()
        score = reference_score(default_sims[dataset], dataset, task)["score"]
        scores[dataset, task] = score, time.process_time() - started
    return scores


@pytest.mark.parametrize("dataset, task", sorted(REFERENCE_SCORE, key=str))
def test_reference_model_reaches_the_stated_band_in_seconds(default_scores, dataset, task):
    low, high = REFERENCE_SCORE[(dataset, task)]
    # The band itself is what the issue asks for: clearly learnable, not trivially perfect.
    assert low >= FLOOR[dataset] + 0.15 and high <= 0.95
    score, cpu_s = default_scores[dataset, task]
    assert low <= score <= high, score
    assert cpu_s < 10.0  # CPU seconds (1 to 4 here): robust to a busy machine, unlike wall time


#: Harder settings and the least fall in the reference score they must cause, per SPRSound task. Measured on
#: seeds 0-2: 10 dB quieter, task 1-2 falls 0.38-0.43 and 1-1 0.22-0.25; 0.4x the events, 1-1 falls 0.12-0.15.
HARDER = {
    "quieter": ({"event_level_db": DIFFICULTY.event_level_db - 10.0}, {"1-2": 0.2, "1-1": 0.12}),
    "sparser": ({"event_rate": 0.4}, {"1-1": 0.08}),
}


@pytest.mark.parametrize("knob", HARDER)
def test_a_harder_setting_scores_measurably_lower(default_scores, tmp_path, knob):
    change, least_fall = HARDER[knob]
    root = write_sprsound(tmp_path / knob, seed=0, difficulty=dataclasses.replace(DIFFICULTY, **change))
    for task, fall in least_fall.items():
        default, _ = default_scores["sprsound", task]
        assert reference_score(root, "sprsound", task)["score"] < default - fall, task
