"""Time the statistics this round of figures added against the direct way, on the same data.

    python benchmarks/bench_stats.py [--tokens 1000000]

- rarity bin means: each log-frequency bin's mean experts and 95 % Student-t half-width, by
  ``figkit.stats.group_means`` (bincount) against ``scipy.stats.binned_statistic`` (mean, std, count);
- sweep quartiles: each level's 25th and 75th percentile of experts per token, from its histogram
  (``CountHistogram.quantile``) against ``np.quantile`` of every token's count;
- locality intervals: 16 layers' 95 % Wilson intervals by ``scipy.stats.binomtest`` (what the figure
  calls) against the closed form in numpy.
Each is checked to agree before it is timed; the best of five runs is reported.
"""

import argparse
import time

import numpy as np
from scipy import stats

from figkit.plots.token_complexity_vs_experts import frequency_bins
from figkit.stats import CountHistogram, group_means


def best(function, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=1_000_000)
    n = parser.parse_args().tokens
    rng = np.random.default_rng(0)
    ids = np.minimum(rng.zipf(1.3, n), 50_000) - 1
    experts = np.clip(np.round(3 + 0.4 * np.log10(ids + 1) + rng.normal(0, 1, n)), 1, 8).astype(int)
    frequency = 1 / (ids + 1.0)
    bins = frequency_bins(frequency, experts)
    column = np.clip(np.searchsorted(bins.log_edges, np.log10(frequency), side="right") - 1, 0, bins.means.size - 1)
    weights = np.ones(n)

    def direct_bins():
        edges = bins.log_edges
        mean = stats.binned_statistic(np.log10(frequency), experts, "mean", bins=edges).statistic
        std = stats.binned_statistic(np.log10(frequency), experts, lambda v: np.std(v, ddof=1), bins=edges).statistic
        count = stats.binned_statistic(np.log10(frequency), experts, "count", bins=edges).statistic
        return mean, stats.t.ppf(0.975, count - 1) * std / np.sqrt(count)

    mine = group_means(column, experts.astype(float), weights, bins.means.size)
    theirs = direct_bins()
    assert np.allclose(mine[0], theirs[0]) and np.allclose(mine[1], theirs[1])
    rows = [
        (
            "rarity bin means + 95 % t intervals",
            n,
            best(lambda: group_means(column, experts.astype(float), weights, bins.means.size)),
            best(direct_bins),
            "scipy.stats.binned_statistic",
        )
    ]

    levels = [np.clip(rng.poisson(mean, n), 1, 8) for mean in (1.0, 1.5, 2.0, 2.8)]
    histograms = [CountHistogram.from_values(level) for level in levels]
    assert all(np.allclose(h.quantile([0.25, 0.75]), np.quantile(v, [0.25, 0.75])) for h, v in zip(histograms, levels))
    rows.append(
        (
            "sweep quartiles, 4 levels",
            4 * n,
            best(lambda: [h.quantile([0.25, 0.75]) for h in histograms]),
            best(lambda: [np.quantile(v, [0.25, 0.75]) for v in levels]),
            "np.quantile of every token",
        )
    )

    pairs, shares = 19_843, rng.uniform(0.01, 0.3, 16)

    def by_scipy():
        return [stats.binomtest(int(round(s * pairs)), pairs).proportion_ci(method="wilson") for s in shares]

    def closed_form():
        z, p = stats.norm.ppf(0.975), np.round(shares * pairs) / pairs
        centre = (p + z**2 / (2 * pairs)) / (1 + z**2 / pairs)
        half = z * np.sqrt(p * (1 - p) / pairs + z**2 / (4 * pairs**2)) / (1 + z**2 / pairs)
        return centre - half, centre + half

    low, high = closed_form()
    assert np.allclose([b.low for b in by_scipy()], low) and np.allclose([b.high for b in by_scipy()], high)
    rows.append(
        ("locality Wilson intervals, 16 layers", pairs, best(by_scipy), best(closed_form), "closed form in numpy")
    )

    print("| statistic | values | figkit (ms) | direct (ms) | direct / figkit | direct way |")
    print("|---|---:|---:|---:|---:|---|")
    for name, size, ours, direct, how in rows:
        ratio = direct / ours
        shown = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.2g}"
        print(f"| {name} | {size:,} | {1000 * ours:.2f} | {1000 * direct:.2f} | {shown}× | {how} |")


if __name__ == "__main__":
    main()
