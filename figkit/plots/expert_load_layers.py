"""Load across layers: each expert's share of each layer's tokens, one row per layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, layer_ids, matrix, non_negative, vector
from figkit.plots._draw import (
    LITERAL,
    NEUTRAL,
    axes_height,
    colour_bar,
    label_every,
    laid_out_height,
    line_width,
    nice_step,
    number,
    points,
    set_title,
)
from figkit.plots.spec import FigureJob, FigureSpec, shared_docs
from figkit.results import method_labels
from figkit.stats import LoadBalance, load_balance

ORDERS = ("given", "load")
SAME_UNIFORM = 0.005  # relative spread of the per-layer uniform share below which k counts as fixed


# Below an even load orange, above it purple, an even load white: ColorBrewer's PuOr (colour-blind safe)
# without its darkest ends, on a log scale of the share against an even load, so that half and twice an
# even load are as far from white. An expert with no load at all (dead) is mid grey: no hue, apart from
# every share and from white, keyed below the colour bar.
DEAD_GREY = "0.6"
SHARE_COLOURS = ListedColormap(mpl.colormaps["PuOr"](np.linspace(0.12, 0.88, 256))).with_extremes(bad=DEAD_GREY)
MAX_RATIO = 8  # every grid's scale runs from 1/8 to 8 times an even load; shares beyond take its ends


def load_colour(ratio):
    """The colour of a load ``ratio`` times an even one, as every load grid draws it."""
    return SHARE_COLOURS(LogNorm(vmin=1 / MAX_RATIO, vmax=MAX_RATIO)(ratio))


@dataclass(frozen=True)
class ShareGrid:
    """Rows (layers, or domains) × experts: each expert's share of its row's load."""

    share: np.ndarray  # [rows, experts] in %: by expert id, or each row busiest first
    rows: tuple  # the label of each row
    row_title: str  # "Layer", "Domain"
    of: str  # whose share: "layer", "domain"
    title: str
    uniform: float  # the share, in %, of every expert under a perfectly even load
    of_tokens: bool  # share of the row's tokens (fixed k), else of its routings
    by_load: bool  # each row's experts sorted by their load, so columns are ranks, not ids
    balance: tuple  # LoadBalance per row


def share_grid(counts, num_tokens, order, *, rows, row_title, of, title, name, where):
    """Validated ``[rows, experts]`` loads (``counts``, floats) as shares of each row.

    With ``num_tokens`` (per row) and the same experts per token in every row (top-k), a share
    is of the row's tokens and an even load gives each expert k/E; otherwise a share is of the
    row's routings and an even load gives 1/E. ``name`` and ``where(i)`` name row ``i`` in errors.
    """
    n_rows, n_experts = counts.shape
    if n_experts < 2:
        raise ValueError(f"{name} needs at least 2 experts per {of}, got {n_experts}")
    totals = counts.sum(axis=1)
    if not totals.all():
        raise ValueError(f"{name}[{where(int(np.argmin(totals)))}] is all zero: no token was routed there")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(map(repr, ORDERS))}, got {order!r}")
    share, uniform, of_tokens = 100 * counts / totals[:, None], 100 / n_experts, False
    if num_tokens is not None:
        over = np.flatnonzero(counts.max(axis=1) > num_tokens)
        if over.size:
            i = int(over[0])
            raise ValueError(
                f"num_tokens[{where(i)}] = {num_tokens[i]:g} is less than the {counts[i].max():g} tokens routed "
                f"to one expert"
            )
        per_row = 100 * totals / num_tokens / n_experts
        if np.ptp(per_row) <= SAME_UNIFORM * per_row.mean():
            share, uniform, of_tokens = 100 * counts / num_tokens[:, None], float(per_row.mean()), True
    return ShareGrid(
        share=-np.sort(-share, axis=1) if order == "load" else share,
        rows=tuple(rows),
        row_title=row_title,
        of=of,
        title=title,
        uniform=uniform,
        of_tokens=of_tokens,
        by_load=order == "load",
        balance=tuple(load_balance(row) for row in counts),
    )


def prepare(layer_loads, layers=None, num_tokens=None, order="given"):
    """Validate ``[layers, experts]`` loads and turn them into shares of each layer (see ``share_grid``)."""
    counts = non_negative(matrix(layer_loads, "layer_loads").astype(float), "layer_loads")
    n_layers = counts.shape[0]
    ids = layer_ids(layers, n_layers, "rows of layer_loads")
    tokens = None
    if num_tokens is not None:
        tokens = non_negative(vector(num_tokens, "num_tokens").astype(float), "num_tokens")
        if tokens.size != n_layers:
            raise ValueError(f"num_tokens has {tokens.size} values for {n_layers} layers")
    return share_grid(
        counts,
        tokens,
        order,
        rows=[str(layer) for layer in ids],
        row_title="Layer",
        of="layer",
        title="Load across layers",
        name="layer_loads",
        where=str,
    )


def draw(ax, data):
    """A share grid: rows × experts, an even load in the middle of a log colour scale and marked on it."""
    share = data.share
    norm = LogNorm(vmin=data.uniform / MAX_RATIO, vmax=data.uniform * MAX_RATIO)
    low, high = (share > 0) & (share < norm.vmin), share > norm.vmax
    cmap = SHARE_COLOURS.copy()
    cmap.colorbar_extend = ("neither", "min", "max", "both")[low.any() + 2 * high.any()]  # arrows for beyond
    image = ax.imshow(np.ma.masked_equal(share, 0), cmap=cmap, norm=norm, interpolation="none", aspect="auto")
    ax.grid(False, which="both")
    n_rows, n_experts = share.shape
    step = nice_step(label_every(ax, [str(n_experts)] * n_experts, share=0.6))
    if data.by_load:  # ranks 1, 8, 16, ...
        ranks = sorted({1, *range(step, n_experts + 1, step)})
        ax.set_xticks([r - 1 for r in ranks], [str(r) for r in ranks])
    else:
        ax.set_xticks(range(0, n_experts, step))
    ax.set_xlabel(f"Expert of the {data.of}, by load (busiest first)" if data.by_load else "Expert")
    row_pitch = 0.75 * laid_out_height(ax) * 72 / n_rows
    every = max(1, int(np.ceil(1.2 * points(mpl.rcParams["ytick.labelsize"]) / row_pitch - 1e-9)))
    ax.set_yticks(range(0, n_rows, every), data.rows[::every], **LITERAL)
    ax.set_ylabel(data.row_title)
    set_title(ax, data.title)
    unit = "tokens" if data.of_tokens else "routings"
    bar = colour_bar(ax, image, f"Share of the {data.of}'s {unit}, \N{MULTIPLICATION SIGN} even")
    bar.ax.axhline(data.uniform, color=NEUTRAL, linewidth=line_width(1.5))
    ticks, labels = ratio_ticks()
    bar.set_ticks([data.uniform * tick for tick in ticks], labels=labels)
    bar.minorticks_off()
    if (share == 0).any():  # the grey of no load, keyed under the bar and its arrow, if any (5 % of its length)
        arrow = 0.05 * axes_height(bar.ax) * 72 if cmap.colorbar_extend in ("min", "both") else 0.0
        bar.ax.annotate(
            "none",
            xy=(0.5, 0.0),
            xycoords="axes fraction",
            xytext=(0, -arrow - 0.6 * points("small")),
            textcoords="offset points",
            va="top",
            ha="center",
            fontsize=mpl.rcParams["ytick.labelsize"],
            bbox={"facecolor": DEAD_GREY, "edgecolor": "none", "boxstyle": "square,pad=0.2"},
        )


def ratio_ticks(ratio=MAX_RATIO):
    """The colour bar's ticks, in multiples of an even load (powers of two up to ``ratio`` either side),
    and their labels: "1/8", "1/4", "1/2", "even", "2", "4", "8"."""
    powers = np.arange(-np.log2(ratio), np.log2(ratio) + 1)
    ticks = [float(2**p) for p in powers]
    labels = [f"1/{2 ** -int(p)}" if p < 0 else ("even" if p == 0 else f"{2 ** int(p)}") for p in powers]
    return ticks, labels


def scale_caption(data):
    """What the colours mean: "white is an even load, 1/E = 1.56%, orange less and purple more; grey: ..."."""
    even = "k/E" if data.of_tokens else "1/E"
    none = "; grey: an expert no token was routed to" if (data.share == 0).any() else ""
    beyond = (data.share > data.uniform * MAX_RATIO) | ((data.share > 0) & (data.share < data.uniform / MAX_RATIO))
    ends = f", shares beyond {MAX_RATIO} times either way in its end colours" if beyond.any() else ""
    return (
        f"white is an even load, {even} = {data.uniform:.3g}%, orange less and purple more, on a log scale from "
        f"1/{MAX_RATIO} to {MAX_RATIO} times it, the same in every load grid{ends}{none}"
    )


def metrics_caption(balance: Sequence[LoadBalance], layers):
    """Per-layer load metrics in words: the range of CV and MaxVio, with their layers, and dead experts."""
    parts = []
    for name, values in (("CV", [b.cv for b in balance]), ("MaxVio", [b.max_vio for b in balance])):
        low, high = int(np.argmin(values)), int(np.argmax(values))
        parts.append(
            f"{name} {number(values[low])} (layer {layers[low]}) to {number(values[high])} (layer {layers[high]})"
        )
    dead = [(layer, b.dead_experts) for layer, b in zip(layers, balance) if b.dead_experts]
    if len(dead) == 1:
        ((layer, n),) = dead
        parts.append(f"{n} dead expert{'s' if n > 1 else ''} in layer {layer}")
    elif dead:
        low, high = min(n for _, n in dead), max(n for _, n in dead)
        each = f"{low}" if low == high else f"{low} to {high}"
        parts.append(f"dead experts in {len(dead)} of {len(layers)} layers ({each} per layer)")
    else:
        parts.append("no dead expert")
    return "; ".join(parts)


def jobs(results):
    """One figure per method with ``expert_load`` entries for two or more layers."""
    labels = method_labels(results)
    by_method = {}
    for entry in results.get("expert_load", []):
        if entry.get("layer") is not None:
            by_method.setdefault(entry["method"], {})[entry["layer"]] = entry
    for method, entries in by_method.items():
        if len(entries) < 2:
            continue
        layers = sorted(entries)
        loads = [entries[layer]["counts"] for layer in layers]
        # Shares of the layer's routings for every method, top-k and BH alike: one scale, even = 1/E, to compare.
        arguments = {"layer_loads": loads, "layers": layers, "order": "given"}
        data = prepare(**arguments)
        unit = "tokens" if data.of_tokens else "routings"
        yield FigureJob(
            f"_{method}",
            arguments,
            (
                "",
                labels[method],
                f": each expert's share of the layer's {unit} in {len(layers)} layers ({len(loads[0])} experts); "
                f"{scale_caption(data)}. "
                f"{metrics_caption(data.balance, data.rows)}.",
            ),
        )


FIGURE = FigureSpec(
    name="expert_load_layers",
    title="Load across layers",
    sections=("expert_load",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={"layer_loads": "layer_loads", "layers": "layers"},
    required=("layer_loads",),
    cost=1.5,
)


@shared_docs
def plot_expert_load_layers(
    layer_loads: ArrayLike,
    *,
    layers: Sequence[int] | None = None,
    num_tokens: ArrayLike | None = None,
    order: str = "given",
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Heatmap of layers × experts: each expert's share of its layer's load, an even load mid-scale (log).

    Parameters
    ----------
    layer_loads : array-like
        ``[layers, experts]`` tokens routed to each expert (``expert_load`` counts).
    layers : sequence of int, optional
        The id of each row (default 0, 1, ...).
    num_tokens : array-like, optional
        Tokens per layer. With these and a fixed number of experts per token (top-k), shares
        are of the layer's tokens and an even load is k/E; otherwise shares are of the layer's
        routings and an even load is 1/E.
    order : {"given", "load"}
        Experts in id order, or each layer's experts by their load, busiest first (the axis
        then counts ranks: an expert id names a different expert in each layer).
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For negative or non-finite loads, a layer with no load, layer ids that are not
        distinct or do not match the rows, ``num_tokens`` below a layer's largest load, or an
        unknown ``order``.
    """
    data = prepare(layer_loads, layers, num_tokens, order)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
