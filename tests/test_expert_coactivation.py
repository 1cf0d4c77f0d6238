"""Expert co-activation: P(b | a) over all pairs of each token's experts, checked by hand and with numpy."""

import numpy as np
import pytest

from figkit import plot_expert_coactivation
from tests import real_routing
from tests.helpers import coactivation, rounded_up


def drawn(fig):
    return np.ma.filled(fig.axes[0].images[0].get_array().astype(float), np.nan)


def test_a_hand_made_case():
    # four tokens: {0, 1}, {0, 1}, {0, 2}, {1}
    mask = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    fig = plot_expert_coactivation(coactivation(mask))
    expected = 100 * np.array([[np.nan, 2 / 3, 1 / 3], [2 / 3, np.nan, 0], [1, 0, np.nan]])
    np.testing.assert_allclose(drawn(fig), expected)  # rows: routed to; columns: also routed to
    ax = fig.axes[0]
    assert ax.get_title() == "Expert co-activation"  # all three shown: no note
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert fig.axes[1].get_ylabel() == "Tokens also routed (%)"


def test_real_routing_against_numpy():
    logits, _, _ = real_routing.load()
    layer = real_routing.SHOWN_LAYER
    counts = real_routing.bh_counts(real_routing.p_values(logits[layer]), 0.05)
    mask = real_routing.keep_largest(logits[layer], counts)
    fig = plot_expert_coactivation(coactivation(mask), top_experts=12)
    pairs = mask.T.astype(int) @ mask.astype(int)
    # the experts met first going down the pairs by count (ties: the busier pair first)
    a, b = np.triu_indices(64, k=1)
    order = sorted(range(a.size), key=lambda i: (-pairs[a[i], b[i]], -(pairs[a[i], a[i]] + pairs[b[i], b[i]])))
    chosen = []
    for i in order:
        for e in (a[i], b[i]):
            if e not in chosen:
                chosen.append(e)
    chosen = sorted(chosen[:12])
    share = 100 * pairs[np.ix_(chosen, chosen)] / np.diag(pairs)[chosen][:, None]
    np.fill_diagonal(share, np.nan)
    np.testing.assert_allclose(drawn(fig), share)
    assert fig.axes[0].get_title().splitlines()[1].startswith("12 of 64 experts")
    assert int(fig.axes[0].get_yticklabels()[0].get_text()) == chosen[0]


@pytest.mark.parametrize(
    "counts, kwargs, message",
    [
        ([[1, 0, 0], [0, 1, 0]], {}, "coactivation must be square"),
        ([[1, 2], [2, 3]], {}, r"coactivation\[0\]\[1\] = 2 is more than coactivation\[0\]\[0\] = 1"),
        ([[1, 0], [0, -1]], {}, "coactivation must be non-negative"),
        ([[1, 0], [0, 1]], {"top_experts": 1}, "top_experts must be an integer of at least 2"),
    ],
)
def test_errors(counts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_expert_coactivation(counts, **kwargs)


def test_the_methods_of_one_layer_share_one_colour_scale(study):
    from figkit.plots import figure_spec

    spec = figure_spec("expert_coactivation")
    first = study["coactivation"][0]
    halved = np.asarray(first["counts"]) // 2
    np.fill_diagonal(halved, np.diag(np.asarray(first["counts"])))  # half the pairs: a paler method
    other = {**first, "method": next(m["id"] for m in study["methods"] if m["id"] != first["method"])}
    other["counts"] = halved.tolist()
    jobs = list(spec.jobs({**study, "coactivation": [first, other]}))
    top = np.nanmax(spec.prepare(first["counts"]).percent)
    for job in jobs:
        image = spec.plot(spec.prepare(**job.arguments)).axes[0].images[0]
        assert image.get_clim() == (0.0, rounded_up(top))  # the colour bar ends at a round number, labelled
        assert any(tick == rounded_up(top) for tick in image.colorbar.get_ticks())
        assert (
            f"The colour scale, 0 to {rounded_up(top).expected:g}%, is that of the other method's figure too."
            in job.caption[-1]
        )
    with pytest.raises(ValueError, match="percent_max must be a number in"):
        plot_expert_coactivation(first["counts"], percent_max=0)


def test_the_caption_names_the_strongest_pair_with_its_counts():
    # 30 of expert 0's 40 tokens also go to 1; 20 of expert 2's 21 go to 1, but 21 tokens are too few to quote
    counts = np.array([[40, 30, 8], [30, 80, 20], [8, 20, 21]])
    from figkit.plots import figure_spec

    results = {"methods": [{"id": "bh", "label": "BH"}], "coactivation": [{"method": "bh", "counts": counts.tolist()}]}
    (job,) = figure_spec("expert_coactivation").jobs(results)
    assert "The strongest: 75% of expert 0's tokens also go to expert 1 (30 of 40)." in job.caption[-1]


def test_the_methods_of_one_layer_show_one_set_of_experts(real_study):
    from figkit.plots import figure_spec
    from figkit.plots.expert_coactivation import _most_coactivated

    spec = figure_spec("expert_coactivation")
    jobs = list(spec.jobs(real_study))
    assert len(jobs) == 2
    together = sum(np.asarray(e["counts"], dtype=float) for e in real_study["coactivation"])
    expected = _most_coactivated(together, 12).tolist()
    for job in jobs:
        data = spec.prepare(**job.arguments)
        assert data.experts.tolist() == expected  # cells compare one to one across the methods
        counts = np.asarray(job.arguments["coactivation"], dtype=float)
        shown = counts[np.ix_(expected, expected)]
        with np.errstate(invalid="ignore", divide="ignore"):  # an expert this method never used: no row
            drawn = np.where(np.eye(12, dtype=bool), np.nan, 100 * shown / np.diag(shown)[:, None])
        np.testing.assert_allclose(data.percent, np.where(np.isfinite(drawn), drawn, np.nan))
    with pytest.raises(ValueError, match="experts must be two or more distinct expert ids below 64"):
        plot_expert_coactivation(real_study["coactivation"][0]["counts"], experts=[3, 3])
