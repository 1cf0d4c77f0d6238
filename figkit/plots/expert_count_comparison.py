"""Experts selected per token for several methods in one figure: bars grouped by the number of experts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, count_histogram, labelled
from figkit.plots._draw import (
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    number,
    only_up_to,
    set_title,
)
from figkit.plots.looks import method_roles
from figkit.plots.spec import (
    FigureJob,
    FigureSpec,
    add_shading_sentence,
    compared,
    compared_caption,
    compared_note,
    compute_sentence,
    listed,
    shared_docs,
)
from figkit.results import method_counts, method_labels
from figkit.style import paper_look

MAX_LABELLED_COUNTS = 40
BARS_WIDTH = 0.84  # of one whole number of experts, shared by the methods' bars


@dataclass(frozen=True)
class CountComparison:
    methods: list  # (label, CountHistogram, Role), in the order given
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""


def prepare(counts_by_method, methods=None):
    """Validate each method's counts and reduce them to histograms (of at most ``MAX_COMPARED`` methods)."""
    items = labelled(counts_by_method, "counts_by_method")
    roles = method_roles([label for label, _ in items], methods)
    entries = []
    for label, counts in items:
        entries.append((mathtext_label(label), count_histogram(counts, f"counts_by_method[{label!r}]"), roles[label]))
    shown = [entries[i] for i in compared(len(entries))]
    return CountComparison(shown, compared_note(len(shown), len(entries)))


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above(_legend(data), width, data.note)


def _legend(data):
    """Each method's legend entry: its label, and in the notebook and slide looks its mean (a paper's
    caption gives the means, so that a column's legend stays short)."""
    if paper_look():
        return [label for label, *_ in data.methods]
    said = [f"all tokens {h.min}" if h.tokens.size == 1 else f"mean {number(h.mean)}" for _, h, _ in data.methods]
    return [f"{label}, {stat}" for (label, *_), stat in zip(data.methods, said)]


def draw(ax, data):
    low = min(hist.min for _, hist, _ in data.methods)
    high = max(hist.max for _, hist, _ in data.methods)
    values = np.arange(low, high + 1)
    # A method that selects one number for every token (top-k) is a line at it: its bar of 100 % would set the
    # scale and press the others' bars into the bottom of the figure.
    fixed = [i for i, (_, hist, _) in enumerate(data.methods) if hist.tokens.size == 1]
    if len(fixed) == len(data.methods):
        fixed = []
    barred = [i for i in range(len(data.methods)) if i not in fixed]
    width = BARS_WIDTH / len(barred)
    fractions = np.zeros((len(barred), values.size))
    for row, i in enumerate(barred):
        hist = data.methods[i][1]
        fractions[row, hist.min - low : hist.max - low + 1] = hist.fractions
    shown = fractions > 0  # no zero-height slivers, and no empty slot for a method without tokens there
    slot = np.cumsum(shown, axis=0) - 1  # each bar's place among the bars at its count, in method order
    offsets = (slot - (shown.sum(axis=0) - 1) / 2) * width  # the bars at a count centred on it
    handles, entries = [], _legend(data)
    top = 1.05 * fractions.max()  # a bar at 1 clears the frame
    for i, ((_, hist, role), label) in enumerate(zip(data.methods, entries)):
        look = role.look()
        if i in fixed:  # from above the bars at its count to the frame, an arrow: all its tokens, off the scale
            column = hist.min - low
            start = (fractions[:, column].max() if 0 <= column < values.size else 0.0) + 0.04 * top
            line = {"color": look.color, "linestyle": look.linestyle, "linewidth": line_width(1.33)}
            (drawn,) = ax.plot([hist.min, hist.min], [start, top], **line, label=label, marker="none")
            ax.plot(hist.min, top, marker="^", color=look.color, markersize=marker_size(0.9), clip_on=False)
            handles.append(drawn)
            continue
        row = barred.index(i)
        x = values[shown[row]] + offsets[row, shown[row]]
        handles.append(ax.bar(x, fractions[row, shown[row]], width=width, color=look.color, label=label))
    if high - low < MAX_LABELLED_COUNTS:
        ax.set_xticks(values)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(low - 0.6, high + 0.6)
    ax.set_ylim(0, top)
    only_up_to(ax.yaxis, 1.0)
    ax.grid(False, axis="x")
    ax.set_xlabel("Experts selected per token")
    ax.set_ylabel("Share of tokens")
    set_title(ax, "", data.note)
    legend_above(ax, handles, entries)  # in the methods' order


def jobs(results):
    """One figure when two or more methods have ``expert_counts``: each method's layers pooled."""
    counts = method_counts(results)
    if len(counts) < 2:
        return
    labels = method_labels(results)
    shown = [list(counts)[i] for i in compared(len(counts))]
    counted = {counts[m].counted() for m in shown}
    each = f" (each {next(iter(counted))})" if len(counted) == 1 else ""
    notes = None if each else [f" ({counts[m].counted()})" for m in shown]
    caption = [
        f"Experts selected per token, by method{compared_caption(len(shown), len(counts))}{each}: ",
        *listed([labels[m] for m in shown], notes, "; " if notes else ", "),
    ]
    caption[-1] += " Bars: each method's share of its tokens at each number of experts"
    fixed = [m for m in shown if len(counts[m].pooled) == 1]
    if fixed and len(fixed) < len(shown):
        lines = [f" at {next(iter(counts[m].pooled))}" for m in fixed]
        caption[-1] += (
            "; a line with an arrow, above the bars: a method that selects that number for every token (all its "
            "tokens there, off the scale), "
        )
        caption += [*listed([labels[m] for m in fixed], lines, ", ")]
        caption[-1] += " "
    else:
        caption[-1] += ". "
    caption += compute_sentence(results, counts, shown)
    add_shading_sentence(caption, results, shown)
    caption[-1] = caption[-1].rstrip() + " Mean experts per token: "
    caption += listed([labels[m] for m in shown], [f" {counts[m].mean:.2f}" for m in shown])
    arguments = {"counts_by_method": {labels[m]: c.pooled for m, c in counts.items()}, "methods": results["methods"]}
    yield FigureJob("", arguments, tuple(caption))


FIGURE = FigureSpec(
    name="expert_count_comparison",
    title="Experts per token, methods compared",
    sections=("expert_counts",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_expert_count_comparison(
    counts_by_method: Mapping[str, ArrayLike | Mapping[int, int]],
    *,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """The distribution of experts per token of several routing methods, as bars grouped by the number of
    experts.

    Each method's bars are fractions of its own tokens (so methods measured on different numbers of tokens
    compare), and its legend entry gives its mean. Each method has the colour it has in every figure
    (``methods``).

    Parameters
    ----------
    counts_by_method : dict
        Method name (``$...$`` maths allowed) to its counts: one per token (tensor,
        array, list) or a ``{experts: tokens}`` histogram.
    methods : list of dict, optional
        The results file's ``methods``: a method named by its label or id gets the colour a build gives it
        (the baseline grey, a family such as BH at several alpha light to dark).
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no methods, or a method's counts that are empty, negative, fractional or non-finite.
    """
    data = prepare(counts_by_method, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
