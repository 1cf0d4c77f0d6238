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


def test_past_two_hundred_layers_consecutive_layers_are_pooled_and_said_so(rng):
    """100,000 layers drew a bar each until memory ran out: past 200, each bar pools consecutive layers."""
    import figkit

    counts = rng.integers(1, 5, (1_000, 30))  # 200 groups of 5 layers
    with figkit.use_style("paper"):
        ax = plot_layer_wise_routing(list(counts)).axes[0]  # a layer per entry: more layers than tokens
    stacks = list(ax.containers)
    assert [len(stack) for stack in stacks] == [200] * 4  # a bar per group, a stack of 4 counts
    pooled = counts.reshape(200, 150)
    for count, stack in zip(range(1, 5), stacks):
        heights = [bar.get_height() for bar in stack]
        np.testing.assert_allclose(heights, (pooled == count).mean(axis=1), rtol=1e-12)
    assert ax.get_xlabel() == "Layers, in groups of 5"
    assert ax.get_xticklabels()[0].get_text() == "0\N{EN DASH}4"


def test_a_results_file_of_many_layers_says_they_are_pooled(tmp_path):
    from figkit import load_results, write_results
    from figkit.plots import figure_spec

    study = {
        "methods": [{"id": "bh", "label": "BH"}],
        "model": {"num_layers": 1_000, "num_experts": 8},
        "expert_counts": [{"method": "bh", "layer": layer, "values": [1, 2, 3]} for layer in range(1_000)],
    }
    results = load_results(write_results(tmp_path / "r.json", **study))
    (job,) = figure_spec("layer_wise_routing").jobs(results)
    caption = "".join(job.caption)
    assert "(3 tokens \N{MULTIPLICATION SIGN} 1,000 layers)" in caption
    assert caption.endswith("Its 1,000 layers are drawn in groups of 5 consecutive layers.")
