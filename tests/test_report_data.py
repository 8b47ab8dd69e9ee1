"""Chapter 1's helpers (respkit.report.data): each sentence says what the data in front of it holds."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from respkit.report import data as ch1  # noqa: E402
from respkit.train import History, TrainConfig  # noqa: E402


def test_words_follow_the_numbers():
    assert ch1.count(1, "patient") == "1 patient" and ch1.count(1200, "child", "children") == "1,200 children"
    assert [ch1.share_word(x) for x in (1.0, 0.78, 0.53, 0.2, 0.05, 0.0)] == [
        "all",
        "most",
        "about half",
        "a minority",
        "a few",
        "none",
    ]
    # The sentence the issue caught: "vary a lot" beside 1.41-2.58 s.
    assert ch1.spread_word(1.41, 2.58) == "vary"
    assert ch1.spread_word(0.61, 6.41) == "vary a lot"
    assert ch1.spread_word(2.0, 2.2) == "vary little"


def test_typical_item_is_nearest_the_upper_quartile_of_its_class():
    labels = np.array([0, 0, 0, 0, 1, 1])
    durations = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 5.0])
    chosen = ch1.typical_items(labels, durations, ["a", "b", "absent"])
    assert chosen == {"a": 2, "b": 5}  # 75th percentiles 3.25 and 3.875; a class without items is left out


def test_split_file_note_says_what_the_loader_found(tmp_path):
    (tmp_path / "ICBHI_challenge_train_test.txt").write_text(
        "101_1b1_Al_sc_Meditron\ttrain\r\n226_1b1_Pl_sc_Meditron\ttest\r\n"
    )
    orphans = ch1.orphan_split_lines(tmp_path, ["101_1b1_Al_sc_Meditron"])
    assert orphans == ["226_1b1_Pl_sc_Meditron"]
    found = ch1.split_file_note(orphans, 2, 1)
    assert "names a recording that does not exist" in found and "2 lines for 1 recording" in found
    clean = ch1.split_file_note([], 48, 48)
    assert "matches the recordings here" in clean and "no warning" in clean


def test_straddle_and_balance_notes():
    assert "2 patients (156, 218) have" in ch1.straddle_note([156, 218])
    assert "1 patient (101) has" in ch1.straddle_note([101])
    assert "No patient here" in ch1.straddle_note([])
    note = ch1.class_balance_note(np.array([0] * 53 + [1] * 30 + [2] * 10 + [3] * 7), ["normal", "c", "w", "both"])
    assert note.startswith("**The classes are imbalanced.** About half of the cycles (53%)") and "*both*" in note


def test_durations_note_never_says_zero_percent():
    assert "none is longer than 8 s" in ch1.durations_note(np.linspace(1.4, 2.6, 100))
    assert "longer than 8 s" in ch1.durations_note(np.r_[np.linspace(0.5, 7, 99), 9.0])
    assert ch1.durations_note(np.linspace(1.4, 2.6, 100)).startswith("Cycle lengths vary:")


def test_test_sets_note_for_each_build():
    assert "partly present (inter_test 24 of 355" in ch1.test_sets_note({"inter_test": 24, "intra_test": 24}, False)
    assert "complete" in ch1.test_sets_note({"inter_test": 355, "intra_test": 379}, False)
    assert "simulator's own, 40 records (inter_test)" in ch1.test_sets_note({"inter_test": 40, "intra_test": 40}, True)


def test_shown_and_heard_notes_name_the_source():
    data = SimpleNamespace(sprsound=SimpleNamespace(simulated=False), icbhi=SimpleNamespace(simulated=True))
    assert ch1.shown_note(data) == (
        "The SPRSound events below are real recordings; the ICBHI cycles after them "
        "are the simulator's stand-ins, written in the official layout."
    )
    assert ch1.heard_note(data).startswith("Real crackles (the SPRSound examples above)")
    data.sprsound.simulated = True
    assert ch1.shown_note(data).startswith("The SPRSound events and the ICBHI cycles below are the simulator's")
    assert ch1.heard_note(data).startswith("These examples are simulated too")


def test_icbhi_guard_says_why_in_each_build():
    assert ch1.icbhi_guard_note(60, 20, False, 920, 0, 6898) is None
    real = ch1.icbhi_guard_note(3, 20, False, 920, 901, 6898)
    assert "present for 19 of 920 recordings here, which leaves 3 training patients, fewer than 20" in real
    simulated = ch1.icbhi_guard_note(13, 20, True, 48, 0, 263)
    assert "small by design (48 recordings, 263 cycles" in simulated and "13 training patients remain" in simulated
    assert "audio is present" not in simulated


def _config(epochs=6, batch=32, max_train=1000, cap=None):
    return SimpleNamespace(
        max_train=max_train,
        batch_size=batch,
        val_fraction=0.2,
        split_seed=0,
        train=TrainConfig(epochs=epochs, max_steps_per_epoch=cap),
    )


def test_steps_from_the_config_and_from_the_run():
    # The quick baseline: 1,000 events in full batches of 32, six epochs (the loader drops the last batch).
    assert ch1.planned_steps(_config(), 5319) == 6 * 31
    assert ch1.planned_steps(_config(), 980) == 6 * 30
    assert ch1.planned_steps(_config(epochs=8, batch=16, max_train=300, cap=10), 137) == 8 * 8
    history = History(
        step_loss=[1.0] * 186, train=[{"loss": 1.0}] * 6, eval=[{"score": s} for s in (0.3, 0.2, 0.5, 0.45, 0.6, 0.65)]
    )
    assert ch1.steps_taken(history) == ch1.planned_steps(_config(), 5319)
    assert ch1.largest_jump([history]) == pytest.approx(0.3)


def test_curves_note_counts_what_the_run_saw():
    history = History(
        step_loss=[1.0] * 186, train=[{"loss": 1.0}] * 6, eval=[{"score": s} for s in (0.3, 0.2, 0.5, 0.45, 0.6, 0.65)]
    )
    results = {"profile": "quick"}
    labels = np.array([0] * 50 + [1] * 3 + [2] * 10)
    note = ch1.curves_note(
        results, [history, history], _config(), labels, ["Normal", "Stridor", "Wheeze"], np.array([0, 0, 2])
    )
    assert "186 optimiser steps (6 epochs of 31 class-balanced batches of 32)" in note
    assert "up to 0.30" in note and "Stridor, has 3 events" in note and "with no Stridor among them" in note
    assert "On the validation patients the 2 seeds ended between 0.650 and 0.650" in note
    assert "consecutive epochs (in seed 0, drawn above), so" in note


def test_jump_names_the_seed_the_figure_does_not_draw():
    # The build that prompted it: seed 2 fell to 0.21 and rose to 0.61; the figure drew seed 0 (0.14 at most).
    def run(*scores):
        return History(step_loss=[1.0], train=[{"loss": 1.0}] * len(scores), eval=[{"score": s} for s in scores])

    drawn, calm, jumpy = run(0.421, 0.369, 0.508, 0.477, 0.61), run(0.3, 0.4, 0.5), run(0.31, 0.57, 0.21, 0.61)
    results = {"seeds": [0, 1, 2]}
    assert ch1.jump_where([drawn, calm, jumpy], results) == " (in seed 2; seed 0, drawn above, by up to 0.14)"
    assert ch1.jump_where([jumpy, calm], {"seeds": [5, 6]}) == " (in seed 5, drawn above)"
    assert ch1.jump_where([jumpy], results) == ""


def test_audio_players_shrink_to_the_column():
    html = ch1.audio_table([("wheeze", "a note", np.zeros(800))], 8000).data
    assert '<table style="width: 100%">' in html and f'<audio style="{ch1.PLAYER_STYLE}" ' in html
    assert f'<div style="{ch1.NOTE_CELL_STYLE}"><span style="flex: 1 1 14em">a note</span>' in html
    assert html.count("<audio") == 1


def test_bar_note_flags_a_degenerate_run_and_names_both_bars():
    summary = {
        k: {"mean": v, "std": 0.01, "n": 3}
        for k, v in {"score": 0.24, "se": 0.0, "sp": 1.0, "floor": 0.25, "chance": 0.39}.items()
    }
    results = {
        "profile": "quick",
        "seeds": [0, 1, 2],
        "summary": summary,
        "metrics_per_seed": [{"score": 0.24, "floor": 0.25, "se": 0.0, "sp": 1.0}],
    }
    note = ch1.bar_note(results, 500, simulated=True)
    assert "simulated SPRSound, 500 events" in note and "0.250 for always answering Normal" in note
    assert "0.390 for the best guess" in note and "**Flagged: never predicts abnormal.**" in note


def test_all_normal_table_and_accuracy_note():
    labels = np.array([0, 0, 0, 1])
    table = ch1.all_normal_table({"toy": (labels, lambda y, p: {"sp": 1.0, "se": 0.0, "score": 0.5})})
    assert table.splitlines()[-1] == "| toy | 0.750 | 1.000 | 0.000 | 0.500 |"
    assert "right on 75% of the toy items" in ch1.accuracy_note({"toy items": labels})


def test_protocol_note_reads_the_configs():
    quick, full = _config(), _config(epochs=30, batch=64, max_train=None)
    assert "6 epochs on 1,000 of the 5,319 training events" in ch1.protocol_note("quick", quick, full, 5319)
    assert "6 epochs on every training event" in ch1.protocol_note("quick", quick, full, 980)
    assert "trains for 30 epochs" in ch1.protocol_note("quick", quick, full, 980)


def test_figures_fit_the_column():
    rate = 8000
    waves = {name: np.random.default_rng(0).normal(size=rate) for name in "abcdefg"}
    fig = ch1.plot_items(waves, rate)
    width, height = fig.get_size_inches()
    assert width <= 7 and len([ax for ax in fig.axes if ax.get_visible() and ax.axison]) == 7
    assert max(len(row) for row in [fig.axes[i : i + 2] for i in range(0, 8, 2)]) == 2


def test_rare_classes_note_warns_only_when_children_are_few():
    labels = np.array([0] * 40 + [1] * 4 + [2] * 6)
    few = ch1.rare_classes_note(labels, np.array(list(range(40)) + [1, 1, 2, 2] + list(range(6))), ["N", "S", "W"])
    assert "largest class is 10 times the smallest" in few and "S: 4 events from 2 children" in few
    assert "With S from 2 children, a model can learn" in few
    many = ch1.rare_classes_note(labels, np.arange(50), ["N", "S", "W"], few_children=3)
    assert "can learn" not in many


def _run_with_prior(prior_preds, argmax_preds, y_true, groups):
    """Hand-made artifacts of one run: per seed, the argmax's and the prior rule's predictions on "val"."""
    return [
        SimpleNamespace(
            predictions={"val": SimpleNamespace(y_true=np.asarray(y_true), y_pred=np.asarray(a))},
            groups={"val": np.asarray(groups)},
            info={"prior": {"tau": 1.0, "predictions": {"val": list(p)}}},
        )
        for p, a in zip(prior_preds, argmax_preds)
    ]


def _accuracy(y_true, y_pred):
    return {"score": float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))}


def test_prior_comparison_pairs_both_rules_on_the_same_patients():
    y_true = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    groups = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    argmax = [1 - y_true] * 2  # every item wrong: accuracy 0
    prior = [y_true.copy(), y_true.copy()]  # every item right: accuracy 1
    artifacts = _run_with_prior(prior, argmax, y_true, groups)
    row = ch1.prior_comparison(artifacts, "val", _accuracy, n=200)
    assert row["point"] == pytest.approx(1.0) and row["patients"] == 4 and row["seeds"] == 2
    assert not row["identical"] and row["low"] > 0 and not row["within_noise"]
    note = ch1.prior_comparison_note(artifacts, _accuracy)
    assert "- held-out patients: +100.0 points" in note and "ahead" in note and "2 seeds averaged" in note

    same = _run_with_prior(argmax, argmax, y_true, groups)
    assert ch1.prior_comparison(same, "val", _accuracy, n=50)["point"] == 0
    assert "the same predictions in every seed (4 patients)" in ch1.prior_comparison_note(same, _accuracy)
    shifted = _run_with_prior(prior, argmax, y_true, groups)
    shifted[1].predictions["val"].y_true = y_true[::-1]
    with pytest.raises(ValueError, match="same items"):
        ch1.prior_comparison(shifted, "val", _accuracy)


def _stats(mean):
    return {"mean": mean, "std": 0.0, "n": 2}


def test_prior_table_and_tau_note_read_the_results():
    summary = {f"{p}{k}": _stats(v) for p in ("", "inter_") for k, v in (("score", 0.6), ("se", 0.5), ("sp", 0.7))}
    summary |= {
        f"{p}prior_{k}": _stats(v) for p in ("", "inter_") for k, v in (("score", 0.65), ("se", 0.45), ("sp", 0.85))
    }
    summary |= {"valid_score": _stats(0.61), "valid_prior_score": _stats(0.66)}
    results = {"summary": summary, "seeds": [0, 1], "metrics_per_seed": [{"prior_tau": 0.5}, {"prior_tau": 0.0}]}
    table = ch1.prior_table(results).splitlines()
    assert len(table) == 4  # header, rule, held-out, inter; no intra in this run, validation never shown
    assert table[2] == "| held-out patients | 60.0 | 50.0 | 70.0 | 65.0 | 45.0 | 85.0 | +5.0 |"
    assert table[3].startswith("| official inter-patient test |")
    note = ch1.tau_note(results)
    assert "0.5 (seed 0), 0 (seed 1)" in note and "Seed 1 kept the argmax" in note and "0.610 to 0.660" in note
    results |= {"seeds": [0, 1, 2], "metrics_per_seed": [{"prior_tau": 0.0}, {"prior_tau": 0.0}, {"prior_tau": 1.0}]}
    assert "Seeds 0 and 1 kept the argmax" in ch1.tau_note(results)
    results["metrics_per_seed"] = [{"prior_tau": 0.0}] * 3
    assert "every seed kept the argmax" in ch1.tau_note(results)
