"""respkit.plot: each figure draws the numbers it is given (read back from the Agg-rendered artists)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from respkit.metrics import confusion_matrix  # noqa: E402
from respkit.plot import plot_confusion, plot_history, plot_scores, plot_spectrogram  # noqa: E402
from respkit.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def render(ax):
    ax.figure.canvas.draw()  # fails on anything the renderer cannot draw


def test_confusion_cells_show_the_counts_and_colour_the_row_shares():
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
    y_pred = [0, 0, 0, 2, 1, 2, 0, 2, 2, 1]
    cm = confusion_matrix(y_true, y_pred, ["normal", "crackle", "wheeze", "both"])
    ax = plot_confusion(cm, title="worked example")
    render(ax)
    counted_by_hand = [[3, 0, 1, 0], [1, 1, 1, 0], [0, 0, 2, 0], [0, 1, 0, 0]]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert [[cells[i, j] for j in range(4)] for i in range(4)] == [[str(n) for n in row] for row in counted_by_hand]
    shares = ax.images[0].get_array()
    np.testing.assert_allclose(shares[1], [1 / 3, 1 / 3, 1 / 3, 0])  # row 1: three crackles, one right
    np.testing.assert_allclose(np.diag(shares), [0.75, 1 / 3, 1.0, 0.0])  # the recalls
    assert [t.get_text() for t in ax.get_yticklabels()] == ["normal", "crackle", "wheeze", "both"]
    assert ax.get_title() == "worked example"
    ax = plot_confusion(cm, labels=["N", "C", "W", "B"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["N", "C", "W", "B"]
    with pytest.raises(ValueError, match="labels"):
        plot_confusion(cm, labels=["N", "C"])


def test_spectrogram_axes_in_seconds_and_hz_or_frames_and_bins():
    image = torch.arange(12.0).reshape(1, 3, 4)  # [1, F, T]
    fig, (a, b) = plt.subplots(1, 2)
    plot_spectrogram(image, a, duration=2.0, max_freq_hz=4000, dynamic_range=5.0, colorbar="dB")
    render(a)
    shown = a.images[0]
    np.testing.assert_array_equal(shown.get_array(), image[0].numpy())
    assert shown.get_extent() == [0, 2.0, 0, 4000] and shown.origin == "lower"
    assert shown.get_clim() == (6.0, 11.0)  # the top 5 units below the maximum
    assert (a.get_xlabel(), a.get_ylabel()) == ("time (s)", "frequency (Hz)")
    assert len(fig.axes) == 3  # the colour bar has its own axes
    plot_spectrogram(image[0].numpy(), b, ylabel="mel bin")
    assert b.images[0].get_extent() == [0, 4, 0, 3]
    assert (b.get_xlabel(), b.get_ylabel()) == ("frame", "mel bin")
    with pytest.raises(ValueError, match=r"\[F, T\]"):
        plot_spectrogram(torch.zeros(2, 3, 4))


def history(losses, scores=None, best=None):
    return History(
        train=[{"loss": v} for v in losses],
        eval=[{"score": s} for s in scores] if scores else [{} for _ in losses],
        best_epoch=best,
    )


def test_history_draws_loss_and_metric_per_epoch_and_rings_the_kept_epoch():
    loss_ax, metric_ax = plot_history(history([3.0, 2.0, 1.5], [0.4, 0.7, 0.6], best=1))
    render(loss_ax)
    (loss_line,) = loss_ax.lines
    np.testing.assert_array_equal(loss_line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(loss_line.get_ydata(), [3.0, 2.0, 1.5])
    score_line, ring = metric_ax.lines
    np.testing.assert_array_equal(score_line.get_ydata(), [0.4, 0.7, 0.6])
    assert (ring.get_xdata()[0], ring.get_ydata()[0]) == (2, 0.7)  # best_epoch 1 is epoch 2


def test_history_steps_sit_on_the_epoch_axis_before_their_mean():
    run = History(step_loss=[4.0, 2.0, 1.0, 1.0], train=[{"loss": 3.0}, {"loss": 1.0}], eval=[{}, {}])
    loss_ax, _ = plot_history(run, steps=True)
    step_line, mean_line = loss_ax.lines
    np.testing.assert_allclose(step_line.get_xdata(), [0.5, 1.0, 1.5, 2.0])  # two steps per epoch
    np.testing.assert_array_equal(step_line.get_ydata(), [4.0, 2.0, 1.0, 1.0])
    np.testing.assert_array_equal(mean_line.get_xdata(), [1, 2])


def test_history_stages_end_to_end_or_overlaid():
    stages = {"pretrain": history([5.0, 4.0]), "finetune": history([1.0, 0.5, 0.4], [0.5, 0.6, 0.7])}
    loss_ax, metric_ax = plot_history(stages, consecutive=True)
    curves = [line for line in loss_ax.lines if line.get_label() in stages]
    assert [list(line.get_xdata()) for line in curves] == [[1, 2], [3, 4, 5]]
    boundaries = [line for line in loss_ax.lines if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in boundaries] == [2.5]
    (scores,) = [line for line in metric_ax.lines if line.get_linestyle() != ":"]  # pre-training: no evaluation
    assert list(scores.get_xdata()) == [3, 4, 5] and scores.get_label() == "finetune score"
    loss_ax, _ = plot_history(stages)
    assert [list(line.get_xdata()) for line in loss_ax.lines] == [[1, 2], [1, 2, 3]]


def error_bar_lengths(container):
    """Half-lengths of the vertical error bars drawn by a bar or errorbar container, in drawing order."""
    segments = container.errorbar.lines[2][0] if hasattr(container, "errorbar") else container.lines[2][0]
    return [(seg[1, 1] - seg[0, 1]) / 2 for seg in segments.get_segments() if len(seg)]  # NaN bars: empty


def test_scores_bars_are_means_and_error_bars_the_std_over_seeds():
    per_seed = {"a": [0.5, 0.7], "b": [0.2, 0.4, 0.9], "c": {"mean": 0.3, "std": 0.05, "n": 5}}
    ax = plot_scores(per_seed, reference=0.25, reference_label="always Normal")
    render(ax)
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    np.testing.assert_allclose([bar.get_height() for bar in bars], [0.6, 0.5, 0.3])
    std_b = np.sqrt(((0.2 - 0.5) ** 2 + (0.4 - 0.5) ** 2 + (0.9 - 0.5) ** 2) / 2)  # sample std, by hand
    np.testing.assert_allclose(error_bar_lengths(bars), [np.sqrt(0.02), std_b, 0.05])
    (reference,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert list(reference.get_ydata()) == [0.25, 0.25]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["always Normal"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_scores_grouped_series_and_points():
    ax = plot_scores({"this run": {"x": [0.5, 0.6], "y": 0.4}, "paper": {"x": 0.62, "y": 0.64}}, kind="point")
    render(ax)
    ours, paper = ax.containers
    points = [c.lines[0] for c in (ours, paper)]  # each errorbar container's data line
    np.testing.assert_allclose(points[0].get_xdata().astype(float), [-0.2, 0.8])  # two series share each slot
    np.testing.assert_allclose(points[1].get_ydata().astype(float), [0.62, 0.64])
    assert error_bar_lengths(ours) == pytest.approx([np.std([0.5, 0.6], ddof=1)])  # "y" has one value: no bar
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["this run", "paper"]
    with pytest.raises(ValueError, match="kind"):
        plot_scores({"x": 0.5}, kind="violin")
