"""respkit.report.supcon: chapter 3's flags, tables and computed sentences, on hand-made results."""

import numpy as np
import pytest

from respkit.report import supcon as report


def _result(recipe="supcon.mixup", task="1-2", scores=(0.5,), sp=(0.6,), prefix="", profile="full", **config):
    """A results dict as run_experiment writes it, with one entry per seed (no floor recorded)."""
    per_seed = [{f"{prefix}score": s, f"{prefix}sp": p, f"{prefix}se": 0.4} for s, p in zip(scores, sp)]
    summary = {
        f"{prefix}{k}": {
            "mean": float(np.mean([m[f"{prefix}{k}"] for m in per_seed])),
            "std": float(np.std([m[f"{prefix}{k}"] for m in per_seed])),
            "n": len(per_seed),
        }
        for k in ("score", "sp", "se")
    }
    return {
        "recipe": recipe,
        "profile": profile,
        "seeds": list(range(len(scores))),
        "metrics_per_seed": per_seed,
        "summary": summary,
        "wall_seconds": 60.0,
        "config": {"task": task, **config},
    }


def test_floor_is_the_score_of_always_normal():
    assert report.floor_score("1-2") == pytest.approx(0.25)
    assert report.floor_score("2-2") == pytest.approx(0.25)


def test_a_score_at_or_below_the_floor_is_flagged_even_without_a_recorded_floor():
    assert report.flag(_result(scores=(0.5,))) is None
    assert report.flag(_result(scores=(0.167,), sp=(0.3,), prefix="intra_"), "intra_") == "at or below always-normal"
    assert report.flag(_result(scores=(0.3,), sp=(0.0,))) == "never predicts normal"


def test_score_cell_marks_flagged_scores_and_shows_the_spread():
    assert report.score_cell(_result(scores=(0.5, 0.6), sp=(0.6, 0.6))) == "55.0 ± 5.0"
    assert report.score_cell(_result(scores=(0.072,), sp=(0.0,))) == f"7.2 {report.MARK}"
    assert report.score_cell(None) == "–"


def test_split_table_flags_each_split_on_its_own():
    run = _result(scores=(0.5,))
    run["metrics_per_seed"][0] |= {"intra_score": 0.136, "intra_sp": 0.2, "intra_se": 0.1}
    run["summary"]["intra_score"] = {"mean": 0.136, "std": 0.0, "n": 1}
    table = report.split_table({"a": run}, ["", "intra_"])
    assert "| a | 50.0 | 13.6 ✗ |" in table
    assert "✗ a, intra: at or below always-normal" in table


def test_paper_ranking_leaves_out_flagged_runs():
    recorded = [
        _result("supcon.resnet", "2-2", (0.072,), (0.0,)),
        _result("supcon.supcon", "2-2", (0.465,)),
        _result("supcon.mixup", "2-2", (0.345,)),
    ]
    (line,) = report.paper_ranking_lines(recorded)
    assert line.startswith("task 2-2: ours supcon.mixup < supcon.supcon; the paper supcon.supcon < supcon.mixup")
    assert "left out, flagged: supcon.resnet (never predicts normal)" in line
    assert f"7.2 {report.MARK}" in report.paper_table(recorded, ["2-2"])


def test_share_with_classmates_counts_items_that_meet_their_class_in_a_batch():
    labels = np.array([0, 0, 1, 2, 0, 1, 1, 2])
    shares = report.share_with_classmates(labels, np.arange(8), 3, batch=4)
    # batch 1: 0,0,1,2 -> the two 0s meet; batch 2: 0,1,1,2 -> the two 1s meet
    np.testing.assert_allclose(shares, [2 / 3, 2 / 3, 0.0])


def test_sampler_table_counts_draws_per_item():
    labels = np.array([0, 0, 0, 1])
    table = report.sampler_table(labels, ["Normal", "Stridor"], np.arange(4), np.array([0, 3, 3, 1]))
    assert "| Stridor | 1 | 25.0% | 50.0% | 2.0 |" in table


def test_failure_kind_sorts_the_window_rule_s_mistakes():
    assert (
        report.failure_kind({"true": "Normal", "pred": "CAS", "windows": ["Wheeze", "Wheeze"]})
        == "normal record, two consecutive windows agreed on a false alarm"
    )
    assert (
        report.failure_kind({"true": "DAS", "pred": "Normal", "windows": ["Normal", "Fine Crackle"]})
        == "abnormal record, abnormal windows found but never two in a row"
    )
    lines = report.failure_lines(
        [
            {"record": "r1", "true": "DAS", "pred": "Normal", "windows": ["Normal"]},
            {"record": "r2", "true": "Normal", "pred": "Normal", "windows": ["Normal"]},
        ]
    )
    assert lines[0] == "1 of 2 held-out records labelled wrongly by the window rule"


def test_mean_gap_says_there_is_no_interval():
    a, b = _result(scores=(0.5, 0.6), sp=(0.6, 0.6)), _result(scores=(0.4,))
    assert report.mean_gap(a, b) == "+15.0 points (2 against 1 seeds, no interval)"


def test_stage2_text_pairs_the_runs_on_one_encoder():
    def run(mix, optimizer, score):
        r = _result(
            scores=(score,),
            mixup_alpha=None if mix is None else 1.0,
            mix=mix or "input",
            finetune={"optimizer": optimizer, "lr": 0.01},
        )
        return r

    text = report.stage2_text([run(None, "sgd", 0.4), run("input", "sgd", 0.3), run("features", "sgd", 0.45)])
    assert "MixUp on the clips against no MixUp: score -10.0" in text
    assert "MixUp on the features against no MixUp: score +5.0" in text
    assert "Adam" not in text  # no such run: no such line


def test_recall_text_names_unmeasured_classes_and_the_step_of_the_rarest():
    text = report.recall_text(["Normal", "Stridor", "Rhonchi"], [40, 0, 4])
    assert text.startswith("The held-out patients hold no Stridor event, so its recall is not measured here.")
    assert "Rhonchi, has 4 held-out events: one hit more or fewer moves its bar by 25 points." in text


def test_test_sets_text_counts_each_set_and_the_step_of_se():
    text = report.test_sets_text({"inter_test": (24, 60, 10, 5), "intra_test": None}, simulated=False)
    assert "inter 24 records (5 of them abnormal) and 60 events from 10 patients" in text
    assert text.endswith("moves SE by up to 20 points.")
    assert "no official test set" in report.test_sets_text({"inter_test": None}, simulated=True)


def test_budget_text_and_stages_describe_a_recorded_cpu_run():
    run = _result(
        recipe="supcon.mixup",
        width=16,
        n_mfcc=64,
        max_train=2000,
        mixup_alpha=1.0,
        mix="features",
        pretrain={"epochs": 3, "optimizer": "sgd", "lr": 0.01},
        finetune={"epochs": 6, "optimizer": "sgd", "lr": 0.01},
    )
    run |= {"data": {"sprsound": {"simulated": False}}, "hardware": {"cuda_device": None, "cpu_count": 2}}
    assert report.budget_text([run]) == (
        "ResNet18 of width 16 on 64 MFCCs, 2,000 training events of the real "
        "SPRSound, 3 epochs of SupCon and 6 of the classifier, trained on a CPU "
        "of 2 cores"
    )
    assert report.stages(run) == "SupCon sgd lr 0.01, classifier sgd lr 0.01, MixUp on the features"


def test_class_counts_label_only_plain_1_2_5_ticks():
    import matplotlib

    matplotlib.use("Agg")
    from types import SimpleNamespace

    ds = SimpleNamespace(classes=["Normal", "Rare", "Mid"], labels=np.array([0] * 820 + [1] * 20 + [2] * 143))
    fig = report.plot_class_counts({"events": ds})
    ax = fig.axes[0]
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= v <= hi and t.get_text()]
    assert shown and all(text.replace(",", "").isdigit() for text in shown)
    assert shown[-1].replace(",", "")[0] in "125"
    assert not [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    matplotlib.pyplot.close(fig)
