"""Every figure on real routing (a trained OLMoE's router logits, tests/real_routing.py): what is drawn."""

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from scipy.stats import false_discovery_control

from figkit import use_style
from figkit.arrays import token_text
from figkit.plots import figure_spec
from tests import real_routing
from tests.helpers import bin_means, named_tokens, rounded_up


def figures(results, name):
    """(job, figure) of every figure the build makes of family ``name``."""
    spec = figure_spec(name)
    return [(job, spec.plot(spec.prepare(**job.arguments))) for job in spec.jobs(results)]


def test_bh_of_the_fixture_is_scipys_step_up():
    logits, _, _ = real_routing.load()
    for layer in (0, 7, 15):
        p = real_routing.p_values(logits[layer])
        adjusted = false_discovery_control(p, axis=1)
        for alpha in real_routing.ALPHAS:
            expected = np.clip((adjusted <= alpha).sum(axis=1), real_routing.MIN_K, real_routing.MAX_K)
            assert np.array_equal(real_routing.bh_counts(p, alpha), expected)


def test_a_constant_method_gets_no_histogram_of_its_own(real_study):
    suffixes = [job.suffix for job, _ in figures(real_study, "expert_count_distribution")]
    assert "_topk8" not in suffixes and "_bh05" in suffixes
    assert "_topk8" not in [job.suffix for job in figure_spec("layer_wise_routing").jobs(real_study)]
    comparison = figure_spec("expert_count_comparison").jobs(real_study)
    assert "Top-8" in next(iter(comparison)).arguments["counts_by_method"]


def test_the_count_histogram_keeps_its_kde_on_the_counts_and_states_the_minimum(real_study):
    (job, fig), *_ = [f for f in figures(real_study, "expert_count_distribution") if f[0].suffix == "_bh05"]
    ax = fig.axes[0]
    counts = real_routing.sections()["expert_counts"]
    pooled = np.concatenate([e["values"] for e in counts if e["method"] == "bh05"])
    kde = next(line for line in ax.lines if line.get_label() == "KDE")
    assert kde.get_xdata().min() == pooled.min() - 0.5 and kde.get_xdata().max() == pooled.max() + 0.5
    share = (pooled == pooled.min()).mean()
    assert share > 0.5  # most tokens sit at the minimum on this model, and the figure says so
    box = next(t.get_text() for t in ax.texts if t.get_bbox_patch() is not None)
    assert f"At min. (1): {100 * share:.1f}%" in box
    assert max(ax.get_yticks()) <= 1.0
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().y0 >= ax.get_window_extent().y1  # above the axes, off the data


def test_the_sweeps_bars_are_the_quartiles_of_real_counts_and_labels_sit_clear(real_study):
    """The build's sweep bars are each level's 25th and 75th percentile of experts per token (numpy, from
    the per-layer counts pooled), not a ±1 std that skewed counts would push below one expert."""
    ((job, fig),) = figures(real_study, "alpha_sensitivity")
    ax = fig.axes[0]
    bars = next(c for c in ax.collections if isinstance(c, LineCollection))
    lows = [segment[:, 1].min() for segment in bars.get_segments()]
    highs = [segment[:, 1].max() for segment in bars.get_segments()]
    sweep = real_study["sweeps"][0]
    entries = real_routing.sections()["expert_counts"]
    for i, alpha in enumerate(sweep["values"]):
        (method,) = [m["id"] for m in real_routing.methods() if m["params"].get("alpha") == alpha]
        counts = np.concatenate([e["values"] for e in entries if e["method"] == method])
        assert (lows[i], highs[i]) == pytest.approx(tuple(np.quantile(counts, [0.25, 0.75])))
    assert job.arguments["std_experts"] is None
    assert "bars: the middle half of each level's tokens, from the 25th to the 75th percentile" in job.caption[-1]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts]
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert [t.get_text() for t in labels] == [f"{v:.2f}" for v in sweep["avg_experts"]]
    for i, box in enumerate(boxes):
        bar_top = ax.transData.transform((job.arguments["alphas"][i], highs[i]))[1]
        assert box.y0 >= bar_top - 0.5  # above its bar, not over the line or a cap
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
    assert ax.get_legend().get_texts()[0].get_text() == "Average experts (bars: middle half of tokens)"
    spec = figure_spec("alpha_sensitivity")
    with use_style("paper"):
        paper = spec.plot(spec.prepare(**job.arguments)).axes[0]
    assert [t.get_text() for t in paper.get_legend().get_texts()] == ["Average (bars: quartiles)", "Top-8"]


def test_heatmaps_show_every_expert_label_or_say_and_scale_by_normalisation(real_study):
    made = figures(real_study, "routing_heatmap")
    assert len(made) == 2
    limits = set()
    for job, fig in made:
        ax = fig.axes[0]
        shown = np.ma.filled(ax.images[0].get_array(), 0.0)
        # Every expert, in order: no token's selection is hidden, and the axis reads as one.
        block = np.asarray(job.arguments["routing_weights"])[:20]
        np.testing.assert_allclose(shown, block)
        ticks = [int(t.get_text()) for t in ax.get_xticklabels()]
        assert ticks == list(range(0, 64, ticks[1])) and ticks[1] in (2, 4, 8, 16)  # every n-th, as on any axis
        assert "and all 64 experts (columns)" in job.caption[-1]
        title = " ".join(ax.get_title().split())
        labelled = len(ax.get_yticklabels())
        if labelled < shown.shape[0]:
            every = -(-shown.shape[0] // labelled)
            assert f"every {every}" in title
        limits.add(ax.images[0].get_clim())
        # OLMoE's top-8 weights are softmax shares (a token's sum to about 0.2), BH's renormalised to 1:
        # one scale would fade top-8 to nothing, so each heatmap has its own and the caption says why.
        # One heavy weight (more than twice the 99th percentile of the selected) does not set the scale.
        typical = np.quantile(block[block > 0], 0.99)
        heavy = block.max() > 2 * typical
        top = rounded_up(typical if heavy else block.max()).expected
        assert ax.images[0].get_clim() == pytest.approx((0.0, top))
        if heavy:
            above = np.count_nonzero(block > top)
            assert (
                f" {above} weight{'s' if above > 1 else ''} above {top:g} (at most {block.max():.2f})"
                in job.caption[-1]
            )
            assert ax.images[0].colorbar.extend == "max"
        assert f"sum to {np.median(block.sum(axis=1)):.2f} in the median" in job.caption[-1]
        assert not any(line.get_visible() for line in ax.get_xgridlines() + ax.get_ygridlines())
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() + ax.get_yticklabels()]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
        assert min(t.get_fontsize() for t in ax.get_yticklabels()) >= 5
    assert len(limits) == 2


def test_integer_axes_have_integer_ticks_and_no_impossible_counts(real_study):
    for _, fig in figures(real_study, "expert_utilization"):
        ticks = fig.axes[0].get_xticks()
        assert np.array_equal(ticks, np.round(ticks))
    ((_, fig),) = figures(real_study, "token_complexity_vs_experts")
    ticks = fig.axes[0].get_yticks()
    (stats,) = real_study["token_stats"]
    most = max(len(histogram) - 1 for histogram in stats["expert_histograms"])
    assert np.array_equal(ticks, np.round(ticks)) and ticks.max() <= most


def test_the_rarity_figure_names_real_tokens_and_draws_bin_means(real_study):
    """token_stats keeps one experts histogram per token id and token_strings their text: the build's
    figure names real tokens at their proxy frequency and draws each frequency bin's mean experts, checked
    against the per-token data."""
    from tests import real_routing

    ((job, fig),) = figures(real_study, "token_complexity_vs_experts")
    logits, token_ids, strings = real_routing.load()
    p = real_routing.p_values(logits[real_routing.SHOWN_LAYER])
    experts = real_routing.bh_counts(p, 0.05)
    named = named_tokens(fig.axes[0])
    assert len(named) >= 5
    for name, frequency in named:
        (token,) = [t for t in np.unique(token_ids) if token_text(strings[t]) == name]
        assert frequency == pytest.approx(1 / (token + 1))
    means, edges = bin_means(fig.axes[0])
    proxy = 1 / (token_ids + 1.0)
    for mean, low, high in zip(means, edges[:-1], edges[1:]):
        assert mean == pytest.approx(experts[(proxy >= low) & (proxy < high)].mean())
    assert f"{token_ids.size:,} tokens, {np.unique(token_ids).size:,} distinct" in job.caption[-1]
    for _, fig in figures(real_study, "layer_wise_routing"):
        assert fig.axes[0].get_yticks().max() <= 8


@pytest.mark.slow
def test_the_real_build_passes_the_pdf_linter_in_one_font_family(tmp_path):
    """``figkit build`` of the real routing: every figure (one family, STIX, in the paper style: the
    linter counts fallback glyphs too) and the appendix."""
    from figkit import build, write_results
    from figkit.lint import check_pdf_text, pdf_words

    results = write_results(tmp_path / "results.json", **real_routing.sections())
    report = build(results, tmp_path / "out", jobs=1)
    assert report.ok, report.failed
    figures = sorted((tmp_path / "out" / "figures").glob("*.pdf"))
    # 4 + 4 BH histograms and layer plots, 2 comparisons (no compute against quality: the router probability
    # kept is no quality measure, so it has no "better"), a sweep, 2 × 3 loads, 2 loads across layers,
    # 2 heatmaps, a rarity plot, 2 co-activation heatmaps, the top-1 paths, vocabulary specialisation,
    # router confidence (top-1 probability, entropy and BH's smallest p-value)
    assert len(figures) == 33
    tables = sorted(p.name for p in (tmp_path / "out" / "tables").glob("expert_tokens_*.tex"))
    assert tables == ["expert_tokens_bh05_layer7.tex", "expert_tokens_topk8_layer7.tex"]
    for path in figures:
        assert check_pdf_text(path) == [], path.name
        assert {family for _, words in pdf_words(path) for w in words for family in w.families} == {"STIX"}
    assert check_pdf_text(report.pdf, families=None) == []


def test_real_routing_without_a_quality_measure_has_no_compute_against_quality(real_study):
    """The real slice has router logits but no model to score: the probability kept grows with every expert
    added, so it carries no "better", and no metric is left to set against the experts per token."""
    assert "better" not in real_study["metric_info"]["mass"]
    assert list(figure_spec("compute_quality").jobs(real_study)) == []


def test_the_layer_means_caption_names_each_method_s_fewest_and_most_from_numpy(real_study):
    (job,) = figure_spec("layer_mean_comparison").jobs(real_study)
    caption = "".join(job.caption)
    means = {}
    for entry in real_routing.sections()["expert_counts"]:
        means.setdefault(entry["method"], {})[entry["layer"]] = np.mean(entry["values"])
    for by_layer in means.values():
        layers = np.array(sorted(by_layer))
        values = np.array([by_layer[layer] for layer in layers])
        if np.ptp(values) == 0:
            continue  # top-8: the same in every layer, no range
        low, high = layers[values.argmin()], layers[values.argmax()]
        assert f"(fewest {values.min():.2f} in layer {low}, most {values.max():.2f} in layer {high})" in caption


def test_the_sweep_caption_gives_its_ends_against_top_k(real_study):
    (job,) = figure_spec("alpha_sensitivity").jobs(real_study)
    sweep = real_study["sweeps"][0]
    order = np.argsort(sweep["values"])
    first, last = np.asarray(sweep["avg_experts"])[order[[0, -1]]]
    values = np.sort(sweep["values"])
    sentence = (
        f"From {values[0]:g} to {values[-1]:g} the average rises from {first:.2f} to {last:.2f} experts per token "
        f"({100 * first / 8:.0f}\N{NO-BREAK SPACE}% to {100 * last / 8:.0f}\N{NO-BREAK SPACE}% of Top-8)."
    )
    assert sentence in "".join(job.caption) and "The x-axis is logarithmic." in "".join(job.caption)


def test_the_comparison_centres_the_bars_of_each_count_on_it(real_study):
    ((job, fig),) = figures(real_study, "expert_count_comparison")
    centres = {}
    for patch in fig.axes[0].patches:
        centre = patch.get_x() + patch.get_width() / 2
        centres.setdefault(round(centre), []).append(centre)
    assert set(centres) == set(range(1, 9))
    for count, bars in centres.items():  # no empty slot for a method with no token at this count
        assert np.mean(bars) == pytest.approx(count)
    assert len(centres[1]) == 4 and len(centres[8]) == 4  # every BH level at both
    top8, arrow = fig.axes[0].lines  # top-8, 100 % at 8, is a line there: its bar would flatten the others
    assert top8.get_xdata()[0] == 8 and top8.get_label().startswith("Top-8")
    tallest = max(p.get_height() for p in fig.axes[0].patches if round(p.get_x() + p.get_width() / 2) == 8)
    low, high = top8.get_ydata()
    assert low > tallest and high == fig.axes[0].get_ylim()[1]  # above the bars at 8, up to the frame
    assert arrow.get_marker() == "^" and arrow.get_ydata()[0] == high  # off the scale
