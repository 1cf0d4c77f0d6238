"""Load across layers: each expert's share of each layer, checked by hand, with numpy and on real routing."""

import numpy as np
import pytest

from figkit import plot_expert_load_layers
from figkit.plots import figure_spec
from figkit.plots.expert_load_layers import ratio_ticks
from figkit.plots.expert_utilization import FIGURE as UTILIZATION
from tests import real_routing
from tests.helpers import sections

SPEC = figure_spec("expert_load_layers")


def drawn(fig):
    """The shares drawn; an expert with no load is masked (grey), so 0 here."""
    return np.ma.filled(fig.axes[0].images[0].get_array().astype(float), 0.0)


def labels(axis):
    return [t.get_text() for t in axis.get_ticklabels()]


def test_a_hand_made_case_with_a_fixed_k(as_input):
    # two experts per token: 4 tokens in layer 3, 2 in layer 5
    loads = np.array([[2, 0, 2, 4], [1, 1, 1, 1]])
    fig = plot_expert_load_layers(as_input(loads), layers=[3, 5], num_tokens=as_input(np.array([4, 2])))
    np.testing.assert_allclose(drawn(fig), [[50, 0, 50, 100], [50, 50, 50, 50]])  # % of the layer's tokens
    ax, bar = fig.axes
    assert labels(ax.yaxis) == ["3", "5"] and labels(ax.xaxis) == ["0", "1", "2", "3"]
    assert bar.get_ylabel() == "Share of the layer's tokens, \N{MULTIPLICATION SIGN} even"
    assert labels(bar.yaxis) == ["1/8", "1/4", "1/2", "even", "2", "4", "8"]  # k/E = 2/4 = 50 %
    norm = fig.axes[0].images[0].norm
    assert (norm.vmin, norm.vmax) == (6.25, 400) and norm(50) == pytest.approx(0.5)  # even: the middle


def test_an_adaptive_k_shows_shares_of_routings():
    loads = np.array([[4, 4], [3, 1]])  # of 4 tokens: 2 experts per token in layer 0, 1 in layer 1
    fig = plot_expert_load_layers(loads, num_tokens=[4, 4])
    np.testing.assert_allclose(drawn(fig), [[50, 50], [75, 25]])
    assert fig.axes[1].get_ylabel() == "Share of the layer's routings, \N{MULTIPLICATION SIGN} even"
    assert fig.axes[0].images[0].norm(50) == pytest.approx(0.5)  # 1/E


def test_ordered_by_load_each_layer_counts_ranks():
    loads = np.array([[1, 5, 3, 0], [2, 2, 6, 0]])
    fig = plot_expert_load_layers(loads, order="load")
    np.testing.assert_allclose(drawn(fig), 100 * np.array([[5, 3, 1, 0], [6, 2, 2, 0]]) / [[9], [10]])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Expert of the layer, by load (busiest first)"
    assert labels(ax.xaxis) == ["1", "2", "3", "4"]


def test_real_routing_against_numpy(real_study):
    logits, _, _ = real_routing.load()
    (job,) = [j for j in SPEC.jobs(real_study) if j.suffix == "_topk8"]
    fig = SPEC.plot(SPEC.prepare(**job.arguments))
    layers, tokens, experts = logits.shape
    masks = [real_routing.keep_largest(logits[layer], np.full(tokens, 8)) for layer in range(layers)]
    share = np.array([100 * mask.sum(axis=0) / mask.sum() for mask in masks])  # of the layer's routings
    np.testing.assert_allclose(drawn(fig), share)
    assert fig.axes[0].images[0].norm(100 / 64) == pytest.approx(0.5)  # 1/E, as for BH: one scale to compare
    loads = np.array([mask.sum(axis=0) for mask in masks])
    cv = loads.std(axis=1) / loads.mean(axis=1)
    max_vio = loads.max(axis=1) / loads.mean(axis=1) - 1
    dead = (loads == 0).sum(axis=1)
    caption = "".join(job.caption)
    assert "white is an even load, 1/E = 1.56%, orange less and purple more, on a log scale from 1/8 to 8" in caption
    assert "times it, the same in every load grid" in caption
    assert "shares beyond 8 times either way in its end colours; grey: an expert no token was routed to" in caption
    image = fig.axes[0].images[0]
    assert np.array_equal(np.ma.getmaskarray(image.get_array()), loads == 0)  # dead experts: masked, grey
    assert tuple(image.cmap.get_bad()[:3]) == pytest.approx((0.6, 0.6, 0.6))
    bar = fig.axes[1]
    assert "none" in [t.get_text() for t in bar.texts]  # the grey extension is labelled
    assert f"CV {cv.min():.2f} (layer {cv.argmin()}) to {cv.max():.2f} (layer {cv.argmax()})" in caption
    assert f"MaxVio {max_vio.min():.2f} (layer {max_vio.argmin()})" in caption
    assert f"dead experts in {np.count_nonzero(dead)} of 16 layers ({dead.min()} to {dead.max()} per layer)" in caption


def test_the_build_makes_one_per_method_with_two_layers_and_three_utilisation_bars(real_study, study):
    assert [j.suffix for j in SPEC.jobs(real_study)] == ["_topk8", "_bh05"]
    assert [j.suffix for j in SPEC.jobs(study)] == ["_topk2"]  # layers 0 and 1 of one method
    shown = [j.suffix for j in UTILIZATION.jobs(real_study)]
    assert sorted(shown) == sorted(f"_{m}_layer{layer}" for m in ("topk8", "bh05") for layer in (0, 8, 15))


def test_a_single_dead_expert_is_named_with_its_layer():
    data = SPEC.prepare([[1, 0, 3], [2, 1, 1]], layers=[4, 9])
    from figkit.plots.expert_load_layers import metrics_caption

    assert metrics_caption(data.balance, data.rows).endswith("; 1 dead expert in layer 4")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer_loads": [[1, 2], [0, 0]]}, r"layer_loads\[1\] is all zero"),
        ({"layer_loads": [[1], [2]]}, "at least 2 experts"),
        ({"layer_loads": [[1, -1]]}, "layer_loads must be non-negative"),
        ({"layer_loads": [[1, 2]], "layers": [0, 1]}, "layers has 2 ids for 1 rows"),
        ({"layer_loads": [[1, 2], [1, 2]], "layers": [3, 3]}, "layers must be distinct"),
        ({"layer_loads": [[1, 2]], "num_tokens": [1]}, r"num_tokens\[0\] = 1 is less than the 2 tokens"),
        ({"layer_loads": [[1, 2]], "num_tokens": [3, 3]}, "num_tokens has 2 values for 1 layers"),
        ({"layer_loads": [[1, 2]], "order": "size"}, "order must be one of 'given', 'load'"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_expert_load_layers(**kwargs)


def test_the_results_file_checks_num_tokens(tmp_path):
    from figkit import write_results

    bad = sections()
    bad["expert_load"][1]["num_tokens"] = 100
    with pytest.raises(ValueError, match=r"expert_load\[1\]\.num_tokens: 100 tokens, but expert 3 was routed 130"):
        write_results(tmp_path / "r.json", **bad)


def test_every_load_grid_shares_one_log_scale_of_an_even_load():
    """1/8 to 8 times an even load in every grid, however uneven its data, so a colour means one load."""
    ticks, labels = ratio_ticks()
    assert ticks == [2.0**p for p in range(-3, 4)] and labels == ["1/8", "1/4", "1/2", "even", "2", "4", "8"]
    for loads in ([[3, 1, 2, 2]], [[1000] + [1] * 15]):
        norm = plot_expert_load_layers(loads).axes[0].images[0].norm
        even = 100 / len(loads[0])
        assert (norm.vmin, norm.vmax) == pytest.approx((even / 8, even * 8))


def test_the_key_for_no_load_appears_only_when_an_expert_has_none():
    full = plot_expert_load_layers([[3, 1, 2, 2], [1, 1, 3, 3]]).axes[0].images[0].colorbar
    dead = plot_expert_load_layers([[3, 0, 2, 3], [1, 1, 3, 3]]).axes[0].images[0].colorbar
    assert [t.get_text() for t in dead.ax.texts] == ["none"] and not full.ax.texts
    assert dead.ax.texts[0].get_bbox_patch().get_facecolor()[:3] == pytest.approx((0.6, 0.6, 0.6))  # the grey
    assert (full.extend, dead.extend) == ("neither", "neither")  # every nonzero share within 1/8 to 8 times
    extends = [  # 16 experts, even 1/16: 100 of 115 routings is 13.9 times even; 1 of 1,015 is 1/63
        plot_expert_load_layers([[busiest] + [1] * 15]).axes[0].images[0].colorbar.extend for busiest in (100, 1000)
    ]
    assert extends == ["max", "both"]
