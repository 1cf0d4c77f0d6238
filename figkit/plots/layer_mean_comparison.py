"""Mean experts per token in each layer, one line per method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, count_histogram, labelled, layer_histograms, layer_id
from figkit.plots._draw import (
    height_with_legend_above,
    layer_group,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    set_title,
)
from figkit.plots.looks import method_roles
from figkit.plots.spec import (
    FigureJob,
    FigureSpec,
    add_shading_sentence,
    compared,
    compared_caption,
    compared_note,
    compute_sentence,
    listed,
    shared_docs,
)
from figkit.results import method_counts, method_labels


@dataclass(frozen=True)
class LayerMeans:
    methods: list  # (label, layer ids, mean experts per layer, Role)
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""


def prepare(layer_counts_by_method, methods=None):
    """Validate each method's per-layer counts; keep each layer's mean (of at most ``MAX_COMPARED`` methods)."""
    items = labelled(layer_counts_by_method, "layer_counts_by_method")
    roles = method_roles([label for label, _ in items], methods)
    series = []
    for label, layers in items:
        name = f"layer_counts_by_method[{label!r}]"
        if isinstance(layers, Mapping):
            ids = [layer_id(layer, name) for layer in layers]
            hists = [count_histogram(counts, f"{name}[{layer}]") for layer, counts in layers.items()]
        else:
            hists = layer_histograms(layers, name)
            ids = list(range(len(hists)))
        order = np.argsort(ids, kind="stable")
        means = np.array([hists[i].mean for i in order])
        series.append((mathtext_label(label), np.asarray(ids)[order], means, roles[label]))
    shown = [series[i] for i in compared(len(series))]
    return LayerMeans(shown, compared_note(len(shown), len(series)))


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above([label for label, *_ in data.methods], width, data.note)


def draw(ax, data):
    for label, layers, means, role in data.methods:
        look = role.look().line()
        every = layer_group(len(layers))  # a marker per layer, up to MAX_LAYERS_DRAWN of them
        ax.plot(
            layers, means, linewidth=line_width(1.33), markersize=marker_size(), markevery=every, label=label, **look
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1.05 * max(means.max() for _, _, means, _ in data.methods))
    ax.set_xlabel("Layer")
    ax.set_ylabel("Mean experts per token")
    set_title(ax, "", data.note)
    legend_above(ax)


def _layer_range(layers):
    """A method's fewest and most experts per token over its layers, for the caption: " (fewest 1.71 in
    layer 0, most 2.14 in layer 13)"; nothing for a method that selects the same number in every layer."""
    means = {layer: sum(k * n for k, n in hist.items()) / sum(hist.values()) for layer, hist in layers.items()}
    low, high = min(means, key=means.get), max(means, key=means.get)
    if means[high] - means[low] < 0.005:
        return ""
    return f" (fewest {means[low]:.2f} in layer {low}, most {means[high]:.2f} in layer {high})"


def jobs(results):
    """One figure when two or more methods have ``expert_counts`` for two or more layers."""
    everyone = method_counts(results)
    counts = {m: c for m, c in everyone.items() if len(c.layers) > 1}
    if len(counts) < 2:
        return
    labels = method_labels(results)
    shown = [list(counts)[i] for i in compared(len(counts))]
    caption = [
        f"Mean experts selected per token in each layer, by method{compared_caption(len(shown), len(counts))}: ",
        *listed([labels[m] for m in shown], [_layer_range(counts[m].layers) for m in shown]),
    ]
    if any(m.get("baseline") for m in results["methods"] if m["id"] in shown):
        caption[-1] += " Dashed grey: the baseline."
    caption[-1] += " "
    caption += compute_sentence(results, everyone, shown)
    add_shading_sentence(caption, results, shown)
    arguments = {
        "layer_counts_by_method": {labels[m]: c.layers for m, c in counts.items()},
        "methods": results["methods"],
    }
    yield FigureJob("", arguments, tuple(caption))


FIGURE = FigureSpec(
    name="layer_mean_comparison",
    title="Experts per token by layer, methods compared",
    sections=("expert_counts",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_layer_mean_comparison(
    layer_counts_by_method: Mapping[str, ArrayLike | Sequence | Mapping[int, ArrayLike]],
    *,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Mean experts per token in each layer for several routing methods, one line each.

    Parameters
    ----------
    layer_counts_by_method : dict
        Method name (``$...$`` maths allowed) to its per-layer counts: a 2-D
        [layers, tokens] array or a list per layer (layers 0, 1, ...), or a dict of
        layer id to counts (for models whose MoE layers skip some ids). Each layer's
        counts are one per token or a ``{experts: tokens}`` histogram.
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no methods, a bad layer id, or counts that are empty, negative, fractional or non-finite.
    """
    data = prepare(layer_counts_by_method, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
