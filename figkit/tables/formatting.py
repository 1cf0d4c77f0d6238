"""How a table prints its numbers, column by column, as authors write them.

A column shows three significant figures of its typical (median) value by default (``metric_info``'s
``digits`` sets the decimals instead), more where the best value would otherwise tie with one that differs; a whole
number without decimals; thousands separated; a percentage scaled (``percent``, or any ``scale``) with its
unit in the header; a power of ten moved to the header when values are huge or tiny (×10⁶).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from figkit.tables.uncertainty import interval_half_width

SIGNIFICANT = 3  # figures of a column's typical value
EXTRA_DECIMALS = 2  # decimals added at most to tell the best from a value that differs
LARGEST_PLAIN, SMALLEST_PLAIN = 1e6, 1e-3  # a column beyond these shows a power of ten in its header
INTERVAL_Z = statistics.NormalDist().inv_cdf(0.975)  # standard errors each side of a 95 % normal interval


@dataclass(frozen=True)
class Value:
    """A table cell's number: a mean with, optionally, a standard deviation or a standard error."""

    mean: float
    std: float | None = None
    stderr: float | None = None
    seeds: tuple | None = None

    @property
    def spread_kind(self):
        """What the ± comes from: "seeds", "stderr" or "std", the first the value carries; None if none."""
        return next((kind for kind in ("seeds", "stderr", "std") if getattr(self, kind) is not None), None)

    @property
    def spread(self):
        """What follows ±: the half-width of the 95 % interval of the mean of seeds (Student t) or of one
        with a standard error, else the standard deviation; none when it is zero (a method that always
        selects k)."""
        kind = self.spread_kind
        if kind == "seeds":
            half = interval_half_width(self.seeds)
        else:
            half = INTERVAL_Z * self.stderr if kind == "stderr" else self.std
        return half if half else None


@dataclass(frozen=True)
class Column:
    """How one column prints: ``decimals`` after the point, values times ``scale`` (100 for a percentage),
    divided by ``10 ** exponent`` (said in the header), and the ``unit`` the header names."""

    decimals: int
    scale: float = 1.0
    exponent: int = 0
    unit: str = ""

    def number(self, x):
        return x * self.scale / 10.0**self.exponent

    def rounded(self, value):
        """The mean as printed: what the best is chosen on."""
        return round(self.number(value.mean), self.decimals)

    def texts(self, value):
        """(the mean, the spread or None) as printed, with a hyphen-minus for a negative number."""
        mean, spread = self.number(value.mean), value.spread
        spread = None if spread is None else spread * self.scale / 10.0**self.exponent
        whole = spread is None and float(round(mean, self.decimals)).is_integer() and mean == round(mean)
        decimals = 0 if whole else self.decimals
        return f"{mean:,.{decimals}f}", None if spread is None else f"{spread:,.{decimals}f}"

    def plain(self, value):
        mean, spread = self.texts(value)
        mean = mean.replace("-", "\N{MINUS SIGN}")
        return mean if spread is None else f"{mean} \N{PLUS-MINUS SIGN} {spread}"

    def latex_parts(self, value):
        """(the mean, the spread or None) as LaTeX prints them, with a real minus sign."""
        mean, spread = self.texts(value)
        return ("$-$" + mean[1:] if mean.startswith("-") else mean), spread

    def latex(self, value):
        mean, spread = self.latex_parts(value)
        return mean if spread is None else f"{mean} $\\pm$ {spread}"

    def header(self, label):
        """``label`` with what the column's numbers are in: the unit (unless the label names it) and the power
        of ten they were divided by, as ``$...$`` maths (LaTeX sets it; Markdown keeps it for GitHub)."""
        notes = [self.unit] if self.unit and f"({self.unit})" not in label else []
        if self.exponent:
            notes.append(f"$\\times 10^{{{self.exponent}}}$")
        if not notes:
            return label
        if label.endswith(")"):  # "exact_match (strict-match)" -> "exact_match (strict-match, %)"
            return f"{label[:-1]}, {', '.join(notes)})"
        return f"{label} ({', '.join(notes)})"


def column(values, info=None, direction=None):
    """The ``Column`` of ``values`` (``Value`` or None) given the metric's ``metric_info`` entry and which
    direction is better ("lower" or "higher"; decimals are added until the best stands apart)."""
    info = info or {}
    scale = 100.0 if info.get("percent") else float(info.get("scale", 1.0))
    unit = info.get("unit") or ("%" if info.get("percent") else "")
    present = [v for v in values if v is not None]
    numbers = [abs(v.mean * scale) for v in present] + [abs((v.spread or 0) * scale) for v in present]
    largest = max(numbers, default=0.0)
    exponent = 0
    if largest >= LARGEST_PLAIN or 0 < largest < SMALLEST_PLAIN:
        exponent = math.floor(math.log10(largest))
    if "digits" in info:
        return Column(int(info["digits"]), scale, exponent, unit)
    if all(float(n).is_integer() for n in numbers) and not exponent:
        return Column(0, scale, exponent, unit)
    typical = statistics.median([n for n in numbers[: len(present)] if n] or [largest]) / 10.0**exponent
    decimals = max(0, SIGNIFICANT - 1 - math.floor(math.log10(typical))) if typical else SIGNIFICANT - 1
    for _ in range(EXTRA_DECIMALS):
        if not _best_ties(Column(decimals, scale, exponent, unit), present, direction):
            break
        decimals += 1
    return Column(decimals, scale, exponent, unit)


def _best_ties(column, values, direction):
    """Whether the best value as printed equals the printed value of one that differs."""
    if direction not in ("lower", "higher") or len(values) < 2:
        return False
    best = (min if direction == "lower" else max)(values, key=lambda v: v.mean)
    return any(column.rounded(v) == column.rounded(best) and v.mean != best.mean for v in values)
