import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

import figkit
from figkit import plot_expert_utilization
from figkit.plots import figure_spec
from figkit.plots.expert_utilization import LOAD_CLASSES, amounts, caption_statistics
from tests.helpers import box_text


def drawn_bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() == pytest.approx(0.8)]


def expected_colour(ratio):
    for upper, _, colour in LOAD_CLASSES:
        if ratio < upper:
            return colour.lower()


def test_bars_colours_and_box(as_input, rng):
    load = rng.poisson(50, 64) * rng.lognormal(0, 0.5, 64)
    load = np.round(load)
    ax = plot_expert_utilization(as_input(load)).axes[0]
    bars = drawn_bars(ax)
    assert [b.get_height() for b in bars] == pytest.approx(load.tolist())
    mean = load.mean()
    assert [to_hex(b.get_facecolor()) for b in bars] == [expected_colour(x / mean) for x in load]
    text = box_text(ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    shown_mean, shown_std = amounts(mean, load.std())  # one precision, the caption's
    assert f"mean {shown_mean}" in legend and f"\N{PLUS-MINUS SIGN}1 std {shown_std}" in legend
    assert f"CV: {load.std() / mean:.2f}" in text
    assert f"MaxVio: {load.max() / mean - 1:.2f}" in text
    assert f"Max/min: {load.max() / load.min():,.2f}" in text
    mean_line = next(line for line in ax.lines if line.get_linestyle() == "--")
    assert mean_line.get_ydata()[0] == pytest.approx(mean)
    band = next(p for p in ax.patches if p not in bars)  # axhspan: y in data units (a Polygon in matplotlib 3.8)
    edges = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]
    assert [edges.min(), edges.max()] == pytest.approx([mean - load.std(), mean + load.std()])


def test_dead_experts_show_infinity_and_are_marked():
    ax = plot_expert_utilization([10, 0, 30, 20, 0]).axes[0]
    assert "Max/min: \N{INFINITY} (2 dead)" in box_text(ax)
    marks = next(line for line in ax.lines if line.get_marker() == "x")
    assert marks.get_xdata().tolist() == [1, 4]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no token (2)" in legend and not any(t.startswith("< 0.5") for t in legend)  # counted once
    assert legend[0] == "0.8\N{EN DASH}1.25\N{MULTIPLICATION SIGN} mean (1)"  # 10 of a mean 12; it says of what


def test_paper_figures_leave_the_statistics_to_the_caption_and_the_legend_above_the_bars():
    counts = np.array([10, 0, 30, 20, 340])
    with figkit.use_style("paper"):
        fig = plot_expert_utilization(counts, figsize=(3.25, 2.5))
        fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_title() == "" and not [t for t in ax.texts if t.get_bbox_patch() is not None]
    assert ax.get_legend().get_window_extent().y0 >= ax.get_window_extent().y1  # above the axes, not the bars
    shares = counts[counts > 0] / counts.sum()
    entropy = -(shares * np.log(shares)).sum() / np.log(counts.size)
    caption = caption_statistics(counts)
    assert caption.startswith(f"Mean {counts.mean():.0f} tokens per expert, standard deviation {counts.std():.0f}")
    assert f"coefficient of variation {counts.std() / counts.mean():.2f}" in caption
    assert (
        f"MaxVio (the busiest expert over the mean, less 1) {counts.max() / counts.mean() - 1:.2f}, 1 expert" in caption
    )
    assert f"normalised entropy {entropy:.3f}." in caption
    # No band in the paper (its grey would compete with the bars); balanced bars white, outlined.
    assert len(ax.patches) == counts.size
    assert caption.startswith("Mean 80 tokens per expert, standard deviation 130")
    # Loads over the mean of 80: 10 and 20 under half, 30 at 0.375, 340 over twice; the caption counts them.
    assert caption.endswith("experts per class: < 0.5\N{MULTIPLICATION SIGN} 3, > 2\N{MULTIPLICATION SIGN} 1.")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]  # short: no counts, no mean entry
    assert sorted(legend) == sorted(["< 0.5\N{MULTIPLICATION SIGN} mean", "> 2\N{MULTIPLICATION SIGN}", "no token"])


def test_a_shared_y_scale_holds_the_largest_load():
    with pytest.raises(ValueError, match="top must be a number of at least 30, got 20"):
        plot_expert_utilization([10, 30, 20], top=20)


def test_mean_and_spread_share_one_precision():
    assert amounts(51.94, 106.2) == ["52", "106"]
    assert amounts(20.43, 58.12) == ["20.4", "58.1"]
    assert amounts(0.5, 0.25) == ["0.500", "0.250"]


def test_the_methods_of_one_layer_share_one_y_scale(real_study):
    jobs = [job for job in figure_spec("expert_utilization").jobs(real_study) if job.suffix.endswith("_layer8")]
    assert len(jobs) == 2
    top = max(max(job.arguments["expert_counts_by_expert"]) for job in jobs)
    for job in jobs:
        spec = figure_spec("expert_utilization")
        ax = spec.plot(spec.prepare(**job.arguments)).axes[0]
        assert ax.get_ylim()[1] == pytest.approx(1.05 * top)
        assert "The y scale is that of the other method's figure of this layer too." in job.caption[-1]


def test_num_experts_adds_experts_that_got_nothing():
    ax = plot_expert_utilization([5, 5, 5], num_experts=5).axes[0]
    assert [b.get_height() for b in drawn_bars(ax)] == [5, 5, 5, 0, 0]
    assert "(2 dead)" in box_text(ax)


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 0, 0],), "expert_counts_by_expert is all zero"),
        (([1, -1],), "expert_counts_by_expert must be non-negative, got -1 at index 1"),
        (([],), "^expert_counts_by_expert is empty$"),
        (([1, 2, 3], 2), "num_experts must be an integer of at least 3"),
    ],
)
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        plot_expert_utilization(*args)


def test_a_load_class_has_the_colour_the_load_grids_give_its_middle_load():
    """An expert at 4 times the mean is '> 2×' here and 4 times an even load in a load grid: one colour."""
    from matplotlib.colors import to_hex

    from figkit import plot_expert_load_layers

    loads = [8, 1, 1, 1, 1, 1, 1, 2]  # mean 2: expert 0 at 4 times it
    bar = drawn_bars(plot_expert_utilization(loads).axes[0])[0]
    image = plot_expert_load_layers([loads]).axes[0].images[0]
    assert to_hex(bar.get_facecolor()) == to_hex(image.cmap(image.norm(100 * 8 / 16)))
