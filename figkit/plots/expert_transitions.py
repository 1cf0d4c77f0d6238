"""Cross-layer routing: where the tokens of one layer's top-1 expert go in the next layer."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke

from figkit.arrays import ArrayLike, integer_at_least, square_counts
from figkit.plots._draw import (
    NEUTRAL,
    axes_height,
    axes_width,
    colour_bar,
    label_cells,
    line_width,
    marker_size,
    ordinal,
    set_title,
    significant,
)
from figkit.plots.spec import FigureJob, FigureSpec, shared_docs, span
from figkit.results import method_labels

TOP_EXPERTS = 12  # as many as can each be labelled at 6 pt in one column
TOP_PATHS = 5


@dataclass(frozen=True)
class Transitions:
    percent: np.ndarray  # [rows, columns]: P(column's expert next | row's expert now) in %
    rows: np.ndarray  # expert ids of the first layer, ascending
    columns: np.ndarray  # expert ids of the next layer, ascending
    paths: tuple  # the most frequent paths (row id, column id, share of all tokens in %), most first
    layer: int | None
    next_layer: int | None
    total_experts: int
    tokens: int
    row_tokens: np.ndarray  # the tokens of each row's expert: what its percentages are of


def prepare(transitions, layer=None, next_layer=None, top_experts=TOP_EXPERTS, top_paths=TOP_PATHS):
    """Validate ``[experts, experts]`` top-1 transition counts and keep the experts of the most frequent paths.

    ``transitions[i][j]`` counts the tokens whose top-1 expert is ``i`` in ``layer`` and
    ``j`` in ``next_layer``.
    """
    counts = square_counts(transitions, "transitions")
    n_rows, n_columns = counts.shape
    top_experts = integer_at_least(top_experts, "top_experts", 2)
    top_paths = integer_at_least(top_paths, "top_paths", 0)
    tokens = counts.sum()
    if not tokens:
        raise ValueError("transitions is all zero: no token was counted")
    order = np.argsort(-counts, axis=None, kind="stable")
    order = order[counts.flat[order] > 0]
    rows, columns = _first_met(order // n_columns, top_experts), _first_met(order % n_columns, top_experts)
    shown = counts[np.ix_(rows, columns)]
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100 * shown / counts[rows].sum(axis=1, keepdims=True)
    paths = tuple(
        (int(i), int(j), float(100 * counts[i, j] / tokens))
        for i, j in zip(order[:top_paths] // n_columns, order[:top_paths] % n_columns)
    )
    return Transitions(
        percent=percent,
        rows=rows,
        columns=columns,
        paths=paths,
        layer=layer,
        next_layer=next_layer,
        total_experts=n_rows,
        tokens=int(tokens),
        row_tokens=counts[rows].sum(axis=1),
    )


def _first_met(experts, n):
    """The first ``n`` distinct ids of ``experts`` (going down the paths by count), ascending."""
    return np.sort(np.array(list(dict.fromkeys(experts.tolist()))[:n], dtype=int))


def draw(ax, data):
    cmap = mpl.colormaps[mpl.rcParams["image.cmap"]]
    top = float(np.nanmax(data.percent)) if np.isfinite(data.percent).any() else 1.0
    image = ax.imshow(data.percent, cmap=cmap, vmin=0, vmax=max(top, 1e-9), interpolation="none", aspect="auto")
    ax.grid(False, which="both")
    now = "layer" if data.layer is None else f"layer {data.layer}"
    after = "the next layer" if data.next_layer is None else f"layer {data.next_layer}"
    ax.set_ylabel(f"Top-1 expert in {now}")
    ax.set_xlabel(f"Top-1 expert in {after}")
    step = label_cells(ax, [str(e) for e in data.rows], [str(e) for e in data.columns])
    row_of = {e: k for k, e in enumerate(data.rows)}
    column_of = {e: k for k, e in enumerate(data.columns)}
    paths = [(column_of[j], row_of[i]) for i, j, _ in data.paths if i in row_of and j in column_of]
    if paths:  # the most frequent paths: a ring in the cell, its colour seen inside and around it
        cell = min(axes_width(ax) / len(data.columns), axes_height(ax) / len(data.rows)) * 72
        ax.plot(
            *zip(*paths),
            linestyle="none",
            marker="o",
            markersize=min(0.6 * cell, marker_size(2.5)),
            markerfacecolor="none",
            markeredgecolor="white",  # white inside a dark stroke: seen on light and dark cells alike
            markeredgewidth=line_width(0.6),
            path_effects=[withStroke(linewidth=line_width(1.6), foreground=NEUTRAL)],
        )
    parts = []
    if len(data.rows) < data.total_experts or len(data.columns) < data.total_experts:
        parts.append(f"{len(data.rows)} \N{MULTIPLICATION SIGN} {len(data.columns)} of {data.total_experts} experts")
    if step > 1:
        parts.append(f"every {ordinal(step)} labelled")
    set_title(ax, "Top-1 expert paths", ", ".join(parts))
    colour_bar(ax, image, "Tokens of the row's expert (%)")


def jobs(results):
    """One figure per entry of ``cross_layer``."""
    labels = method_labels(results)
    for entry in results.get("cross_layer", []):
        method, layer, next_layer = entry["method"], entry["layer"], entry["next_layer"]
        data = prepare(entry["counts"], layer, next_layer)
        paths = ", ".join(f"{i}\N{RIGHTWARDS ARROW}{j} ({significant(share, 2)}%)" for i, j, share in data.paths)
        yield FigureJob(
            f"_{method}_layer{layer}",
            {"transitions": entry["counts"], "layer": layer, "next_layer": next_layer},
            (
                "",
                labels[method],
                f": where the tokens of each top-1 expert of layer {layer} go in layer {next_layer}, as a share of the "
                f"row's tokens ({data.tokens:,} tokens). Shown: the {len(data.rows)} experts of layer {layer} and the "
                f"{len(data.columns)} of layer {next_layer} (of {data.total_experts}) on the most frequent paths, so a "
                "row sums to less than 100% when its tokens also go elsewhere; a row's expert "
                f"holds {span(f'{data.row_tokens.min():,.0f}', f'{data.row_tokens.max():,.0f}')} tokens. Ringed: the "
                f"{len(data.paths)} most frequent paths among all tokens, {paths}; a dark cell can be a rare "
                "expert's only path.",
            ),
        )


FIGURE = FigureSpec(
    name="expert_transitions",
    title="Expert paths across layers",
    sections=("cross_layer",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={"transitions": "transitions"},
    required=("transitions",),
    cost=1.5,
)


@shared_docs
def plot_expert_transitions(
    transitions: ArrayLike,
    *,
    layer: int | None = None,
    next_layer: int | None = None,
    top_experts: int = TOP_EXPERTS,
    top_paths: int = TOP_PATHS,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Heatmap of P(next expert | expert): where each top-1 expert's tokens go in the next layer.

    Parameters
    ----------
    transitions : array-like
        ``[experts, experts]`` counts: tokens whose top-1 expert is the row's in one layer and
        the column's in the next (``cross_layer`` counts, written by ``RoutingStats``).
    layer, next_layer : int, optional
        The two layers, for the axis labels.
    top_experts : int
        Show this many experts (12) on each axis: those met first going down the paths by count.
    top_paths : int
        Ring the most frequent paths, this many (5).
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For a matrix that is not square, negative or non-finite counts, all zero counts, or
        ``top_experts`` / ``top_paths`` that are not integers of at least 2 / 0.
    """
    data = prepare(transitions, layer, next_layer, top_experts, top_paths)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
