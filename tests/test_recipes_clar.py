"""Chapter 2's CLAR recipes: the objective's terms, the label fraction, the streams, and short runs on the simulator."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from respkit.augment import Compose
from respkit.data.streams import Streams
from respkit.experiments import run_experiment
from respkit.features import LogMel
from respkit.losses import NTXent
from respkit.models import create_model
from respkit.recipes import clar, common
from respkit.runs import RunArtifacts
from respkit.stats import paired_difference, patient_bootstrap
from respkit.train import TrainConfig
from respkit.train.clar import CLARNetwork, CLARObjective, standardize

TINY = {
    "duration": 1.0,
    "max_train": 48,
    "max_val": 24,
    "batch_size": 8,
    "projection_dim": 8,
    "model_kwargs": {"widths": (4, 4, 8, 8)},
    "train": TrainConfig(epochs=2, lr=1e-3, amp=False, log_every=2),
    "finetune": TrainConfig(epochs=1, lr=1e-3, amp=False, log_every=2),
}


def tiny_network(num_classes: int = 2) -> CLARNetwork:
    torch.manual_seed(0)
    encoder = create_model("cnn_small", num_classes=0, widths=(4, 4, 8, 8))
    return CLARNetwork(LogMel(8000, n_fft=256, hop_length=64, n_mels=16), encoder, num_classes, projection_dim=8)


def test_objective_terms_match_their_definitions():
    """With an identity augmentation each term is CE of the logits / NT-Xent of the projections, and the
    joint loss is CE + weight · NT-Xent; an NT-Xent by hand (a loop over anchors) agrees."""
    network = tiny_network().eval()  # eval: BatchNorm on running statistics, so separate passes agree
    objective = CLARObjective(network, Compose(), temperature=0.5, contrastive_weight=0.3)
    torch.manual_seed(1)
    x_lab, y = 0.1 * torch.randn(4, 1, 4000), torch.tensor([0, 1, 1, 0])
    x_all = 0.1 * torch.randn(5, 1, 4000)
    with torch.no_grad():
        out = objective({"labelled": (x_lab, y), "unlabelled": x_all})
        ce = F.cross_entropy(network(x_lab), y)
        z = F.normalize(network.project(x_all), dim=1)  # both views equal: the positive is the item itself
    # NT-Xent by hand: anchor a among [z; z], positive a ± B, all other 2B - 1 in the denominator.
    zz, batch = torch.cat([z, z]), len(z)
    losses = []
    for a in range(2 * batch):
        sims = (zz @ zz[a]) / 0.5
        positive = (a + batch) % (2 * batch)
        others = [k for k in range(2 * batch) if k != a]
        losses.append(-(sims[positive] - torch.logsumexp(sims[others], dim=0)))
    by_hand = torch.stack(losses).mean()
    assert torch.allclose(out["ce"], ce, atol=1e-6)
    assert torch.allclose(out["ntxent"], by_hand, atol=1e-5)
    assert torch.allclose(out["loss"], ce + 0.3 * by_hand, atol=1e-5)
    with torch.no_grad():
        only_ce = objective({"labelled": (x_lab, y)})
        only_nt = objective({"unlabelled": x_all})
    assert "ntxent" not in only_ce and torch.allclose(only_ce["loss"], ce, atol=1e-6)
    assert "ce" not in only_nt and torch.allclose(only_nt["loss"], 0.3 * by_hand, atol=1e-5)
    with pytest.raises(KeyError, match="labelled"):
        objective({"images": x_all})


def test_ntxent_prefers_agreeing_views():
    """Identical views give a lower loss than unrelated ones; unrelated random views are near log(2B - 1)."""
    torch.manual_seed(0)
    z1 = torch.randn(64, 32)
    loss = NTXent(temperature=1.0)
    assert loss(z1, z1 + 0.01 * torch.randn_like(z1)) < loss(z1, torch.randn(64, 32))
    assert abs(loss(z1, torch.randn(64, 32)).item() - math.log(127)) < 0.2


def test_standardize_is_per_item_and_channel():
    x = torch.randn(3, 2, 5, 7) * torch.tensor([1.0, 40.0])[None, :, None, None] + 5
    out = standardize(x)
    assert torch.allclose(out.mean(dim=(-2, -1)), torch.zeros(3, 2), atol=1e-5)
    assert torch.allclose(out.std(dim=(-2, -1), correction=0), torch.ones(3, 2), atol=1e-3)
    assert torch.allclose(standardize(x[:1]), out[:1])  # independent of the rest of the batch


def test_label_fraction_keeps_classes_in_proportion():
    labels = np.array([0] * 90 + [1] * 10)
    picked = clar.labelled_indices(labels, 0.2, seed=0)
    assert len(picked) == 20 and len(set(picked)) == 20
    assert np.bincount(labels[picked]).tolist() == [18, 2]
    assert not np.array_equal(picked, clar.labelled_indices(labels, 0.2, seed=1))  # the seed draws the labels
    assert np.array_equal(clar.labelled_indices(labels, 1.0, seed=0), np.arange(100))
    assert np.bincount(labels[clar.labelled_indices(labels, 0.01, seed=0)]).tolist() == [1, 1]  # one per class
    with pytest.raises(ValueError, match="label_fraction"):
        clar.CLARConfig(label_fraction=0.0)
    with pytest.raises(ValueError, match="augmentations"):
        clar.CLARConfig(augmentations="pitch_shift")  # a string, not a sequence of names


def test_streams_give_balanced_labelled_and_label_free_unlabelled_batches():
    train = common.InMemory(torch.randn(40, 1, 10), [0] * 36 + [1] * 4, np.arange(40) // 4, ["a", "b"])
    streams = Streams(
        labelled=clar.labelled_stream(train, np.arange(40), batch_size=8),
        unlabelled=clar.unlabelled_stream(train, batch_size=8),
    )
    torch.manual_seed(0)
    batches = list(streams)
    torch.manual_seed(0)  # the order comes from torch's global generator, which the trainer reseeds per epoch
    again = list(streams)
    assert all(torch.equal(a["unlabelled"], b["unlabelled"]) for a, b in zip(batches, again))
    assert len(streams) == len(batches) == 5
    drawn = torch.cat([b["labelled"][1] for b in batches])
    assert 0.3 < drawn.float().mean() < 0.7  # balanced, although 1 event in 10 is of class 1
    assert all(isinstance(b["unlabelled"], torch.Tensor) and b["unlabelled"].shape == (8, 1, 10) for b in batches)
    # As many labelled batches as unlabelled ones, however few events are labelled.
    assert len(clar.labelled_stream(train, np.array([0, 36]), batch_size=8)) == 5
    with pytest.raises(ValueError, match="no batch"):
        clar.unlabelled_stream(train, batch_size=64)


@pytest.mark.parametrize("recipe", ["clar.supervised", "clar.joint", "clar.pretrain_finetune"])
def test_recipe_runs_on_the_simulator(simulated, tmp_path, recipe):
    """Every method takes the same steps per epoch whatever the label fraction, and reports the official score."""
    results = run_experiment(
        recipe, profile="quick", data=simulated, out_dir=tmp_path, overrides={**TINY, "label_fraction": 0.25}
    )
    metrics = results["metrics_per_seed"][0]
    assert set(metrics) >= {"score", "se", "sp"}
    assert 0.0 <= metrics["score"] <= 1.0
    assert metrics["score"] == pytest.approx((metrics["se"] + metrics["sp"]) / 4 + metrics["hs"] / 2)
    artifacts = RunArtifacts.of(results)
    histories = artifacts.histories
    # The saved held-out predictions are those of the reported weights (the last epoch's).
    held_out = artifacts.predictions["val"]
    again = common.score_function("sprsound", "1-1")(held_out.y_true, held_out.y_pred)
    assert again["score"] == pytest.approx(metrics["score"])
    assert len(artifacts.groups["val"]) == len(held_out.y_true)
    steps = 48 // 8
    for stage, history in histories.items():
        epochs = TINY["finetune" if stage == "finetune" else "train"].epochs
        assert len(history.step_loss) == epochs * steps, stage
    # The last stage is scored on the held-out patients after every epoch; an earlier one is not.
    *earlier, last = histories.values()
    assert len(last.eval) == len(last.train) and all("score" in scored for scored in last.eval)
    assert all(not scored for history in earlier for scored in history.eval)
    # Each stage logs exactly the terms of its method.
    terms = {stage: set(h.train[0]) - {"loss"} for stage, h in histories.items()}
    assert (
        terms
        == {
            "clar.supervised": {"train": {"ce", "acc"}},
            "clar.joint": {"train": {"ce", "acc", "ntxent"}},
            "clar.pretrain_finetune": {"pretrain": {"ntxent"}, "finetune": {"ce", "acc"}},
        }[recipe]
    )
    assert clar.describe(results).endswith("25% labels, fade+time_mask")


def test_held_out_patients_are_unseen_in_training(simulated):
    config = clar.CLARConfig.for_profile("quick")
    events = clar.load_events(config, simulated)
    assert not set(events.train.groups) & set(events.val.groups)
    assert events.train.x.shape[1:] == events.val.x.shape[1:] == (1, round(config.duration * 8000))
    assert torch.equal(events.train.y, torch.as_tensor(events.train.labels))
    # The held-out patients depend on split_seed only, not on anything the runs vary.
    again = clar.load_events(config.replace(label_fraction=0.1, temperature=0.2), simulated)
    assert np.array_equal(again.val.groups, events.val.groups) and torch.equal(again.val.x, events.val.x)
    # At another rate the same events are resampled: the same items, proportionally longer.
    faster = clar.load_events(config.replace(sample_rate=16000), simulated)
    assert faster.val.x.shape == (len(events.val), 1, round(config.duration * 16000))


def test_pretraining_is_shared_across_label_fractions(simulated, tmp_path):
    """Pre-training ignores the labels: runs that differ only in label_fraction reuse one pre-trained checkpoint."""
    for fraction in (1.0, 0.25):
        run_experiment(
            "clar.pretrain_finetune",
            profile="quick",
            data=simulated,
            out_dir=tmp_path,
            overrides={**TINY, "label_fraction": fraction},
        )
    shared = sorted((tmp_path / "work" / "stages").glob("pretrain-*"))
    assert len(shared) == 1
    runs = sorted(p for p in (tmp_path / "work").glob("clar.pretrain_finetune-*"))
    pretrain_losses = [json.loads((p / "seed0" / "history.json").read_text())["pretrain"]["step_loss"] for p in runs]
    assert len(runs) == 2 and pretrain_losses[0] == pretrain_losses[1]
    finetune_losses = [json.loads((p / "seed0" / "history.json").read_text())["finetune"]["step_loss"] for p in runs]
    assert finetune_losses[0] != finetune_losses[1]


def test_patient_bootstrap_resamples_patients_and_pairs_predictions():
    y_true = np.array([0, 1, 1, 0, 0, 1, 0, 1])  # every patient has both classes: SE and SP always defined
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    score = common.score_function("sprsound", "1-1")
    draws = patient_bootstrap(
        y_true, {"right": y_true, "wrong": 1 - y_true, "same": y_true.copy()}, groups, score, n=50
    )
    assert np.all(draws["right"] == 1.0) and np.all(draws["wrong"] == 0.0)
    assert np.array_equal(draws["right"], draws["same"])
    # A prediction right on patient "a" only: its score varies with how often "a" is drawn.
    only_a = np.where(groups == "a", y_true, 1 - y_true)
    assert np.std(patient_bootstrap(y_true, {"x": only_a}, groups, score, n=50)["x"]) > 0
    diff = paired_difference(draws["right"], draws["wrong"])
    assert diff == {"mean": 1.0, "low": 1.0, "high": 1.0, "p_better": 1.0}


def test_network_shapes_and_classifier_on_the_projection():
    network = tiny_network(num_classes=3)
    wave = 0.1 * torch.randn(2, 1, 4000)
    assert network.project(wave).shape == (2, 8)
    assert network(wave).shape == (2, 3)
    assert isinstance(network.classifier, nn.Linear) and network.classifier.in_features == 8


def test_full_profile_is_clar_scale():
    config = clar.CLARConfig.for_profile("full")
    assert (config.model, config.features.kind, config.sample_rate) == ("resnet18", "clar", 16000)
    assert (config.features.n_fft, config.features.hop_length, config.features.n_mels) == (2048, 128, 128)
    assert (config.projection_dim, config.temperature, config.max_train) == (128, 0.5, None)
    network = clar.build_network(config, num_classes=2)
    assert network.encoder.num_features == 512 and network.projector.hidden_dim == 512
