"""Experts per token, layer by layer: box plots, a mean trend, early against late layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, layer_histograms, same_length, strings
from figkit.plots._draw import (
    label_every,
    leave_headroom,
    line_width,
    marker_size,
    number,
    only_up_to,
    palette,
    set_title,
    stats_box,
)
from figkit.plots.spec import FigureJob, FigureSpec
from figkit.results import method_counts, method_labels
from figkit.stats import box_stats

GRADIENT = ("Blues", 0.3, 0.9)  # colormap and the range of it spanned from first to last layer


@dataclass(frozen=True)
class LayerRouting:
    hists: list
    names: list


def prepare(layer_expert_counts, layer_names=None):
    """Validate and reduce each layer's counts to a histogram; layers may differ in length."""
    hists = layer_histograms(layer_expert_counts, "layer_expert_counts")
    if layer_names is None:
        names = [str(i) for i in range(len(hists))]
    else:
        names = strings(layer_names, "layer_names")
        same_length(names, hists, "layer_names", "layer_expert_counts")
    return LayerRouting(hists, names)


def pooled_mean(hists):
    """Mean over all tokens of the given layers (token-weighted)."""
    return sum(h.mean * h.n for h in hists) / sum(h.n for h in hists)


def halves(hists):
    """Early and late layers: the first and the last half (the middle one of an odd count is in neither)."""
    half = len(hists) // 2
    return slice(0, half), slice(len(hists) - half, len(hists))


def draw(ax, data):
    hists, names = data.hists, data.names
    positions = np.arange(len(hists))
    stats = [box_stats(h) | {"label": name} for h, name in zip(hists, names)]
    parts = ax.bxp(
        stats,
        positions=positions,
        widths=0.6,
        patch_artist=True,
        flierprops={"marker": "o", "markersize": marker_size(0.5), "alpha": 0.5},
        medianprops={"color": "0.1", "linewidth": line_width()},
    )
    cmap, low, high = GRADIENT
    for box, colour in zip(parts["boxes"], mpl.colormaps[cmap](np.linspace(low, high, len(hists)))):
        box.set_facecolor(colour)
    means = [h.mean for h in hists]
    ax.plot(
        positions,
        means,
        color=palette()[0],
        linestyle="-",
        marker="D",
        markersize=marker_size(0.8),
        linewidth=line_width(1.33),
        label="Mean per layer",
        zorder=4,
    )
    lines = [f"Overall mean: {number(pooled_mean(hists))}"]
    if len(hists) > 1:
        for label, part in zip(("Early", "Late"), halves(hists)):
            span = names[part]
            layers = span[0] if len(span) == 1 else f"{span[0]}\N{EN DASH}{span[-1]}"
            lines.append(f"{label} ({layers}): {number(pooled_mean(hists[part]))}")
    stats_box(ax, lines, loc="upper left")
    ax.legend(loc="upper right")
    leave_headroom(ax, max(h.max for h in hists) + 0.5, bottom=min(h.min for h in hists) - 0.5)
    only_up_to(ax.yaxis, max(h.max for h in hists))  # the headroom holds the box and legend, not counts
    every = label_every(ax, names)
    ax.set_xticks(positions[::every], names[::every])
    ax.set_xticks(positions, minor=True)
    ax.set_xlabel("Layer")
    ax.set_ylabel("Experts per token")
    set_title(ax, "Experts per token across layers")


def jobs(results):
    """One figure per method with counts for two or more layers, unless it always selects the same number."""
    labels = method_labels(results)
    for method, counts in method_counts(results).items():
        if len(counts.layers) > 1 and len(counts.pooled) > 1:
            tokens = sum(sum(hist.values()) for hist in counts.layers.values())
            yield FigureJob(
                f"_{method}",
                {
                    "layer_expert_counts": list(counts.layers.values()),
                    "layer_names": [str(layer) for layer in counts.layers],
                },
                (
                    "",
                    labels[method],
                    f": experts selected per token in each layer ({tokens:,} tokens over {len(counts.layers)} layers).",
                ),
            )


def omitted(results):
    """A sentence for each method with two or more layers that selects the same number of experts everywhere."""
    labels = method_labels(results)
    for method, counts in method_counts(results).items():
        if len(counts.layers) > 1 and len(counts.pooled) == 1:
            (experts,) = counts.pooled
            yield (
                "",
                labels[method],
                f" selects {experts} experts for every token in each of its {len(counts.layers)} layers, "
                "so its box plots would be flat lines.",
            )


FIGURE = FigureSpec(
    name="layer_wise_routing",
    title="Experts per token, layer by layer",
    sections=("expert_counts",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    omitted=omitted,
    report={"layer_expert_counts": "layer_expert_counts", "layer_names": "layer_names"},
    required=("layer_expert_counts",),
)


def plot_layer_wise_routing(
    layer_expert_counts: ArrayLike | Sequence,
    layer_names: Sequence[str] | None = None,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """One box plot per layer of the experts each token selected, early to late.

    Boxes are shaded from early to late layers, a line joins the per-layer means, and
    a box gives the overall mean and the means of the first and last half of the
    layers (all token-weighted). Whiskers span 1.5 IQR.

    Parameters
    ----------
    layer_expert_counts : array-like or sequence
        A 2-D [layers, tokens] array, or one entry per layer: arrays of any length or
        ``{experts: tokens}`` histograms.
    layer_names : sequence of str, optional
        Tick labels, one per layer (default: 0, 1, 2, ...).
    save_path, figsize, dpi, ax
        As in every figkit plot function: where to save, size and resolution
        (``None``: the active rcParams), and an axes to draw on.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.figure`` when ``ax`` is given, else a new figure that is pyplot's current one.

    Raises
    ------
    ValueError, TypeError
        For empty, negative, fractional or non-finite counts, or names that do not pair up.
    """
    data = prepare(layer_expert_counts, layer_names)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
