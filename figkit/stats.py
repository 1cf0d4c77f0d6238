"""The numbers that figures and tables print, computed exactly in O(n).

Per-token expert counts are small non-negative integers, so every statistic of
them comes from an integer histogram (``np.bincount``) rather than from sorting
millions of values. All standard deviations here are population values
(``ddof=0``, as ``np.std``) unless a function says otherwise.
"""

from dataclasses import dataclass

import numpy as np

from figkit.results.sections.router_confidence import MEASURES, P_VALUE_DECADES

KDE_GRID_POINTS = 256
# Counts are integers: a kernel narrower than half a step only redraws the histogram's spikes.
MIN_COUNT_BANDWIDTH = 0.5


@dataclass(frozen=True, eq=False)
class CountHistogram:
    """``tokens[i]`` tokens selected ``offset + i`` experts."""

    offset: int
    tokens: np.ndarray

    @classmethod
    def from_values(cls, values):
        """Histogram of a non-negative integer array."""
        lo = int(values.min())
        return cls(lo, np.bincount(values)[lo:].astype(np.int64, copy=False))

    @classmethod
    def from_mapping(cls, mapping):
        """Histogram of a ``{expert_count: tokens}`` mapping with non-negative int keys."""
        used = {int(k): int(v) for k, v in mapping.items() if v}
        lo, hi = min(used), max(used)
        tokens = np.zeros(hi - lo + 1, dtype=np.int64)
        for value, count in used.items():
            tokens[value - lo] = count
        return cls(lo, tokens)

    @classmethod
    def pooled(cls, hists):
        """One histogram of the tokens of all ``hists``."""
        lo, hi = min(h.offset for h in hists), max(h.offset + h.tokens.size for h in hists)
        tokens = np.zeros(hi - lo, dtype=np.int64)
        for h in hists:
            tokens[h.offset - lo : h.offset - lo + h.tokens.size] += h.tokens
        return cls(lo, tokens)

    @property
    def values(self):
        return np.arange(self.offset, self.offset + self.tokens.size)

    @property
    def n(self):
        return int(self.tokens.sum())

    @property
    def min(self):
        return self.offset

    @property
    def max(self):
        return self.offset + self.tokens.size - 1

    @property
    def mean(self):
        return float(self.values @ self.tokens) / self.n

    def std(self, ddof=0):
        """Standard deviation of the underlying values (``np.std(values, ddof=ddof)``)."""
        if self.n - ddof <= 0:
            return float("nan")
        deviation = self.values - self.mean
        return float(np.sqrt((deviation**2 @ self.tokens) / (self.n - ddof)))

    def quantile(self, q):
        """``np.quantile(values, q)`` with the default linear method, from the histogram."""
        q = np.asarray(q, dtype=float)
        position = q * (self.n - 1)
        below = np.floor(position)
        cumulative = np.cumsum(self.tokens)

        def value_at(i):
            return self.offset + np.searchsorted(cumulative, i, side="right")

        low = value_at(below)
        high = value_at(np.minimum(below + 1, self.n - 1))
        return low + (position - below) * (high - low)

    @property
    def median(self):
        return float(self.quantile(0.5))

    @property
    def fractions(self):
        return self.tokens / self.n


def count_kde(hist, grid_points=KDE_GRID_POINTS):
    """Gaussian KDE of the counts on their support, or ``None`` when undefined; returns (grid, density, bandwidth).

    The bandwidth is Scott's (``std(ddof=1) * n**(-1/5)``, as ``scipy.stats.gaussian_kde``)
    but at least half an expert, because the counts are integers. The grid spans the
    bars, ``[min - 0.5, max + 0.5]``, and the kernel is reflected at both ends, so no
    density falls on counts that cannot occur and it still integrates to 1: on the
    grid, the density is ``f(x) + f(2 lo - x) + f(2 hi - x)`` with ``f`` scipy's
    ``gaussian_kde(values, bw_method=bandwidth / std)``. It is computed per distinct
    value, so its cost does not depend on the number of tokens. A single token or a
    single distinct value has no KDE.
    """
    if hist.n < 2 or hist.tokens.size == 1:
        return None
    bandwidth = max(hist.std(ddof=1) * hist.n ** (-1 / 5), MIN_COUNT_BANDWIDTH)
    low, high = hist.min - 0.5, hist.max + 0.5
    grid = np.linspace(low, high, grid_points)
    used = hist.tokens > 0  # a sparse histogram costs its distinct values, not its range
    values, tokens = hist.values[used], hist.tokens[used]
    density = np.zeros(grid_points)
    for mirrored in (grid, 2 * low - grid, 2 * high - grid):
        z = (mirrored[:, None] - values[None, :]) / bandwidth
        density += np.exp(-0.5 * z**2) @ tokens
    return grid, density / (hist.n * bandwidth * np.sqrt(2 * np.pi)), bandwidth


def box_stats(hist, whis=1.5):
    """matplotlib ``boxplot`` statistics (quartiles, 1.5 IQR whiskers, fliers) from a histogram.

    Fliers are the distinct outlying values, one mark each, not one per token.
    """
    q1, median, q3 = hist.quantile([0.25, 0.5, 0.75])
    iqr = q3 - q1
    values = hist.values[hist.tokens > 0]
    inside = values[(values >= q1 - whis * iqr) & (values <= q3 + whis * iqr)]
    return {
        "med": median,
        "q1": q1,
        "q3": q3,
        "mean": hist.mean,
        "whislo": inside.min(),
        "whishi": inside.max(),
        "fliers": values[(values < inside.min()) | (values > inside.max())],
    }


@dataclass(frozen=True)
class LoadBalance:
    """Load metrics of per-expert token counts (0 = balanced, except entropy: 1 = balanced)."""

    mean: float
    std: float
    cv: float
    max_vio: float
    max_min_ratio: float
    dead_experts: int
    entropy: float


CONFIDENCE_BINS = 100  # even bins over [0, 1]: quantiles read within a hundredth


def confidence_counts(probabilities, bins=CONFIDENCE_BINS):
    """``{measure: tokens per bin}`` of router probabilities ``[tokens, experts]``: each token's top-1
    probability and its routing entropy divided by log(experts) (1 for a uniform router), in ``bins``
    even bins over [0, 1] (1 itself in the last)."""
    probabilities = np.asarray(probabilities, dtype=float)
    experts = probabilities.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(probabilities > 0, probabilities * np.log(probabilities), 0.0).sum(axis=-1)
    normalised = entropy / np.log(experts) if experts > 1 else np.zeros_like(entropy)
    measures = zip(MEASURES, (probabilities.max(axis=-1), normalised))
    return {name: _even_bins(values.reshape(-1), bins) for name, values in measures}


def p_value_counts(smallest_p, bins=CONFIDENCE_BINS):
    """Tokens per bin of their smallest p-value ``[tokens]`` as ``router_confidence`` counts them: -log10(p)
    divided by ``P_VALUE_DECADES`` in ``bins`` even bins over [0, 1] (p = 1e-40 and below in the last)."""
    with np.errstate(divide="ignore"):
        scaled = -np.log10(np.asarray(smallest_p, dtype=float).reshape(-1)) / P_VALUE_DECADES
    return _even_bins(np.clip(scaled, 0, 1), bins)


def _even_bins(values, bins):
    return np.bincount(np.clip((values * bins).astype(np.int64), 0, bins - 1), minlength=bins)


def binned_quantiles(counts, q):
    """Quantiles ``q`` of values counted in even bins over [0, 1], each bin's values taken as spread evenly
    over it: within a bin's width of the sample's quantiles once the bins around them hold many values."""
    counts = np.asarray(counts, dtype=float)
    share = np.maximum(np.asarray(q, dtype=float) * counts.sum(), np.finfo(float).tiny)  # q = 0: the first value
    after = np.cumsum(counts)
    reaching = np.minimum(np.searchsorted(after, share, side="left"), counts.size - 1)  # the bin reaching it
    before = after[reaching] - counts[reaching]
    inside = np.divide(share - before, counts[reaching], out=np.zeros_like(share), where=counts[reaching] > 0)
    return (reaching + np.clip(inside, 0.0, 1.0)) / counts.size


def load_balance(counts):
    """CV, MaxVio (max/mean - 1), max/min (inf with dead experts) and normalised entropy."""
    counts = np.asarray(counts, dtype=float)
    mean = counts.mean()
    std = counts.std()
    low, high = counts.min(), counts.max()
    shares = counts[counts > 0] / counts.sum()
    entropy = -(shares @ np.log(shares)) / np.log(counts.size) if counts.size > 1 else 1.0
    return LoadBalance(
        mean=float(mean),
        std=float(std),
        cv=float(std / mean),
        max_vio=float(high / mean - 1),
        max_min_ratio=float(high / low) if low > 0 else float("inf"),
        dead_experts=int(np.count_nonzero(counts == 0)),
        entropy=float(entropy),
    )


@dataclass(frozen=True)
class Trend:
    """Least-squares line ``y = slope * x + intercept`` with Pearson r and Spearman rho."""

    slope: float
    intercept: float
    pearson_r: float
    spearman_rho: float


def trend(x, y, weights=None):
    """Fit a line and both correlations of points repeated ``weights`` times (once by default).

    Aggregated points give exactly the result of the expanded data. Undefined values
    (constant input) are NaN.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    slope, intercept, r = _weighted_line(x, y, w)
    rho = _weighted_line(average_ranks(x, w), average_ranks(y, w), w)[2]
    return Trend(slope=slope, intercept=intercept, pearson_r=r, spearman_rho=rho)


def group_means(groups, values, weights, n_groups, level=0.05):
    """Per group: the mean of ``values`` repeated ``weights`` times and half the width of its Student-t
    interval (95 % by default; NaN for a group of one token)."""
    from scipy import stats

    tokens = np.bincount(groups, weights=weights, minlength=n_groups)
    means = np.bincount(groups, weights=weights * values, minlength=n_groups) / tokens
    squares = np.bincount(groups, weights=weights * (values - means[groups]) ** 2, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.sqrt(squares / (tokens - 1) / tokens)
    return means, stats.t.ppf(1 - level / 2, np.maximum(tokens - 1, 1)) * np.where(tokens > 1, error, np.nan)


def _weighted_line(x, y, w):
    """Weighted least-squares slope and intercept, and Pearson's r."""
    total = w.sum()
    mean_x, mean_y = w @ x / total, w @ y / total
    dx, dy = x - mean_x, y - mean_y
    sxx, syy, sxy = (w * dx) @ dx, (w * dy) @ dy, (w * dx) @ dy
    slope = sxy / sxx if sxx > 0 else float("nan")
    r = float(np.clip(sxy / np.sqrt(sxx * syy), -1, 1)) if sxx > 0 and syy > 0 else float("nan")
    return float(slope), float(mean_y - slope * mean_x), r


def average_ranks(a, weights=None):
    """Ranks from 1 with ties averaged (``scipy.stats.rankdata``) of values repeated ``weights`` times."""
    a = np.asarray(a)
    w = np.ones(a.size) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    tied = np.add.reduceat(w[order], starts)
    rank = np.cumsum(tied) - (tied - 1) / 2
    ranks = np.empty(a.size)
    ranks[order] = np.repeat(rank, np.diff(np.r_[starts, a.size]))
    return ranks


def vocabulary_counts(token_ids, mask):
    """Per token id, its occurrences and its routings to its most frequent expert, grouped by those two.

    ``token_ids`` ``[tokens]``, ``mask`` ``[tokens, experts]`` (the experts each token was routed to).
    Returns ``(occurrences, top_expert_routings, id_count)``: ``id_count[i]`` ids share the pair
    ``(occurrences[i], top_expert_routings[i])`` (the ``vocabulary`` section of a results file).
    """
    ids, index, routed = _routed_by_id(token_ids, mask)
    occurrences = np.bincount(index, minlength=ids.size)
    pairs, id_count = np.unique(np.column_stack([occurrences, routed.max(axis=1)]), axis=0, return_counts=True)
    return pairs[:, 0], pairs[:, 1], id_count


MIN_SPECIALISED = 10  # occurrences a token needs before its share of routings to an expert says something


def expert_tokens(token_ids, mask, n=10, min_occurrences=MIN_SPECIALISED):
    """Each expert's ``n`` token ids most specialised to it (``specialised_tokens``), from the experts each
    token was routed to (``mask`` ``[tokens, experts]``)."""
    ids, index, routed = _routed_by_id(token_ids, mask)
    return specialised_tokens(routed, np.bincount(index, minlength=ids.size), ids, n, min_occurrences)


def specialised_tokens(routed, occurrences, ids, n=10, min_occurrences=MIN_SPECIALISED):
    """Each expert's ``n`` token ids with the largest share of their occurrences routed to it, as OLMoE ranks
    them, among ids seen at least ``min_occurrences`` times (ties: more routings, then the smaller id).

    ``routed`` ``[ids, experts]`` counts each id's routings to each expert, ``occurrences`` ``[ids]`` its
    tokens. Returns ``(tokens, routings, occurrences)``: per expert, the ids and their two counts.
    """
    routed, occurrences, ids = np.asarray(routed), np.asarray(occurrences), np.asarray(ids)
    counted = occurrences >= min_occurrences
    tokens, routings, seen = [], [], []
    for column in routed.T:
        kept = np.flatnonzero(counted & (column > 0))
        share = column[kept] / occurrences[kept]
        order = kept[np.lexsort((ids[kept], -column[kept], -share))[:n]]
        tokens.append(ids[order].tolist())
        routings.append(column[order].tolist())
        seen.append(occurrences[order].tolist())
    return tokens, routings, seen


def _routed_by_id(token_ids, mask):
    """The distinct ids, each token's index among them, and ``[ids, experts]`` routings of each id to each expert."""
    ids, index = np.unique(np.asarray(token_ids), return_inverse=True)
    routed = np.zeros((ids.size, mask.shape[1]), dtype=np.int64)
    np.add.at(routed, (np.repeat(index, mask.sum(axis=1)), np.nonzero(mask)[1]), 1)
    return ids, index, routed
