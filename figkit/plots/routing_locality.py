"""How often consecutive tokens keep the same top-1 expert, per layer, against chance from the layer's loads
(Mixtral's locality analysis)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, integer_at_least, labelled, layer_ids, vector
from figkit.plots._draw import (
    NEUTRAL,
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    set_title,
    set_ylabel,
)
from figkit.plots.looks import method_roles
from figkit.plots.spec import FigureJob, FigureSpec, compared, compared_caption, compared_note, shared_docs
from figkit.results import method_labels

CHANCE = "Chance, from the loads"
ALL_METHODS = "Observed"


@dataclass(frozen=True)
class Locality:
    series: list  # (label, same in %, chance in %, Role or None for the neutral look, (low, high) % or None)
    layers: np.ndarray
    note: str


def prepare(same, chance, layers=None, methods=None, pairs=None):
    """Validate each method's per-layer shares of consecutive pairs with the same top-1 expert, and chance's;
    with the number of ``pairs`` counted (one for all methods, or one per method), each share's 95 % Wilson
    interval."""
    items = labelled(same, "same")
    chances = dict(labelled(chance, "chance")) if isinstance(chance, Mapping) else None
    counts = dict(labelled(pairs, "pairs")) if isinstance(pairs, Mapping) else None
    roles = method_roles([label for label, _ in items], methods) if methods or len(items) > 1 else {}
    series, size = [], None
    for label, values in items:
        shares = _shares(values, f"same[{label!r}]", size)
        size = shares.size
        expected = _shares(chances[label] if chances is not None else chance, f"chance[{label!r}]", size)
        n = counts[label] if counts is not None else pairs
        interval = None if n is None else _wilson(shares, integer_at_least(n, f"pairs[{label!r}]", 1))
        series.append((mathtext_label(label), 100 * shares, 100 * expected, roles.get(label), interval))
    ids = np.asarray(layer_ids(layers, size, "layers"))
    shown = [series[i] for i in compared(len(series))]
    return Locality(shown, ids, compared_note(len(shown), len(series)))


def _wilson(shares, n):
    """The 95 % Wilson interval, in %, of each share of ``n`` pairs (scipy's)."""
    from scipy.stats import binomtest

    bounds = [binomtest(int(round(share * n)), n).proportion_ci(method="wilson") for share in shares]
    return 100 * np.array([bound.low for bound in bounds]), 100 * np.array([bound.high for bound in bounds])


def _shares(values, name, size):
    shares = vector(values, name).astype(float)
    if shares.min() < 0 or shares.max() > 1:
        raise ValueError(f"{name}: shares must be between 0 and 1")
    if size is not None and shares.size != size:
        raise ValueError(f"{name} has {shares.size} layers, the first method {size}")
    return shares


def _labels(data):
    return [label for label, *_ in data.series] + [CHANCE]


def height(data, width):
    return height_with_legend_above(_labels(data), width, data.note)


def draw(ax, data):
    handles = []
    for _, same, chance, role, interval in data.series:
        look = role.look().line() if role is not None else {"color": NEUTRAL, "marker": "o", "linestyle": "-"}
        if interval is not None:
            ax.fill_between(data.layers, *interval, color=look["color"], alpha=0.15, linewidth=0)
        (line,) = ax.plot(data.layers, same, linewidth=line_width(1.33), markersize=marker_size(), **look)
        ax.plot(data.layers, chance, color=look["color"], linestyle="--", marker="none", linewidth=line_width(0.9))
        handles.append(line)
    # The key of the dashed lines: in the one method's colour, else a neutral one standing for each method's
    key = handles[0].get_color() if len(handles) == 1 else NEUTRAL
    handles.append(Line2D([], [], color=key, linestyle="--", linewidth=line_width(0.9)))
    top = max(
        max(same.max(), chance.max(), 0 if interval is None else interval[1].max())
        for _, same, chance, _, interval in data.series
    )
    ax.set_ylim(0, min(100, top * 1.15))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Layer")
    set_ylabel(ax, "Same top-1 as the token before (%)")
    set_title(ax, "Routing locality", data.note)
    legend_above(ax, handles, _labels(data))


def jobs(results):
    """One figure of every method's locality; a single line when every method's is the same (one router)."""
    entries = results.get("routing_locality", [])
    if not entries:
        return
    labels = method_labels(results)
    order = [m["id"] for m in results["methods"]]
    entries = sorted(entries, key=lambda e: order.index(e["method"]))
    layers = entries[0]["layers"]
    entries = [e for e in entries if e["layers"] == layers]
    same = len({repr((e["same_top1"], e["chance"])) for e in entries}) == 1
    if same:
        arguments = {"same": {ALL_METHODS: entries[0]["same_top1"]}, "chance": entries[0]["chance"]}
    else:
        arguments = {"same": {labels[e["method"]]: e["same_top1"] for e in entries}}
        arguments["chance"] = {labels[e["method"]]: e["chance"] for e in entries}
    arguments |= {"layers": layers, "methods": None if same else results["methods"]}
    if all("num_pairs" in e for e in entries):
        arguments["pairs"] = entries[0]["num_pairs"] if same else {labels[e["method"]]: e["num_pairs"] for e in entries}
    yield FigureJob("", arguments, tuple(_caption(entries, labels, same)))


def _caption(entries, labels, same):
    pairs = min(e.get("num_pairs", 0) for e in entries)
    counted = f" ({pairs:,} pairs)" if pairs else ""
    whose = (
        f", the same for all {len(entries)} methods, which route the same logits" if same and len(entries) > 1 else ""
    )
    parts = [
        f"Per layer, the share of consecutive tokens of a sequence{counted} whose top-1 expert (largest router logit) "
        f"is the token before's{whose}; dashed, the share expected by chance if top-1 experts were drawn "
        "independently at the layer's loads (the sum of each expert's squared share)"
        + ("; band: the 95 % Wilson interval of each share. " if pairs else ". ")
    ]
    shown = entries[:1] if same else [entries[i] for i in compared(len(entries))]
    for entry in shown:
        ratio = np.asarray(entry["same_top1"]) / np.maximum(entry["chance"], 1e-12)
        i = int(np.argmax(ratio))
        said = (
            f"most above chance in layer {entry['layers'][i]}: {100 * entry['same_top1'][i]:.1f}% against "
            f"{100 * entry['chance'][i]:.1f}%"
        )
        if pairs:
            lows, highs = _wilson(entry["same_top1"], entry["num_pairs"])
            chance = 100 * np.asarray(entry["chance"])
            where = "inside" if lows[i] <= chance[i] <= highs[i] else "outside"
            said += f"; chance lies {where} the share's 95 % interval, {lows[i]:.1f}% to {highs[i]:.1f}%"
            outside = int(np.count_nonzero((chance < lows) | (chance > highs)))
            layers = len(chance)
            said += (
                f". Chance lies outside a layer's interval in {outside} of the {layers} layers (not corrected for "
                f"{layers} comparisons)"
            )
        said += ". "
        if same:  # caption parts alternate text and labels: one router's sentence is text
            parts[-1] += said[0].upper() + said[1:]
        else:
            parts += [labels[entry["method"]], f" is {said}"]
    if not same and len(shown) < len(entries):
        parts[-1] += compared_caption(len(shown), len(entries)).strip() + " "
    parts[-1] = parts[-1].rstrip()
    return parts


FIGURE = FigureSpec(
    name="routing_locality",
    title="Routing locality",
    sections=("routing_locality",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_routing_locality(
    same: Mapping[str, ArrayLike],
    *,
    chance: ArrayLike | Mapping[str, ArrayLike],
    layers: Sequence[int] | None = None,
    methods: Sequence[Mapping] | None = None,
    pairs: int | Mapping[str, int] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Per layer, how often a token keeps the top-1 expert of the token before it, against chance.

    Parameters
    ----------
    same : dict
        Method name to its share in [0, 1] per layer of consecutive token pairs with the same top-1 expert
        (a results file's ``routing_locality``, which ``RoutingStats`` writes given positions).
    chance : array or dict
        The share expected by chance per layer (one for all methods, or one per method): the sum of each
        expert's squared share of the layer's top-1 choices.
    layers : sequence of int, optional
        The id of each layer (default 0, 1, ...).
    pairs : int or dict, optional
        How many consecutive pairs each share counts (one for all methods, or one per method): each share
        gets its 95 % Wilson interval as a band.
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}
    """
    data = prepare(same, chance, layers, methods, pairs)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
