"""The sliding-window record rule (Hu et al., BioCAS 2023) on hand-made window predictions."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch

from respkit.inference import WINDOW_LABELS, record_label_from_windows, sliding_windows, window_label, window_starts

CAS_EVENTS = {"Rhonchi", "Wheeze", "Stridor", "Wheeze+Crackle"}
DAS_EVENTS = {"Coarse Crackle", "Fine Crackle", "Wheeze+Crackle"}


@pytest.mark.parametrize(
    "n, window, step, expected",
    [
        (10, 3, 2, [0, 2, 4, 6, 7]),  # 6 + 3 = 9 < 10: one more window flush with the end
        (9, 3, 2, [0, 2, 4, 6]),  # the last window ends exactly at the end
        (3, 3, 2, [0]),
        (2, 3, 2, [0]),  # shorter than a window: the whole signal
        (122880, 24000, 16000, [0, 16000, 32000, 48000, 64000, 80000, 96000, 98880]),  # 15.36 s at 8 kHz
    ],
)
def test_window_starts(n, window, step, expected):
    assert window_starts(n, window, step) == expected


def test_sliding_windows_are_the_signal_at_the_starts():
    signal = torch.arange(10.0).view(1, 10)
    windows = sliding_windows(signal, window=3, step=2)
    assert [w.tolist() for w in windows] == [[[0, 1, 2]], [[2, 3, 4]], [[4, 5, 6]], [[6, 7, 8]], [[7, 8, 9]]]
    short = sliding_windows(signal[:, :2], window=3, step=2)
    assert len(short) == 1 and short[0].tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="positive"):
        window_starts(10, 0, 2)


@pytest.mark.parametrize(
    "windows, expected",
    [
        (["Normal", "Wheeze", "Wheeze", "Normal"], "CAS"),
        (["Wheeze", "Normal", "Wheeze", "Normal"], "Normal"),  # isolated detections do not count
        (["Wheeze", "Rhonchi"], "CAS"),  # two CAS events agree on the kind
        (["Fine Crackle", "Coarse Crackle", "Normal"], "DAS"),
        (["Wheeze+Crackle", "Wheeze+Crackle"], "CAS & DAS"),
        (["Wheeze", "Wheeze+Crackle", "Fine Crackle"], "CAS & DAS"),  # runs Wheeze,W+C and W+C,Fine
        (["Wheeze", "Fine Crackle", "Wheeze", "Fine Crackle"], "Normal"),  # alternating kinds never agree
        (["Poor Quality"] * 3, "Poor Quality"),
        (["Poor Quality", "Normal", "Poor Quality"], "Normal"),
        (["Poor Quality", "Wheeze", "Poor Quality"], "Normal"),  # not only poor quality, no confirmed sound
        (["Wheeze"], "CAS"),  # one window: it alone decides
        (["Normal"], "Normal"),
        (["Poor Quality"], "Poor Quality"),
    ],
)
def test_record_rule_on_hand_made_windows(windows, expected):
    assert record_label_from_windows(windows) == expected


def _event(annotation: str, start_ms: float, end_ms: float) -> SimpleNamespace:
    return SimpleNamespace(annotation=annotation, start_ms=start_ms, end_ms=end_ms)


@pytest.mark.parametrize(
    "events, expected",
    [
        ([], "Normal"),  # nothing annotated in the window
        ([_event("Normal", 0, 3000)], "Normal"),
        ([_event("Fine Crackle", 2600, 3200)], "Fine Crackle"),  # 400 ms of a 600 ms event: more than half
        ([_event("Fine Crackle", 2800, 3400)], "Normal"),  # 200 ms of 600: it grazes the edge
        ([_event("Wheeze", 2400, 6000)], "Wheeze"),  # 600 ms of a long event: over 0.5 s
        ([_event("Wheeze", 2600, 6000)], "Normal"),  # 400 ms of a long event
        ([_event("Wheeze", 0, 1000), _event("Coarse Crackle", 1500, 2500)], "Wheeze+Crackle"),  # both kinds
        ([_event("Rhonchi", 0, 800), _event("Wheeze", 1000, 2500)], "Wheeze"),  # one kind: the most held
        ([_event("Normal", 0, 2000), _event("Stridor", 2000, 3000)], "Stridor"),
        ([_event("Wheeze+Crackle", 4000, 5000)], "Normal"),  # outside the window
    ],
)
def test_window_label_from_the_events_a_window_holds(events, expected):
    assert window_label(events, 0.0, 3000.0) == expected


def test_min_run_sets_how_many_windows_must_agree():
    windows = ["Wheeze", "Normal", "Fine Crackle", "Fine Crackle", "Fine Crackle"]
    assert record_label_from_windows(windows, min_run=1) == "CAS & DAS"
    assert record_label_from_windows(windows, min_run=3) == "DAS"
    assert record_label_from_windows(windows, min_run=4) == "Normal"
    assert record_label_from_windows(["Wheeze", "Wheeze"], min_run=5) == "CAS"  # all windows agree


def _reference(windows: list[str], min_run: int = 2) -> str:
    """The rule written differently: a kind is found when its indicator string holds min_run ones in a row."""
    needed = "1" * min(min_run, len(windows))
    cas = needed in "".join("1" if w in CAS_EVENTS else "0" for w in windows)
    das = needed in "".join("1" if w in DAS_EVENTS else "0" for w in windows)
    if cas and das:
        return "CAS & DAS"
    if cas or das:
        return "CAS" if cas else "DAS"
    return "Poor Quality" if set(windows) == {"Poor Quality"} else "Normal"


def test_record_rule_matches_a_reference_on_every_short_sequence():
    for length in range(1, 5):
        for windows in itertools.product(WINDOW_LABELS, repeat=length):
            assert record_label_from_windows(list(windows)) == _reference(list(windows)), windows


def test_record_rule_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        record_label_from_windows([])
    with pytest.raises(ValueError, match="'Crackle'"):
        record_label_from_windows(["Normal", "Crackle"])
    with pytest.raises(ValueError, match="min_run"):
        record_label_from_windows(["Normal"], min_run=0)
