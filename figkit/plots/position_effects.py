"""Routing against a token's position in its sequence: experts per token, or the router's top-1 probability,
averaged over positions in doubling bins, one line per layer."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, to_numpy, vector, whole_vector
from figkit.plots._draw import (
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    set_title,
    set_ylabel,
)
from figkit.plots.looks import LAYER_COLOURS_SAID, layer_colours
from figkit.plots.spec import FigureJob, FigureSpec, layers_text, representative_layers, shared_docs
from figkit.results import method_labels

AXIS_LABELS = {"experts": "Mean experts per token", "top1_probability": "Mean top-1 routing probability"}
ALL_METHODS = "all methods"
MAX_TICK_LABELS = 8  # bins labelled one by one; more, and every second is
CONFIDENCE_Z = 1.959964  # a 95 % normal interval of a bin's mean
MIN_BAND_TOKENS = 30  # fewer tokens in a bin: no band, as the normal interval of its mean is no guide
BAND_ALPHA = 0.2


@dataclass(frozen=True)
class Positions:
    measure: str
    bins: list  # each bin's positions as its label says them: "0", "1", "2–3", ..., "64–127"
    tokens: np.ndarray  # tokens in each bin (of each layer)
    means: list  # (layer, token-weighted mean per bin, half-width of its 95 % interval or None)
    heading: str


def doubling_bins(positions):
    """Each position's bin: 0, 1, 2-3, 4-7, 8-15, ...: as many tokens' worth of detail at the start of a
    sequence, where routing changes, as a line can show over thousands of positions."""
    return np.where(positions == 0, 0, np.floor(np.log2(np.maximum(positions, 1))).astype(np.int64) + 1)


def prepare(
    positions, means, num_tokens, measure="experts", layers=None, method=None, methods=None, stds=None, pooled_from=None
):
    """Validate per-position means of each layer and pool them over doubling bins, weighted by tokens (with a
    95 % interval of each bin's mean when the per-position standard deviations ``stds`` are given)."""
    if methods is not None:
        warnings.warn(
            "methods no longer changes the position figure: its layers take the colours layers have in every "
            "figure, in no method's colour; the argument goes in figkit 0.3",
            DeprecationWarning,
            stacklevel=3,
        )
    if measure not in AXIS_LABELS:
        raise ValueError(f"measure must be one of {', '.join(AXIS_LABELS)}, got {measure!r}")
    places = whole_vector(positions, "positions")
    tokens = whole_vector(num_tokens, "num_tokens")
    if tokens.size != places.size:
        raise ValueError(f"num_tokens has {tokens.size} values for {places.size} positions")
    if np.any(np.diff(places) <= 0):
        raise ValueError("positions must be ascending, each once")
    rows = _rows(means, "means", places.size, layers)
    spreads = None if stds is None else _rows(stds, "stds", places.size, layers)
    bins = doubling_bins(places)
    used = np.unique(bins)
    weights = np.bincount(bins, weights=tokens)[used]
    shown = []
    for layer, values in rows.items():
        mean = np.bincount(bins, weights=values * tokens)[used] / weights
        half = None
        if spreads is not None:  # the bin's variance from each position's mean and spread
            squares = np.bincount(bins, weights=(spreads[layer] ** 2 + values**2) * tokens)[used] / weights
            half = CONFIDENCE_Z * np.sqrt(np.maximum(squares - mean**2, 0) / weights)
            half[weights < MIN_BAND_TOKENS] = np.nan
        shown.append((layer, mean, half))
    labels = [_range(places[bins == b], pooled_from) for b in used]
    heading = "Routing by position" if method is None else f"{mathtext_label(str(method))}: routing by position"
    return Positions(measure, labels, weights.astype(np.int64), shown, heading)


def _rows(values, name, size, layers):
    """``{layer: values per position}`` from a dict or a ``[layers, positions]`` array."""
    rows = values if isinstance(values, Mapping) else dict(enumerate(to_numpy(values, name).reshape(-1, size)))
    if layers is not None and not isinstance(values, Mapping):
        rows = dict(zip(layers, rows.values()))
    checked = {}
    for layer, row in rows.items():
        row = vector(row, f"{name}[{layer!r}]").astype(float)
        if row.size != size:
            raise ValueError(f"{name}[{layer!r}] has {row.size} values for {size} positions")
        checked[layer] = row
    return checked


def _range(positions, pooled_from):
    """A bin's label from the positions seen in it: "0", "2–3", "64–127", "4,096+" for the pooled last one."""
    low, high = int(positions.min()), int(positions.max())
    if pooled_from is not None and high >= pooled_from:
        return f"{low:,}+"
    return f"{low:,}" if low == high else f"{low:,}\N{EN DASH}{high:,}"


def height(data, width):
    return height_with_legend_above([f"Layer {layer}" for layer, *_ in data.means], width)


def draw(ax, data):
    steps = np.arange(len(data.bins))
    colours = layer_colours([int(layer) for layer, *_ in data.means])  # as every figure tells layers apart
    banded = any(half is not None for _, _, half in data.means)
    few = (data.tokens < MIN_BAND_TOKENS) & banded  # bins too small for an interval: hollow, read as uncertain
    for (layer, mean, half), colour in zip(data.means, colours):
        ax.plot(
            steps,
            mean,
            color=colour,
            marker="o",
            linewidth=line_width(1.33),
            markersize=marker_size(0.8),
            markevery=list(np.flatnonzero(~few)),
            label=f"Layer {layer}",
        )
        if few.any():
            ax.plot(
                steps[few],
                mean[few],
                linestyle="none",
                color=colour,
                marker="o",
                markersize=marker_size(0.8),
                markerfacecolor="white",
                markeredgewidth=line_width(0.8),
            )
        if half is not None:
            ax.fill_between(steps, mean - half, mean + half, color=colour, alpha=BAND_ALPHA, linewidth=0)
    ax.set_xticks(steps, data.bins if len(data.bins) <= MAX_TICK_LABELS else _every_second(data.bins))
    ax.set_xlim(-0.4, len(data.bins) - 0.6)
    ax.set_xlabel("Position in the sequence (doubling bins)")
    set_ylabel(ax, AXIS_LABELS[data.measure])
    if data.measure == "experts":
        ax.set_ylim(bottom=0)
    else:
        ax.set_ylim(
            0,
            min(
                1.0,
                max(np.nanmax(mean + (0 if half is None else np.nan_to_num(half))) for _, mean, half in data.means)
                * 1.15,
            ),
        )
    set_title(ax, data.heading)
    legend_above(ax)


def _every_second(labels):
    return [label if i % 2 == 0 else "" for i, label in enumerate(labels)]


def _entries(results, method):
    return {e["layer"]: e for e in results.get("position_effects", []) if e["method"] == method}


def jobs(results):
    """Experts per token by position for each method whose count varies, and the router's top-1 probability
    by position once when every method's is the same (one router), else per method; at the first, middle
    and last layers."""
    labels = method_labels(results)
    top1 = {}
    for method in (m["id"] for m in results["methods"]):
        entries = _entries(results, method)
        if not entries:
            continue
        layers = representative_layers(list(entries))
        if len({round(v, 9) for layer in layers for v in entries[layer]["mean_experts"]}) > 1:
            yield _job(results, labels, method, entries, layers, "experts")
        if all("mean_top1" in entries[layer] for layer in layers):
            top1[method] = (entries, layers)
    shared = len({repr([(e["positions"], e["mean_top1"]) for e in entries.values()]) for entries, _ in top1.values()})
    for method, (entries, layers) in top1.items():
        yield _job(results, labels, method, entries, layers, "top1_probability", every=shared == 1 and len(top1) > 1)
        if shared == 1:
            break


def _job(results, labels, method, entries, layers, measure, every=False):
    first = entries[layers[0]]
    name = "experts" if measure == "experts" else "top1"
    arguments = {
        "positions": first["positions"],
        "means": {layer: entries[layer][f"mean_{name}"] for layer in layers},
        "num_tokens": first["num_tokens"],
        "measure": measure,
        "method": None if every else method,
        "pooled_from": first.get("pooled_from"),
    }
    if all(f"std_{name}" in entries[layer] for layer in layers):
        arguments["stds"] = {layer: entries[layer][f"std_{name}"] for layer in layers}
    data = prepare(**arguments)
    if every:
        whose = [f"The router's top-1 probability (the same for {ALL_METHODS}, which route the same logits)"]
    else:
        whose = [
            "",
            labels[method],
            ": experts per token" if measure == "experts" else ": the router's top-1 probability",
        ]
    said = f" by position in the sequence, {layers_text(layers)} ({LAYER_COLOURS_SAID}), "
    said += f"pooled over doubling bins of positions ({sum(first['num_tokens']):,} tokens per layer)"
    if "stds" in arguments:
        said += (
            f"; bands, 95\N{NO-BREAK SPACE}% intervals of each bin's mean, for bins of {MIN_BAND_TOKENS} tokens or "
            "more (hollow points: fewer). "
        )
    else:
        said += ". "
    layer, mean, _ = data.means[len(data.means) // 2]
    shown = (lambda v: f"{v:.2f}") if measure == "experts" else (lambda v: f"{v:.3g}")
    said += f"Layer {layer}: {shown(mean[0])} at position {data.bins[0]} ({data.tokens[0]:,} tokens), "
    said += f"{shown(mean[-1])} at positions {data.bins[-1]} ({data.tokens[-1]:,} tokens)."
    caption = [*whose[:-1], whose[-1] + said]
    suffix = f"_{measure}" + ("" if every else f"_{method}")
    return FigureJob(suffix, arguments, tuple(caption))


FIGURE = FigureSpec(
    name="position_effects",
    title="Routing by position in the sequence",
    sections=("position_effects",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_position_effects(
    means: ArrayLike | Mapping[int, ArrayLike],
    *,
    positions: ArrayLike,
    num_tokens: ArrayLike,
    measure: str = "experts",
    layers: Sequence[int] | None = None,
    method: str | None = None,
    methods: Sequence[Mapping] | None = None,
    stds: ArrayLike | Mapping[int, ArrayLike] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Routing against position in the sequence: one line per layer, averaged over doubling bins of positions.

    Parameters
    ----------
    means : array ``[layers, positions]`` or dict of layer id to array
        The mean of ``measure`` at each position, per layer (a results file's ``position_effects``).
    positions : array of int
        The positions tokens were seen at, ascending (0: a sequence's first token).
    num_tokens : array of int
        Tokens at each position: the weights of the bins' means.
    measure : {"experts", "top1_probability"}
        Experts per token, or the router's top-1 softmax probability.
    layers : sequence of int, optional
        The layer ids of an array's rows (default 0, 1, ...).
    method : str, optional
        The method (label or id) the figure is of, named in its heading (default: none, for a router every
        method shares). Its layers take the colours layers have in every figure, first to last.
    stds : like ``means``, optional
        The standard deviation at each position: each bin's mean gets a 95 % interval band.
    methods : list of dict, optional
        Deprecated, ignored: it chose the lines' hue (removed in figkit 0.3).
    {figure_parameters}

    Returns
    -------
    {figure_returned}
    """
    data = prepare(positions, means, num_tokens, measure, layers, method, methods, stds)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
