"""The CRNN detector and its frame-wise BCE objective: shapes, sizes, the loss by hand, a tiny run that learns."""

import pytest
import torch
import torch.nn.functional as F

from respkit.models import create_model, model_class
from respkit.models.crnn import CRNN
from respkit.train.detection import FrameBCE


@pytest.mark.parametrize("frames", [1, 7, 130])
def test_one_output_frame_per_input_frame(frames):
    model = create_model("crnn", num_classes=3, n_mels=32, widths=(4, 8), pools=(4, 2), hidden=8).eval()
    assert model(torch.randn(2, 1, 32, frames)).shape == (2, 3, frames)


def test_registered_with_its_sizes_as_keyword_arguments():
    assert model_class("crnn") is CRNN
    model = create_model("crnn", num_classes=2, n_mels=16, widths=(4, 4, 8), pools=(2, 2, 2), hidden=5, rnn_layers=2)
    # The GRU reads channels x remaining bins: 8 x 16 / 8 = 16 per frame; two directions of 5 feed the head.
    assert model.rnn.input_size == 16 and model.rnn.num_layers == 2 and model.head.in_features == 10
    assert "hidden=5" in repr(model) and "pools=(2, 2, 2)" in repr(model)
    with pytest.raises(ValueError, match="pretrained"):
        create_model("crnn", pretrained="audioset")
    with pytest.raises(ValueError, match="divisible"):
        CRNN(n_mels=30, widths=(4, 4), pools=(4, 4))
    with pytest.raises(ValueError, match=r"\[B, 1, 64, T\]"):
        CRNN()(torch.randn(1, 1, 32, 10))


def test_frames_are_not_mixed_across_the_batch():
    """Each recording of a batch is its own sequence: the outputs of item 0 do not depend on item 1 (eval mode)."""
    model = create_model("crnn", num_classes=2, n_mels=16, widths=(4,), pools=(4,), hidden=6).eval()
    x = torch.randn(2, 1, 16, 20)
    y = x.clone()
    y[1] = torch.randn(1, 16, 20)
    torch.testing.assert_close(model(x)[0], model(y)[0])


def test_frame_bce_is_the_weighted_binary_cross_entropy_by_hand():
    logits = torch.tensor([[[2.0, -1.0, -0.5]]])  # [B=1, C=1, T=3]
    targets = torch.tensor([[[1.0, 0.0, 1.0]]])
    objective = FrameBCE(lambda spec: logits, pos_weight=3.0)  # type: ignore[arg-type]  # a stand-in model
    p = torch.sigmoid(logits)
    by_hand = -(3.0 * targets * p.log() + (1 - targets) * (1 - p).log()).mean()
    out = objective((torch.zeros(1, 1, 4, 3), targets))
    torch.testing.assert_close(out["loss"], by_hand)
    assert out["frame_acc"] == pytest.approx(2 / 3)  # frame 2 (target 1, logit -0.5) is decided wrong
    torch.testing.assert_close(
        FrameBCE(lambda spec: logits)((None, targets))["loss"], F.binary_cross_entropy(p, targets)
    )  # type: ignore[arg-type]


def test_a_tiny_run_learns_where_a_tone_is():
    """Class 0 is on where a high band is loud, class 1 where a low band is; 60 Adam steps bring the loss far down."""
    torch.manual_seed(0)
    x = torch.randn(16, 1, 16, 40) * 0.3
    on = torch.rand(16, 2, 40) < 0.3  # [B, C, T]
    x[:, 0, 12:] += 2.0 * on[:, None, 0]
    x[:, 0, :4] += 2.0 * on[:, None, 1]
    model = create_model("crnn", num_classes=2, n_mels=16, widths=(8, 8), pools=(2, 2), hidden=8, drop_rate=0.0)
    objective = FrameBCE(model)
    optimiser = torch.optim.Adam(objective.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = objective((x, on.float()))["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
