"""Chapter 3's recipes: clips, the two objectives, the frozen encoder, and short runs of every recipe on the
simulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from respkit.data import SPRSound
from respkit.data.audio import fix_length
from respkit.data.clips import Clips, random_clip
from respkit.data.locate import DatasetLocation, DataSource
from respkit.data.synthetic import write_sprsound
from respkit.experiments import run_experiment
from respkit.features import MinMaxNormalize
from respkit.inference import record_label_from_windows, window_label, window_starts
from respkit.losses import SupCon, mixed_cross_entropy
from respkit.mix import MixUp
from respkit.models import ProjectionHead, create_model
from respkit.recipes import common, get_recipe, supcon
from respkit.runs import RunArtifacts
from respkit.train import TrainConfig, Trainer
from respkit.train.supcon import LinearProbe, ProjectionClassifier, SupConObjective

STEPS = TrainConfig(epochs=1, lr=0.05, optimizer="sgd", amp=False, log_every=1, max_steps_per_epoch=2)
TINY = {
    "n_mfcc": 16,
    "hop_length": 256,
    "event_seconds": 1.0,
    "record_seconds": 2.0,
    "width": 4,
    "batch_size": 8,
    "embedding_dim": 8,
    "max_train": 40,
    "max_val": 24,
    "pretrain": STEPS,
    "finetune": STEPS,
}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulated SPRSound (16 patients) and a private feature cache."""
    root = write_sprsound(tmp_path_factory.mktemp("sim") / "sprsound", n_patients=16, seed=0)
    location = DatasetLocation("sprsound", root, "simulator")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RESPKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield DataSource(icbhi=DatasetLocation("icbhi", root, "simulator"), sprsound=location)


def test_random_clip_keeps_a_short_item_whole_at_a_uniform_offset():
    torch.manual_seed(0)
    x = torch.arange(1.0, 4.0).view(1, 1, 3)  # [1, F=1, T=3], no zeros inside
    offsets = []
    for _ in range(400):
        clip = random_clip(x, 7)
        row = clip[0, 0]
        start = int(row.nonzero()[0])
        assert clip.shape == (1, 1, 7) and row[start : start + 3].tolist() == [1, 2, 3] and row.sum() == 6
        offsets.append(start)
    counts = np.bincount(offsets, minlength=5)
    assert len(counts) == 5 and counts.min() > 50  # offsets 0..4, each about 80 times


def test_random_clip_crops_a_long_item_to_a_contiguous_window():
    torch.manual_seed(0)
    x = torch.arange(20.0).view(1, 1, 20)
    starts = set()
    for _ in range(300):
        row = random_clip(x, 5)[0, 0]
        assert row.tolist() == list(range(int(row[0]), int(row[0]) + 5))
        starts.add(int(row[0]))
    assert starts == set(range(16))


class _Items(torch.utils.data.Dataset):
    def __init__(self, lengths):
        self.items = [torch.randn(1, 4, n) for n in lengths]
        self.labels = np.arange(len(lengths)) % 2
        self.groups = np.arange(len(lengths))
        self.classes = ["Normal", "Adventitious"]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i], int(self.labels[i])


def test_clips_are_deterministic_for_evaluation_and_random_for_training():
    items = _Items([5, 12, 30])
    evaluation = Clips(items, 10, train=False)
    for i in range(3):
        a, b = evaluation[i][0], evaluation[i][0]
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, fix_length(items[i][0], 10, crop="centre", pad="zero"), rtol=0, atol=0)
    views = Clips(items, 10, train=True, n_views=2)
    torch.manual_seed(0)
    x, label = views[2]
    assert x.shape == (2, 1, 4, 10) and label == 0 and not torch.equal(x[0], x[1])
    assert np.array_equal(views.labels, items.labels)


def test_supcon_objective_is_supcon_of_each_views_normalised_projection():
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=2, width=4).eval()
    projector = ProjectionHead(model.num_features, model.num_features, 8)
    objective = SupConObjective(model, projector, SupCon(0.1)).eval()
    views, y = torch.randn(6, 2, 1, 16, 20), torch.tensor([0, 1, 0, 1, 1, 0])
    # By hand: encode every view on its own, in a loop.
    z = torch.stack(
        [
            torch.stack(
                [F.normalize(projector(model.forward_features(views[i, v : v + 1]))[0], dim=0) for v in range(2)]
            )
            for i in range(6)
        ]
    )  # [6, 2, 8]
    with torch.no_grad():
        torch.testing.assert_close(objective((views, y))["loss"], SupCon(0.1)(z, y), atol=1e-5, rtol=1e-5)


def test_linear_probe_trains_only_the_head_and_keeps_the_encoder_in_eval_mode():
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=3, width=4)
    probe = LinearProbe(model, MixUp(1.0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 1, 16, 20), torch.randint(0, 3, (16,))
    loader = [(x[:8], y[:8]), (x[8:], y[8:])]
    Trainer(
        probe, TrainConfig(epochs=2, lr=0.5, optimizer="sgd", amp=False, log_every=1), device="cpu", progress=False
    ).fit(loader)
    assert not model.backbone.training and all(not m.training for m in model.backbone.modules())
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith("head."):
            assert not torch.equal(value, after[key]), key
        else:  # weights and BatchNorm running statistics alike
            assert torch.equal(value, after[key]), key
    assert {k for k, p in probe.named_parameters() if p.requires_grad} == {"model.head.weight", "model.head.bias"}


def test_windows_config_needs_a_record_task():
    with pytest.raises(ValueError, match="task must be '2-1' or '2-2'"):
        supcon.WindowsConfig(task="1-2")
    with pytest.raises(ValueError, match="task must be one of"):
        supcon.BaselineConfig(task="3-1")
    assert supcon.clip_frames(supcon.BaselineConfig()) == 188 and supcon.WindowsConfig().clip_seconds == 3.0


def _run(name, simulated, out, **overrides):
    tiny = (
        {k: v for k, v in TINY.items() if k not in ("pretrain", "finetune", "embedding_dim")}
        if name == "supcon.resnet"
        else dict(TINY)
    )
    if name == "supcon.resnet":
        tiny["train"] = STEPS
    return run_experiment(name, profile="quick", data=simulated, out_dir=out, overrides={**tiny, **overrides})


def test_recipes_run_share_the_encoder_and_save_their_predictions(simulated, tmp_path):
    results = {name: _run(name, simulated, tmp_path) for name in ("supcon.resnet", "supcon.supcon", "supcon.mixup")}
    for name, result in results.items():
        summary = {k: v["mean"] for k, v in result["summary"].items()}
        assert {"score", "se", "sp", "recall/Normal", "inter_score", "intra_score"} <= set(summary), name
        art = RunArtifacts.of(result)
        assert art.classes == [
            "Normal",
            "Rhonchi",
            "Wheeze",
            "Stridor",
            "Coarse Crackle",
            "Fine Crackle",
            "Wheeze+Crackle",
        ]
        # The saved predictions are the ones the score was computed from.
        held_out = art.predictions["val"]
        rescored = common.score_function("sprsound", "1-2")(held_out.y_true, held_out.y_pred)
        assert rescored["score"] == pytest.approx(summary["score"])
        assert art.embeddings["val"].shape == (len(held_out.y_true), 32)  # 8 · width
    # supcon.mixup found supcon.supcon's finished encoder instead of training another one.
    assert len(list((tmp_path / "work" / "stages").glob("pretrain-*"))) == 1
    pre = [RunArtifacts.of(results[n]).histories["pretrain"] for n in ("supcon.supcon", "supcon.mixup")]
    assert pre[0].step_loss == pre[1].step_loss and len(pre[0].step_loss) == 2
    # Held-out patients: the same for every recipe, and none of them in training.
    trues = [RunArtifacts.of(r).predictions["val"].y_true for r in results.values()]
    assert all(np.array_equal(trues[0], t) for t in trues[1:])
    mixup_history = RunArtifacts.of(results["supcon.mixup"]).histories["finetune"].train
    assert (
        "lam" in mixup_history[0]
        and "lam" not in RunArtifacts.of(results["supcon.supcon"]).histories["finetune"].train[0]
    )


def test_windows_recipe_applies_the_rule_to_the_same_held_out_records(simulated, tmp_path):
    windows = _run("supcon.windows", simulated, tmp_path, task="2-1")
    direct = _run("supcon.resnet", simulated, tmp_path, task="2-1")
    art, direct_art = RunArtifacts.of(windows), RunArtifacts.of(direct)
    assert np.array_equal(art.predictions["val"].y_true, direct_art.predictions["val"].y_true)
    assert art.classes == ["Normal", "Adventitious", "Poor Quality"]
    to_task = {
        "Normal": "Normal",
        "CAS": "Adventitious",
        "DAS": "Adventitious",
        "CAS & DAS": "Adventitious",
        "Poor Quality": "Poor Quality",
    }
    decided = art.info["windows"]["val"]
    assert len(decided) == len(art.predictions["val"].y_true)
    for record, pred in zip(decided, art.predictions["val"].y_pred):
        assert record["pred"] == art.classes[pred] == to_task[record_label_from_windows(record["windows"])]
        assert len(record["windows"]) >= 1
    assert {"score", "inter_score", "intra_score"} <= set(windows["summary"])


def test_window_training_set_is_the_training_records_cut_as_in_evaluation(simulated):
    config = supcon.WindowsConfig(max_train=None, **{k: TINY[k] for k in ("n_mfcc", "hop_length")})
    transform = supcon.features(config)
    records = common.splits(simulated, config, duration=None)
    window_set = get_recipe("supcon.windows").data(config, simulated).train
    window, step = 3 * 8000, 2 * 8000
    events = SPRSound(simulated.sprsound.root, split="train", level="event", task="1-2")
    # Every window of every training record, in order, and nothing from held-out patients.
    expected = []
    for i, record in enumerate(records.train.meta):
        wave, label = records.train[i]
        truth = records.classes[label]
        starts = window_starts(wave.shape[-1], window, step)
        own = [m for m in events.meta if m.record == record.record]
        for start in starts:
            end = min(start + window, wave.shape[-1])
            name = "Poor Quality" if truth == "Poor Quality" else window_label(own, start / 8, end / 8)
            expected.append((record.record, start / 8, name))
        if truth == "Normal":  # every event of a Normal record is Normal: so is every window
            assert {name for r, _, name in expected if r == record.record} == {"Normal"}
    got = [(m.record, m.start_ms, window_set.classes[y]) for m, y in zip(window_set.meta, window_set.labels)]
    assert got == expected and len(set(window_set.groups) & set(records.val.groups)) == 0
    assert "Normal" in {name for *_, name in got} and len({name for *_, name in got}) >= 4  # events of 3+ types
    # A window's features are those evaluation computes for it (decide_records: transform of the window).
    k = next(k for k, (_, _, name) in enumerate(got) if name not in ("Normal", "Poor Quality"))
    i = [m.record for m in records.train.meta].index(got[k][0])
    start = round(got[k][1] * 8)
    assert torch.equal(window_set[k][0], transform(records.train[i][0][..., start : start + window]))


def test_profiles():
    full, quick = supcon.MixUpConfig.for_profile("full"), supcon.MixUpConfig.for_profile("quick")
    assert (full.n_mfcc, full.n_fft, full.hop_length, full.width, full.batch_size) == (64, 512, 128, 64, 32)
    assert (full.temperature, full.embedding_dim, full.mixup_alpha) == (0.1, 128, 1.0)
    assert (full.pretrain.epochs, full.pretrain.lr, full.pretrain.momentum, full.pretrain.weight_decay) == (
        50,
        1e-3,
        0.9,
        1e-4,
    )
    assert (full.finetune.epochs, full.finetune.lr, full.max_train, full.pretrain.min_lr_ratio) == (20, 1e-3, None, 1.0)
    assert supcon.SupConConfig.for_profile("full").mixup_alpha is None
    assert quick.max_train is not None and quick.split_seed == full.split_seed
    assert {supcon.MixUpConfig.for_profile(p).mix for p in ("full", "quick", "cpu")} == {"features"}


def test_public_config_is_the_public_code_at_the_recipes_epochs():
    for profile in ("full", "quick", "cpu"):
        public, ours = supcon.PublicConfig.for_profile(profile), supcon.MixUpConfig.for_profile(profile)
        assert (public.pretrain.epochs, public.finetune.epochs, public.width) == (
            ours.pretrain.epochs,
            ours.finetune.epochs,
            ours.width,
        ), profile
    public = supcon.PublicConfig()
    assert (public.pretrain.optimizer, public.pretrain.lr, public.finetune.optimizer, public.finetune.lr) == (
        "sgd",
        1e-3,
        "adam",
        1e-3,
    )
    assert (public.projection_layers, public.projection_dropout, public.embedding_dim) == (1, 0.25, 512)
    assert public.loss_scale == pytest.approx(0.1 / 0.07) and public.mixup_alpha is None
    assert (public.probe_input, public.probe_encoder_mode, public.eval_crop, public.finetune_flip) == (
        "projection",
        "train",
        "random",
        False,
    )


def test_min_max_normalize_maps_the_range_not_the_mean():
    wave = torch.tensor([[[0.0, 1.0, 1.0, 1.0, 3.0]], [[2.0, 2.0, 2.0, 2.0, 2.0]]])  # [B=2, 1, 5]
    out = MinMaxNormalize(0.5)(wave)
    torch.testing.assert_close(out[0, 0], torch.tensor([-0.5, -1 / 6, -1 / 6, -1 / 6, 0.5]))
    assert out[0].mean() != 0 and torch.equal(out[1], torch.zeros_like(out[1]))  # constant item: zeros


def test_librosa_flavour_changes_only_the_mel_filters_and_edges():
    config = supcon.PublicConfig(n_mfcc=16, hop_length=128)
    mel = supcon.features(config)[1].mfcc.MelSpectrogram
    assert (mel.mel_scale.mel_scale, mel.mel_scale.norm, mel.spectrogram.pad_mode) == ("slaney", "slaney", "constant")
    wave = torch.randn(1, 8000)
    ours, theirs = supcon.features(supcon.SupConConfig(n_mfcc=16))(wave), supcon.features(config)(wave)
    assert ours.shape == theirs.shape == (1, 16, 63) and not torch.allclose(ours, theirs, atol=1e-2)


def test_probe_in_train_mode_moves_batchnorm_statistics_but_no_weight():
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=3, width=4)
    classifier = ProjectionClassifier(model, ProjectionHead(32, 32, 8, n_layers=1), 8, 3)
    probe = LinearProbe(classifier, encoder_mode="train")
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    x, y = torch.randn(8, 1, 16, 20), torch.randint(0, 3, (8,))
    Trainer(probe, TrainConfig(epochs=1, lr=0.5, optimizer="sgd", amp=False), device="cpu", progress=False).fit(
        [(x, y)]
    )
    after = classifier.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert {"head.weight", "head.bias"} <= moved and any("running_mean" in k for k in moved)
    assert all(k.startswith("head.") or "running_" in k or "num_batches" in k for k in moved), moved
    with torch.no_grad():
        norms = classifier.eval().forward_features(x).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones(8))


def test_feature_mixup_blends_clean_features():
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=3, width=4).eval()
    x, y = torch.randn(6, 1, 16, 20), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(1)
    out = LinearProbe(model, MixUp(1.0), mix="features")((x, y))
    torch.manual_seed(1)
    with torch.no_grad():
        mix = MixUp(1.0)(model.forward_features(x))
        expected = mixed_cross_entropy(model.forward_head(mix.mixed), y, mix.perm, mix.lam)
    torch.testing.assert_close(out["loss"], expected)


def test_public_recipe_reads_the_projection_and_stage2_variants_share_an_encoder(simulated, tmp_path):
    public = RunArtifacts.of(_run("supcon.public", simulated, tmp_path))
    assert public.embeddings["val"].shape[1] == 8  # the normalised projection, not the 32 encoder features
    np.testing.assert_allclose(np.linalg.norm(public.embeddings["val"], axis=1), 1.0, rtol=1e-5)
    _run("supcon.public", simulated, tmp_path, eval_crop="centre", probe_encoder_mode="eval")
    assert len(list((tmp_path / "work" / "stages").glob("pretrain-*"))) == 1
    _run("supcon.mixup", simulated, tmp_path)
    assert len(list((tmp_path / "work" / "stages").glob("pretrain-*"))) == 2
