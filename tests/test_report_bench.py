"""respkit.report.bench: chapter 6's tables, flags, comparisons and sentences, on hand-made bench runs."""

import numpy as np
import pytest

from respkit.bench import BenchRun, get_method
from respkit.data.registry import score_function
from respkit.report import bench as report

SCORE = score_function("sprsound", "1-2")
CLASSES = ["Normal", "Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle"]

# 12 patients, 4 events each: patient p's events are Normal, Normal, Wheeze, Fine Crackle.
Y = np.tile([0, 0, 2, 5], 12)
GROUPS = np.repeat([f"p{k}" for k in range(12)], 4)


def stats(mean, std=0.0, n=2):
    return {"mean": mean, "std": std, "n": n}


def make_run(
    recipe,
    y_pred_by_seed,
    *,
    cpu_seconds=120.0,
    started="2026-01-01T00:00:00",
    finished=None,
    config=None,
    pred_classes=3,
    score=None,
):
    """A BenchRun of ``recipe`` whose seeds predicted ``y_pred_by_seed`` on the held-out events."""
    scores = [SCORE(Y, p)["score"] if score is None else score for p in y_pred_by_seed]
    per_seed = [{"score": s, "se": 0.5, "sp": 0.5, "floor": 0.25, "pred_classes": pred_classes} for s in scores]
    seeds = list(range(len(y_pred_by_seed)))
    results = {
        "recipe": recipe,
        "seeds": seeds,
        "cpu_seconds": cpu_seconds,
        "wall_seconds": cpu_seconds,
        "started": started,
        "finished": finished or started,
        "path": f"/x/{recipe}-cpu-0.json",
        "git_commit": "0123456789",
        "git_dirty": False,
        "config": config
        or {
            "dataset": "sprsound",
            "task": "1-2",
            "train": {"epochs": 6},
            "batch_size": 32,
            "width": 16,
            "n_mfcc": 32,
            "event_seconds": 3.0,
        },
        "data": {"sprsound": {"simulated": False}},
        "metrics_per_seed": per_seed,
        "summary": {
            "score": stats(float(np.mean(scores)), float(np.std(scores))),
            "se": stats(0.5),
            "sp": stats(0.5),
            "parameters": stats(5e5),
            "floor": stats(0.25),
        },
    }
    predictions = {
        s: {"val": {"y_true": Y, "y_pred": np.asarray(p), "groups": GROUPS}} for s, p in zip(seeds, y_pred_by_seed)
    }
    return BenchRun(get_method(recipe), results, predictions)


def noisy(hit_rate, seed):
    """Predictions that are right on a share ``hit_rate`` of the abnormal events and on every normal one."""
    rng = np.random.default_rng(seed)
    pred = Y.copy()
    wrong = (Y > 0) & (rng.random(len(Y)) > hit_rate)
    pred[wrong] = 0
    return pred


def test_tables_are_at_most_five_columns_wide():
    runs = [make_run("supcon.resnet", [Y, Y]), make_run("supcon.supcon", [noisy(0.5, 0), noisy(0.5, 1)])]
    charged, _ = report.charged_minutes(runs)
    tables = [
        report.score_tables(runs, charged, 0.3),
        report.budget_tables(runs, charged),
        report.provenance_table(runs),
        report.inputs_table(runs),
        report.protocol_table(runs, CLASSES, ["val"]),
    ]
    for text in tables:
        for line in text.splitlines():
            if line.startswith("|"):
                assert line.count("|") - 1 <= 5, line


def test_cpu_minutes_and_the_budget_sentence():
    runs = [
        make_run("supcon.resnet", [Y, Y], cpu_seconds=2 * 60 * 1.0),  # 1.0 min per run
        make_run("patchmix.cl", [Y, Y], cpu_seconds=2 * 60 * 4.5),
    ]
    charged, note = report.charged_minutes(runs)
    assert charged == {"supcon.resnet": pytest.approx(1.0), "patchmix.cl": pytest.approx(4.5)} and note is None
    span = report.cost_range(runs, charged)
    assert (span["low"], span["high"], span["cheap"], span["dear"]) == (1.0, 4.5, "ResNet18 + CE", "AST + Patch-Mix CL")
    assert span["ratio"] == pytest.approx(4.5)
    sentence = report.budget_sentence(runs, charged)
    assert "from 1.0 CPU-minutes (ResNet18 + CE) to 4.5 (AST + Patch-Mix CL), 4.5 times" in sentence


def test_a_reused_supcon_encoder_is_charged_to_the_run_that_reused_it():
    config = {
        "dataset": "sprsound",
        "task": "1-2",
        "pretrain": {"epochs": 6},
        "finetune": {"epochs": 4},
        "batch_size": 32,
        "width": 16,
        "n_mfcc": 32,
        "event_seconds": 3.0,
    }
    first = make_run(
        "supcon.supcon",
        [Y],
        cpu_seconds=180,
        started="2026-01-01T00:00:00",
        finished="2026-01-01T01:00:00",
        config=config,
    )
    second = make_run("supcon.mixup", [Y], cpu_seconds=60, started="2026-01-01T02:00:00", config=config)
    # Each file names the encoder folders its seeds used (the runner's stage-1 key); different ones: no sharing.
    first.results["shared_stages"] = [{"pretrain": "pretrain-0123"}]
    second.results["shared_stages"] = [{"pretrain": "pretrain-4567"}]
    assert report.charged_minutes([first, second]) == ({"supcon.supcon": 3, "supcon.mixup": 1}, None)
    second.results["shared_stages"] = [{"pretrain": "pretrain-0123"}]
    charged, note = report.charged_minutes([first, second])
    assert charged["supcon.mixup"] == pytest.approx(1 + 3) and charged["supcon.supcon"] == pytest.approx(3)
    assert "reused the encoder" in note
    # The charged minutes show the run's own time beside them, which CPU/wall is computed from.
    cost = report.budget_tables([first, second], charged).split("\n\n")[1]
    assert "| 4.0 (own 1.0) |" in cost and "| 3.0 |" in cost
    overlapping = make_run("supcon.mixup", [Y], cpu_seconds=60, started="2026-01-01T00:30:00", config=config)
    overlapping.results["shared_stages"] = first.results["shared_stages"]
    charged, note = report.charged_minutes([first, overlapping])
    assert charged["supcon.mixup"] == pytest.approx(1) and "ran while" in note


def test_flagged_runs_are_neither_ranked_nor_compared():
    good = make_run("supcon.resnet", [Y, Y])
    weak = make_run("supcon.supcon", [noisy(0.6, 0), noisy(0.6, 1)])
    failed = make_run("supcon.mixup", [np.zeros_like(Y)] * 2, pred_classes=1)
    runs = [good, weak, failed]
    assert report.flags(failed, chance=0.3).startswith("predicts one class (held out")
    assert report.flags(good, chance=0.3) == ""
    assert report.ranked(runs, chance=0.3) == [good, weak]
    below_chance = make_run("patchmix.finetune", [Y], score=0.2)
    assert report.held_out_flagged(below_chance, chance=0.3)
    rows = report.comparisons(runs, SCORE, chance=0.3, n=200)
    pairs = {(row["a"], row["b"]) for row in rows}
    assert pairs == {("supcon.supcon", "supcon.resnet")}  # the mixup pairs hold a flagged run
    text = report.verdict_text(runs, rows, chance=0.3)
    assert text.startswith("**ResNet18 + CE** has the best mean held-out score")
    assert "Flagged, so neither ranked nor compared: SupCon + MixUp." in text


def test_a_paired_comparison_finds_a_clear_gap_and_says_so():
    perfect = make_run("patchmix.finetune", [Y, Y])
    worse = make_run("patchmix.cl", [noisy(0.3, 0), noisy(0.3, 1)])
    (row,) = report.comparisons([perfect, worse], SCORE, chance=0.3, n=300)
    assert (row["a"], row["b"]) == ("patchmix.cl", "patchmix.finetune")
    assert row["high"] < 0 and not row["within_noise"] and row["patients"] == 12 and row["level"] == 0.95
    assert "behind on these patients" in report.verdict_text([perfect, worse], [row], chance=0.3)
    table = report.comparison_table([row])
    assert "AST fine-tune ahead" in table and "95 % interval" in table


def test_design_facts_read_from_the_configs():
    """Each recipe describes the config its results file stored (missing fields take their defaults)."""
    supcon = make_run(
        "supcon.supcon", [Y], config={"n_mfcc": 32, "pretrain": {"epochs": 6}, "finetune": {"epochs": 4}, "width": 16}
    )
    clar = make_run(
        "clar.joint",
        [Y],
        config={
            "features": {"kind": "clar"},
            "model": "resnet18",
            "model_kwargs": {"width": 16},
            "train": {"epochs": 6},
        },
    )
    ast = make_run(
        "patchmix.cl",
        [Y],
        config={"n_mels": 32, "model": "ast_tiny", "model_kwargs": {"embed_dim": 96}, "train": {"epochs": 6}},
    )
    dass = make_run(
        "lungsrad.full",
        [Y],
        config={
            "n_mels": 32,
            "model": "dass_tiny",
            "model_kwargs": {"dims": [16, 32, 64, 128]},
            "train": {"epochs": 6},
        },
    )
    supcon, clar, ast, dass = (report.design(run) for run in (supcon, clar, ast, dass))
    assert supcon.features == "MFCC (32 coefficients)" and ast.features == "log-mel (32 bands)"
    assert clar.features.startswith("CLAR's three channels")
    assert supcon.training.endswith("a linear classifier on the frozen encoder")
    assert ast.training == "end to end" and "NT-Xent" in clar.training
    assert supcon.epochs == "6 + 4" and ast.epochs == "6"
    assert supcon.network == "resnet18, width 16" and ast.network == "ast_tiny, width 96"
    assert dass.network == "dass_tiny, widths 16 to 128"


def test_the_prior_correction_is_compared_with_the_argmax_on_the_same_patients():
    """The second decision's row reads the stored ``y_prior`` against ``y_pred`` of the same seeds; a run whose
    files lack it is left out, and the table shows argmax → prior with the fitted tau."""
    run = make_run("supcon.resnet", [noisy(0.5, 0), noisy(0.5, 1)])
    for predictions in run.predictions.values():
        predictions["val"]["y_prior"] = Y.copy()  # the rule fixed every error
    run.results["summary"] |= {"prior_score": stats(1.0), "prior_se": stats(1.0), "prior_sp": stats(1.0)}
    run.results["summary"]["prior_tau"] = stats(0.8)
    older = make_run("supcon.supcon", [noisy(0.5, 2)])  # recorded before runs kept a second decision
    (row,) = report.decision_rows([run, older], SCORE, chance=0.3, n=200)
    expected = 1.0 - np.mean([SCORE(Y, noisy(0.5, s))["score"] for s in (0, 1)])
    assert row["point"] == pytest.approx(expected) and row["low"] > 0 and not row["within_noise"]
    assert row["label_b"] == "ResNet18 + CE, argmax"
    assert "ResNet18 + CE: +" in report.decision_text([row])
    table = report.decision_table([run, older])
    assert "ResNet18 + CE" in table and "SupCon" not in table and "| 0.80 |" in table
    assert "100.0 ± 0.0" in table


def test_clar_paper_is_speech_music_and_environmental_sounds():
    text = get_method("clar.joint").paper
    assert "NSynth" in text and "ESC-50" in text and "ECG" not in text


def test_one_event_effect_and_the_slice_lines():
    y_true, y_pred = np.array([0, 0, 2, 5]), np.array([0, 0, 0, 5])
    effect = report.one_event_effect(y_true, y_pred, SCORE)
    assert effect == pytest.approx(SCORE(y_true, y_true)["score"] - SCORE(y_true, y_pred)["score"]) and effect > 0
    assert report.one_event_effect(y_true, y_true, SCORE) == 0.0
    run = make_run("supcon.resnet", [noisy(0.5, 0)])
    lines = report.slice_lines([run], 0.0, ["val"], SCORE)
    assert lines.startswith("- held-out patients: 48 events of 12 patients, 24 abnormal")
    assert report.slice_lines([run], 1.0, ["val"], SCORE).startswith("Every run is flagged")  # none to read


def test_the_data_note_says_when_this_build_is_simulated():
    run = make_run("supcon.resnet", [Y])
    assert "**real**" in report.data_note([run], build_simulated=False)
    assert "whose own SPRSound data is simulated" in report.data_note([run], build_simulated=True)


def test_shard_text_reads_the_draws():
    labels = [0] * 9 + [1] * 3
    whole = [11, 10, 8, 11, 9, 10, 3, 6, 9, 5, 8, 3]
    shards = [[[11, 10, 8], [3, 6, 9]], [[11, 9, 10], [5, 8, 3]]]
    text = report.shard_text(shards, whole, labels)
    assert "is the one-process batch" in text and "(items 9, 10, 11) is 25% of the items and 50% of the draws" in text
    assert "(5 of 6, 1 of 6)" in text and "close to the equal share" in text
    swapped = [shards[1], shards[0]]
    assert "is not the one-process batch" in report.shard_text(swapped, whole, labels)
