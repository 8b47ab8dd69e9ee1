"""The trainer: schedule values, exact resumption, NaN reports, atomic checkpoints, best weights, averaging."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from respkit.train import History, Supervised, TrainConfig, Trainer, predict
from respkit.train.schedule import warmup_cosine, warmup_cosine_factor
from respkit.train.trainer import CHECKPOINT_NAME


def make_data(n: int = 48, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()  # three classes
    return TensorDataset(x, y)


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def make_config(**changes) -> TrainConfig:
    base = dict(epochs=4, lr=1e-2, optimizer="adam", warmup_epochs=1.0, weight_averaging=0.5, select_metric="score")
    return TrainConfig(**{**base, **changes})


def loader(dataset: TensorDataset, batch_size: int = 8) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=True)  # no generator: the trainer's reseeding drives it


def evaluator(model: nn.Module, data: TensorDataset, stop_at: int | None = None):
    """Accuracy on ``data``; raises KeyboardInterrupt on call ``stop_at`` to simulate an interrupted run."""
    calls = []

    def evaluate() -> dict[str, float]:
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        calls.append(1)
        torch.rand(3)  # evaluation that draws random numbers must not change the training that follows
        p = predict(model, DataLoader(data, batch_size=16))
        return {"score": float((p.y_pred == p.y_true).mean()), "epoch_tag": float(len(calls))}

    return evaluate


# ---------------------------------------------------------------------------------------------------
def test_schedule_values():
    f = dict(total_steps=20, warmup_steps=4, min_lr_ratio=1e-3)
    assert warmup_cosine_factor(0, **f) == pytest.approx(0.25)  # the first step already trains
    assert warmup_cosine_factor(3, **f) == pytest.approx(1.0)  # end of warm-up: the peak
    assert warmup_cosine_factor(4, **f) == pytest.approx(1.0)
    assert warmup_cosine_factor(12, **f) == pytest.approx(1e-3 + (1 - 1e-3) * 0.5)  # middle of the cosine
    assert warmup_cosine_factor(20, **f) == pytest.approx(1e-3)  # the floor, after the last step
    assert warmup_cosine_factor(0, total_steps=10, warmup_steps=0, min_lr_ratio=0.1) == 1.0

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = warmup_cosine(opt, **f)
    lrs = []
    for _ in range(21):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.5 * 0.25) and lrs[4] == pytest.approx(0.5)
    assert lrs[12] == pytest.approx(0.5 * (1e-3 + (1 - 1e-3) * 0.5)) and lrs[20] == pytest.approx(0.5e-3)


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    train, val = make_data(48, seed=0), make_data(32, seed=1)

    model = make_model(seed=0)
    reference = Trainer(Supervised(model), make_config(), checkpoint_dir=tmp_path / "a", progress=False)
    ref_history = reference.fit(loader(train), evaluator(model, val))

    model = make_model(seed=0)
    interrupted = Trainer(Supervised(model), make_config(), checkpoint_dir=tmp_path / "b", progress=False)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(loader(train), evaluator(model, val, stop_at=2))  # dies in epoch 2's evaluation
    assert len(torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=True)["history"]["train"]) == 2

    torch.manual_seed(123)  # a fresh process would have an arbitrary global RNG state
    model = make_model(seed=7)  # different initial weights: everything must come from the checkpoint
    resumed = Trainer(Supervised(model), make_config(), checkpoint_dir=tmp_path / "b", progress=False)
    history = resumed.fit(loader(train), evaluator(model, val))

    ref_state, state = reference.objective.state_dict(), resumed.objective.state_dict()
    assert ref_state.keys() == state.keys()
    for key in ref_state:
        assert torch.equal(ref_state[key], state[key]), key
    assert reference.best_state.keys() == resumed.best_state.keys()
    assert all(torch.equal(reference.best_state[k], resumed.best_state[k]) for k in reference.best_state)
    # The stop counter restarts in the new evaluator, so compare everything but that bookkeeping field.
    strip = lambda h: [{k: v for k, v in e.items() if k != "epoch_tag"} for e in h.eval]  # noqa: E731
    assert history.step_loss == ref_history.step_loss and history.step_lr == ref_history.step_lr
    assert history.train == ref_history.train and strip(history) == strip(ref_history)
    assert history.best_epoch == ref_history.best_epoch
    assert len(history.step_loss) == 4 * 6 and math.isfinite(history.epoch_loss[-1])
    assert History.from_dict(json.loads(json.dumps(history.to_dict()))) == history  # JSON round trip


def test_each_epoch_is_reseeded():
    """Random numbers drawn between epochs (here by evaluate) do not change shuffling or dropout."""

    def run(draws: int) -> dict[str, torch.Tensor]:
        model = make_model()
        evaluate = lambda: {"draw": float(torch.rand(draws).sum())}  # noqa: E731
        Trainer(Supervised(model), make_config(epochs=2, select_metric=None), progress=False).fit(
            loader(make_data()), evaluate
        )
        return model.state_dict()

    a, b = run(draws=1), run(draws=5)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finished_checkpoint_is_loaded_not_retrained(tmp_path):
    model = make_model()
    trainer = Trainer(
        Supervised(model), make_config(epochs=2, select_metric=None), checkpoint_dir=tmp_path, progress=False
    )
    trainer.fit(loader(make_data()))
    again = Trainer(
        Supervised(make_model(seed=5)),
        make_config(epochs=2, select_metric=None, log_every=3),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    history = again.fit(loader(make_data()))  # log_every does not change the fingerprint
    assert len(history.step_loss) == 2 * 6
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.objective.model.state_dict().values())
    )


def test_refuses_checkpoint_of_another_config(tmp_path):
    Trainer(
        Supervised(make_model()), make_config(epochs=1, select_metric=None), checkpoint_dir=tmp_path, progress=False
    ).fit(loader(make_data()))
    other = Trainer(
        Supervised(make_model()),
        make_config(epochs=1, select_metric=None, lr=2e-2),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(ValueError, match=r"different training config \(lr: 0.01 -> 0.02\)"):
        other.fit(loader(make_data()))
    with pytest.raises(ValueError, match="steps per epoch"):
        Trainer(
            Supervised(make_model()), make_config(epochs=1, select_metric=None), checkpoint_dir=tmp_path, progress=False
        ).fit(loader(make_data(), batch_size=4))


class NaNAt(nn.Module):
    """Wraps an objective and returns a NaN loss at one global step."""

    def __init__(self, inner: nn.Module, at: int) -> None:
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def forward(self, batch):
        out = self.inner(batch)
        self.calls += 1
        if self.calls - 1 == self.at:
            out["loss"] = out["loss"] * float("nan")
        return out


@pytest.mark.parametrize("log_every", [1, 4])  # the check may run a few steps late; the message must not
def test_nan_loss_names_the_step(log_every):
    trainer = Trainer(
        NaNAt(Supervised(make_model()), at=7), make_config(select_metric=None, log_every=log_every), progress=False
    )
    with pytest.raises(FloatingPointError, match=r"NaN/inf at epoch 1, step 1 \(global step 7\)"):
        trainer.fit(loader(make_data()))  # 6 steps per epoch: global step 7 is epoch 1, step 1
    assert len(trainer.history.step_loss) == 7  # the steps before it were recorded


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    real_save = torch.save
    disk = {"saves_left": 1}  # how many saves succeed before the disk "fills up"

    def crashing_save(obj, f, *args, **kwargs):
        if disk["saves_left"] == 0:
            with open(f, "wb") as handle:  # die half-way through writing
                handle.write(b"half a checkpoint")
            raise OSError("disk full")
        disk["saves_left"] -= 1
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", crashing_save)
    path = tmp_path / "run" / CHECKPOINT_NAME
    epoch0 = {}

    def evaluate():  # called after epoch 1's training, when last.pt still holds epoch 0
        if path.exists() and not epoch0:
            epoch0["bytes"] = path.read_bytes()
        return {}

    trainer = Trainer(
        Supervised(make_model()), make_config(epochs=3, select_metric=None), checkpoint_dir=path.parent, progress=False
    )
    with pytest.raises(OSError, match="disk full"):
        trainer.fit(loader(make_data()), evaluate)
    assert [p.name for p in path.parent.iterdir()] == [CHECKPOINT_NAME]  # no temporary file left behind
    assert path.read_bytes() == epoch0["bytes"]  # epoch 0's checkpoint, intact

    fresh = Trainer(
        Supervised(make_model()),
        make_config(epochs=1, select_metric=None),
        checkpoint_dir=tmp_path / "fresh",
        progress=False,
    )
    with pytest.raises(OSError, match="disk full"):
        fresh.fit(loader(make_data()))
    assert list((tmp_path / "fresh").iterdir()) == []  # no checkpoint rather than a broken one


def test_best_state_is_a_copy_of_the_best_epoch():
    model = make_model()
    snapshots = []

    def evaluate():  # the score falls every epoch, so epoch 0 is the best
        snapshots.append(copy.deepcopy(model.state_dict()))
        return {"score": -float(len(snapshots))}

    trainer = Trainer(Supervised(model), make_config(epochs=3), progress=False)
    history = trainer.fit(loader(make_data()), evaluate)
    assert history.best_epoch == 0
    best = {k.removeprefix("model."): v for k, v in trainer.best_state.items()}
    assert all(torch.equal(best[k], snapshots[0][k]) for k in snapshots[0])
    assert not torch.equal(best["0.weight"], snapshots[-1]["0.weight"])  # not the last epoch's weights
    assert all(torch.equal(model.state_dict()[k], snapshots[0][k]) for k in snapshots[0])  # loaded back
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert torch.equal(best["0.weight"], snapshots[0]["0.weight"])  # mutating the model leaves the copy alone


def test_weight_averaging_matches_hand_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 1))
    x, y = torch.randn(4, 3), torch.randn(4, 1)
    objective = _MSE(model)
    before = copy.deepcopy(model.state_dict())

    # By hand: one plain SGD step on a copy, then the average 0.5·before + 0.5·after.
    ref = copy.deepcopy(model)
    nn.functional.mse_loss(ref(x), y).backward()
    with torch.no_grad():
        for p in ref.parameters():
            p -= 0.1 * p.grad
    after = ref.state_dict()

    config = TrainConfig(
        epochs=1, lr=0.1, optimizer="sgd", momentum=0.0, weight_decay=0.0, amp=False, weight_averaging=0.5
    )
    Trainer(objective, config, progress=False).fit([(x, y)])
    got = model.state_dict()
    for key in ("1.weight", "1.bias", "0.weight", "0.running_mean", "0.running_var"):
        assert torch.allclose(got[key], 0.5 * before[key] + 0.5 * after[key], atol=1e-7), key
    assert not torch.allclose(got["1.weight"], after["1.weight"])  # really averaged, not the plain step
    assert got["0.num_batches_tracked"].item() == 1  # integer buffers keep their new value


class _MSE(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch):
        x, y = batch
        return {"loss": nn.functional.mse_loss(self.model(x), y)}


def test_predict_is_deterministic_and_restores_modes():
    model = make_model()
    model.train()
    model[1].eval()  # a part deliberately frozen in eval mode stays so
    data = DataLoader(make_data(20), batch_size=8)
    first, second = predict(model, data), predict(model, data)
    assert first.scores.shape == (20, 3) and first.y_true.shape == (20,)
    assert (first.scores == second.scores).all() and (first.y_pred == first.scores.argmax(1)).all()
    assert model.training and model[3].training and not model[1].training


def test_recompute_batchnorm_gives_the_statistics_of_the_final_weights(tmp_path):
    """After a constant, large learning rate the running mean trails the weights; recomputed, it is the average
    of the batch means of the BatchNorm's input under the final weights (hand-computed with a hook)."""
    torch.manual_seed(0)
    batches = [(torch.randn(16, 4) + 3, torch.randint(0, 2, (16,))) for _ in range(6)]

    def train(recompute: bool, folder=None) -> nn.Module:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        config = TrainConfig(
            epochs=3, lr=0.5, optimizer="sgd", min_lr_ratio=1.0, amp=False, log_every=1, recompute_batchnorm=recompute
        )
        Trainer(Supervised(model), config, device="cpu", progress=False, checkpoint_dir=folder).fit(batches)
        return model

    stale, fresh = train(False), train(True)
    for name, value in stale.state_dict().items():  # the same training: only the statistics differ
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(value, fresh.state_dict()[name]), name
    with torch.no_grad():
        expected = torch.stack([fresh[0](x).mean(dim=0) for x, _ in batches]).mean(dim=0)
    torch.testing.assert_close(fresh[1].running_mean, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(stale[1].running_mean, expected, atol=1e-2)  # it trailed the weights
    assert fresh[1].momentum == stale[1].momentum  # restored after the pass

    # Resuming a finished run recomputes the same statistics.
    first = train(True, tmp_path)
    again = train(True, tmp_path)
    torch.testing.assert_close(first[1].running_var, again[1].running_var, atol=0, rtol=0)
