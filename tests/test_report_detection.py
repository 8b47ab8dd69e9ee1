"""respkit.report.detection on hand-made inputs, each value against a count done by hand."""

import math

import matplotlib
import numpy as np
import pytest

from respkit.detection import Event, event_based_scores
from respkit.report import detection as chapter

matplotlib.use("Agg")

# Three recordings of class A: a hit, a deletion, an insertion (N_ref 2, N_sys 2, TP 1 -> F 1/2, ER 1).
REFS = [[Event(0.0, 1.0, "A")], [Event(2.0, 3.0, "A")], []]
ESTS = [[Event(0.05, 0.95, "A")], [], [Event(5.0, 6.0, "A")]]


def summary(**means):
    return {key: {"mean": value, "std": 0.0, "n": 3} for key, value in means.items()}


def run_with(f, er, energy=(0.1, 2.0), everywhere=(0.0, 1.5), prefix=""):
    keys = {
        "event_f": f,
        "event_er": er,
        "baseline_energy/event_f": energy[0],
        "baseline_energy/event_er": energy[1],
        "baseline_everywhere/event_f": everywhere[0],
        "baseline_everywhere/event_er": everywhere[1],
    }
    return {"summary": summary(**{prefix + k: v for k, v in keys.items()})}


def test_per_class_scores_are_the_hand_counts_and_agree_with_the_metrics():
    out = chapter.per_class_intervals(REFS, ESTS, ["A", "B"], n=200)
    assert out["A"]["f"] == pytest.approx(0.5)  # 2 TP / (N_ref + N_sys) = 2 / 4
    assert out["A"]["er"] == pytest.approx(1.0)  # (D 1 + I 1) / N_ref 2
    assert (out["A"]["n_ref"], out["A"]["units"]) == (2, 2)
    assert out["A"]["f"] == pytest.approx(event_based_scores(REFS, ESTS, ["A", "B"])["f/A"])
    # B has no annotated event: no ER, no interval.
    assert out["B"]["n_ref"] == 0 and math.isnan(out["B"]["er"]) and math.isnan(out["B"]["low"])


def test_the_bootstrap_draws_patients_and_leaves_out_draws_without_events():
    # Patient p holds recordings 0 and 1 (1 hit, 1 deletion), patient q recording 2 (1 insertion).
    # Draws: {p, p}: TP 2, N_ref 4, N_sys 2 -> F 2/3; {p, q}: F 1/2; {q, q}: no reference, left out.
    out = chapter.per_class_intervals(REFS, ESTS, ["A"], groups=["p", "p", "q"], n=2000, seed=1)
    assert out["A"]["low"] == pytest.approx(0.5)
    assert out["A"]["high"] == pytest.approx(2 / 3)
    assert out["A"]["units"] == 1  # one patient has annotated events
    one_patient = chapter.per_class_intervals(REFS, ESTS, ["A"], groups=["p"] * 3, n=50)
    assert one_patient["A"]["low"] == one_patient["A"]["high"] == pytest.approx(0.5)


def test_per_class_intervals_refuse_mismatched_inputs():
    with pytest.raises(ValueError, match="estimate lists"):
        chapter.per_class_intervals(REFS, ESTS[:2], ["A"])
    with pytest.raises(ValueError, match="groups"):
        chapter.per_class_intervals(REFS, ESTS, ["A"], groups=["p"])


def test_per_class_table_writes_percent_and_dashes_for_missing_values():
    table = chapter.per_class_table(
        chapter.per_class_intervals(REFS, ESTS, ["A", "B"], groups=["p", "p", "q"], n=500),
        {"A": {"mean": 0.4, "std": 0.1, "n": 3}, "B": None},
    )
    rows = table.splitlines()
    assert rows[2] == "| A | 2 | 1 | 50.0 | 50.0 to 66.7 | 1.00 | 40.00 ± 10.00 |"
    assert rows[3] == "| B | 0 | 0 | 0.0 | – | – | – |"


def test_results_table_puts_the_detector_beside_both_floors_and_skips_unscored_splits():
    run = run_with(0.4, 1.2)
    run["summary"]["segment_f"] = {"mean": 0.5, "std": 0.05, "n": 3}
    rows = chapter.results_table(run).splitlines()
    assert rows[0] == "| split | detector | event F (%) | event ER | segment F (%) |"
    assert rows[2] == "| held-out patients | CRNN | 40.00 ± 0.00 | 1.200 ± 0.000 | 50.00 ± 5.00 |"
    assert rows[3] == "| held-out patients | energy threshold | 10.00 ± 0.00 | 2.000 ± 0.000 | – |"
    assert rows[4].startswith("| held-out patients | event everywhere | 0.00 ± 0.00 | 1.500")
    assert len(rows) == 5  # no inter_/intra_ metrics, no rows for them


def test_comparison_text_says_an_error_rate_above_one_is_worse_than_silence():
    text = chapter.comparison_text(run_with(0.4, 1.2))
    assert "event F is 40.0 %, above both floors' (energy threshold 10.0 %, event everywhere 0.0 %)" in text
    assert "event ER is 1.20, lower than both floors'" in text
    assert "above 1, the error rate of detecting nothing: it adds more wrong events than it finds" in text
    assert "would rank higher, although its F is above 0 (floors: energy threshold 2.00, event everywhere 1.50)" in text
    text = chapter.comparison_text(run_with(0.05, 0.8, energy=(0.1, 0.7), prefix="inter_"), "inter_")
    assert "official test (inter-patient)" in text and "not above both floors" in text
    assert "not lower than both floors'" in text and "below 1" in text and "fewer wrong events" in text


def test_settings_text_names_silent_classes_and_windows_in_seconds():
    settings = {
        "post": {"thresholds": [0.35, 1.0], "windows": [9, 5]},
        "energy": {"margin_db": 6.0, "label": "DAS"},
    }
    text = chapter.settings_text(settings, ["CAS", "DAS"], 0.02)
    assert "a frame is CAS where its probability exceeds 0.35, with a median over 9 frames (0.18 s)" in text
    assert "DAS is never detected" in text and "6 dB above" in text and "calls them DAS" in text
    settings["post"] = {"thresholds": [0.5], "windows": [1]}
    assert "exceeds 0.50, with no median filter" in chapter.settings_text(settings, ["CAS"], 0.02)


def test_loop_text_compares_the_first_and_last_steps():
    assert "fell: from 1.000" in chapter.loop_text([1.0] * 10 + [0.5] * 10, k=10)
    assert "did not fall" in chapter.loop_text([0.5, 0.5, 1.0, 1.0], k=10)  # k shrinks to half the steps


def test_pick_recording_prefers_recordings_where_something_was_detected():
    refs = [[Event(0, 1, "A")] * 3, [Event(0, 1, "A")] * 2, []]
    assert chapter.pick_recording(refs) == 0
    assert chapter.pick_recording(refs, [[], [Event(0, 1, "A")], [Event(0, 1, "A")]]) == 1
    assert chapter.pick_recording(refs, [[], [], [Event(0, 1, "A")]]) == 0  # nothing where events are


def test_data_text_counts_events_per_class():
    text = chapter.data_text(
        False, [[Event(0, 1, "CAS"), Event(2, 3, "DAS")], [], [Event(0, 1, "DAS")]], ["CAS", "DAS"]
    )
    assert "real SPRSound" in text and "3 recordings, 2 of them (67%)" in text and "1 CAS, 2 DAS" in text
    assert "simulator" in chapter.data_text(True, [[]], ["CAS"])


def test_recorded_table_says_when_nothing_is_recorded():
    assert chapter.recorded_table([]).startswith("No `cpu` run of `detection.crnn` is recorded")
    run = run_with(0.4, 1.2) | {"recipe": "detection.crnn", "profile": "cpu", "seeds": [0, 1, 2]}
    run["data"] = {"sprsound": {"origin": "official release"}}
    text = chapter.recorded_table([run])
    assert "profile `cpu`, 3 seeds, official release" in text and "| held-out patients | CRNN |" in text


def test_recording_figure_draws_one_lane_per_row_and_class():
    rows = {"annotated": [Event(0.5, 1.0, "CAS")], "detected": [Event(0.6, 1.1, "DAS")]}
    probabilities = np.full((2, 100), 0.3)
    fig = chapter.recording_figure(
        np.zeros((1, 32, 100)), 0.02, rows, ["CAS", "DAS"], probabilities=probabilities, thresholds=[0.5, 1.0]
    )
    axes = fig.axes
    assert len(axes) == 3
    assert [t.get_text() for t in axes[-1].get_yticklabels()] == [
        "annotated: CAS",
        "annotated: DAS",
        "detected: CAS",
        "detected: DAS",
    ]
    assert axes[-1].get_xlim() == (0.0, 2.0)  # 100 frames of 20 ms


def test_class_text_names_the_classes_without_a_hit():
    hit = {"n_ref": 3, "f": 0.5}
    missed = {"n_ref": 2, "f": 0.0}
    absent = {"n_ref": 0, "f": 0.0}
    assert chapter.class_text({"CAS": hit, "DAS": missed, "X": absent}) == (
        "Not one annotated DAS event was hit (F 0): the overall event F comes from CAS alone."
    )
    assert chapter.class_text({"CAS": hit, "X": absent}).startswith("Every class")
    assert chapter.class_text({"CAS": missed, "DAS": missed}).startswith("Not one annotated event of any class")
