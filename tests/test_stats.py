"""Every statistic against an independent numpy/scipy computation on random data."""

import numpy as np
import pytest
from scipy import stats as sps

from figkit.stats import CountHistogram, average_ranks, box_stats, count_kde, load_balance, trend

TOL = {"rtol": 1e-9, "atol": 1e-12}


@pytest.fixture(params=[1, 7, 1000, 100_003])
def counts(request, rng):
    return rng.binomial(12, rng.uniform(0.2, 0.7), size=request.param) + rng.integers(0, 3)


def test_histogram_moments_and_quantiles(counts):
    hist = CountHistogram.from_values(counts)
    assert hist.n == counts.size
    assert (hist.min, hist.max) == (counts.min(), counts.max())
    np.testing.assert_allclose(hist.mean, counts.mean(), **TOL)
    np.testing.assert_allclose(hist.std(), counts.std(), **TOL)
    if counts.size > 1:
        np.testing.assert_allclose(hist.std(ddof=1), counts.std(ddof=1), **TOL)
    qs = np.linspace(0, 1, 21)
    np.testing.assert_allclose(hist.quantile(qs), np.quantile(counts, qs), **TOL)
    np.testing.assert_allclose(hist.median, np.median(counts), **TOL)


def test_histogram_from_mapping_equals_from_values(counts):
    values, tokens = np.unique(counts, return_counts=True)
    mapped = CountHistogram.from_mapping(dict(zip(values.tolist(), tokens.tolist())))
    raw = CountHistogram.from_values(counts)
    assert mapped.offset == raw.offset and np.array_equal(mapped.tokens, raw.tokens)


def test_kde_equals_scipy_gaussian_kde(counts):
    hist = CountHistogram.from_values(counts)
    result = count_kde(hist)
    if np.unique(counts).size == 1:
        assert result is None
        return
    grid, density, bandwidth = result
    scott = counts.std(ddof=1) * counts.size ** (-1 / 5)
    assert bandwidth == pytest.approx(max(scott, 0.5), rel=1e-12)
    low, high = counts.min() - 0.5, counts.max() + 0.5
    assert grid[0] == low and grid[-1] == high  # no density on counts that cannot occur
    kde = sps.gaussian_kde(counts, bw_method=bandwidth / counts.std(ddof=1))
    reference = kde(grid) + kde(2 * low - grid) + kde(2 * high - grid)  # reflected at both ends
    np.testing.assert_allclose(density, reference, rtol=1e-9, atol=1e-15)
    integral = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201 - numpy 1.24, our lowest, has trapz only
    assert integral(density, grid) == pytest.approx(1, abs=2e-3)


def test_kde_uses_scotts_rule_when_wide_enough(rng):
    counts = rng.integers(0, 64, size=50)
    _, _, bandwidth = count_kde(CountHistogram.from_values(counts))
    assert bandwidth == pytest.approx(counts.std(ddof=1) * 50 ** (-1 / 5), rel=1e-12)


def test_no_kde_for_one_value_or_one_token():
    assert count_kde(CountHistogram.from_values(np.array([4, 4, 4]))) is None
    assert count_kde(CountHistogram.from_values(np.array([4]))) is None


def test_box_stats_match_matplotlib(counts, rng):
    from matplotlib.cbook import boxplot_stats

    counts = np.concatenate([counts, [0, 30]])  # outliers on both sides
    ours = box_stats(CountHistogram.from_values(counts))
    theirs = boxplot_stats(counts)[0]
    for key in ("med", "q1", "q3", "mean", "whislo", "whishi"):
        np.testing.assert_allclose(ours[key], theirs[key], **TOL)
    assert set(ours["fliers"].tolist()) == set(theirs["fliers"].tolist())


def test_load_balance_against_numpy(rng):
    load = rng.poisson(500, 64).astype(float)
    got = load_balance(load)
    p = load / load.sum()
    np.testing.assert_allclose(got.cv, load.std() / load.mean(), **TOL)
    np.testing.assert_allclose(got.max_vio, load.max() / load.mean() - 1, **TOL)
    np.testing.assert_allclose(got.max_min_ratio, load.max() / load.min(), **TOL)
    np.testing.assert_allclose(got.entropy, sps.entropy(p) / np.log(64), **TOL)
    assert got.dead_experts == 0


def test_dead_experts_make_max_min_infinite():
    got = load_balance([10, 0, 30, 0])
    assert got.max_min_ratio == float("inf") and got.dead_experts == 2
    assert np.isfinite(got.cv) and 0 < got.entropy < 1


def test_balanced_load():
    got = load_balance([5, 5, 5, 5])
    assert (got.cv, got.max_vio, got.max_min_ratio, got.entropy) == (0, 0, 1, pytest.approx(1))


@pytest.mark.parametrize("n", [10, 1000, 200_000])
def test_trend_against_scipy(rng, n):
    x = rng.normal(size=n)
    y = np.round(3 + x + rng.normal(size=n)).clip(0)
    got = trend(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose([got.slope, got.intercept], [slope, intercept], rtol=1e-9)
    np.testing.assert_allclose(got.pearson_r, sps.pearsonr(x, y).statistic, rtol=1e-9)
    np.testing.assert_allclose(got.spearman_rho, sps.spearmanr(x, y).statistic, rtol=1e-9)


def test_constant_input_has_no_correlation():
    got = trend([1.0, 2.0, 3.0], [4, 4, 4])
    assert got.slope == 0 and np.isnan(got.pearson_r) and np.isnan(got.spearman_rho)
    assert np.isnan(trend([2.0, 2.0], [1, 3]).slope)


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3]),
        np.array([0.3, -1.2, 0.3, 7.5]),
        np.array([10**12, 5, 10**12]),
    ],
)
def test_average_ranks(values):
    np.testing.assert_allclose(average_ranks(values), sps.rankdata(values))


def test_weighted_points_give_the_statistics_of_the_expanded_data(rng):
    x = rng.normal(size=300).round(1)  # ties in x
    y = rng.integers(1, 9, 300)
    weights = rng.integers(1, 50, 300)
    got = trend(x, y, weights)
    expected = trend(np.repeat(x, weights), np.repeat(y, weights))
    for field in ("slope", "intercept", "pearson_r", "spearman_rho"):
        np.testing.assert_allclose(getattr(got, field), getattr(expected, field), rtol=1e-9)
    np.testing.assert_allclose(
        average_ranks(x, weights)[0], sps.rankdata(np.repeat(x, weights))[np.repeat(np.arange(300), weights) == 0][0]
    )
