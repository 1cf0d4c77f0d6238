"""Domain specialisation: each domain's share of tokens per expert, by hand, with numpy and from RoutingStats."""

import matplotlib
import numpy as np
import pytest
import torch

from figkit import load_results, plot_domain_specialization, use_style, write_results
from figkit.plots import figure_spec
from figkit.routing import RoutingStats, top_k
from tests import real_routing
from tests.helpers import sections

SPEC = figure_spec("domain_specialization")


def drawn(fig):
    """The shares drawn; an expert with no load is drawn below the scale (grey), so as 0 here."""
    return np.maximum(np.asarray(fig.axes[0].images[0].get_array(), dtype=float), 0.0)


def test_a_hand_made_case():
    # top-2 of 4 experts: 5 arXiv tokens, 2 code tokens
    loads = {"arXiv": [5, 5, 0, 0], "code": [0, 1, 2, 1]}
    fig = plot_domain_specialization(loads, num_tokens={"arXiv": 5, "code": 2}, layer=7)
    np.testing.assert_allclose(drawn(fig), [[100, 100, 0, 0], [0, 50, 100, 50]])
    ax, bar = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["arXiv", "code"]
    assert ax.get_ylabel() == "Domain" and ax.get_title() == "Load by domain, layer 7"
    assert bar.get_ylabel() == "Share of the domain's tokens, \N{MULTIPLICATION SIGN} even"
    assert ax.images[0].norm(50) == pytest.approx(0.5)  # k/E = 2/4: the middle of the scale


def test_domains_of_real_routing_from_routing_stats_equal_numpy(tmp_path):
    logits, token_ids, _ = real_routing.load()
    sequence = np.load(real_routing.SLICE)["sequence"]
    domain = np.where(sequence < 3, "first half", "second half")  # a label per token
    layers = list(range(16))
    stats = RoutingStats(layers, 64, coactivation=False)
    selection = top_k(8).select(torch.from_numpy(logits.astype(np.float32)), layers)
    half = len(domain) // 2 + 5  # two batches, the second one mixing both labels
    for part in (slice(0, half), slice(half, None)):
        batch = type(selection)(selection.mask[:, part], selection.weights[:, part], selection.counts[:, part])
        stats.add("topk8", batch, torch.from_numpy(token_ids[part]), domain=list(domain[part]))
    written = stats.results()["domain_load"]
    for entry in written:
        mask = real_routing.keep_largest(logits[entry["layer"]], np.full(len(domain), 8))
        chosen = domain == entry["domain"]
        assert entry["counts"] == mask[chosen].sum(axis=0).tolist()
        assert entry["num_tokens"] == int(chosen.sum())
    assert len(written) == 16 * 2
    results = load_results(
        write_results(tmp_path / "r.json", methods=[{"id": "topk8"}], model={"num_experts": 64}, domain_load=written)
    )
    (job,) = SPEC.jobs(results)
    assert job.suffix == "_topk8_layer8"  # the middle layer
    data = SPEC.prepare(**job.arguments)
    mask = real_routing.keep_largest(logits[8], np.full(len(domain), 8))
    expected = [100 * mask[domain == d].sum(axis=0) / mask[domain == d].sum() for d in ("first half", "second half")]
    np.testing.assert_allclose(data.share, expected)
    row, expert = np.unravel_index(np.argmax(expected), (2, 64))
    caption = "".join(job.caption)
    assert f"The largest share: {np.max(expected):.1f}% of {data.rows[row]} to expert {expert}." in caption


def test_statistics_with_domains_merge_exactly():
    logits, token_ids, _ = real_routing.load()
    selection = top_k(8).select(torch.from_numpy(logits.astype(np.float32)), list(range(16)))
    whole, parts = RoutingStats(list(range(16)), 64), []
    whole.add("topk8", selection, domain="news")
    for part in torch.arange(len(token_ids)).chunk(2):
        stats = RoutingStats(list(range(16)), 64)
        stats.add(
            "topk8",
            type(selection)(selection.mask[:, part], selection.weights[:, part], selection.counts[:, part]),
            domain="news",
        )
        parts.append(stats)
    merged = parts[0] + parts[1]
    assert merged.results()["domain_load"] == whole.results()["domain_load"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"domain_loads": {}}, "domain_loads must be a non-empty mapping"),
        ({"domain_loads": {"a": [1, 2], "b": [1, 2, 3]}}, "the same number of experts, got \\[2, 3\\]"),
        ({"domain_loads": {"a": [1, 2], "b": [0, 0]}}, "domain_loads\\['b'\\] is all zero"),
        ({"domain_loads": {"a": [1, 2]}, "num_tokens": {"b": 3}}, "num_tokens must map each domain"),
        ({"domain_loads": {"a": [1, 4]}, "num_tokens": {"a": 3}}, "num_tokens\\['a'\\] = 3 is less than the 4 tokens"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_domain_specialization(**kwargs)


def test_the_results_file_checks_domain_load(tmp_path):
    base = sections()
    entry = {"method": "topk2", "domain": "code", "layer": 1, "counts": [3, 1, 0, 0, 0, 0, 0, 0], "num_tokens": 3}
    for change, message in (
        ({"num_tokens": 1}, r"domain_load\[0\]\.num_tokens: 1 tokens, but expert 0 was routed 3 of them"),
        ({"domain": " "}, r"domain_load\[0\]\.domain: is empty"),
        ({"counts": [0] * 8}, r"domain_load\[0\]\.counts: all zero"),
    ):
        with pytest.raises(ValueError, match=message):
            write_results(tmp_path / "r.json", **(base | {"domain_load": [entry | change]}))
    with pytest.raises(
        ValueError, match=r"domain_load\[1\]: a second entry for method 'topk2', layer 1, domain 'code'"
    ):
        write_results(tmp_path / "r.json", **(base | {"domain_load": [entry, entry]}))


def test_the_grid_draws_a_bar_chart_per_domain_and_layer():
    from figkit import plot_domain_specialization_grid

    loads = {"arXiv": {0: [5, 5, 0, 0], 7: [4, 2, 2, 2]}, "code": {0: [0, 1, 2, 1], 7: [2, 2, 0, 0]}}
    with use_style("paper"):
        fig = plot_domain_specialization_grid(loads, num_tokens={"arXiv": 5, "code": {0: 2, 7: 2}})
        em = matplotlib.rcParams["font.size"] / 72
    axes = fig.axes
    assert len(axes) == 4 and fig.get_figheight() == pytest.approx((2 * 7 + 8) * em)  # 7 ems a row
    heights = [[p.get_height() for p in ax.patches] for ax in axes]
    assert heights == [[100, 100, 0, 0], [80, 40, 40, 40], [0, 50, 100, 50], [100, 100, 0, 0]]
    assert [ax.lines[0].get_ydata()[0] for ax in axes] == [50, 50, 50, 50]  # k/E = 2/4: dashed
    assert [ax.get_title() for ax in axes[:2]] == ["Layer 0", "Layer 7"]
    assert [axes[1].get_ylabel(), axes[3].get_ylabel()] == ["arXiv", "code"]  # right of each row
    assert axes[1].yaxis.get_label_position() == "right" and axes[0].get_ylabel() == ""
    with pytest.raises(ValueError, match=r"num_tokens\['code'\] gives no tokens for layer 7"):
        plot_domain_specialization_grid(loads, num_tokens={"arXiv": 5, "code": {0: 2}})  # layer 7 missing
    with pytest.raises(ValueError, match=r"domain_loads\['code'\] must map the same layers"):
        plot_domain_specialization_grid({"arXiv": {0: [1, 1]}, "code": {1: [1, 1]}}, num_tokens={"arXiv": 1, "code": 1})
    routings = plot_domain_specialization_grid(loads).axes  # without tokens: shares of the routings, even 1/E
    assert [p.get_height() for p in routings[1].patches] == [40, 20, 20, 20]
    assert routings[0].lines[0].get_ydata()[0] == 25


def test_the_build_draws_every_domain_figure_as_shares_of_routings(study):
    from figkit.plots import figure_spec

    for name in ("domain_specialization", "domain_specialization_grid"):
        jobs = list(figure_spec(name).jobs(study))
        assert jobs
        for job in jobs:
            assert "num_tokens" not in job.arguments and "routings" in "".join(job.caption)
            data = figure_spec(name).prepare(**job.arguments)
            shares = data.share if name == "domain_specialization" else data.percent
            assert f"The largest share: {shares.max():.1f}% of " in "".join(job.caption)


def test_the_example_domain_mix_adds_up():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent.parent / "paper_example"))
    import make_results
    import simulate

    entries = make_results.domain_loads(0)
    assert {e["domain"] for e in entries} == set(simulate.DOMAINS)
    assert all(sum(e["counts"]) == 8 * e["num_tokens"] == 8 * simulate.DOMAIN_TOKENS for e in entries)  # top-8
