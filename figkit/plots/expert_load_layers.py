"""Load across layers: each expert's share of each layer's tokens, one row per layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, layer_ids, matrix, non_negative, vector
from figkit.plots._draw import (
    LITERAL,
    NEUTRAL,
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


# Below an even load orange, above it purple, an even load white: ColorBrewer's PuOr (colour-blind safe),
# the load classes' colours of the utilisation figure, without its darkest ends.
# An expert with no load at all (dead) is mid grey: no hue, apart from every share and from white; drawn below
# the scale, it is the colour bar's extension, labelled.
DEAD_GREY = "0.6"
SHARE_COLOURS = ListedColormap(mpl.colormaps["PuOr"](np.linspace(0.12, 0.88, 256))).with_extremes(under=DEAD_GREY)


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
    """A share grid: rows × experts, an even load in the middle of the colour scale and marked on it."""
    share = data.share
    top = max(float(share.max()), 2 * data.uniform)
    norm = TwoSlopeNorm(vmin=0, vcenter=data.uniform, vmax=top)
    cells = np.where(share > 0, share, -1.0)  # below the scale: the grey of no load
    cmap = SHARE_COLOURS.copy()
    cmap.colorbar_extend = "min" if (share == 0).any() else "neither"  # a key for no load only when there is
    image = ax.imshow(cells, cmap=cmap, norm=norm, interpolation="none", aspect="auto")
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
    bar = colour_bar(ax, image, f"Share of the {data.of}'s {unit} (%)")
    bar.ax.axhline(data.uniform, color=NEUTRAL, linewidth=line_width(1.5))
    ticks, labels = share_ticks(data.uniform, top)
    bar.set_ticks(ticks, labels=labels)
    bar.minorticks_off()
    if (share == 0).any():  # the grey extension below the scale
        bar.ax.annotate(
            "none",
            xy=(1.0, 0.0),
            xycoords="axes fraction",
            xytext=(mpl.rcParams["ytick.major.pad"] + mpl.rcParams["ytick.major.size"], -0.6 * points("small")),
            textcoords="offset points",
            va="top",
            ha="left",
            fontsize=mpl.rcParams["ytick.labelsize"],
        )


def share_ticks(even, top):
    """Round colour-bar ticks on both sides of an even load (each side is stretched to half the bar): 0,
    one round value below it, the even load itself, round values above it up to ``top``."""
    locator = MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10])
    lower = [t for t in locator.tick_values(0, even) if 0.25 * even <= t <= 0.75 * even][-1:]
    upper = [t for t in locator.tick_values(even, top) if 1.4 * even <= t <= top]
    ticks = [0.0, *lower, even, *upper]
    labels = ["0", *(f"{t:g}" for t in lower), f"{even:.3g}\neven", *(f"{t:g}" for t in upper)]
    return ticks, labels


def scale_caption(data):
    """What the colours mean: "white is an even load, 1/E = 1.56%, orange less and purple more; grey: ..."."""
    even = "k/E" if data.of_tokens else "1/E"
    none = "; grey: an expert no token was routed to" if (data.share == 0).any() else ""
    return (
        f"white is an even load, {even} = {data.uniform:.3g}%, orange less and purple more (the colour bar gives "
        f"each side half its length){none}"
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
    """Heatmap of layers × experts: each expert's share of its layer's load, an even load mid-scale.

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
