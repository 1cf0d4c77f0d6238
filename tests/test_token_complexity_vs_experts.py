import numpy as np
import pytest
from matplotlib.collections import PathCollection, QuadMesh
from scipy import stats as sps

from figkit import plot_token_complexity_vs_experts
from tests.helpers import bin_means, named_tokens, pdf_text


def statistics(ax):
    """The statistics note above the axes (the caption carries them in the paper style), on one line."""
    return " ".join(ax.get_title().split())


def tokens(rng, n):
    ids = np.minimum(rng.zipf(1.3, n), 50_000) - 1
    experts = np.clip(np.round(3 + 0.4 * np.log10(ids + 1) + rng.normal(0, 1, n)), 1, 8).astype(int)
    return ids, experts


def assert_column_shares(ax, frequency, experts):
    """The density's cells are, per frequency bin, the share of its tokens selecting each count: recomputed
    with numpy from the bins the figure draws, every token in exactly one bin and no bin under 50 tokens."""
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    coordinates = mesh.get_coordinates()
    x_edges, y_edges = coordinates[0, :, 0], coordinates[:, 0, 1]
    bins = np.clip(np.searchsorted(x_edges, frequency, side="right") - 1, 0, x_edges.size - 2)
    assert np.all((frequency >= x_edges[0]) & (frequency <= x_edges[-1]))
    expected = np.histogram2d(bins, experts, bins=[np.arange(x_edges.size), y_edges])[0].T
    assert expected.sum(axis=0).min() >= 50
    drawn = np.ma.filled(mesh.get_array(), np.nan).reshape(expected.shape)
    np.testing.assert_allclose(np.nan_to_num(drawn), 100 * expected / expected.sum(axis=0), rtol=1e-9, atol=1e-9)
    assert np.array_equal(np.isnan(drawn), expected == 0)  # no token: the background


def test_scatter_trend_and_correlations(as_input, rng):
    ids, experts = tokens(rng, 400)
    ax = plot_token_complexity_vs_experts(as_input(ids), as_input(experts)).axes[0]
    x = 1 / (ids + 1.0)
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([x, experts]))
    slope, intercept = np.polyfit(np.log10(x), experts, 1)
    fit = next(line for line in ax.lines if line.get_label().startswith("y = "))
    np.testing.assert_allclose(fit.get_ydata(), slope * np.log10(fit.get_xdata()) + intercept, rtol=1e-9)
    assert f"{slope:.2f}".replace("-", "\N{MINUS SIGN}") in fit.get_label()
    text = statistics(ax)
    r = sps.pearsonr(np.log10(x), experts).statistic
    rho = sps.spearmanr(x, experts).statistic
    assert f"Pearson r: {r:.2f}".replace("-", "\N{MINUS SIGN}") in text
    assert f"Spearman \N{GREEK SMALL LETTER RHO}: {rho:.2f}".replace("-", "\N{MINUS SIGN}") in text
    assert ax.get_xlabel() == "Token frequency proxy 1/(id + 1)"
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize("density", [False, True])
def test_bin_means_and_intervals_match_scipy(rng, density):
    """Each bin's dot is the mean experts of the tokens in the bin, its bar the 95 % Student-t interval
    (scipy), at the bin's centre in log frequency; the bins are the density's columns."""
    ids, experts = tokens(rng, 3000)
    ax = plot_token_complexity_vs_experts(ids, experts, density=True).axes[0]
    _, edges = bin_means(ax)
    if not density:
        ax = plot_token_complexity_vs_experts(ids, experts, density=False).axes[0]
    (means,) = ax.containers
    dots = means.lines[0]
    bars = means.lines[2][0].get_segments()
    proxy = 1 / (ids + 1.0)
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        inside = experts[(proxy >= low) & (proxy < high)]
        assert inside.size >= 50
        interval = sps.t.interval(0.95, inside.size - 1, loc=inside.mean(), scale=sps.sem(inside))
        assert dots.get_xdata()[i] == pytest.approx(np.sqrt(low * high))
        assert dots.get_ydata()[i] == pytest.approx(inside.mean())
        np.testing.assert_allclose(bars[i][:, 1], interval)


def test_real_frequency_is_used_and_named(rng):
    ids, experts = tokens(rng, 300)
    frequency = np.bincount(ids)[ids] / ids.size
    ax = plot_token_complexity_vs_experts(ids, experts, token_frequency=frequency).axes[0]
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(points.get_offsets()[:, 0], frequency)
    assert ax.get_xlabel() == "Token frequency in corpus"


@pytest.mark.slow
def test_many_tokens_become_a_density_image_with_every_token_counted(rng, tmp_path):
    ids, experts = tokens(rng, 1_000_000)
    path = tmp_path / "complexity.pdf"
    fig = plot_token_complexity_vs_experts(ids, experts, save_path=path)
    assert_column_shares(fig.axes[0], 1 / (ids + 1.0), experts)
    assert not any(isinstance(c, PathCollection) for c in fig.axes[0].collections)
    assert path.stat().st_size < 300 * 1024


@pytest.mark.parametrize("measured", [False, True])
def test_aggregated_tokens_give_the_statistics_of_every_token(rng, measured):
    ids, experts = tokens(rng, 20_000)
    frequency = np.bincount(ids)[ids] / ids.size if measured else None
    fig = plot_token_complexity_vs_experts(ids, experts, token_frequency=frequency)
    x = np.log10(frequency if measured else 1 / (ids + 1.0))
    slope, intercept = np.polyfit(x, experts, 1)
    fit = next(line for line in fig.axes[0].lines if line.get_label().startswith("y = "))
    np.testing.assert_allclose(fit.get_ydata(), slope * np.log10(fit.get_xdata()) + intercept, rtol=1e-9)
    text = statistics(fig.axes[0])
    assert f"Pearson r: {sps.pearsonr(x, experts).statistic:.2f}".replace("-", "\N{MINUS SIGN}") in text
    assert (
        f"Spearman \N{GREEK SMALL LETTER RHO}: {sps.spearmanr(x, experts).statistic:.2f}".replace("-", "\N{MINUS SIGN}")
        in text
    )
    assert "Tokens: 20,000" in text


@pytest.mark.parametrize("n", [3000, 40_000])
def test_tokens_aggregated_by_id_draw_what_the_tokens_one_by_one_draw(rng, n):
    """A results file's token_stats (cells with token counts) against the same tokens listed singly."""
    ids, experts = tokens(rng, n)
    frequency = np.bincount(ids)[ids] / n
    cells, where = np.unique(ids * 16 + experts, return_inverse=True)
    counts = np.bincount(where)
    cell_frequency = np.bincount(ids)[cells // 16] / n
    one_by_one = plot_token_complexity_vs_experts(ids, experts, token_frequency=frequency, tokenizer=str).axes[0]
    aggregated = plot_token_complexity_vs_experts(
        cells // 16, cells % 16, token_frequency=cell_frequency, tokens=counts, tokenizer=str
    ).axes[0]
    assert statistics(aggregated) == statistics(one_by_one)
    assert [t.get_text() for t in aggregated.texts] == [t.get_text() for t in one_by_one.texts]
    for mine, theirs in zip(aggregated.collections, one_by_one.collections):
        drawn = np.ma.filled(mine.get_array(), 0) if isinstance(mine, QuadMesh) else mine.get_offsets()
        expected = np.ma.filled(theirs.get_array(), 0) if isinstance(theirs, QuadMesh) else theirs.get_offsets()
        if isinstance(mine, PathCollection):  # points come in another order: compare them sorted
            drawn, expected = np.sort(drawn, axis=0), np.sort(expected, axis=0)
        np.testing.assert_allclose(drawn, expected)
    assert f"Tokens: {n:,}" in statistics(aggregated)


def test_frequencies_that_differ_within_one_id_are_used_token_by_token(rng):
    ids, experts = tokens(rng, 8000)
    frequency = rng.uniform(1e-5, 1e-1, ids.size)
    fig = plot_token_complexity_vs_experts(ids, experts, token_frequency=frequency, tokenizer=str)
    rho = sps.spearmanr(frequency, experts).statistic
    assert f"{rho:.2f}".replace("-", "\N{MINUS SIGN}") in statistics(fig.axes[0])
    assert_column_shares(fig.axes[0], frequency, experts)
    assert len(named_tokens(fig.axes[0])) > 0


@pytest.mark.slow
def test_tokenizer_labels_are_literal(tmp_path, rng):
    class Tokenizer:
        def decode(self, token_ids):
            return {0: "$", 1: "50%", 2: "a_b", 3: "\\", 4: "{"}.get(token_ids[0], f"tok{token_ids[0]}")

    ids = np.arange(5)
    path = tmp_path / "c.pdf"
    frequency = [1e-4, 1e-3, 1e-2, 1e-1, 0.9]  # far enough apart on the top axis for every name
    fig = plot_token_complexity_vs_experts(
        ids, [3, 4, 3, 6, 5], tokenizer=Tokenizer(), token_frequency=frequency, save_path=path
    )
    labels = sorted(name for name, _ in named_tokens(fig.axes[0]))
    assert labels == sorted(["$", "50%", "a_b", "\\", "{"])
    text = pdf_text(path)
    for label in labels:
        assert label in text


def test_tokenizer_kinds():
    class HuggingFaceLike:
        def convert_ids_to_tokens(self, token_id):
            return f"<{token_id}>"

    ax = plot_token_complexity_vs_experts([1, 2], [3, 4], tokenizer=HuggingFaceLike()).axes[0]
    assert {name for name, _ in named_tokens(ax)} <= {"<1>", "<2>"}
    ax = plot_token_complexity_vs_experts([1, 2], [3, 4], tokenizer=lambda i: f"#{i}").axes[0]
    assert {name for name, _ in named_tokens(ax)} <= {"#1", "#2"}
    ax = plot_token_complexity_vs_experts(
        [1, 2, 3], [3, 4, 5], tokenizer={1: " the", 3: "ion"}, token_frequency=[0.001, 0.01, 0.5]
    ).axes[0]
    assert {name for name, _ in named_tokens(ax)} == {"\N{OPEN BOX}the", "ion"}  # 2 has none
    with pytest.raises(TypeError, match="tokenizer must be a mapping of token ids to text, have decode"):
        plot_token_complexity_vs_experts([1, 2], [3, 4], tokenizer=object())


def test_constant_counts_say_the_correlation_is_undefined():
    ax = plot_token_complexity_vs_experts([1, 5, 9], [4, 4, 4]).axes[0]
    assert "Pearson r: undefined (constant input)" in statistics(ax)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([1, 2], [3]), {}, r"token_ids \(2\) and expert_counts \(1\) must have same length"),
        (([1, -2], [3, 4]), {}, "token_ids must be non-negative"),
        (([1, 2], [3, 4]), {"token_frequency": [0.1, 0.0]}, r"token_frequency\[1\] must be positive"),
        (([1, 2], [3, 4]), {"token_frequency": [0.1]}, r"token_ids \(2\) and token_frequency \(1\)"),
        (([1.5], [3]), {}, "token_ids must hold whole numbers"),
    ],
)
def test_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_token_complexity_vs_experts(*args, **kwargs)


def test_discrete_frequencies_leave_no_empty_stripe(rng):
    """A corpus frequency takes few values (k / N): even log bins between them are joined, none is empty."""
    ids = rng.integers(0, 3000, 20_000)
    frequency = np.bincount(ids)[ids] / ids.size
    experts = rng.integers(1, 9, ids.size)
    ax = plot_token_complexity_vs_experts(ids, experts, token_frequency=frequency).axes[0]
    assert_column_shares(ax, frequency, experts)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    cells = np.ma.filled(mesh.get_array(), np.nan).reshape(8, -1)
    assert not np.isnan(cells).all(axis=0).any()  # every column holds tokens
    np.testing.assert_allclose(np.nansum(cells, axis=0), 100)
