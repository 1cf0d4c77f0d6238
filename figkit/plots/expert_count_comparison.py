"""Experts selected per token for several methods in one figure: one step outline per method."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, count_histogram, labelled
from figkit.plots._draw import (
    height_for_legend,
    legend_over_data,
    line_width,
    mathtext_label,
    number,
    only_up_to,
    set_title,
)
from figkit.plots.spec import FigureJob, FigureSpec, compared, compared_caption, compared_note, listed
from figkit.results import method_counts, method_labels

MAX_LABELLED_COUNTS = 40


@dataclass(frozen=True)
class CountComparison:
    methods: list  # (legend entry: label and mean, CountHistogram), in the order given
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""


def prepare(counts_by_method):
    """Validate each method's counts and reduce them to histograms (of at most ``MAX_COMPARED`` methods)."""
    methods = []
    for label, counts in labelled(counts_by_method, "counts_by_method"):
        hist = count_histogram(counts, f"counts_by_method[{label!r}]")
        methods.append((f"{mathtext_label(label)} (mean {number(hist.mean)})", hist))
    shown = [methods[i] for i in compared(len(methods))]
    return CountComparison(shown, compared_note(len(shown), len(methods)))


def height(data, width):
    """Golden, or taller when the legend needs it."""
    return height_for_legend([entry for entry, _ in data.methods], width, data.note)


def draw(ax, data):
    low = min(hist.min for _, hist in data.methods)
    high = max(hist.max for _, hist in data.methods)
    edges = np.arange(low, high + 2) - 0.5
    styles = mpl.rcParams["axes.prop_cycle"].by_key()
    colours, dashes = styles["color"], styles.get("linestyle", ["-"])
    for i, (label, hist) in enumerate(data.methods):
        fractions = np.zeros(edges.size - 1)
        fractions[hist.min - low : hist.max - low + 1] = hist.fractions
        ax.stairs(
            fractions,
            edges,
            color=colours[i % len(colours)],
            linestyle=dashes[i % len(dashes)],
            linewidth=line_width(1.33),
            label=label,
        )
    if high - low < MAX_LABELLED_COUNTS:
        ax.set_xticks(np.arange(low, high + 1))
    ax.set_xlim(edges[0] - 0.25, edges[-1] + 0.25)
    ax.grid(False, axis="x")
    ax.set_xlabel("Experts selected per token")
    ax.set_ylabel("Fraction of tokens")
    set_title(ax, "", data.note)
    legend_over_data(ax, max(hist.fractions.max() for _, hist in data.methods))
    only_up_to(ax.yaxis, 1.0)  # headroom for the legend, but no tick at an impossible fraction


def jobs(results):
    """One figure when two or more methods have ``expert_counts``: each method's layers pooled."""
    counts = method_counts(results)
    if len(counts) < 2:
        return
    labels = method_labels(results)
    shown = [list(counts)[i] for i in compared(len(counts))]
    notes = [f" ({counts[m].scope}; {counts[m].tokens:,} tokens)" for m in shown]
    caption = [
        f"Experts selected per token, by method{compared_caption(len(shown), len(counts))}: ",
        *listed([labels[m] for m in shown], notes, "; "),
    ]
    yield FigureJob("", {"counts_by_method": {labels[m]: c.pooled for m, c in counts.items()}}, tuple(caption))


FIGURE = FigureSpec(
    name="expert_count_comparison",
    title="Experts per token, methods compared",
    sections=("expert_counts",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


def plot_expert_count_comparison(
    counts_by_method: Mapping[str, ArrayLike | Mapping[int, int]],
    *,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """The distribution of experts per token of several routing methods, one outline each.

    Each method is a step outline over whole numbers of experts (fractions of its own
    tokens, so methods measured on different numbers of tokens compare), labelled
    with its mean. Outlines differ in colour and, in the colour-blind style, in line style.

    Parameters
    ----------
    counts_by_method : dict
        Method name (``$...$`` maths allowed) to its counts: one per token (tensor,
        array, list) or a ``{experts: tokens}`` histogram.
    ax, figsize, dpi, save_path
        As in every figkit plot function: an axes to draw on, size and resolution
        (``None``: the active rcParams), and where to save.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.figure`` when ``ax`` is given, else a new figure that is pyplot's current one.

    Raises
    ------
    ValueError, TypeError
        For no methods, or a method's counts that are empty, negative, fractional or non-finite.
    """
    data = prepare(counts_by_method)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
