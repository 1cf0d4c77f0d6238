"""Agreement between methods: expert-set overlap and top-1 agreement per layer, by hand, against numpy and in
the figure."""

import numpy as np
import pytest
import torch

from figkit import load_results, plot_method_agreement, write_results
from figkit.plots import figure_spec
from figkit.routing import RoutingStats, Selection, bh, top_k
from tests import real_routing

SPEC = figure_spec("method_agreement")


def selection(mask, top_expert):
    mask = torch.tensor(mask, dtype=torch.bool)
    return Selection(mask, mask.float(), mask.sum(dim=-1), top_expert=torch.tensor(top_expert))


def test_a_hand_made_case():
    # one layer, three tokens, four experts: {0, 1} against {0, 2}; {3} against {3}; {} against {1}
    a = selection([[[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]], [[0, 3, 1]])
    b = selection([[[1, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0]]], [[2, 3, 1]])
    stats = RoutingStats([5], 4)
    stats.add_agreement("a", "b", a, b)
    (entry,) = stats.results()["method_agreement"]
    assert entry["layers"] == [5] and entry["num_tokens"] == 3
    assert entry["jaccard"] == pytest.approx([(1 / 3 + 1 + 0) / 3])
    assert entry["shared"] == pytest.approx([2 / 3])  # experts 0 and 3 of a's three selections
    assert entry["top1"] == pytest.approx([2 / 3])
    empty = selection([[[0, 0, 0, 0]]], [[0]])
    stats = RoutingStats([5], 4)
    stats.add_agreement("a", "b", empty, empty)  # two empty sets agree; nothing chosen, nothing missed
    (entry,) = stats.results()["method_agreement"]
    assert (entry["jaccard"], entry["shared"], entry["top1"]) == ([1.0], [1.0], [1.0])


def test_the_real_routing_against_numpy_batch_by_batch_and_merged():
    logits = torch.from_numpy(real_routing.load()[0])
    layers = list(range(logits.shape[0]))
    expected = {e["method"]: e for e in real_routing.sections()["method_agreement"]}
    shards = []
    for part in torch.arange(logits.shape[1]).chunk(2):
        shard = RoutingStats(layers, 64, coactivation=False, vocabulary=False)
        for batch in part.chunk(3):
            reference = top_k(8).select(logits[:, batch])
            for alpha in real_routing.ALPHAS:
                method = f"bh{round(alpha * 100):02d}"
                shard.add_agreement(method, "topk8", bh(alpha, max_k=8).select(logits[:, batch]), reference)
        shards.append(shard)
    written = (shards[0] + shards[1]).results()["method_agreement"]
    assert [e["method"] for e in written] == list(expected)
    for entry in written:
        numpy = expected[entry["method"]]
        assert entry["num_tokens"] == numpy["num_tokens"] and entry["layers"] == numpy["layers"]
        for measure in ("jaccard", "shared", "top1"):
            np.testing.assert_allclose(entry[measure], numpy[measure], rtol=1e-12, err_msg=measure)
    with pytest.raises(ValueError, match=r"bh05 against topk8: selections of shape \(16, 10, 64\) and \(16, 9, 64\)"):
        RoutingStats(layers, 64).add_agreement(
            "bh05", "topk8", bh(0.05).select(logits[:, :10]), top_k(8).select(logits[:, :9])
        )


def test_the_figure_draws_each_methods_shares_with_the_reference_named():
    shares = {"BH ($\\alpha$ = 0.05)": [0.2, 0.5, 0.4], "BH ($\\alpha$ = 0.2)": [0.3, 0.6, 0.55]}
    fig = plot_method_agreement(shares, reference="Top-8", layers=[3, 4, 5])
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["BH ($\\alpha$ = 0.05)", "BH ($\\alpha$ = 0.2)"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [30, 60, 55])
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [3, 4, 5])
    assert ax.get_ylabel() == "Jaccard overlap with Top-8 (%)" and ax.get_ylim() == (0, 100)
    assert ax.get_xlabel() == "Layer" and not ax.get_legend().get_title().get_text()
    top1 = plot_method_agreement({"B": [0.9, 0.8]}, reference="A", measure="top1")
    assert top1.axes[0].get_ylabel() == "Same top-1 expert as A (%)"


def test_the_build_draws_the_measures_that_differ_and_says_which_do_not(study, real_study):
    jobs = {job.suffix: "".join(job.caption) for job in SPEC.jobs(study)}  # two routers: every measure differs
    assert list(jobs) == ["_jaccard_vs_topk2", "_shared_vs_topk2", "_top1_vs_topk2"]
    assert jobs["_jaccard_vs_topk2"] == (
        "Agreement with Top-2 per layer (400 tokens): the mean over tokens of the Jaccard overlap |A ∩ B| / |A ∪ B| "
        "of the experts each method (A) and the reference (B) select for the same token. "
        "BH ($\\alpha$=0.05) from 42.0% (layer 0) to 61.0% (layer 2)."
    )
    assert not list(SPEC.jobs(real_study))  # one router, BH's experts within top-8's: the counts say it all
    (sentence,) = ["".join(parts) for parts in SPEC.omitted(real_study)]
    assert sentence == (
        "In every layer, every expert that BH ($\\alpha$ = 0.01), BH ($\\alpha$ = 0.05), BH ($\\alpha$ = 0.1) or "
        "BH ($\\alpha$ = 0.2) selects is also selected by Top-8, and the top-1 expert is the same, so their overlap "
        "is only the share of Top-8's experts they keep (experts per token over its own); no agreement figure is drawn."
    )
    same_top = dict(study, method_agreement=[dict(study["method_agreement"][0], top1=[1.0, 1.0, 1.0])])
    jobs = {job.suffix: "".join(job.caption) for job in SPEC.jobs(same_top)}
    assert list(jobs) == ["_jaccard_vs_topk2", "_shared_vs_topk2"]
    assert jobs["_shared_vs_topk2"].endswith(" In every layer, each method's top-1 expert is also Top-2's.")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"agreement": {"B": [0.5, 1.2]}}, r"agreement\['B'\]: shares must be between 0 and 1, got 1.2"),
        ({"agreement": {"B": [0.5, 0.6], "C": [0.5]}}, r"agreement\['C'\] has 1 layers, the first method 2"),
        ({"agreement": {"B": [0.5]}, "measure": "dice"}, "measure must be one of jaccard, shared, top1, got 'dice'"),
        ({"agreement": {"B": [0.5]}, "layers": [1, 2]}, "layers has 2 ids for 1 layers of agreement"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_method_agreement(reference="A", **kwargs)


def test_the_results_file_round_trip_keeps_the_shares(tmp_path):
    sections = real_routing.sections()
    loaded = load_results(write_results(tmp_path / "r.json", **sections))
    assert loaded["method_agreement"][0]["jaccard"] == pytest.approx(sections["method_agreement"][0]["jaccard"])
