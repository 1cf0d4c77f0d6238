"""What a table's ± means and which methods it marks as not significantly different from the best.

A value with per-seed results shows the mean ± the half-width of its 95 % Student-t interval; one with a
standard error (lm-evaluation-harness's ``acc_stderr``) ± 1.96 standard errors; one with a standard
deviation ± that deviation. Against the best of a column, a method is compared by a paired t-test over
seeds when both have as many seeds (run i of each with the same seed), Welch's t-test over seeds
otherwise, and a z-test of the two standard errors when they have those; the test is two-sided, at 5 %.
The t distribution is computed here (the regularized incomplete beta function), so scipy stays a test
dependency.
"""

from __future__ import annotations

import math
import statistics

LEVEL = 0.05  # two-sided significance level, and 1 - the intervals' coverage
TESTS = {
    "paired": "a paired t-test over seeds",
    "welch": "Welch's t-test over seeds",
    "z": "a z-test of the standard errors",
}


def interval_half_width(seeds):
    """Half the width of the 95 % Student-t interval of the mean of ``seeds``."""
    n = len(seeds)
    return t_quantile(1 - LEVEL / 2, n - 1) * statistics.stdev(seeds) / math.sqrt(n)


def compare(best, other):
    """(the test, its two-sided p-value) of ``other`` against ``best`` (table ``Value``s), or None when
    neither seeds nor standard errors allow one."""
    if best.seeds and other.seeds:
        if len(best.seeds) == len(other.seeds):
            differences = [a - b for a, b in zip(best.seeds, other.seeds)]
            return "paired", _t_p(
                statistics.mean(differences), statistics.variance(differences) / len(differences), len(differences) - 1
            )
        va, vb = (statistics.variance(s) / len(s) for s in (best.seeds, other.seeds))
        df = (va + vb) ** 2 / (va**2 / (len(best.seeds) - 1) + vb**2 / (len(other.seeds) - 1)) if va + vb else 1
        return "welch", _t_p(best.mean - other.mean, va + vb, df)
    if best.stderr is not None and other.stderr is not None:
        variance = best.stderr**2 + other.stderr**2
        if not variance:
            return "z", 0.0 if best.mean != other.mean else 1.0
        z = abs(best.mean - other.mean) / math.sqrt(variance)
        return "z", 2 * statistics.NormalDist().cdf(-z)
    return None


def _t_p(difference, variance, df):
    """Two-sided p-value of a t statistic ``difference / sqrt(variance)`` with ``df`` degrees of freedom."""
    if variance <= 0:
        return 0.0 if difference else 1.0
    return 2 * (1 - t_cdf(abs(difference) / math.sqrt(variance), df))


def t_cdf(t, df):
    """The Student-t distribution function at ``t`` with ``df`` degrees of freedom (not necessarily whole)."""
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p, df):
    """The ``p`` quantile of the Student-t distribution (bisection on ``t_cdf``, to 1e-12)."""
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


def _incomplete_beta(a, b, x):
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this: use the symmetry
        return 1 - _incomplete_beta(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * fraction / a
