import numpy as np
import pytest
from matplotlib.cbook import boxplot_stats
from matplotlib.colors import to_rgb

from figkit import plot_layer_wise_routing
from tests.helpers import box_text


def test_boxes_means_and_summary(as_input, rng):
    counts = np.clip(rng.poisson(3 + np.arange(16)[:, None] * 0.2, (16, 500)), 1, 8)
    ax = plot_layer_wise_routing(as_input(counts)).axes[0]
    expected = boxplot_stats(list(counts))
    medians = [line.get_ydata()[0] for line in ax.lines if line.get_color() == "0.1"]
    assert medians == pytest.approx([s["med"] for s in expected])
    whiskers = [
        line.get_ydata()[1]
        for line in ax.lines
        if line.get_linestyle() == "-" and len(line.get_ydata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    ]
    assert whiskers == pytest.approx([v for s in expected for v in (s["whislo"], s["whishi"])])
    trend = next(line for line in ax.lines if line.get_label() == "Mean per layer")
    np.testing.assert_allclose(trend.get_ydata(), counts.mean(axis=1), rtol=1e-12)
    text = box_text(ax)
    assert f"Overall mean: {counts.mean():.2f}" in text
    assert f"Early (0\N{EN DASH}7): {counts[:8].mean():.2f}" in text
    assert f"Late (8\N{EN DASH}15): {counts[8:].mean():.2f}" in text
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i) for i in range(16)]


def test_boxes_darken_from_early_to_late_layers():
    ax = plot_layer_wise_routing(np.ones((6, 10), int) * 3).axes[0]
    brightness = [sum(to_rgb(p.get_facecolor())) for p in ax.patches]
    assert len(brightness) == 6 and brightness == sorted(brightness, reverse=True)


def test_layers_of_different_lengths_and_histograms():
    layers = [[1, 2, 3], [4, 4], {5: 10, 6: 10}]
    ax = plot_layer_wise_routing(layers, layer_names=["first", "mid", "last"]).axes[0]
    trend = next(line for line in ax.lines if line.get_label() == "Mean per layer")
    assert trend.get_ydata().tolist() == pytest.approx([2, 4, 5.5])
    text = box_text(ax)
    assert f"Overall mean: {(6 + 8 + 110) / 25:.2f}" in text
    assert "Early (first): 2.00" in text and "Late (last): 5.50" in text
    assert [t.get_text() for t in ax.get_xticklabels()] == ["first", "mid", "last"]


def test_one_layer_has_only_the_overall_mean():
    assert box_text(plot_layer_wise_routing([[3, 4, 5]]).axes[0]) == "Overall mean: 4.00"


@pytest.mark.parametrize(
    "args, message",
    [
        (([1, 2, 3],), r"layer_expert_counts must be 2-D \[num_layers, num_tokens\]"),
        ((np.ones((2, 3)), ["a"]), r"layer_names \(1\) and layer_expert_counts \(2\) must have same length"),
        (([[1, 2], []],), r"layer_expert_counts\[1\] is empty"),
        (([[1, 2], [1, -1]],), r"layer_expert_counts\[1\] must be non-negative, got -1 at index 1"),
        ((np.ones((0, 5)),), "layer_expert_counts is empty"),
    ],
)
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        plot_layer_wise_routing(*args)
