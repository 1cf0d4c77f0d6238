"""Experts per token, layer by layer: each layer's share of tokens at each whole number of experts (the spec's
box plots and mean trend in its notebook look), early against late layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, layer_histograms, same_length, strings
from figkit.plots._draw import (
    colour_bar,
    height_with_legend_above,
    label_every,
    layer_group,
    legend_above,
    line_width,
    marker_size,
    number,
    only_up_to,
    set_title,
    statistics_beside,
)
from figkit.plots.looks import Role, amount_colours, method_role
from figkit.plots.spec import FigureJob, FigureSpec, shared_docs
from figkit.results import method_counts, method_labels
from figkit.stats import CountHistogram, box_stats
from figkit.style import notebook_look

GRADIENT = ("Blues", 0.3, 0.9)  # colormap and the range of it spanned from first to last layer
MAX_LEGEND_COUNTS = 12  # more whole numbers of experts get a colour bar instead of a legend


@dataclass(frozen=True)
class LayerRouting:
    hists: list  # of each layer drawn, or of each group of layers
    names: list
    role: Role  # the method's colour of every figure: the notebook look's line of means
    group: int = 1  # consecutive layers pooled into each drawn one


def prepare(layer_expert_counts, layer_names=None, method_name=None, methods=None):
    """Validate and reduce each layer's counts to a histogram (layers may differ in length); past
    ``MAX_LAYERS_DRAWN`` layers, pool groups of consecutive layers (``layer_group``)."""
    hists = layer_histograms(layer_expert_counts, "layer_expert_counts")
    if layer_names is None:
        names = [str(i) for i in range(len(hists))]
    else:
        names = strings(layer_names, "layer_names")
        same_length(names, hists, "layer_names", "layer_expert_counts")
    group = layer_group(len(hists))
    if group > 1:
        starts = range(0, len(hists), group)
        hists = [CountHistogram.pooled(hists[i : i + group]) for i in starts]
        names = [_span(names[i : i + group]) for i in starts]
    return LayerRouting(hists, names, method_role(method_name, methods), group)


def _span(names):
    return names[0] if len(names) == 1 else f"{names[0]}\N{EN DASH}{names[-1]}"


def pooled_mean(hists):
    """Mean over all tokens of the given layers (token-weighted)."""
    return sum(h.mean * h.n for h in hists) / sum(h.n for h in hists)


def halves(hists):
    """Early and late layers: the first and the last half (the middle one of an odd count is in neither)."""
    half = len(hists) // 2
    return slice(0, half), slice(len(hists) - half, len(hists))


def summary(hists, names):
    """The overall mean and the means of the early and late layers, as ``label: value`` lines."""
    lines = [f"Overall mean: {number(pooled_mean(hists))}"]
    if len(hists) > 1:
        for label, part in zip(("Early", "Late"), halves(hists)):
            lines.append(f"{label} ({_span(names[part])}): {number(pooled_mean(hists[part]))}")
    return lines


def _counts(data):
    """The whole numbers of experts any layer selects, fewest first."""
    return np.arange(min(h.min for h in data.hists), max(h.max for h in data.hists) + 1)


def _entries(data):
    counts = _counts(data)
    return [str(count) for count in counts] if counts.size <= MAX_LEGEND_COUNTS else []


def height(data, width):
    """The style's height for the axes, and room above them for the legend of counts."""
    return height_with_legend_above(_entries(data), width, title=True)


def draw(ax, data):
    set_title(ax, "Experts per token across layers")  # first: the legend above moves it up
    if notebook_look():
        _draw_boxes(ax, data)
    else:
        _draw_shares(ax, data)
    every = label_every(ax, data.names)
    positions = np.arange(len(data.hists))
    ax.set_xticks(positions[::every], data.names[::every])
    ax.set_xticks(positions, minor=True)
    ax.set_xlabel("Layer" if data.group == 1 else f"Layers, in groups of {data.group:,}")


def _draw_shares(ax, data):
    """Each layer a bar of its tokens' shares, stacked from the fewest experts (light) to the most (dark)."""
    counts = _counts(data)
    shares = np.zeros((len(data.hists), counts.size))
    for i, hist in enumerate(data.hists):
        shares[i, hist.min - counts[0] : hist.max - counts[0] + 1] = hist.fractions
    colours = amount_colours(counts.size)  # light (fewest) to dark, as every figure draws numbers of experts
    bottom = np.zeros(len(data.hists))
    positions = np.arange(len(data.hists))
    for j, count in enumerate(counts):
        ax.bar(positions, shares[:, j], bottom=bottom, width=0.8, color=colours[j], linewidth=0, label=str(count))
        bottom += shares[:, j]
    ax.set_xlim(-0.6, len(data.hists) - 0.4)
    ax.set_ylim(0, 1)
    ax.grid(False, axis="x")
    ax.set_ylabel("Share of tokens")
    if counts.size <= MAX_LEGEND_COUNTS:
        legend_above(ax, title="Experts selected per token")
    else:
        scale = ScalarMappable(
            BoundaryNorm(np.append(counts, counts[-1] + 1) - 0.5, counts.size), ListedColormap(colours)
        )
        bar = colour_bar(ax, scale, "Experts selected per token")
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _draw_boxes(ax, data):
    """The spec's look: a box plot per layer shaded early to late, the mean trend, the summary in a box."""
    hists = data.hists
    positions = np.arange(len(hists))
    stats = [box_stats(h) | {"label": name} for h, name in zip(hists, data.names)]
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
    ax.plot(
        positions,
        [h.mean for h in hists],
        color=data.role.look().color,
        linestyle="-",
        marker="D",
        markersize=marker_size(0.8),
        linewidth=line_width(1.33),
        label="Mean per layer",
        zorder=4,
    )
    ax.set_ylim(min(h.min for h in hists) - 0.5, max(h.max for h in hists) + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    only_up_to(ax.yaxis, max(h.max for h in hists))  # no tick at more experts than any token selected
    ax.set_ylabel("Experts per token")
    legend_above(ax)
    statistics_beside(ax, summary(hists, data.names))


def jobs(results):
    """One figure per method with counts for two or more layers, unless it always selects the same number."""
    labels = method_labels(results)
    for method, counts in method_counts(results).items():
        if len(counts.layers) > 1 and len(counts.pooled) > 1:
            hists = [CountHistogram.from_mapping(hist) for hist in counts.layers.values()]
            names = [str(layer) for layer in counts.layers]
            group = layer_group(len(hists))
            grouped = (
                f" Its {len(hists):,} layers are drawn in groups of {group:,} consecutive layers." if group > 1 else ""
            )
            yield FigureJob(
                f"_{method}",
                {
                    "layer_expert_counts": list(counts.layers.values()),
                    "layer_names": names,
                    "method_name": labels[method],
                    "methods": results["methods"],
                },
                (
                    "",
                    labels[method],
                    f": experts selected per token in each layer ({counts.counted().removesuffix(', pooled')}). "
                    + caption_summary(hists, names)
                    + grouped,
                ),
            )


def caption_summary(hists, names):
    """What the paper figure encodes, and the means the notebook box shows, in words."""
    low, high = min(h.min for h in hists), max(h.max for h in hists)
    text = (
        f"Each bar splits a layer's tokens by the number of experts they select, from {low} (lightest) to "
        f"{high} (darkest). Mean {number(pooled_mean(hists))} over all layers"
    )
    if len(hists) > 1:
        (early, late) = halves(hists)
        span = [_span(names[part]) for part in (early, late)]
        text += (
            f"; {number(pooled_mean(hists[early]))} in layers {span[0]} and {number(pooled_mean(hists[late]))} "
            f"in layers {span[1]}"
        )
    return text + "."


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
                "so each layer would be one block of one shade.",
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
    height=height,
)


@shared_docs
def plot_layer_wise_routing(
    layer_expert_counts: ArrayLike | Sequence,
    layer_names: Sequence[str] | None = None,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    method_name: str | None = None,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The experts each token selected, layer by layer, early to late.

    In the paper and slide styles each layer is a bar of its tokens' shares at each number of experts,
    stacked light (fewest) to dark (most). The notebook look (the spec's) draws a box plot per layer, shaded
    early to late, whiskers at 1.5 IQR, with a line through the per-layer means and a box of the overall
    mean and the means of the first and last half of the layers (all token-weighted).

    Parameters
    ----------
    layer_expert_counts : array-like or sequence
        A 2-D [layers, tokens] array, or one entry per layer: arrays of any length or
        ``{experts: tokens}`` histograms.
    layer_names : sequence of str, optional
        Tick labels, one per layer (default: 0, 1, 2, ...).
    method_name, methods : optional
        The method and the results file's ``methods``: the notebook look draws the line of means in the
        method's colour of every figure. The shares are shaded as every figure shades numbers of experts
        (the style's sequential colours, light for the fewest, dark for the most), in no method's colour.
    save_path, figsize, dpi, ax
        As in every figkit plot function: where to save, size and resolution
        (``None``: the active rcParams), and an axes to draw on.

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For empty, negative, fractional or non-finite counts, or names that do not pair up.
    """
    data = prepare(layer_expert_counts, layer_names, method_name, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
