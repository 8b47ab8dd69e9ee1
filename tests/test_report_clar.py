"""respkit.report.clar: chapter 2's counts, computed sentences and comparisons, on hand-made inputs."""

from types import SimpleNamespace

import numpy as np
import torchaudio

from respkit.report import clar as chapter


def _meta(*annotations, length=2000):
    return [SimpleNamespace(annotation=a, start_ms=0, end_ms=length) for a in annotations]


def _run(recipe, scores, *, sp=0.5, se=0.5):
    return {
        "recipe": recipe,
        "metrics_per_seed": [
            {"score": s, "sp": sp, "se": se, "pred_classes": 2, "floor": 0.25, "chance": 0.5} for s in scores
        ],
        "summary": {"score": {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "n": len(scores)}},
    }


def test_counts_and_the_ratio_of_normal_to_abnormal():
    assert chapter.class_counts(["Normal", "Adventitious"], [0, 0, 0, 1]) == "Normal: 3, Adventitious: 1"
    assert chapter.class_counts(["Normal", "Adventitious"], [0, 0]) == "Normal: 2, Adventitious: 0"
    assert chapter.normal_per_abnormal([0] * 5159 + [1] * 1497) == 5159 / 1497
    assert chapter.normal_per_abnormal([1, 1, 1, 1, 0, 0], normal=1) == 2.0
    assert chapter.normal_per_abnormal([0, 0]) == float("inf")
    assert chapter.annotation_count(_meta("Normal", "Stridor", "Stridor", "Wheeze"), "Stridor") == 2


def test_the_mel_bins_above_the_source_nyquist_are_the_ones_whose_filters_start_there():
    # A filter is empty when its lower edge lies above 4 kHz: with HTK mels (torchaudio's default), the
    # lower edge of filter k is point k of n_mels + 2 points equally spaced in mel from 0 to 8 kHz.
    fb = torchaudio.functional.melscale_fbanks(1025, 0.0, 8000.0, 128, 16000)
    empty = chapter.empty_mel_bins(fb, 16000, 8000)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    first = int(np.floor(mel(4000) / mel(8000) * 129)) + 1
    assert empty == list(range(first, 128)) and len(empty) == 30
    assert chapter.empty_mel_bins(fb, 16000, 16000) == []  # nothing is empty at the source's own rate


def test_pick_events_prefers_a_long_event_and_falls_back_to_the_longest():
    meta = [
        SimpleNamespace(annotation=a, start_ms=0, end_ms=n)
        for a, n in [("Normal", 500), ("Normal", 1800), ("Wheeze", 900), ("Fine Crackle", 300), ("Fine Crackle", 700)]
    ]
    chosen = chapter.pick_events(SimpleNamespace(meta=meta))
    assert chosen == {"normal": 1, "adventitious": 4}  # crackles come first; none is 1.5 s, so the longest


def test_flags_rankings_and_gaps_leave_degenerate_runs_out():
    good, better = _run("clar.supervised", [0.70, 0.72]), _run("clar.joint", [0.80, 0.78])
    bad = _run("clar.pretrain_finetune", [0.50, 0.60], sp=0.0)  # never predicts normal in one seed
    runs = {"supervised": good, "joint": better, "pre-train": bad}
    assert chapter.flagged(runs) == {"pre-train": "never predicts normal"}
    assert "pre-train: **never predicts normal**" in chapter.flag_text(runs)
    assert chapter.flag_text({"joint": better}).startswith("No run shown here is flagged")
    assert chapter.ranking_text(runs) == "joint (79.0) > supervised (71.0)"
    row = {"point": 0.08, "low": 0.02, "high": 0.15, "level": 0.95, "within_noise": False, "patients": 12}
    calls = []
    lines = chapter.gap_lines(
        [("joint − supervised", better, good), ("joint − pre-train", better, bad)],
        compare_fn=lambda a, b: calls.append((a, b)) or row,
    )
    assert calls == [(better, good)]  # the flagged pair is never compared
    assert lines[0] == (
        "- **joint − supervised**: +8.0 points (95 % interval +2.0 to +15.0, paired over 12 "
        "patients); the interval excludes 0: ahead on these patients."
    )
    assert lines[1] == (
        "- **joint − pre-train**: not compared: clar.pretrain_finetune is flagged (never predicts normal)."
    )


def test_loop_text_reads_the_first_and_last_steps_against_a_blind_guess():
    text = chapter.loop_text({"CE": [0.7] * 20 + [0.5] * 20, "NT-Xent": [4.0] * 40}, batch_size=32, n_classes=2)
    assert "CE fell from 0.700 to 0.500, below a blind guess's 0.693" in text
    assert "NT-Xent stayed level, from 4.000 to 4.000, below a blind guess's 4.143" in text
    assert text.startswith("Over 40 steps (means of the first 10 and of the last 10 steps)")
    assert chapter.loop_text({"CE": [0.7] * 4, "NT-Xent": [4.0] * 4}, 2, 2).startswith(
        "Over 4 steps (means of the first 2 and of the last 2 steps)"
    )


def test_domain_text_states_both_ratios_and_names_the_simulator():
    release = SimpleNamespace(meta=_meta(*["Normal"] * 6, "Wheeze", "Stridor"))
    events = SimpleNamespace(train=SimpleNamespace(labels=np.array([0, 0, 1])), classes=["Normal", "Adventitious"])
    real = chapter.domain_text(release, events, simulated=False)
    assert "3.0 normal events for every adventitious one in the release's training set" in real
    assert "and 2.0 in the 3 training events of this profile" in real
    assert "Its annotations are ones that experts disagree on." in real
    simulated = chapter.domain_text(release, events, simulated=True)
    assert "the simulator's training set" in simulated and "The simulator's labels are exact" in simulated


def test_profile_text_counts_the_steps_of_a_stage_from_the_config():
    config = SimpleNamespace(
        batch_size=32, model="cnn_small", duration=2.0, sample_rate=8000, train=SimpleNamespace(epochs=6)
    )
    text = chapter.profile_text(config, "quick", 480, simulated=False)
    assert "runs a `cnn_small` encoder for 90 steps (6 epochs of 15) on 480 events of 2\u00a0s at 8\u00a0kHz" in text
    assert "simulator" not in text and "simulator" in chapter.profile_text(config, "quick", 480, simulated=True)


def test_optimiser_text_names_the_settings_of_a_stage():
    train = SimpleNamespace(epochs=100, optimizer="adamw", lr=1e-3, weight_decay=1e-4, warmup_epochs=5)
    assert chapter.optimiser_text("fine-tuning", train) == (
        "fine-tuning: 100 epochs, adamw at learning rate 0.001 (weight decay 0.0001, 5 warm-up epochs)"
    )
