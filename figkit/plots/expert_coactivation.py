"""Expert co-activation: of the tokens routed to one expert, the share also routed to another."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, integer_at_least, number_in, square_counts, whole_vector
from figkit.plots._draw import (
    NEUTRAL,
    colour_bar,
    label_cells,
    line_width,
    ordinal,
    round_limits,
    set_title,
    wrap_label,
)
from figkit.plots.spec import FigureJob, FigureSpec, layer_suffix, layer_text, shared_docs, the_others
from figkit.results import method_labels

NOT_A_SHARE = "0.8"  # the diagonal and unused experts' rows: grey, since the colour scale's 0 % is near white
MIN_HEADLINE = 30  # tokens an expert needs before the caption quotes its strongest partner
TOP_EXPERTS = 12  # as many as can each be labelled at 6 pt in one column


@dataclass(frozen=True)
class Coactivation:
    percent: np.ndarray  # [shown, shown]: P(column | row) in %, NaN on the diagonal and for unused rows
    experts: np.ndarray  # the ids of the shown experts, ascending
    total_experts: int
    routed: int  # routings (token, expert) counted: the diagonal's sum
    percent_max: float | None  # the top of a colour scale shared with other heatmaps, or None


def prepare(coactivation, top_experts=TOP_EXPERTS, percent_max=None, experts=None):
    """Validate pair counts and keep the experts of the most frequent pairs (or the ids ``experts``).

    ``coactivation[a][b]`` counts the tokens routed to both ``a`` and ``b``; its diagonal,
    the tokens routed to each expert. ``percent_max`` tops the colour scale and ``experts`` fixes the
    experts shown (several methods, one scale and one set of experts).
    """
    if percent_max is not None:
        percent_max = number_in(percent_max, "percent_max", 0, 100, low_open=True)
    counts = square_counts(coactivation, "coactivation")
    rows = counts.shape[0]
    top_experts = integer_at_least(top_experts, "top_experts", 2)
    diagonal = np.diag(counts)
    over = counts > diagonal[:, None] + 1e-9
    if over.any():
        a, b = np.argwhere(over)[0]
        raise ValueError(
            f"coactivation[{a}][{b}] = {counts[a, b]:g} is more than coactivation[{a}][{a}] = {diagonal[a]:g}, "
            f"the tokens routed to expert {a}"
        )
    if experts is None:
        experts = _most_coactivated(counts, min(top_experts, rows))
    else:
        experts = np.sort(whole_vector(experts, "experts"))
        if experts.size < 2 or experts.max() >= rows or np.unique(experts).size < experts.size:
            raise ValueError(f"experts must be two or more distinct expert ids below {rows}, got {experts.tolist()}")
    shown = counts[np.ix_(experts, experts)]
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100 * shown / np.diag(shown)[:, None]
    percent[~np.isfinite(percent)] = np.nan
    np.fill_diagonal(percent, np.nan)
    return Coactivation(
        percent=percent, experts=experts, total_experts=rows, routed=int(diagonal.sum()), percent_max=percent_max
    )


def _most_coactivated(counts, n):
    """The ``n`` experts met first going down the pairs by count (ties: by load), in id order."""
    pairs = np.triu(counts, k=1)
    a, b = np.nonzero(pairs)
    order = np.lexsort((-(np.diag(counts)[a] + np.diag(counts)[b]), -pairs[a, b]))
    chosen = list(dict.fromkeys(np.column_stack([a[order], b[order]]).ravel().tolist()))[:n]
    if len(chosen) < n:  # too few pairs: the busiest of the others
        rest = [e for e in np.argsort(-np.diag(counts), kind="stable").tolist() if e not in chosen]
        chosen += rest[: n - len(chosen)]
    return np.sort(np.array(chosen, dtype=int))


def draw(ax, data):
    cmap = mpl.colormaps[mpl.rcParams["image.cmap"]].with_extremes(bad=NOT_A_SHARE)
    top = np.nanmax(data.percent) if np.isfinite(data.percent).any() else 1.0
    top = data.percent_max or top
    image = ax.imshow(data.percent, cmap=cmap, vmin=0, vmax=max(top, 1e-9), interpolation="none", aspect="auto")
    ax.grid(False, which="both")
    shown = len(data.experts)
    # The diagonal is not a share: its cells are grey (white would read as 0 %), crossed by one thin line.
    ax.plot([-0.5, shown - 0.5], [-0.5, shown - 0.5], color=NEUTRAL, linewidth=line_width(0.6), marker="none")
    ax.set_xlabel("Also routed to expert")
    ax.set_ylabel("Routed to expert")
    names = [str(e) for e in data.experts]
    step = label_cells(ax, names, names)
    parts = [f"{shown} of {data.total_experts} experts"] if shown < data.total_experts else []
    if step > 1:
        parts.append(f"every {ordinal(step)} labelled")
    note = wrap_label(", ".join(parts), ax, share=0.9, size="axes.titlesize")
    set_title(ax, "Expert co-activation", note)
    colour_bar(ax, image, "Tokens also routed (%)")


def _strongest(data, counts):
    """The caption's sentence of the largest share shown among experts routed at least ``MIN_HEADLINE``
    tokens (6 of 6 says little), with its counts; nothing when no such pair was routed."""
    routed = np.diag(counts)[data.experts]
    percent = np.where(routed[:, None] >= MIN_HEADLINE, data.percent, np.nan)
    if not np.isfinite(percent).any() or np.nanmax(percent) == 0:
        return ""
    row, column = np.unravel_index(np.nanargmax(percent), percent.shape)
    a, b = data.experts[row], data.experts[column]
    both, routed = counts[a, b], counts[a, a]
    return (
        f" The strongest: {data.percent[row, column]:.0f}% of expert {a}'s tokens also go to expert {b} "
        f"({both:,.0f} of {routed:,.0f})."
    )


def jobs(results):
    """One figure per entry of ``coactivation``; the methods of one layer share one colour scale and one set
    of experts (those of the most frequent pairs of all of them), so their cells compare one to one."""
    labels = method_labels(results)
    entries = results.get("coactivation", [])
    by_layer = {}
    for entry in entries:
        by_layer.setdefault(entry.get("layer"), []).append(np.asarray(entry["counts"], dtype=float))
    chosen = {
        layer: _most_coactivated(sum(group), min(TOP_EXPERTS, len(group[0]))) if len(group) > 1 else None
        for layer, group in by_layer.items()
        if len({len(counts) for counts in group}) == 1
    }
    tops, strongest = {}, []
    for entry in entries:
        data = prepare(entry["counts"], experts=chosen.get(entry.get("layer")))
        top = float(np.nanmax(data.percent)) if np.isfinite(data.percent).any() else 0.0
        tops.setdefault(entry.get("layer"), []).append(top)
        blank = [str(e) for e, row in zip(data.experts, data.percent) if np.isnan(row).all()]
        unused = f" Grey rows: experts it routed no token to ({', '.join(blank)})." if blank else ""
        strongest.append(_strongest(data, np.asarray(entry["counts"])) + unused)
    for entry, pair in zip(entries, strongest):
        method, layer = entry["method"], entry.get("layer")
        experts = len(entry["counts"])
        shown = min(TOP_EXPERTS, experts)
        which = f"the {shown} experts of the most frequent pairs (of {experts})" if shown < experts else "all experts"
        arguments = {"coactivation": entry["counts"]}
        if chosen.get(layer) is not None:
            arguments["experts"] = chosen[layer].tolist()
            which = which.replace("most frequent pairs", "most frequent pairs of the methods together")
        scale = ""
        if len(tops[layer]) > 1 and max(tops[layer]) > 0:
            arguments["percent_max"] = max(tops[layer])
            others = the_others(len(tops[layer]) - 1, "method's figure", "methods' figures")
            top = round_limits(0.0, max(tops[layer]))[1]  # where the colour bar ends
            scale = f" The colour scale, 0 to {top:g}%, is that of {others} too."
        yield FigureJob(
            f"_{method}_{layer_suffix(layer)}",
            arguments,
            (
                "",
                labels[method],
                f": expert co-activation ({layer_text(layer)}): of the tokens routed to the row's expert, the "
                f"share also routed to the column's, for {which}; the diagonal (grey, crossed out) is left out.{pair}"
                f"{scale}",
            ),
        )


FIGURE = FigureSpec(
    name="expert_coactivation",
    title="Expert co-activation",
    sections=("coactivation",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={"coactivation": "coactivation"},
    required=("coactivation",),
    cost=1.5,
)


@shared_docs
def plot_expert_coactivation(
    coactivation: ArrayLike,
    *,
    top_experts: int = TOP_EXPERTS,
    percent_max: float | None = None,
    experts: ArrayLike | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Heatmap of P(column | row): of the tokens routed to one expert, the % also routed to another.

    Parameters
    ----------
    coactivation : array-like
        ``[experts, experts]`` counts of tokens routed to both experts, the diagonal the
        tokens routed to each (``figkit.routing.RoutingStats.coactivation``): all pairs of
        each token's selected experts, not only consecutive ranks.
    top_experts : int
        Show the experts of the most frequent pairs, this many (12); the title says so.
    percent_max : float, optional
        The top of the colour scale, to give several heatmaps (top-k and BH, say) one scale.
        Default: this heatmap's largest share.
    experts : array-like, optional
        The expert ids to show instead, to give several heatmaps one set of experts.
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For a matrix that is not square, negative or non-finite counts, or a pair count
        larger than the count of its row's expert.
    """
    data = prepare(coactivation, top_experts, percent_max, experts)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
