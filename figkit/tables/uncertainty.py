"""What a table's ± means and which methods it marks as not significantly different from the best.

A value with per-seed results shows the mean ± the half-width of its 95 % Student-t interval; one with a
standard error (lm-evaluation-harness's ``acc_stderr``) ± 1.96 standard errors; one with a standard
deviation ± that deviation. Against the best of a column, a method is compared by a paired t-test over
seeds when both have as many seeds (run i of each with the same seed), Welch's t-test over seeds
otherwise, and a z-test of the two standard errors when they have those; the test is two-sided, at 5 %.
The t distribution is scipy's, imported only for values with seeds.
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
    from scipy import stats

    n = len(seeds)
    return float(stats.t.ppf(1 - LEVEL / 2, n - 1)) * statistics.stdev(seeds) / math.sqrt(n)


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
    """Two-sided p-value of a t statistic ``difference / sqrt(variance)`` with ``df`` degrees of freedom
    (computed here rather than by scipy's tests, which warn and give NaN when the seeds do not vary)."""
    from scipy import stats

    if variance <= 0:
        return 0.0 if difference else 1.0
    return float(2 * stats.t.sf(abs(difference) / math.sqrt(variance), df))
