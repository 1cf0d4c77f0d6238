"""Vocabulary specialisation and each expert's top tokens: by hand, against plain Python, from RoutingStats."""

from collections import Counter

import numpy as np
import pytest
import torch

from figkit import plot_vocabulary_specialization, write_results
from figkit.plots import figure_spec
from figkit.plots.vocabulary_specialization import random_level
from figkit.routing import RoutingStats, bh
from figkit.stats import expert_tokens, vocabulary_counts
from figkit.tables import create_expert_token_table
from tests import real_routing
from tests.helpers import sections

SPEC = figure_spec("vocabulary_specialization")


def _kept_counts(results, layer):
    """Top-8's occurrences and id counts of ``layer`` in a results file's vocabulary section."""
    entry = next(
        e
        for e in results["vocabulary"]
        if e["method"] == "topk8" and e.get("layer") == layer and e.get("token", "input") == "input"
    )
    return entry["occurrences"], entry["id_count"]


def by_hand(token_ids, mask):
    """Per token id: occurrences and routings to its most frequent expert, with plain Python."""
    routed, seen = {}, Counter(token_ids.tolist())
    for token, row in zip(token_ids.tolist(), mask):
        for expert in np.flatnonzero(row):
            routed[token, int(expert)] = routed.get((token, int(expert)), 0) + 1
    top = {t: max((n for (u, _), n in routed.items() if u == t), default=0) for t in seen}
    return seen, top, routed


def test_counts_of_real_routing_against_plain_python():
    logits, token_ids, _ = real_routing.load()
    mask = real_routing.keep_largest(logits[3], real_routing.bh_counts(real_routing.p_values(logits[3]), 0.05))
    seen, top, routed = by_hand(token_ids, mask)
    occurrences, top_routings, id_count = vocabulary_counts(token_ids, mask)
    assert Counter((seen[t], top[t]) for t in seen) == dict(
        zip(zip(occurrences.tolist(), top_routings.tolist()), id_count.tolist())
    )
    tokens, routings, occurrences = expert_tokens(token_ids, mask, n=5)
    listed = 0
    for expert in range(64):  # by the share of a token's occurrences routed here, among tokens seen 10 times
        ranked = sorted(
            ((n / seen[t], n, -t) for (t, e), n in routed.items() if e == expert and seen[t] >= 10), reverse=True
        )[:5]
        assert tokens[expert] == [-t for *_, t in ranked] and routings[expert] == [n for _, n, _ in ranked]
        assert occurrences[expert] == [seen[-t] for *_, t in ranked]
        listed += len(ranked)
    assert listed > 20  # the slice has enough frequent tokens for the ranking to say something


def test_tokens_most_specialised_to_an_expert_come_first_not_the_most_frequent():
    # id 1 ("the") is everywhere: 50 of its 1,000 tokens reach expert 0; id 2 sends all 12 of its tokens there
    token_ids = np.array([1] * 1000 + [2] * 12 + [3] * 5)
    mask = np.zeros((token_ids.size, 2), dtype=bool)
    mask[:50, 0] = mask[50:1000, 1] = True
    mask[1000:, 0] = True  # id 3 too, but seen 5 times only: below the 10 a share needs
    tokens, routings, occurrences = expert_tokens(token_ids, mask)
    assert tokens[0] == [2, 1] and routings[0] == [12, 50] and occurrences[0] == [12, 1000]
    assert expert_tokens(token_ids, mask, min_occurrences=1)[0][0] == [2, 3, 1]


def test_routing_stats_write_the_same_counts_and_merge(tmp_path):
    logits, token_ids, _ = real_routing.load()
    layers = list(range(16))
    rule = bh(0.05, max_k=8)
    selection = rule.select(torch.from_numpy(logits), layers)
    ids = torch.from_numpy(token_ids)
    shards = []
    for part in torch.arange(len(ids)).chunk(2):
        stats = RoutingStats(layers, 64, coactivation=False)
        batch = type(selection)(*(t[:, part] for t in (selection.mask, selection.weights, selection.counts)))
        stats.add("bh05", batch, ids[part])
        shards.append(stats)
    written = (shards[0] + shards[1]).results(layers=[7])["vocabulary"]
    assert [e["layer"] for e in written] == layers
    for entry in written:
        mask = selection.mask[layers.index(entry["layer"])].numpy()
        expected = vocabulary_counts(token_ids, mask)
        assert [entry["occurrences"], entry["top_expert_routings"], entry["id_count"]] == [a.tolist() for a in expected]
        assert ("expert_tokens" in entry) == (entry["layer"] == 7)
    tokens, routings, occurrences = expert_tokens(token_ids, selection.mask[7].numpy())
    assert written[7]["expert_tokens"] == tokens and written[7]["expert_token_routings"] == routings
    assert written[7]["expert_token_occurrences"] == occurrences
    write_results(tmp_path / "r.json", methods=[{"id": "bh05"}], model={"num_experts": 64}, vocabulary=written)


def test_a_hand_made_case():
    # layer 0: a token seen 10 times, 10 to its top expert; another 20 times, 5 to its top expert
    vocabulary = {
        "Top-2": {
            0: {"occurrences": [10, 20], "top_expert_routings": [10, 5]},
            1: {"occurrences": [10, 20, 3], "top_expert_routings": [4, 20, 3], "id_count": [1, 1, 7]},
        }
    }
    fig = plot_vocabulary_specialization(vocabulary)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0, 1])
    np.testing.assert_allclose(
        line.get_ydata(), [100 * (1 + 0.25) / 2, 100 * (0.4 + 1) / 2]
    )  # the 3-times ids left out
    assert "tokens seen ≥10 times" in fig.axes[0].get_title()
    low = plot_vocabulary_specialization(vocabulary, min_occurrences=3)
    assert low.axes[0].lines[0].get_ydata()[1] == pytest.approx(100 * (0.4 + 1 + 7) / 9)


def test_the_real_build_has_the_figure_and_the_tables(real_study):
    (job,) = SPEC.jobs(real_study)
    caption = "".join(job.caption)
    logits, token_ids, _ = real_routing.load()
    frequent = int((np.bincount(token_ids) >= 10).sum())
    assert f"seen at least 10 times ({frequent} ids)" in caption
    data = SPEC.prepare(**job.arguments)
    mask = real_routing.keep_largest(logits[5], np.full(len(token_ids), 8))
    seen, top, _ = by_hand(token_ids, mask)
    expected = 100 * np.mean([top[t] / n for t, n in seen.items() if n >= 10])
    label, layers, means, counted = data.methods[0]
    assert label == "Top-8" and counted == frequent and means[list(layers).index(5)] == pytest.approx(expected)
    # The floor routing at random would give: experts per token over experts, 8 / 64 for top-8.
    level = random_level(*_kept_counts(real_study, 5), 8 / 64, 64)
    assert job.arguments["experts_per_token"]["Top-8"][5] == 8 and job.arguments["num_experts"] == 64
    assert "Top-8 (" in caption and "at random)" in caption
    np.testing.assert_allclose(SPEC.prepare(**job.arguments).chance["Top-8"][1][list(layers).index(5)], level)
    assert "share of its occurrences routed to its most frequent expert" in caption


def test_the_token_table_shows_tokens_literally():
    strings = {1: " the", 2: "\n", 3: "$x$", 4: "{", 5: " ", 6: "\ufeff"}
    tokens, routings = [[1, 2], [3, 4, 5, 6], []], [[9, 1], [3, 3, 2, 1], []]
    latex = create_expert_token_table(tokens, strings, routings=routings)
    rows = latex.split("\\figkitendhead\n")[1].split("\\bottomrule")[0].splitlines()
    assert rows == [  # the busiest expert first; an expert with no tokens is left out
        r"0 & \texttt{\textvisiblespace{}the} \texttt{\textbackslash{}n} \\",
        r"1 & \texttt{\$x\$} \texttt{\{} \texttt{\textvisiblespace{}} \texttt{\textbackslash{}ufeff} \\",
    ]
    markdown = create_expert_token_table(tokens, strings, "markdown", experts=[1])
    assert markdown.splitlines()[2] == "| 1 | $x$ { ␣ \\\\ufeff |"
    shares = create_expert_token_table(
        tokens, strings, "markdown", routings=routings, occurrences=[[10, 4], [3, 6, 2, 4], []]
    )
    assert shares.splitlines()[0] == "| Expert | Most specialised tokens (share routed to the expert) |"
    assert shares.splitlines()[2] == "| 0 | ␣the 90% ↵ 25% |"
    with pytest.raises(ValueError, match=r"experts \[3\] are not among the 3 experts"):
        create_expert_token_table(tokens, strings, experts=[3])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocabulary": {"a": {0: {"occurrences": [3], "top_expert_routings": [3]}}}}, "no token was seen 10 times"),
        ({"vocabulary": {"a": {0: {"occurrences": [12], "top_expert_routings": [13]}}}}, "13 routings to one expert"),
        ({"vocabulary": {"a": {0: {"occurrences": [12]}}}}, "must hold occurrences and top_expert_routings"),
        ({"vocabulary": {"a": {}}}, "must map each layer"),
        (
            {"vocabulary": {"a": {0: {"occurrences": [12], "top_expert_routings": [1]}}}, "min_occurrences": 0},
            "min_occ",
        ),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_vocabulary_specialization(**kwargs)


def test_the_results_file_checks_vocabulary(tmp_path):
    entry = {"method": "topk2", "layer": 1, "occurrences": [12, 3], "top_expert_routings": [12, 4], "id_count": [1, 2]}
    with pytest.raises(ValueError, match=r"vocabulary\[0\]\.top_expert_routings\[1\]: 4 routings to one expert of a"):
        write_results(tmp_path / "r.json", **(sections() | {"vocabulary": [entry]}))
    entry["top_expert_routings"] = [12, 3]
    with pytest.raises(ValueError, match=r'vocabulary\[0\]\.token: must be "input" \(the token routed\) or "next"'):
        write_results(tmp_path / "r.json", **(sections() | {"vocabulary": [entry | {"token": "output"}]}))
    twice = [entry, entry | {"token": "next"}]  # one of each kind per method and layer
    assert len(write_results(tmp_path / "ok.json", **(sections() | {"vocabulary": twice})).read_text()) > 0
    with pytest.raises(ValueError, match=r"vocabulary\[0\]: give expert_tokens and expert_token_routings together"):
        write_results(tmp_path / "r.json", **(sections() | {"vocabulary": [entry | {"expert_tokens": [[1]] * 8}]}))


def test_next_tokens_are_counted_by_the_id_that_follows():
    logits, token_ids, _ = real_routing.load()
    sequence = np.load(real_routing.SLICE)["sequence"]
    following = np.where(np.r_[sequence[1:] == sequence[:-1], False], np.r_[token_ids[1:], 0], -1)
    selection = bh(0.05, max_k=8).select(torch.from_numpy(logits), list(range(16)))
    stats = RoutingStats(list(range(16)), 64, coactivation=False)
    stats.add("bh05", selection, torch.from_numpy(token_ids), next_token_ids=torch.from_numpy(following))
    written = [e for e in stats.results()["vocabulary"] if e.get("token") == "next"]
    assert [e["layer"] for e in written] == list(range(16))
    known = following >= 0
    for entry in written:
        mask = selection.mask[entry["layer"]].numpy()[known]
        expected = vocabulary_counts(following[known], mask)
        assert [entry["occurrences"], entry["top_expert_routings"], entry["id_count"]] == [a.tolist() for a in expected]
    both = {
        "a": {
            0: {"occurrences": [10], "top_expert_routings": [9]},
            1: {"occurrences": [10], "top_expert_routings": [5]},
        }
    }
    after = {
        "a": {
            0: {"occurrences": [10], "top_expert_routings": [3]},
            1: {"occurrences": [10], "top_expert_routings": [4]},
        }
    }
    fig = plot_vocabulary_specialization(both, next_tokens=after)
    solid, dashed = fig.axes[0].lines
    assert dashed.get_linestyle() == ":" and dashed.get_color() == solid.get_color()
    np.testing.assert_allclose(dashed.get_ydata(), [30, 40])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["a", "by the token's id", "by the next token's id"]
    with pytest.raises(ValueError, match="next_tokens names 'b', which is not a method of vocabulary"):
        plot_vocabulary_specialization(both, next_tokens={"b": after["a"]})


def test_the_random_routing_level_matches_a_simulation_of_random_top_k():
    """Independent check: route each occurrence of a token to 8 of 64 experts at random (numpy), take the
    share its most frequent expert gets; the closed form (experts as independent) agrees within 1 point."""
    rng = np.random.default_rng(7)
    for n in (10, 20, 50):
        trials = 4000
        picks = np.argsort(rng.random((trials, n, 64)), axis=2)[:, :, :8]
        counts = np.zeros((trials, 64))
        for occurrence in range(n):
            np.add.at(counts, (np.arange(trials)[:, None], picks[:, occurrence]), 1)
        simulated = 100 * (counts.max(axis=1) / n).mean()
        assert random_level([n], [1], 8 / 64, 64) == pytest.approx(simulated, abs=1.0)
    assert random_level([10], [1], 8 / 64, 64) == pytest.approx(41, abs=1.5)  # far above 8/64 = 12.5 %


def test_each_method_s_random_routing_level_is_drawn_in_its_colour():
    layer = {"occurrences": [10, 40], "top_expert_routings": [9, 30], "id_count": [3, 1]}
    vocabulary = {"Top-8": {0: layer, 1: layer}, "BH": {0: layer, 1: layer}}
    per_token = {"Top-8": 8, "BH": {0: 1.5, 1: 3.0}}
    fig = plot_vocabulary_specialization(vocabulary, experts_per_token=per_token, num_experts=64)
    ax = fig.axes[0]
    levels = {line.get_color(): line.get_ydata() for line in ax.lines if line.get_linestyle() == "-."}
    series = {line.get_label(): line.get_color() for line in ax.lines if line.get_linestyle() == "-"}
    expected = (3 * random_level([10], [1], 1.5 / 64, 64) + random_level([40], [1], 1.5 / 64, 64)) / 4
    np.testing.assert_allclose(levels[series["BH"]][0], expected)
    assert levels[series["Top-8"]][0] == pytest.approx(random_level([10, 40], [3, 1], 8 / 64, 64))
    assert "random routing, per method" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="experts_per_token names 'top-8', which is not a method of vocabulary"):
        plot_vocabulary_specialization(vocabulary, experts_per_token={"top-8": 8}, num_experts=64)
    with pytest.raises(ValueError, match="experts_per_token needs num_experts"):
        plot_vocabulary_specialization(vocabulary, experts_per_token={"BH": 2})
