"""Cross-layer routing: top-1 expert paths between consecutive layers, by hand, with numpy and on real routing."""

import numpy as np
import pytest

import figkit
from figkit import plot_expert_transitions, write_results
from figkit.plots import figure_spec
from tests import real_routing
from tests.helpers import sections

SPEC = figure_spec("expert_transitions")


def drawn(fig):
    return np.ma.filled(fig.axes[0].images[0].get_array().astype(float), np.nan)


def ringed(ax):
    """(row label, column label) of each ringed cell, the ring in the cell's middle."""
    rows = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    columns = dict(zip(ax.get_xticks(), (t.get_text() for t in ax.get_xticklabels())))
    (rings,) = ax.lines
    return [(rows[y], columns[x]) for x, y in zip(rings.get_xdata(), rings.get_ydata())]


def test_a_hand_made_case(as_input):
    # six tokens: top-1 0 -> 2 (three), 0 -> 1, 1 -> 2, 2 -> 2
    counts = np.array([[0, 1, 3], [0, 0, 1], [0, 0, 1]])
    fig = plot_expert_transitions(as_input(counts), layer=3, next_layer=4, top_paths=2)
    ax = fig.axes[0]
    # rows and columns: the experts met going down the paths (0 -> 2, then 0 -> 1, 1 -> 2, 2 -> 2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    np.testing.assert_allclose(drawn(fig), 100 * np.array([[1 / 4, 3 / 4], [0, 1], [0, 1]]))
    assert ringed(ax) == [("0", "2"), ("0", "1")]  # the two most frequent paths
    assert ax.get_ylabel() == "Top-1 expert in layer 3" and ax.get_xlabel() == "Top-1 expert in layer 4"
    assert ax.get_title() == "Top-1 expert paths\n3 \N{MULTIPLICATION SIGN} 2 of 3 experts"
    assert fig.axes[1].get_ylabel() == "Tokens of the row's expert (%)"


def test_real_routing_against_numpy(real_study):
    logits, _, _ = real_routing.load()
    layer = real_routing.SHOWN_LAYER
    top1 = logits.argmax(axis=-1)
    tokens = top1.shape[1]
    paths = {}
    for i, j in zip(top1[layer].tolist(), top1[layer + 1].tolist()):
        paths[i, j] = paths.get((i, j), 0) + 1
    ranked = sorted(paths, key=lambda ij: (-paths[ij], ij))  # most first, ties by expert ids
    counts = np.zeros((64, 64))
    for (i, j), n in paths.items():
        counts[i, j] = n
    (job,) = SPEC.jobs(real_study)
    data = SPEC.prepare(**job.arguments)
    assert [(i, j) for i, j, _ in data.paths] == ranked[:5]
    assert list(data.rows) == sorted(list(dict.fromkeys(i for i, _ in ranked))[:12])
    assert list(data.columns) == sorted(list(dict.fromkeys(j for _, j in ranked))[:12])
    expected = 100 * counts[np.ix_(data.rows, data.columns)] / counts[data.rows].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(drawn(SPEC.plot(data)), expected)
    caption = "".join(job.caption)
    i, j = ranked[0]
    share = 100 * paths[i, j] / tokens
    assert (
        f"{i}\N{RIGHTWARDS ARROW}{j} ({share:.{max(0, 1 - int(np.floor(np.log10(share))))}f}%)" in caption
    )  # 2 figures
    assert f"{tokens:,} tokens" in caption
    held = np.bincount(top1[layer], minlength=64)[data.rows]  # each shown row's tokens, as numpy counts them
    assert f"a row's expert holds {held.min():,} to {held.max():,} tokens" in caption
    shown = f"the {len(data.rows)} experts of layer {layer} and the {len(data.columns)} of layer {layer + 1} (of 64)"
    assert shown in caption and "Ringed: the 5 most frequent paths among all tokens" in caption
    with figkit.use_style("paper"):  # what the figure leaves out, also without its caption
        title = SPEC.plot(data).axes[0].get_title()
    assert title == f"{len(data.rows)} \N{MULTIPLICATION SIGN} {len(data.columns)} of 64 experts"


@pytest.mark.parametrize(
    "counts, kwargs, message",
    [
        ([[1, 0, 0], [0, 1, 0]], {}, "transitions must be square"),
        ([[0, 0], [0, 0]], {}, "transitions is all zero"),
        ([[1, 0], [0, -1]], {}, "transitions must be non-negative"),
        ([[1, 0], [0, 1]], {"top_experts": 1}, "top_experts must be an integer of at least 2"),
        ([[1, 0], [0, 1]], {"top_paths": -1}, "top_paths must be an integer of at least 0"),
    ],
)
def test_errors(counts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_expert_transitions(counts, **kwargs)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"next_layer": 0}, r"cross_layer\[0\]\.next_layer: must be at least 1, got 0"),
        ({"next_layer": 3}, r"cross_layer\[0\]\.next_layer: must be at most 2, got 3"),
        ({"layer": None}, r"cross_layer\[0\]\.layer: expected an integer, got null"),
        ({"counts": [[0] * 8] * 8}, r"cross_layer\[0\]\.counts: all zero"),
        ({"counts": [[1] * 8] * 7}, r"cross_layer\[0\]\.counts: has 7 entries but model\.num_experts has 8"),
    ],
)
def test_the_results_file_checks_cross_layer(tmp_path, change, message):
    bad = sections()
    bad["cross_layer"][0].update(change)
    with pytest.raises(ValueError, match=message):
        write_results(tmp_path / "r.json", **bad)
