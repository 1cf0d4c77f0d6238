"""Tokens routed to each expert: load imbalance at a glance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from figkit.arrays import ArrayLike, non_negative, number_in, scalar, vector
from figkit.plots._draw import (
    NEUTRAL,
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    number,
    set_title,
    statistics_beside,
)
from figkit.plots.expert_load_layers import load_colour
from figkit.plots.spec import (
    FigureJob,
    FigureSpec,
    layer_suffix,
    layer_text,
    representative_layers,
    shared_docs,
    the_others,
)
from figkit.results import method_labels
from figkit.stats import LoadBalance, load_balance
from figkit.style import notebook_look, paper_look

# Load relative to the mean: (upper bound, legend label, colour). A diverging scale around an even load,
# ColorBrewer's PuOr (colour-blind safe): oranges for under-used experts, white (outlined) for balanced,
# purple for over-used; no blue, red or grey a method's colour could be mistaken for.
# Classes of load over the mean, mirrored on a log scale, each in the colour the load grids give a load in
# its middle (the mean is an even load): a colour means one load in every figure.
LOAD_CLASSES = tuple(
    (upper, name, to_hex(load_colour(middle)))
    for upper, name, middle in (
        (0.5, "< 0.5\N{MULTIPLICATION SIGN}", 0.25),
        (0.8, "0.5\N{EN DASH}0.8\N{MULTIPLICATION SIGN}", 0.63),
        (1.25, "0.8\N{EN DASH}1.25\N{MULTIPLICATION SIGN}", 1.0),
        (2.0, "1.25\N{EN DASH}2\N{MULTIPLICATION SIGN}", 1.6),
        (np.inf, "> 2\N{MULTIPLICATION SIGN}", 4.0),
    )
)


@dataclass(frozen=True)
class ExpertLoad:
    counts: np.ndarray
    balance: LoadBalance
    top: float | None  # the top of a y scale shared with other methods' figures, or None


def prepare(expert_counts_by_expert, num_experts=None, top=None):
    """Validate per-expert loads; ``num_experts`` pads with experts that received nothing; ``top`` is the top
    of the y-axis (one scale for several methods)."""
    counts = non_negative(vector(expert_counts_by_expert, "expert_counts_by_expert"), "expert_counts_by_expert")
    counts = counts.astype(float)
    if not counts.any():
        raise ValueError("expert_counts_by_expert is all zero: no token was routed")
    if num_experts is not None:
        num_experts = scalar(num_experts)
        if isinstance(num_experts, bool) or not isinstance(num_experts, (int, np.integer)) or num_experts < counts.size:
            raise ValueError(
                f"num_experts must be an integer of at least {counts.size} "
                f"(the length of expert_counts_by_expert), got {num_experts!r}"
            )
        counts = np.pad(counts, (0, int(num_experts) - counts.size))
    top = None if top is None else number_in(top, "top", counts.max())  # at least the largest load
    return ExpertLoad(counts, load_balance(counts), top)


def load_classes(counts, mean):
    """Index into LOAD_CLASSES for each expert."""
    bounds = np.array([upper for upper, _, _ in LOAD_CLASSES[:-1]])
    return np.searchsorted(bounds, counts / mean, side="right")


def draw(ax, data):
    counts, balance = data.counts, data.balance
    classes = load_classes(counts, balance.mean)
    colours = np.array([colour for _, _, colour in LOAD_CLASSES])
    bars = {"color": colours[classes], "edgecolor": NEUTRAL, "linewidth": line_width(0.4)}  # pale ones seen too
    ax.bar(np.arange(counts.size), counts, width=0.8, **bars)
    if notebook_look():  # the spec's ±1 std band; a paper states the spread in words instead
        band = (max(0.0, balance.mean - balance.std), balance.mean + balance.std)  # no load is negative
        ax.axhspan(*band, color=NEUTRAL, alpha=0.08, zorder=0)
    dead = np.flatnonzero(counts == 0)
    if dead.size:  # an empty line would still count its origin in the layout, stretching a grid
        ax.plot(
            dead,
            np.zeros(dead.size),
            linestyle="none",
            marker="x",
            color=NEUTRAL,
            markersize=marker_size(1.33),
            markeredgewidth=line_width(1.33),
            zorder=4,
        )
    ax.axhline(balance.mean, color=NEUTRAL, linestyle="--", linewidth=line_width(), zorder=0.5)  # behind the bars
    handles = _legend(data)
    set_title(ax, "Expert utilisation")  # before the legend above, which moves it up
    legend_above(ax, handles, [handle.get_label() for handle in handles])
    statistics_beside(
        ax,
        [
            f"CV: {number(balance.cv)}",
            f"MaxVio: {number(balance.max_vio)}",
            f"Max/min: {_max_min(balance)}",
            f"Entropy (norm.): {number(balance.entropy)}",
        ],
    )
    top = data.top or counts.max()
    top = 1.05 * (max(top, balance.mean + balance.std) if notebook_look() else top)
    ax.set_ylim(-0.04 * top if dead.size else 0, top)  # the crosses of dead experts inside the axes
    if top >= 1000:  # thousands separated, as the legend and caption write token counts
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlim(-0.6, counts.size - 0.4)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Expert")
    ax.set_ylabel("Tokens routed")


def _legend(data):
    """The legend's handles: the load classes present, the mean, its band and the dead experts."""
    counts, balance = data.counts, data.balance
    classes = np.bincount(load_classes(counts[counts > 0], balance.mean), minlength=len(LOAD_CLASSES))
    paper = paper_look()  # short: the caption counts the experts of each class and says what is dashed
    shown = [(name, colour, n) for (_, name, colour), n in zip(LOAD_CLASSES, classes) if n]
    handles = [  # experts with no token are counted once, as crosses, not also as the lowest class
        Patch(
            facecolor=colour,
            edgecolor=NEUTRAL,
            linewidth=line_width(0.4),
            label=name + (" mean" if i == 0 else "") + ("" if paper else f" ({n})"),  # the first: of what
        )
        for i, (name, colour, n) in enumerate(shown)
    ]
    mean, std = amounts(balance.mean, balance.std)  # as the caption writes them
    if not paper:
        handles.append(Line2D([], [], color=NEUTRAL, linestyle="--", label=f"mean {mean}"))
    if notebook_look():
        handles.append(Patch(color=NEUTRAL, alpha=0.08, label=f"\N{PLUS-MINUS SIGN}1 std {std}"))
    if balance.dead_experts:
        dead = Line2D([], [], linestyle="none", marker="x", color=NEUTRAL, markeredgewidth=line_width(1.33))
        dead.set_label("no token" + ("" if paper else f" ({balance.dead_experts})"))
        handles.append(dead)
    return handles


def caption_statistics(counts):
    """The balance statistics of per-expert ``counts`` in a sentence, at the precision a reader needs, and
    how many experts each load class holds."""
    balance = load_balance(counts)
    classes = np.bincount(load_classes(counts[counts > 0], balance.mean), minlength=len(LOAD_CLASSES))
    held = ", ".join(f"{name} {n}" for (_, name, _), n in zip(LOAD_CLASSES, classes) if n)
    dead = balance.dead_experts
    ratio = f"{dead} expert{'s' * (dead != 1)} received no token" if dead else f"max/min {balance.max_min_ratio:.1f}"
    mean, std = amounts(balance.mean, balance.std)
    crosses = " (crosses)" if dead else ""
    return (
        f"Mean {mean} tokens per expert, standard deviation {std} (the mean dashed); coefficient of variation "
        f"{balance.cv:.2f}, MaxVio (the busiest expert over the mean, less 1) {balance.max_vio:.2f}, "
        f"{ratio}{crosses}, normalised entropy {balance.entropy:.3f}. Bars are coloured by load relative to the "
        "mean as the load grids colour loads, balanced ones (0.8\N{EN DASH}1.25\N{MULTIPLICATION SIGN}) white; "
        f"experts per class: {held}."
    )


def amounts(*values):
    """Token counts at one precision, three significant figures of the largest: "52 ± 106", "20.4 ± 58.1"."""
    largest = max(abs(value) for value in values)
    decimals = 0 if largest >= 100 or largest == 0 else max(0, 2 - int(np.floor(np.log10(largest))))
    return [f"{value:,.{decimals}f}" for value in values]


def _max_min(balance):
    """The max/min load ratio, infinite with dead experts, which it names."""
    ratio = "\N{INFINITY}" if np.isinf(balance.max_min_ratio) else number(balance.max_min_ratio)
    return ratio + (f" ({balance.dead_experts} dead)" if balance.dead_experts else "")


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above([handle.get_label() for handle in _legend(data)], width)


def jobs(results):
    """One figure per entry of ``expert_load``; of a method's layers, when more than three, the first, middle
    and last (the load across layers shows them all)."""
    labels = method_labels(results)
    entries = results.get("expert_load", [])
    layers = {}
    for entry in entries:
        layers.setdefault(entry["method"], []).append(entry.get("layer"))
    shown = {method: representative_layers([n for n in ids if n is not None]) for method, ids in layers.items()}
    drawn = [e for e in entries if e.get("layer") is None or e.get("layer") in shown[e["method"]]]
    tops = {}  # the methods of one layer share a y scale
    for entry in drawn:
        tops.setdefault(entry.get("layer"), []).append(max(entry["counts"]))
    for entry in drawn:
        method, layer, counts = entry["method"], entry.get("layer"), entry["counts"]
        arguments = {"expert_counts_by_expert": counts}
        scale = ""
        if len(tops[layer]) > 1:
            arguments["top"] = max(tops[layer])
            others = the_others(len(tops[layer]) - 1, "method's figure", "methods' figures")
            scale = f" The y scale is that of {others} of this layer too."
        total = sum(counts)
        total = f"{total:,}" if float(total).is_integer() else f"{total:,.2f}"
        yield FigureJob(
            f"_{method}_{layer_suffix(layer)}",
            arguments,
            (
                "",
                labels[method],
                f": tokens routed to each expert ({layer_text(layer)}; {len(counts)} experts, {total} assignments). "
                + caption_statistics(np.asarray(counts, dtype=float))
                + scale,
            ),
        )


FIGURE = FigureSpec(
    name="expert_utilization",
    title="Load per expert",
    sections=("expert_load",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
    report={"expert_usage": "expert_counts_by_expert", "num_experts": "num_experts"},
    required=("expert_usage",),
)


@shared_docs
def plot_expert_utilization(
    expert_counts_by_expert: ArrayLike,
    num_experts: int | None = None,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    top: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Bar chart of the tokens each expert received, coloured by load relative to the mean.

    A dashed line marks the mean (the notebook look adds a ±1 std band); the box gives CV, MaxVio
    (max/mean − 1), max/min (∞, with the number of dead experts, when one got nothing)
    and normalised entropy.

    Parameters
    ----------
    expert_counts_by_expert : array-like
        Tokens (or routing weight) each expert received, one value per expert.
    num_experts : int, optional
        Pads the end with experts that received nothing.
    top : float, optional
        The top of the y-axis, to give several methods' figures one scale.
    save_path, figsize, dpi, ax
        As in every figkit plot function: where to save, size and resolution
        (``None``: the active rcParams), and an axes to draw on.

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For negative or non-finite loads, all zero, or ``num_experts`` below their number.
    """
    data = prepare(expert_counts_by_expert, num_experts, top)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
