"""Router confidence: top-1 probability, entropy and BH's smallest p-value per layer, by hand, against numpy and
scipy, and in the figure."""

import numpy as np
import pytest
import torch

from figkit import load_results, plot_router_confidence, write_results
from figkit.plots import figure_spec
from figkit.results.sections.router_confidence import P_VALUE_DECADES
from figkit.routing import CalibratedNull, RoutingStats, bh, top_k
from figkit.stats import CONFIDENCE_BINS, binned_quantiles, confidence_counts, p_value_counts
from tests import real_routing
from tests.helpers import sections

SPEC = figure_spec("router_confidence")


def test_a_hand_made_case():
    uniform = np.full((3, 4), 0.25)  # top-1 1/4, entropy 1 (the last bin holds 1 itself)
    sure = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0]])  # top-1 1, entropy 0
    counts = confidence_counts(np.vstack([uniform, sure]))
    assert np.flatnonzero(counts["top1_probability"]).tolist() == [25, 99]
    assert counts["top1_probability"][[25, 99]].tolist() == [3, 2]
    assert np.flatnonzero(counts["entropy"]).tolist() == [0, 99] and counts["entropy"][[0, 99]].tolist() == [2, 3]
    assert binned_quantiles([0, 0, 5, 0, 0], [0, 0.5, 1]).tolist() == [0.4, 0.5, 0.6]
    p = p_value_counts([1.0, 0.1, 1e-4, 1e-4 * 0.99, 1e-40, 0.0])  # -log10(p) / 40 in hundredths
    assert np.flatnonzero(p).tolist() == [0, 2, 10, 99] and p[[0, 2, 10, 99]].tolist() == [1, 1, 2, 2]


def test_bh_gives_each_tokens_smallest_p_value_as_scipy_does():
    logits, _, _ = real_routing.load()
    layers = list(range(logits.shape[0]))
    robust = bh(0.05, max_k=8).select(torch.from_numpy(logits), layers).smallest_p.numpy()
    expected = np.stack([real_routing.p_values(layer).min(axis=1) for layer in logits])
    assert (robust > 0).all() and expected.min() > 0
    np.testing.assert_allclose(np.log10(robust), np.log10(expected), atol=1e-9)
    null = CalibratedNull.fit(torch.from_numpy(logits), layers)
    calibrated = bh(0.05, null=null).select(torch.from_numpy(logits), layers)
    for layer in (0, 7):
        every = bh(0.05, null=null).p_values(torch.from_numpy(logits[layer]), layer).numpy()
        np.testing.assert_array_equal(calibrated.smallest_p[layer].numpy(), every.min(axis=1))
    assert top_k(8).select(torch.from_numpy(logits[0])).smallest_p is None  # top-k tests nothing


def test_binned_quantiles_are_the_samples_within_a_bin():
    values = np.random.default_rng(0).beta(2, 8, 100_000)
    counts = np.bincount((values * CONFIDENCE_BINS).astype(int), minlength=CONFIDENCE_BINS)
    q = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]
    np.testing.assert_allclose(binned_quantiles(counts, q), np.quantile(values, q), atol=1 / CONFIDENCE_BINS)


def test_routing_statistics_count_the_real_routers_confidence_as_numpy_does():
    logits, token_ids, _ = real_routing.load()
    layers = list(range(logits.shape[0]))
    whole, batched = RoutingStats(layers, 64), RoutingStats(layers, 64)
    router = torch.from_numpy(logits)
    for name, rule in {"topk8": top_k(8), "bh05": bh(0.05, max_k=8)}.items():
        whole.add(name, rule.select(router, layers), token_ids)
        for part in torch.arange(router.shape[1]).chunk(3):
            batched.add(name, rule.select(router[:, part], layers), token_ids[part.numpy()])
    entries = whole.results()["router_confidence"]
    assert entries == batched.results()["router_confidence"]
    assert len(entries) == len(layers) * (2 + 3)  # top-8's two measures, BH's three
    for entry in entries:
        if entry["measure"] == "smallest_p_value":
            assert entry["method"] == "bh05"
            expected = p_value_counts(real_routing.p_values(logits[entry["layer"]]).min(axis=1))
        else:
            expected = confidence_counts(real_routing.softmax(logits[entry["layer"]]))[entry["measure"]]
        assert entry["counts"] == expected.tolist(), (entry["method"], entry["layer"], entry["measure"])
    probabilities = real_routing.softmax(logits[0])
    top1 = next(e for e in entries if (e["layer"], e["measure"]) == (0, "top1_probability"))
    median = binned_quantiles(top1["counts"], 0.5)
    assert median == pytest.approx(np.median(probabilities.max(axis=1)), abs=1 / CONFIDENCE_BINS)


def test_the_figure_draws_each_layers_quantiles():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 500, 8)) * np.array([0.5, 2.0, 4.0])[:, None, None]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    fig = plot_router_confidence({"Router": probabilities}, num_experts=8)
    ax = fig.axes[0]
    median, uniform = ax.lines
    expected = [np.quantile(p.max(axis=1), 0.5) for p in probabilities]
    np.testing.assert_allclose(median.get_ydata(), expected, atol=1 / CONFIDENCE_BINS)
    assert median.get_xdata().tolist() == [0, 1, 2]
    assert uniform.get_ydata()[0] == pytest.approx(1 / 8)
    outer, inner = ax.collections
    top = outer.get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(max(np.quantile(p.max(axis=1), 0.95) for p in probabilities), abs=0.01)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Median",
        "25–75 %",
        "5–95 %",
        "Uniform, 1/8",
    ]
    assert ax.get_ylabel() == "Top-1 routing probability" and ax.get_yscale() == "log"
    assert ax.get_ylim()[0] < 1 / 8 and ax.get_ylim()[1] <= 1
    entropy = plot_router_confidence({"Router": probabilities}, measure="entropy").axes[0]
    assert entropy.lines[1].get_ydata()[0] == 1 and entropy.get_ylim()[1] >= 1
    assert entropy.lines[0].get_ydata()[2] < entropy.lines[0].get_ydata()[0]  # the sharper layer is surer


def test_a_build_draws_methods_on_one_router_as_one_and_says_so(tmp_path):
    results = load_results(write_results(tmp_path / "real.json", **real_routing.sections()))
    jobs = list(SPEC.jobs(results))
    assert [job.suffix for job in jobs] == ["_top1_probability", "_entropy", "_smallest_p_value"]
    top1 = jobs[0]
    assert list(top1.arguments["counts_by_method"]) == ["All methods"]
    caption = "".join(top1.caption)
    assert "the same for all 5 methods, which route the same router logits" in caption
    assert "over 768 tokens per layer" in caption and "Dotted: 1/64 = 0.0156, a uniform router." in caption
    assert "its largest softmax probability over all 64 experts, before any selection; logarithmic axis" in caption
    data = SPEC.prepare(**top1.arguments)
    _, layers, quantiles, _ = data.series[0]
    low = int(np.argmin(quantiles[:, 2]))
    assert f"The median is lowest in layer {layers[low]} ({quantiles[low, 2]:.2f})" in caption
    truth = np.median(real_routing.softmax(real_routing.load()[0][low]).max(axis=1))
    assert quantiles[low, 2] == pytest.approx(truth, abs=1 / CONFIDENCE_BINS)


def test_bhs_smallest_p_values_are_drawn_with_each_alphas_level(tmp_path):
    results = load_results(write_results(tmp_path / "real.json", **real_routing.sections()))
    job = next(job for job in SPEC.jobs(results) if job.suffix == "_smallest_p_value")
    caption = "".join(job.caption)
    assert "the same for all 4 methods, which test the same router logits under the same null" in caption
    assert "Dashed: α/64 for each BH method (α = 0.01, 0.05, 0.1, 0.2, light to dark): a token whose top" in caption
    assert "(sufficient, not necessary: the step-up also finds experts when the n-th smallest p-value" in caption
    assert "Tokens with a p-value at or below $10^{-40}$ are counted there (at least 5" in caption  # 1e-50 in layer 0
    assert caption.endswith("tokens in layer 0).")
    fig = SPEC.plot(SPEC.prepare(**job.arguments))
    ax = fig.axes[0]
    logits = real_routing.load()[0]
    smallest = [real_routing.p_values(layer).min(axis=1) for layer in logits]
    median = ax.lines[0]
    decades = -np.log10([np.median(p) for p in smallest])  # drawn as -log10(p), within a bin of 0.4 decades
    np.testing.assert_allclose(median.get_ydata(), decades, atol=P_VALUE_DECADES / CONFIDENCE_BINS)
    levels = [line.get_ydata()[0] for line in ax.lines[1:]]
    np.testing.assert_allclose(levels, -np.log10(np.array(real_routing.ALPHAS) / 64))
    keyed = {t.get_text() for t in ax.get_legend().get_texts()}  # in columns: the order is the layout's
    assert keyed == {"Median", "25–75 %", "5–95 %", "$\\alpha/64$, $\\alpha$ = 0.01, 0.05, 0.1, 0.2"}
    assert len({line.get_color() for line in ax.lines[1:]}) == 4  # the BH family, light to dark
    fig.canvas.draw()
    low, high = ax.get_ylim()
    ticks = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert ticks == ["1", "2", "5", "10", "20"] and ax.get_ylabel() == "Top expert's −log10 p"  # 1-2-5 on a log axis
    low, high = int(np.argmax(decades)), int(np.argmin(decades))
    assert f"is smallest in layer {low} (" in caption and f"and largest in layer {high} (" in caption


def test_methods_on_different_routers_are_drawn_in_their_colours(tmp_path):
    results = load_results(write_results(tmp_path / "r.json", **sections()))
    job = next(SPEC.jobs(results))
    assert list(job.arguments["counts_by_method"]) == ["Top-2", "BH ($\\alpha$=0.05)"]
    fig = SPEC.plot(SPEC.prepare(**job.arguments))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["Top-2", "BH ($\\alpha$=0.05)"]
    assert ax.lines[0].get_color() != ax.lines[1].get_color() and len(ax.collections) == 2  # middle halves only
    medians = [quantiles[:, 2] for _, _, quantiles, _ in SPEC.prepare(**job.arguments).series]
    assert np.ptp(medians[1]) < 0.01  # one router per method, the same in every layer: said as flat
    assert "Top-2" in job.caption and f": the median stays at {np.median(medians[1]):.2f} (within 0.01)" in "".join(
        job.caption
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()][2] == "Bands: 25–75 %"


@pytest.mark.parametrize(
    ("counts", "kwargs", "message"),
    [
        ({"a": [[1, 0], [0, -1]]}, {}, r"counts_by_method\['a'\]\[1\]: counts of tokens are whole numbers"),
        ({"a": [[0, 0], [1, 1]]}, {}, r"counts_by_method\['a'\]\[0\]: all zero"),
        ({"a": {0: [1, 2], 1: [1, 2, 3]}}, {}, "every layer's counts need the same number of bins"),
        ({"a": np.full((1, 2, 2), 0.7)}, {}, "must each sum to 1"),
        ({"a": [[1, 2]]}, {"measure": "margin"}, "measure must be one of top1_probability, entropy"),
        ({"a": np.full((1, 2, 2), 0.5)}, {"measure": "smallest_p_value"}, "p-values come from a rule's tests"),
        ({"a": [[1, 2]]}, {"alphas": {"BH": 0.05}, "num_experts": 8}, 'with measure="smallest_p_value" only'),
        ({"a": [[1, 2]]}, {"measure": "smallest_p_value", "alphas": {"BH": 0.05}}, "give num_experts"),
        ({"a": [[1, 2]]}, {"measure": "smallest_p_value", "alphas": {"BH": 5}, "num_experts": 8}, r"alphas\['BH'\]"),
        ({"a": [[1, 2]]}, {"num_experts": 0}, "num_experts must be a whole number of at least 1"),
    ],
)
def test_bad_input_is_named(counts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_router_confidence(counts, **kwargs)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"measure": "margin"}, r'measure: expected "top1_probability", "entropy" or "smallest_p_value"'),
        ({"counts": [0, 0]}, r"router_confidence\[0\]\.counts: all zero"),
        ({"counts": [1] + [0] * 99}, r"counts\[0\]: counts tokens whose top-1 probability is under 0\.01, below 1/8"),
        ({"layer": 3}, r"router_confidence\[0\]\.layer: must be at most 2"),
    ],
)
def test_bad_sections_are_named(tmp_path, entry, message):
    data = sections()
    data["router_confidence"] = [data["router_confidence"][0] | entry]
    with pytest.raises(ValueError, match=message):
        write_results(tmp_path / "r.json", **data)
