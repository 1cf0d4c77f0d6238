"""Routing against position in the sequence, and consecutive tokens keeping their top-1 expert: counted by
RoutingStats batch by batch, checked against numpy on the real OLMoE slice and on a hand-made case."""

import numpy as np
import pytest
import torch

from figkit import load_results, write_results
from figkit.routing import RoutingStats, Selection, bh, top_k
from tests import real_routing
from tests.test_routing_text import slice_positions


def test_a_hand_made_sequence_counts_its_positions_and_its_repeats():
    # two sequences (positions 0-3 and 0-1) in one layer of 4 experts; top-1 experts 1 1 2 2 | 3 3
    top = torch.tensor([[1, 1, 2, 2, 3, 3]])
    mask = torch.nn.functional.one_hot(top, 4).bool()
    counts = torch.tensor([[1, 1, 1, 1, 1, 1]])
    selection = Selection(mask, mask.float(), counts, torch.tensor([[0.5, 0.7, 0.9, 0.5, 0.2, 0.4]]))
    stats = RoutingStats([0], 4)
    stats.add("m", selection, positions=[0, 1, 2, 3, 0, 1])
    sections = stats.results()
    (position,) = sections["position_effects"]
    assert position["positions"] == [0, 1, 2, 3] and position["num_tokens"] == [2, 2, 1, 1]
    assert position["mean_top1"] == pytest.approx([0.35, 0.55, 0.9, 0.5])
    (locality,) = sections["routing_locality"]
    assert locality["num_pairs"] == 4  # 1-1, 1-2, 2-2 in the first sequence; 3-3 in the second
    assert locality["same_top1"] == [0.75]
    assert locality["chance"] == pytest.approx([0 + (2 / 6) ** 2 * 3])  # experts 1, 2, 3 each top-1 of 2 tokens


def test_position_and_locality_of_real_routing_equal_numpy(tmp_path):
    data = np.load(real_routing.SLICE)
    logits = data["router_logits"].astype(np.float32)
    positions = slice_positions(data["sequence"])
    layers, rule = list(range(16)), bh(0.05, max_k=8)
    stats = RoutingStats(layers, 64, coactivation=False, vocabulary=False)
    for batch in torch.arange(positions.size).split(200):  # batches cut sequences: pairs across a cut are lost
        selection = rule.select(torch.from_numpy(logits[:, batch]), layers)
        stats.add("bh05", selection, positions=positions[batch.numpy()])
        stats.add(
            "top8", top_k(8).select(torch.from_numpy(logits[:, batch]), layers), positions=positions[batch.numpy()]
        )
    sections = load_results(
        write_results(tmp_path / "r.json", methods=[{"id": "bh05"}, {"id": "top8"}], **stats.results())
    )
    expected_counts = np.stack(
        [real_routing.bh_counts(real_routing.p_values(x.astype(np.float64)), 0.05) for x in logits]
    )
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    top1_probability = (probabilities / probabilities.sum(-1, keepdims=True)).max(-1)
    for entry in (e for e in sections["position_effects"] if e["method"] == "bh05"):
        layer = entry["layer"]
        seen = np.unique(positions)
        assert entry["positions"] == seen.tolist()
        assert entry["num_tokens"] == [int((positions == p).sum()) for p in seen]
        mean = [expected_counts[layer][positions == p].mean() for p in seen]
        assert entry["mean_experts"] == pytest.approx(mean, rel=1e-12)
        spread = [expected_counts[layer][positions == p].std() for p in seen]
        assert entry["std_experts"] == pytest.approx(spread, rel=1e-9, abs=1e-12)
        top1 = [top1_probability[layer][positions == p].mean() for p in seen]
        assert entry["mean_top1"] == pytest.approx(top1, rel=1e-5)
    top = logits.argmax(-1)
    cut = np.zeros(positions.size, bool)
    cut[np.arange(200, positions.size, 200)] = True  # a pair across a batch boundary is not seen
    follows = (positions[1:] == positions[:-1] + 1) & ~cut[1:]
    same = ((top[:, 1:] == top[:, :-1]) & follows).sum(axis=1) / follows.sum()
    loads = np.stack([np.bincount(t, minlength=64) for t in top]) / positions.size
    for entry in sections["routing_locality"]:  # one router: both methods' top-1 experts are its largest logits
        assert entry["num_pairs"] == follows.sum()
        assert entry["same_top1"] == pytest.approx(same, rel=1e-12)
        assert entry["chance"] == pytest.approx((loads**2).sum(axis=1), rel=1e-12)


def test_the_real_position_figure_draws_numpys_bin_means_and_says_them(real_study):
    from figkit.plots import figure_spec
    from figkit.plots.position_effects import doubling_bins
    from figkit.style import use_style

    spec = figure_spec("position_effects")
    jobs = {job.suffix: job for job in spec.jobs(real_study)}
    assert set(jobs) == {"_experts_bh05", "_top1_probability"}  # top-8's count is constant; one router
    logits, _, _ = real_routing.load()
    places = real_routing.positions()
    bins = doubling_bins(places)
    assert bins[places == 0].tolist() == [0] * 6 and set(bins[(places >= 4) & (places < 8)]) == {3}
    with use_style("paper"):
        fig = spec.plot(spec.prepare(**jobs["_experts_bh05"].arguments))
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("Layer")]
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"]
    few = np.bincount(bins)[np.unique(bins)] < 30  # 6 tokens at position 0: no band, hollow points
    assert [line.get_xdata().tolist() for line in hollow] == [np.flatnonzero(few).tolist()] * 3
    assert [line.get_label() for line in lines] == ["Layer 0", "Layer 8", "Layer 15"]
    labels = ["0", "1", "2\N{EN DASH}3", "4\N{EN DASH}7", "8\N{EN DASH}15", "16\N{EN DASH}31", "32\N{EN DASH}63"]
    assert [t.get_text() for t in ax.get_xticklabels()] == labels + ["64\N{EN DASH}127"]
    for line, band, layer in zip(lines, ax.collections, (0, 8, 15)):
        counts = real_routing.bh_counts(real_routing.p_values(logits[layer]), 0.05)
        groups = [counts[bins == b] for b in np.unique(bins)]
        assert line.get_ydata() == pytest.approx([g.mean() for g in groups], rel=1e-9)
        assert line.get_xdata().tolist() == list(range(8))
        half = [1.959964 * g.std() / np.sqrt(g.size) for g in groups]  # the 95 % interval of each bin's mean
        tops = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])  # one path per run of bins
        banded = [g.mean() + h for g, h in zip(groups, half) if g.size >= 30]  # no band under 30 tokens
        assert tops.max() == pytest.approx(max(banded), rel=1e-6)
        assert tops.min() >= 1  # BH selects one expert at least: no band of a 6-token bin running below it
    counts = real_routing.bh_counts(real_routing.p_values(logits[8]), 0.05)
    caption = "".join(jobs["_experts_bh05"].caption)
    said = f"Layer 8: {counts[places == 0].mean():.2f} at position 0 (6 tokens), {counts[places >= 64].mean():.2f} at"
    assert said in caption and "(768 tokens per layer); bands, 95" in caption


def test_the_locality_figure_draws_each_layers_share_against_chance(real_study):
    from figkit.plots import figure_spec
    from figkit.style import use_style

    spec = figure_spec("routing_locality")
    (job,) = spec.jobs(real_study)
    logits, _, _ = real_routing.load()
    places = real_routing.positions()
    top = logits.argmax(-1)
    follows = places[1:] == places[:-1] + 1
    same = 100 * ((top[:, 1:] == top[:, :-1]) & follows).sum(axis=1) / follows.sum()
    chance = 100 * ((np.stack([np.bincount(t, minlength=64) for t in top]) / places.size) ** 2).sum(axis=1)
    with use_style("paper"):
        fig = spec.plot(spec.prepare(**job.arguments))
    solid, dashed = fig.axes[0].get_lines()[:2]
    assert solid.get_ydata() == pytest.approx(same) and dashed.get_ydata() == pytest.approx(chance)
    keys = fig.axes[0].get_legend().get_lines()
    assert [key.get_color() for key in keys] == [solid.get_color(), dashed.get_color()]  # one method: its colour
    best = int(np.argmax(same / chance))
    caption = "".join(job.caption)
    assert f"Most above chance in layer {best}: {same[best]:.1f}% against {chance[best]:.1f}%;" in caption
    # The band: each layer's 95 % Wilson interval of its share of the pairs (statsmodels' formula, by hand).
    n, z = follows.sum(), 1.959963984540054
    p = np.round(same / 100 * n) / n
    centre, half = (
        (p + z**2 / (2 * n)) / (1 + z**2 / n),
        z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n),
    )
    (band,) = fig.axes[0].collections
    low, high = (
        band.get_paths()[0].vertices[1 : 1 + len(same), 1],
        band.get_paths()[0].vertices[-2 : -2 - len(same) : -1, 1],
    )
    assert low == pytest.approx(100 * (centre - half)) and high == pytest.approx(100 * (centre + half))
    assert f"{100 * (centre - half)[best]:.1f}% to {100 * (centre + half)[best]:.1f}%." in caption
    outside = np.count_nonzero((chance < 100 * (centre - half)) | (chance > 100 * (centre + half)))
    assert f"outside a layer's interval in {outside} of the 16 layers (not corrected for 16 comparisons)" in caption
    assert f"({follows.sum():,} pairs)" in caption and "the same for all 5 methods" in caption
    assert len(job.caption) == 1  # one router's caption is all text: no method label in it


def test_bad_position_input_is_refused_naming_it():
    from figkit import plot_position_effects, plot_routing_locality

    with pytest.raises(ValueError, match="positions must be ascending"):
        plot_position_effects([[1, 2, 3]], positions=[0, 2, 1], num_tokens=[1, 1, 1])
    with pytest.raises(ValueError, match=r"means\[0\] has 2 values for 3 positions"):
        plot_position_effects({0: [1, 2]}, positions=[0, 1, 2], num_tokens=[1, 1, 1])
    with pytest.raises(ValueError, match="measure must be one of"):
        plot_position_effects([[1]], positions=[0], num_tokens=[1], measure="entropy")
    with pytest.raises(ValueError, match=r"same\['a'\]: shares must be between 0 and 1"):
        plot_routing_locality({"a": [1.5]}, chance=[0.1])


def test_positions_past_the_last_counted_one_pool_into_it_and_still_pair():
    from figkit.routing.stats import MAX_POSITION

    top = torch.tensor([[2, 2, 2, 3]])
    mask = torch.nn.functional.one_hot(top, 4).bool()
    selection = Selection(mask, mask.float(), torch.ones(1, 4, dtype=torch.long), torch.full((1, 4), 0.5))
    stats = RoutingStats([0], 4)
    stats.add("m", selection, positions=[MAX_POSITION - 1, MAX_POSITION, MAX_POSITION + 1, MAX_POSITION + 2])
    sections = stats.results()
    (entry,) = sections["position_effects"]
    assert entry["positions"] == [MAX_POSITION - 1, MAX_POSITION] and entry["num_tokens"] == [1, 3]
    assert entry["pooled_from"] == MAX_POSITION
    (locality,) = sections["routing_locality"]
    assert locality["num_pairs"] == 3 and locality["same_top1"] == [2 / 3]


def test_layers_take_their_colours_on_one_scale_and_methods_no_longer_colour_them():
    from matplotlib.colors import to_rgb

    from figkit import plot_position_effects
    from figkit.plots.looks import layer_colours

    means = {0: [2.0, 2.5, 3.0], 8: [2.1, 2.2, 2.3], 15: [3.0, 3.1, 3.2]}
    with pytest.warns(DeprecationWarning, match="methods no longer changes the position figure"):
        plot_position_effects(means, positions=[0, 1, 2], num_tokens=[5, 5, 5], methods=[{"id": "bh"}])
    ax = plot_position_effects(means, positions=[0, 1, 2], num_tokens=[5, 5, 5], method="bh").axes[0]
    assert [to_rgb(line.get_color()) for line in ax.lines if line.get_label().startswith("Layer")] == layer_colours(
        [0, 8, 15]
    )
    assert all(to_rgb(line.get_color()) in layer_colours([0, 8, 15]) for line in ax.lines)  # hollow points too
