import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle
from scipy.stats import gaussian_kde

from figkit import plot_expert_count_distribution, use_style
from tests.helpers import box_text


def bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_every_input_kind_shows_the_same_figure(as_input):
    counts = np.array([4, 5, 3, 6, 4, 5, 4, 3])
    fig = plot_expert_count_distribution(as_input(counts), "BH Routing", alpha=0.05)
    assert fig is plt.gcf()
    ax = fig.axes[0]
    heights = {round(b.get_x() + b.get_width() / 2): b.get_height() for b in bars(ax)}
    values, tokens = np.unique(counts, return_counts=True)
    assert heights == pytest.approx(dict(zip(values.tolist(), tokens / counts.size)))
    assert "BH Routing" in ax.get_title() and "0.05" in ax.get_title()


def test_lines_and_box_show_numpy_statistics(rng):
    counts = rng.binomial(8, 0.5, 10_000) + 1
    ax = plot_expert_count_distribution(counts).axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    mean_line = lines[f"Mean = {counts.mean():.2f}"]
    median_line = lines[f"Median = {np.median(counts):g}"]
    assert mean_line.get_xdata()[0] == pytest.approx(counts.mean(), rel=1e-12)
    assert median_line.get_xdata()[0] == np.median(counts)
    text = box_text(ax)
    assert f"Mean: {counts.mean():.2f}" in text
    assert f"Median: {np.median(counts):.2f}" in text
    assert f"Std: {counts.std():.2f}" in text
    assert f"Range: [{counts.min()}, {counts.max()}]" in text
    assert "Tokens: 10,000" in text
    kde = lines["KDE"]
    x, y = kde.get_xdata(), kde.get_ydata()
    bandwidth = max(counts.std(ddof=1) * counts.size ** (-1 / 5), 0.5)
    low, high = counts.min() - 0.5, counts.max() + 0.5
    assert x.min() == low and x.max() == high  # the KDE stays on the counts' support
    kde = gaussian_kde(counts, bandwidth / counts.std(ddof=1))
    np.testing.assert_allclose(y, kde(x) + kde(2 * low - x) + kde(2 * high - x), rtol=1e-9)
    share = (counts == counts.min()).mean()
    assert f"At min. ({counts.min()}): {100 * share:.1f}%" in text


@pytest.mark.parametrize("style", ["paper", "slide"])
def test_mean_and_median_are_marked_on_the_frame_not_through_the_bars(rng, style):
    counts = rng.geometric(0.4, 5000)
    with use_style(style):
        fig = plot_expert_count_distribution(counts)
        fig.canvas.draw()
    ax = fig.axes[0]
    marks = {line.get_label(): line for line in ax.lines}
    assert set(marks) == {f"Mean = {counts.mean():.2f}", f"Median = {np.median(counts):g}"}
    assert marks[f"Mean = {counts.mean():.2f}"].get_xdata()[0] == pytest.approx(counts.mean(), rel=1e-12)
    assert marks[f"Median = {np.median(counts):g}"].get_xdata()[0] == np.median(counts)
    frame = ax.get_window_extent()
    legend = ax.get_legend().get_window_extent()
    for mark in marks.values():
        box = mark.get_window_extent()
        assert box.y0 >= frame.y1 - 1.0 and box.y1 <= legend.y0 + 1.0  # between the frame and the legend
    assert not any(line.get_linestyle() in ("--", ":") for line in ax.lines)


def test_histogram_mapping_draws_the_same_bars(rng):
    counts = rng.integers(1, 9, 5000)
    raw = [b.get_height() for b in bars(plot_expert_count_distribution(counts).axes[0])]
    values, tokens = np.unique(counts, return_counts=True)
    mapping = dict(zip(values.tolist(), tokens.tolist()))
    assert [b.get_height() for b in bars(plot_expert_count_distribution(mapping).axes[0])] == raw


def test_a_billion_tokens_from_their_histogram():
    ax = plot_expert_count_distribution({3: 400_000_000, 4: 500_000_000, 5: 100_000_000}).axes[0]
    assert "Tokens: 1,000,000,000" in box_text(ax)
    assert "Mean: 3.70" in box_text(ax)


def test_sparse_histogram_draws_only_its_bars():
    ax = plot_expert_count_distribution({1: 5, 1_000_000: 5}).axes[0]
    assert len(bars(ax)) == 2
    assert "Range: [1, 1000000]" in box_text(ax)


def test_single_value_has_no_kde_and_no_error():
    ax = plot_expert_count_distribution([4]).axes[0]
    assert "KDE" not in [line.get_label() for line in ax.lines]
    assert "Std: 0.00" in box_text(ax)


@pytest.mark.parametrize(
    "counts, kwargs, error, message",
    [
        ([], {}, ValueError, "^expert_counts is empty$"),
        ([1.0, np.nan], {}, ValueError, "expert_counts contains NaN at index 1"),
        ([1, -2], {}, ValueError, "expert_counts must be non-negative"),
        ([1.5], {}, ValueError, "expert_counts must hold whole numbers"),
        ([[1, 2], [3, 4]], {}, ValueError, r"expert_counts must be 1-D, got shape \(2, 2\)"),
        ([1, 2], {"alpha": 1.5}, ValueError, r"alpha must be in \(0, 1\), got 1.5"),
        ("345", {}, TypeError, "expert_counts must be a torch tensor"),
    ],
)
def test_errors(counts, kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_expert_count_distribution(counts, **kwargs)
    assert plt.get_fignums() == []  # nothing half-drawn is left open


def test_empty_tensor_message_matches_the_spec():
    import torch

    with pytest.raises(ValueError, match="^expert_counts is empty$"):
        plot_expert_count_distribution(torch.tensor([]))


def test_the_methods_of_a_build_share_one_y_scale(real_study):
    from figkit.plots import figure_spec

    spec = figure_spec("expert_count_distribution")
    jobs = list(spec.jobs(real_study))
    assert len(jobs) == 4  # the four BH levels; top-8 is one bar
    tops = [
        max(v / sum(job.arguments["expert_counts"].values()) for v in job.arguments["expert_counts"].values())
        for job in jobs
    ]
    for job in jobs:
        assert job.arguments["top"] == pytest.approx(max(tops))
        assert spec.plot(spec.prepare(**job.arguments)).axes[0].get_ylim()[1] == pytest.approx(1.05 * max(tops))
    with pytest.raises(ValueError, match=r"top must be a number in \[0.666667, 1\], got 0.5"):
        plot_expert_count_distribution([1, 1, 2], top=0.5)
