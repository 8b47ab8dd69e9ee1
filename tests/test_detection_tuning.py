"""respkit.detection.tuning: settings chosen on validation recordings by F - ER, silence included."""

import numpy as np
import pytest

from respkit.detection.targets import Event
from respkit.detection.tuning import PostProcessing, choose_postprocess, detection_scores

HOP = 0.1


def _probabilities(*rows):
    return np.array(rows, dtype=np.float64)  # [C, T]


def test_the_threshold_between_the_event_and_the_noise_is_chosen():
    """Class a: an event at frames 2-5 with probability 0.8, a distractor at 0.4 elsewhere. Thresholds below 0.4
    add an insertion (F 2/3, ER 1), those in [0.4, 0.8) find the event alone (F 1, ER 0): the first of them wins."""
    p = _probabilities([0.1, 0.1, 0.8, 0.8, 0.8, 0.8, 0.1, 0.4, 0.4, 0.1])
    refs = [[Event(0.2, 0.6, "a")]]
    post = choose_postprocess([p], refs, ["a"], HOP, windows=(1,))
    assert post.thresholds == (0.4,) and post.windows == (1,)
    (event,) = post.events(p, ["a"], HOP)
    assert event.label == "a" and event[:2] == pytest.approx((0.2, 0.6))


def test_a_class_that_cannot_beat_silence_stays_silent():
    """Probabilities that carry no information: every threshold below 1 inserts more than it finds (F - ER < -1),
    so the chosen threshold is 1.0, which nothing exceeds; a class without validation events is silent too."""
    rng = np.random.default_rng(0)
    probabilities = [rng.uniform(size=(2, 50)) for _ in range(4)]
    refs = [[Event(1.0, 1.5, "a")], [], [], []]
    post = choose_postprocess(probabilities, refs, ["a", "b"], HOP, windows=(1,))
    assert post.thresholds == (1.0, 1.0)
    assert all(post.events(p, ["a", "b"], HOP) == [] for p in probabilities)


def test_er_weight_zero_chooses_by_f_alone():
    """F alone prefers finding the event with two insertions (threshold 0.1: F 0.5, ER 2) to silence (F 0, ER 1);
    F - ER prefers silence (-1 > -1.5). At 0.05 every frame is on: one event from 0 s, which misses the onset."""
    p = _probabilities([0.6, 0.1, 0.6, 0.6, 0.1, 0.6])
    refs = [[Event(0.2, 0.4, "a")]]
    assert choose_postprocess([p], refs, ["a"], HOP, windows=(1,), er_weight=0.0).thresholds == (0.1,)
    silent = choose_postprocess([p], refs, ["a"], HOP, windows=(1,), er_weight=1.0)
    assert silent.thresholds == (0.6,) and silent.events(p, ["a"], HOP) == []  # the first silent threshold


def test_detection_scores_prefix_event_and_segment_scores():
    refs, est = [[Event(0.0, 1.0, "a")]], [[Event(0.05, 1.0, "a"), Event(2.0, 2.5, "a")]]
    scores = detection_scores(refs, est, ["a"], durations=[3.0])
    assert scores["event_f"] == pytest.approx(2 / 3) and scores["event_er"] == pytest.approx(1.0)
    assert scores["segment_f"] == pytest.approx(2 / 3)  # segments 0 (hit) and 2 (inserted) of 3
    assert scores["event_f/a"] == pytest.approx(2 / 3)
    assert isinstance(PostProcessing((0.5,), (1,)).events(np.zeros((1, 3)), ["a"], HOP), list)
