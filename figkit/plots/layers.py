"""Experts per token, layer by layer: box plots, a mean trend, early against late layers."""

from dataclasses import dataclass

import matplotlib as mpl
import numpy as np

from figkit.arrays import layer_histograms, same_length, strings
from figkit.plots._figure import leave_headroom, line_width, marker_size, number, palette, render, stats_box
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


def draw(fig, data):
    ax = fig.add_subplot()
    hists, names = data.hists, data.names
    positions = np.arange(len(hists))
    stats = [box_stats(h) | {"label": name} for h, name in zip(hists, names)]
    parts = ax.bxp(stats, positions=positions, widths=0.6, patch_artist=True,
                   flierprops={"marker": "o", "markersize": marker_size(0.5), "alpha": 0.5},
                   medianprops={"color": "0.1", "linewidth": line_width()})
    cmap, low, high = GRADIENT
    for box, colour in zip(parts["boxes"], mpl.colormaps[cmap](np.linspace(low, high, len(hists)))):
        box.set_facecolor(colour)
    means = [h.mean for h in hists]
    ax.plot(positions, means, color=palette()[0], linestyle="-", marker="D", markersize=marker_size(0.8),
            linewidth=line_width(1.33),
            label="Mean per layer", zorder=4)
    lines = [f"Overall mean: {number(pooled_mean(hists))}"]
    if len(hists) > 1:
        for label, part in zip(("Early", "Late"), halves(hists)):
            span = names[part]
            layers = span[0] if len(span) == 1 else f"{span[0]}\N{EN DASH}{span[-1]}"
            lines.append(f"{label} ({layers}): {number(pooled_mean(hists[part]))}")
    stats_box(ax, lines, loc="upper left")
    ax.legend(loc="upper right")
    leave_headroom(ax, max(h.max for h in hists) + 0.5, bottom=min(h.min for h in hists) - 0.5)
    ax.set_xlabel("Layer")
    ax.set_ylabel("Experts per token")
    ax.set_title("Experts per token across layers")


def plot_layer_wise_routing(layer_expert_counts, layer_names=None, save_path=None, figsize=None, dpi=100):
    """One box plot per layer of the experts each token selected, early to late.

    ``layer_expert_counts`` is a 2-D [layers, tokens] array or a list with one entry per
    layer (arrays of any length, or ``{experts: tokens}`` histograms). Boxes are shaded
    from early to late layers, a line joins the per-layer means, and a box gives the
    overall mean and the means of the first and last half of the layers (all
    token-weighted). Whiskers span 1.5 IQR. Returns pyplot's current figure.
    """
    data = prepare(layer_expert_counts, layer_names)
    return render(draw, data, figsize=figsize, dpi=dpi, save_path=save_path)
