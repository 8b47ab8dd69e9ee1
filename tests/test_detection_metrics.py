"""respkit.detection.metrics against hand-counted event lists and against sed_eval itself."""

import math
import warnings

import numpy as np
import pytest
import torch

from respkit.detection.metrics import (
    Counts,
    event_based_scores,
    event_counts,
    segment_based_scores,
    segment_counts,
)

W, C = "Wheeze", "Fine Crackle"
CLASSES = [W, C]


def one(ref, est, **kwargs):
    """Event-based scores of a single recording."""
    return event_based_scores([ref], [est], CLASSES, **kwargs)


def test_a_perfect_detection_scores_f_1_and_er_0():
    events = [(1.0, 2.0, W), (3.0, 3.5, C)]
    got = one(events, list(reversed(events)))  # order within a list does not matter for hits
    assert got["f"] == 1.0 and got["precision"] == 1.0 and got["recall"] == 1.0
    assert got["er"] == 0.0 and got["macro_f"] == 1.0 and got["macro_er"] == 0.0
    assert got[f"f/{W}"] == 1.0 and got[f"er/{C}"] == 0.0


@pytest.mark.parametrize(
    "onset, hit",
    [(1.19, True), (0.81, True), (1.21, False), (0.79, False)],  # collar 0.2 s around the onset 1.0
)
def test_the_onset_collar_is_0_2_s_either_side(onset, hit):
    # ref (1.0, 2.0); the offset is exact. A hit: TP = 1, ER = 0. A miss with the right label is no
    # substitution either (its onset is invalid): D = 1, I = 1, ER = (0 + 1 + 1) / 1 = 2, F = 0.
    got = one([(1.0, 2.0, W)], [(onset, 2.0, W)])
    assert (got["f"], got["er"]) == ((1.0, 0.0) if hit else (0.0, 2.0))


@pytest.mark.parametrize(
    "ref, offset, hit",
    [
        ((1.0, 2.0), 2.45, True),  # 1 s long: tolerance max(0.2, 0.5 · 1.0) = 0.5 s
        ((1.0, 2.0), 1.55, True),
        ((1.0, 2.0), 2.55, False),
        ((1.0, 1.2), 1.35, True),  # 0.2 s long: tolerance max(0.2, 0.5 · 0.2) = 0.2 s
        ((1.0, 1.2), 1.45, False),  # within 50 % of a long event, not of this one
    ],
)
def test_the_offset_tolerance_is_the_larger_of_the_collar_and_half_the_reference(ref, offset, hit):
    got = one([(*ref, W)], [(ref[0], offset, W)])
    assert (got["f"], got["er"]) == ((1.0, 0.0) if hit else (0.0, 2.0))
    # Scored on onsets only, every one of them is a hit.
    assert one([(*ref, W)], [(ref[0], offset, W)], evaluate_offset=False)["f"] == 1.0


def test_a_wrong_label_with_valid_times_is_one_substitution():
    # TP 0, S 1, D = 1 - 0 - 1 = 0, I = 1 - 0 - 1 = 0: ER = 1 / 1 = 1; P = R = F = 0.
    got = one([(1.0, 2.0, W)], [(1.05, 2.1, C)])
    assert (got["er"], got["substitution_rate"], got["deletion_rate"], got["insertion_rate"]) == (1.0, 1.0, 0.0, 0.0)
    assert got["f"] == 0.0
    # Class-wise there are no substitutions: Wheeze has one deletion (ER 1/1); Fine Crackle has no
    # reference event, so its ER is undefined and it is left out of the macro averages.
    assert got[f"er/{W}"] == 1.0 and math.isnan(got[f"er/{C}"]) and got[f"precision/{C}"] == 0.0
    assert got["macro_er"] == 1.0 and got["macro_f"] == 0.0


def test_an_insertion_and_a_deletion():
    # Insertion: TP 1, I 1. P = 1/2, R = 1, F = 2·(1/2)·1 / (3/2) = 2/3, ER = 1/1.
    got = one([(1.0, 2.0, W)], [(1.0, 2.0, W), (4.0, 5.0, W)])
    assert got["precision"] == 0.5 and got["recall"] == 1.0
    assert got["f"] == pytest.approx(2 / 3) and got["er"] == 1.0 and got["insertion_rate"] == 1.0
    # Deletion: TP 1, D 1. P = 1, R = 1/2, F = 2/3, ER = 1/2.
    got = one([(1.0, 2.0, W), (4.0, 5.0, W)], [(1.0, 2.0, W)])
    assert got["precision"] == 1.0 and got["recall"] == 0.5
    assert got["f"] == pytest.approx(2 / 3) and got["er"] == 0.5 and got["deletion_rate"] == 0.5


def test_two_classes_over_two_recordings_micro_and_macro():
    references = [
        [(0.5, 1.5, W), (2.0, 2.4, C), (3.0, 3.3, C)],
        [(1.0, 2.0, C)],
    ]
    estimates = [
        [(0.6, 1.4, W), (2.05, 2.45, C), (5.0, 5.5, W)],  # hit, hit, insertion; (3.0, 3.3) deleted
        [(1.1, 1.9, W)],  # a substitution
    ]
    # Overall: N_ref 4, N_sys 4, TP 2, S 1, D 1, I 1: P = R = F = 1/2, ER = 3/4.
    overall, per_class = event_counts(references, estimates, CLASSES)
    assert overall == Counts(n_ref=4, n_sys=4, tp=2, substitutions=1)
    assert (overall.deletions, overall.insertions) == (1, 1)
    # Wheeze: 1 reference, 3 outputs, 1 hit: P 1/3, R 1, F 1/2, ER (0 + 2) / 1 = 2.
    # Crackle: 3 references, 1 output, 1 hit: P 1, R 1/3, F 1/2, ER (2 + 0) / 3 = 2/3.
    assert per_class == {W: Counts(1, 3, 1), C: Counts(3, 1, 1)}
    got = event_based_scores(references, estimates, CLASSES)
    expected = {
        "f": 1 / 2,
        "precision": 1 / 2,
        "recall": 1 / 2,
        "er": 3 / 4,
        "substitution_rate": 1 / 4,
        "deletion_rate": 1 / 4,
        "insertion_rate": 1 / 4,
        f"f/{W}": 1 / 2,
        f"precision/{W}": 1 / 3,
        f"recall/{W}": 1.0,
        f"er/{W}": 2.0,
        f"f/{C}": 1 / 2,
        f"precision/{C}": 1.0,
        f"recall/{C}": 1 / 3,
        f"er/{C}": 2 / 3,
        "macro_f": 1 / 2,
        "macro_er": (2 + 2 / 3) / 2,
    }
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_substitutions_follow_sed_evals_matching_not_just_any_maximum_matching():
    # est 0 (Wheeze) is valid for both Wheeze references; est 1 (Crackle) only for ref 1. sed_eval's
    # matching pairs est 0 with ref 0 (its first candidate), which leaves ref 1 and est 1: a substitution.
    # (Pairing est 0 with ref 1 instead would leave a deletion and an insertion, ER 1 instead of 1/2.)
    references = [(1.0, 2.0, W), (1.1, 2.1, W)]
    estimates = [(1.05, 2.05, W), (1.25, 2.2, C)]
    overall, _ = event_counts([references], [estimates], CLASSES)
    assert overall == Counts(n_ref=2, n_sys=2, tp=1, substitutions=1)
    assert one(references, estimates)["er"] == 0.5


def test_segment_based_counts_by_hand():
    # 1 s segments over 3 s. Reference Wheeze (0.5, 1.5): segments 0, 1. Estimated Wheeze (1.2, 2.5):
    # segments 1, 2; estimated Crackle (0.2, 0.4): segment 0.
    #   segment 0: ref {W}, sys {C} -> S 1;  segment 1: {W}, {W} -> TP 1;  segment 2: {}, {W} -> I 1.
    # N_ref 2, N_sys 3, TP 1, S 1: P 1/3, R 1/2, F = 2·(1/6) / (5/6) = 2/5, ER = (1 + 0 + 1) / 2 = 1.
    ref, est = [[(0.5, 1.5, W)]], [[(1.2, 2.5, W), (0.2, 0.4, C)]]
    overall, per_class = segment_counts(ref, est, CLASSES)  # duration: the last offset, 2.5 s -> 3 segments
    assert overall == Counts(n_ref=2, n_sys=3, tp=1, substitutions=1)
    assert per_class == {W: Counts(2, 2, 1), C: Counts(0, 1, 0)}
    got = segment_based_scores(ref, est, CLASSES)
    assert (got["precision"], got["recall"]) == (pytest.approx(1 / 3), 0.5)
    assert got["f"] == pytest.approx(2 / 5) and got["er"] == 1.0
    # A 2 s recording has no segment 2: N_sys 2, TP 1, S 1, I 0 -> ER 1/2, F 1/2.
    got = segment_based_scores(ref, est, CLASSES, durations=[2.0])
    assert got["er"] == 0.5 and got["f"] == 0.5
    # Half-second segments: ref 0.5-1.5 -> segments 1, 2; sys W 1.2-2.5 -> 2..4, C 0.2-0.4 -> 0.
    # TP 1 (segment 2); segment 1 D 1; segments 3, 4 and 0 I 1 each: ER = (0 + 1 + 3) / 2 = 2.
    assert segment_based_scores(ref, est, CLASSES, segment=0.5)["er"] == 2.0


def test_empty_lists_give_zero_fractions_and_an_undefined_error_rate():
    silent = event_based_scores([[(1.0, 2.0, W)]], [[]], CLASSES)
    assert (silent["precision"], silent["recall"], silent["f"], silent["er"]) == (0.0, 0.0, 0.0, 1.0)
    nothing_to_find = event_based_scores([[]], [[(1.0, 2.0, W)]], CLASSES)
    assert nothing_to_find["f"] == 0.0 and math.isnan(nothing_to_find["er"])
    assert nothing_to_find["macro_f"] == 0.0 and math.isnan(nothing_to_find["macro_er"])


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="one event list per recording"):
        event_based_scores([(1.0, 2.0, W)], [(1.0, 2.0, W)], CLASSES)
    with pytest.raises(ValueError, match="not one of the classes"):
        event_based_scores([[(1.0, 2.0, "Stridor")]], [[]], CLASSES)
    with pytest.raises(ValueError, match="onset < offset"):
        event_based_scores([[(2.0, 1.0, W)]], [[]], CLASSES)
    with pytest.raises(ValueError, match="2 recordings"):
        segment_based_scores([[], []], [[], []], CLASSES, durations=[1.0])


# ---- agreement with sed_eval, the reference implementation the DCASE challenges used -----------------


def random_recordings(rng, n_recordings=3):
    """References with random events (some with a near twin), and estimates that shift, relabel, drop and
    add some of them."""
    labels = ["a", "b", "c"]

    def draw(n):
        events = []
        for _ in range(n):
            onset = round(float(rng.uniform(0, 6)), 3)
            events.append((onset, round(onset + float(rng.uniform(0.05, 1.5)), 3), str(rng.choice(labels))))
        return events

    references, estimates = [], []
    for _ in range(n_recordings):
        ref = draw(int(rng.integers(0, 8)))
        if ref and rng.random() < 0.5:  # a near twin: one estimate can then hit either (matching order matters)
            onset, offset, label = ref[int(rng.integers(len(ref)))]
            ref.append((round(onset + 0.1, 3), round(offset + 0.1, 3), label))
        est = []
        for onset, offset, label in ref:
            if rng.random() < 0.15:
                continue
            if rng.random() < 0.2:
                label = str(rng.choice(labels))
            onset = max(0.0, round(onset + float(rng.normal(0, 0.15)), 3))
            est.append((onset, round(max(onset + 0.01, offset + float(rng.normal(0, 0.25))), 3), label))
        est += draw(int(rng.integers(0, 3)))
        references.append(ref)
        estimates.append(est if rng.random() < 0.8 else draw(int(rng.integers(0, 5))))
    return labels, references, estimates


def test_agreement_with_sed_eval_on_random_event_lists():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dcase_util's import warns about pkg_resources
        sed_eval = pytest.importorskip("sed_eval")
    rng = np.random.default_rng(2027)
    substitutions_seen = 0
    for _ in range(60):
        labels, references, estimates = random_recordings(rng)
        events = sed_eval.sound_event.EventBasedMetrics(
            labels, t_collar=0.2, percentage_of_length=0.5, empty_system_output_handling="zero_score"
        )
        segments = sed_eval.sound_event.SegmentBasedMetrics(labels, time_resolution=1.0)
        for ref, est in zip(references, estimates):
            as_dicts = [
                [{"event_onset": a, "event_offset": b, "event_label": c, "filename": "x"} for a, b, c in events_]
                for events_ in (ref, est)
            ]
            events.evaluate(*as_dicts)
            segments.evaluate(*as_dicts)

        overall, per_class = event_counts(references, estimates, labels)
        theirs = events.overall
        assert (overall.n_ref, overall.n_sys, overall.tp, overall.substitutions) == (
            theirs["Nref"],
            theirs["Nsys"],
            theirs["Ntp"],
            theirs["Nsubs"],
        )
        substitutions_seen += overall.substitutions
        for label in labels:
            theirs = events.class_wise[label]
            assert (per_class[label].n_ref, per_class[label].n_sys, per_class[label].tp) == (
                theirs["Nref"],
                theirs["Nsys"],
                theirs["Ntp"],
            )
        compare(event_based_scores(references, estimates, labels), events.results(), labels)

        overall, per_class = segment_counts(references, estimates, labels)
        theirs = segments.overall
        assert (overall.n_ref, overall.n_sys, overall.tp, overall.substitutions) == (
            theirs["Nref"],
            theirs["Nsys"],
            theirs["Ntp"],
            theirs["S"],
        )
        assert (overall.deletions, overall.insertions) == (theirs["D"], theirs["I"])
        compare(segment_based_scores(references, estimates, labels), segments.results(), labels)
    assert substitutions_seen > 10  # the random lists exercise the substitution rule


def compare(ours: dict, theirs: dict, labels: list[str]) -> None:
    """Our scores against sed_eval's results where both define them (see the module docstring): F where
    sed_eval's is a number (NaN without references, and in segment-based scores without outputs), ER
    where there are references (sed_eval divides by ε there), macro averages where no class has NaN."""
    n_ref = {label: theirs["class_wise"][label]["count"]["Nref"] for label in labels}
    pairs = [("f", theirs["overall"]["f_measure"]["f_measure"])]
    if sum(n_ref.values()) > 0:
        pairs += [(key, theirs["overall"]["error_rate"][key]) for key in ("deletion_rate", "insertion_rate")]
        pairs += [("er", theirs["overall"]["error_rate"]["error_rate"])]
    for label in labels:
        pairs += [(f"f/{label}", theirs["class_wise"][label]["f_measure"]["f_measure"])]
        if n_ref[label] > 0:
            pairs += [(f"er/{label}", theirs["class_wise"][label]["error_rate"]["error_rate"])]
    n_sys = {label: theirs["class_wise"][label]["count"]["Nsys"] for label in labels}
    if all(n > 0 for n in (*n_ref.values(), *n_sys.values())):  # no NaN for sed_eval's nanmean to skip
        pairs += [
            ("macro_f", theirs["class_wise_average"]["f_measure"]["f_measure"]),
            ("macro_er", theirs["class_wise_average"]["error_rate"]["error_rate"]),
        ]
    for key, value in pairs:
        if key.startswith("f") and math.isnan(value):
            continue
        assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


# ---- the baselines, scored by the same code ---------------------------------------------------------


def test_event_everywhere_by_hand():
    from respkit.detection.baselines import event_everywhere

    estimate = event_everywhere(3.0, CLASSES)
    assert estimate == [(0.0, 3.0, C), (0.0, 3.0, W)]
    reference = [(0.5, 1.5, W)]
    # Segments 0-2. Reference: Wheeze in 0, 1. Output: both classes in 0, 1, 2.
    # Segments 0 and 1: TP 1, I 1 each; segment 2: I 2. N_ref 2, N_sys 6, TP 2:
    # P 1/3, R 1, F 1/2, ER (0 + 0 + 4) / 2 = 2.
    got = segment_based_scores([reference], [estimate], CLASSES)
    assert got["recall"] == 1.0 and got["precision"] == pytest.approx(1 / 3)
    assert got["f"] == pytest.approx(1 / 2) and got["er"] == 2.0
    # Event-based the onset is 0.5 s early: no hit. D 1, I 2 (the Crackle is no substitution: its
    # onset is as far off): ER 3, F 0.
    got = one(reference, estimate)
    assert got["f"] == 0.0 and got["er"] == 3.0 and got["substitution_rate"] == 0.0


def burst(sample_rate=8000, seconds=4.0, spans=((1.5, 2.5),), level=0.3, seed=0):
    """Quiet noise with loud 400 Hz tone bursts over ``spans`` (seconds)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    x = 0.01 * rng.standard_normal(t.size)
    for start, end in spans:
        inside = (t >= start) & (t < end)
        x[inside] += level * np.sin(2 * np.pi * 400 * t[inside])
    return x.astype(np.float32)


def test_frame_rms_db_of_a_constant_is_its_level():
    from respkit.detection.baselines import frame_rms_db

    level = frame_rms_db(torch.full((1, 800), 0.1), 8000, hop=0.02)  # 5 frames of 160 samples, RMS 0.1
    np.testing.assert_allclose(level, np.full(5, -20.0), atol=1e-5)
    assert frame_rms_db(np.zeros(160), 8000, hop=0.02)[0] == -120.0


def test_the_energy_detector_finds_a_loud_burst_and_is_scored_like_any_detector():
    from respkit.detection.baselines import energy_events

    # The burst starts and ends on frame edges (1.5 s = frame 75 of 20 ms), so it is found exactly;
    # a 60 ms dip inside it is a gap under 0.1 s (filled) and a 40 ms click is a run under 0.1 s (dropped).
    x = burst(spans=((1.5, 2.2), (2.26, 2.5), (3.2, 3.24)))
    events = energy_events(x, 8000)
    assert [e.label for e in events] == ["Adventitious"]
    assert events[0].onset == pytest.approx(1.5) and events[0].offset == pytest.approx(2.5)
    got = event_based_scores([[(1.5, 2.5, "Adventitious")]], [events], ["Adventitious"])
    assert got["f"] == 1.0 and got["er"] == 0.0
    # Without the clean-up: the dip splits the event in two and the click is an event of its own.
    raw = energy_events(x, 8000, min_gap=0.0, min_length=0.0)
    assert len(raw) == 3
    got = event_based_scores([[(1.5, 2.5, "Adventitious")]], [raw], ["Adventitious"])
    # (1.5, 2.2) hits (its offset is 0.3 s off, within max(0.2, 0.5 · 1.0)); (2.26, 2.5) and the click are
    # insertions: P 1/3, R 1, F 1/2, ER (0 + 0 + 2) / 1 = 2.
    assert got["f"] == pytest.approx(1 / 2) and got["er"] == 2.0


def test_baselines_on_real_sprsound_records(sprsound_root):
    soundfile = pytest.importorskip("soundfile")
    from respkit.detection.baselines import energy_events, event_everywhere
    from respkit.detection.targets import read_events

    release = sprsound_root / "BioCAS2022"
    classes = ["Adventitious"]
    chosen = {True: [], False: []}  # the first 8 records with adventitious events and the first 4 without
    for path in sorted((release / "train2022_json").glob("*.json")):
        events = read_events(path, "adventitious")
        if len(chosen[bool(events)]) < (8 if events else 4):
            chosen[bool(events)].append((path, events))
    references, everywhere, energy, durations = [], [], [], []
    for path, events in chosen[True] + chosen[False]:
        audio = next((release / "train2022_wav").glob(f"{path.stem}.*"))
        waveform, rate = soundfile.read(str(audio), dtype="float32")
        references.append(events)
        durations.append(len(waveform) / rate)
        everywhere.append(event_everywhere(durations[-1], classes))
        energy.append(energy_events(waveform, rate))
    # Always on: every annotated segment is found, and precision is the share of segments annotated,
    # counted here directly: segment k of a recording is annotated if an event overlaps [k, k + 1).
    got = segment_based_scores(references, everywhere, classes, durations=durations)
    annotated = sum(
        any(on < k + 1 and off > k for on, off, _ in ref)
        for ref, duration in zip(references, durations)
        for k in range(math.ceil(duration))
    )
    total = sum(math.ceil(d) for d in durations)
    assert 0 < annotated < total
    assert got["recall"] == 1.0 and got["precision"] == pytest.approx(annotated / total)
    # The energy floor: valid events inside each recording, scores in range.
    for events, duration in zip(energy, durations):
        assert all(0 <= on < off <= duration + 1e-9 for on, off, _ in events)
    scores = event_based_scores(references, energy, classes)
    assert 0.0 <= scores["f"] <= 1.0 and scores["er"] >= 0.0
