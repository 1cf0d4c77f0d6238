"""How a comparison table is made to fit its page, in the order authors do it by hand: headers wrapped onto
two or three balanced lines, then ``\\small`` with less space between columns, then ``table*`` across a
two-column page, then reshaped (methods as columns, or the metrics split into two tables). Text is
scaled (``\\resizebox``) only when asked. Each layout is measured in the paper (``Page.tex``) or estimated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from figkit.geometry import TEX_POINTS_PER_INCH

TABCOLSEP, SMALL_TABCOLSEP, SMALL = 6.0, 4.0, 0.9  # points each side of a column; \small against the body
CHARACTER_EMS = {"times": 0.46, "cm": 0.5}  # mean width of a table's characters, a little over the measured
FITS = ("auto", "scale")  # how far fitting may go: reshape the table, or also scale its text
SPLITS = (2, 3)  # the tables the metrics may be split into, each with at least two metrics


@dataclass(frozen=True)
class Layout:
    """One way to set a table: ``shape`` "rows" (a method per row), "columns" (a method per column) or
    "split" (the metrics in ``parts`` tables, each with the methods); headers ``wrapped``; ``small``
    type; ``wide`` (``table*``); ``scaled`` to the width."""

    shape: str = "rows"
    wrapped: bool = False
    small: bool = False
    wide: bool = False
    scaled: bool = False
    parts: int = 1

    def said(self):
        """The layout in words, for the table's comment."""
        parts = {"columns": ["methods as columns"], "split": [f"metrics in {self.parts} tables"]}.get(self.shape, [])
        parts += ["headers wrapped"] * self.wrapped + ["small type"] * self.small + ["across both columns"] * self.wide
        return ", ".join(parts + ["scaled to the width"] * self.scaled) or "as it is"


def layouts(page, methods, metrics):
    """The layouts to try, in order, on ``page`` for a table of ``methods`` rows and ``metrics`` columns."""
    steps = [Layout(), Layout(wrapped=True), Layout(wrapped=True, small=True)]
    steps += [Layout(wrapped=True, small=True, wide=True)] if page.two_column else []
    reshaped = [Layout("columns", True, True)] if methods < metrics else []
    reshaped += [Layout("split", True, True, parts=n) for n in SPLITS if metrics >= 2 * n]
    for layout in reshaped:
        steps += [layout] + ([replace(layout, wide=True)] if page.two_column else [])
    return steps


def room(page, layout):
    """Inches a layout may take: the column, or the text for ``table*`` (and in a one-column paper)."""
    return page.text_width if layout.wide or not page.two_column else page.column_width


def wrap(label, cells=0.0, most=3):
    """``label`` on as few lines as make it no wider than ``cells`` characters (the column's widest cell),
    at most ``most``, of balanced length, broken between words (maths kept whole), a parenthesis (a
    unit) preferring a line of its own."""
    words = re.findall(r"\$[^$]*\$|\([^()]*\)|\S+", label)  # maths and a parenthesis kept whole
    parts = [label]
    for lines in range(2, most + 1):
        if max(map(_shown_length, parts)) <= cells:
            break
        more = _balanced(words, lines)
        if max(map(_shown_length, more)) >= max(map(_shown_length, parts)):
            break  # another line would not make it narrower
        parts = more
    return parts


def _balanced(words, lines):
    """``words`` on ``lines`` lines (fewer if there are fewer words), the longest as short as can be."""
    label = " ".join(words)
    if lines < 2 or len(words) < 2:
        return [label]
    best, best_cost = [label], None
    for cuts in _cuts(len(words), min(lines, len(words))):
        parts = [" ".join(words[a:b]) for a, b in zip((0, *cuts), (*cuts, len(words)))]
        cost = max(map(_shown_length, parts)) - 0.5 * sum(p.startswith("(") for p in parts[1:])
        if best_cost is None or cost < best_cost:
            best, best_cost = parts, cost
    return best


def _cuts(n, lines):
    """Every way to cut ``n`` words into 2 to ``lines`` lines, as the word indices each line after the first starts."""
    if lines >= 2:
        for first in range(1, n):
            yield (first,)
            if lines >= 3:
                yield from ((first, second) for second in range(first + 1, n))


def _shown_length(text):
    """Characters a label shows: maths and commands count for what they print, roughly."""
    text = re.sub(r"\\[a-zA-Z]+\s*", "x", text)
    return len(re.sub(r"[{}$^_]", "", text))


def estimated_width(groups, size, font, small):
    """Inches a tabular takes at ``size`` points: each group of columns (a header's lines over its cells,
    one or two subcolumns) as wide as its widest header line or the sum of its subcolumns' widest
    cells, plus the space between columns; a bold character a little wider."""
    ems = CHARACTER_EMS.get(font, 0.5) * size * (SMALL if small else 1)
    tabcolsep = SMALL_TABCOLSEP if small else TABCOLSEP
    total = 0.0
    for header_lines, subcolumns in groups:
        header = max((cell_width(line) for line in header_lines), default=0.0)
        cells = sum(max((cell_width(cell) for cell in cells), default=0.0) for cells in subcolumns)
        total += max(header, cells) * ems + 2 * tabcolsep
    return total / TEX_POINTS_PER_INCH


def cell_width(cell):
    """Characters a LaTeX cell shows, a bold one a little wider."""
    bold = "\\textbf" in cell
    shown = re.sub(r"\$\\pm\$|\$-\$|\$\{\}\\pm\{\}\$|\\,", "x", cell)  # each one character
    shown = re.sub(r"\\[a-zA-Z]+|\\(?=[^a-zA-Z])|[{}$]", "", shown)  # commands, escapes, braces: no width
    return len(shown) * (1.08 if bold else 1.0)
