"""Router saturation: the share of the final checkpoint's top-k routing each checkpoint already makes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, integer_at_least, layer_ids, matrix, vector
from figkit.plots._draw import height_with_legend_above, legend_above, line_width, marker_size, set_title, set_ylabel
from figkit.plots.looks import LAYER_COLOURS_SAID, layer_colours
from figkit.plots.spec import FigureJob, FigureSpec, shared_docs

# Layers early to late along viridis: ordered, and unlike the light-to-dark single hues of method families.
LEGEND_LAYERS = 6  # past this many layers, the first, middle and last are drawn over the range of all


@dataclass(frozen=True)
class Saturation:
    percent: np.ndarray  # [checkpoints, layers]
    progress: np.ndarray
    layers: tuple
    k: int
    progress_label: str


def prepare(values, progress, layers=None, k=8, progress_label="Training step"):
    """Validate ``[checkpoints, layers]`` overlaps in [0, 1] at increasing ``progress``."""
    overlap = matrix(values, "values").astype(float)
    if overlap.min() < 0 or overlap.max() > 1:
        raise ValueError(f"values are overlaps |top-k ∩ final top-k| / k, between 0 and 1; got {overlap.max():g}")
    steps = vector(progress, "progress").astype(float)
    if steps.size != overlap.shape[0]:
        raise ValueError(f"progress has {steps.size} checkpoints for {overlap.shape[0]} rows of values")
    if np.any(np.diff(steps) <= 0):
        raise ValueError("progress must increase from one checkpoint to the next")
    ids = layer_ids(layers, overlap.shape[1], "columns of values")
    return Saturation(100 * overlap, steps, ids, integer_at_least(k, "k", 1), str(progress_label))


def drawn_layers(data):
    """The columns drawn as lines: every layer, or past ``LEGEND_LAYERS`` the first, middle and last."""
    n = len(data.layers)
    return list(range(n)) if n <= LEGEND_LAYERS else [0, n // 2, n - 1]


def _labels(data):
    labels = [f"Layer {data.layers[i]}" for i in drawn_layers(data)]
    return labels + ([f"Range of all {len(data.layers)} layers"] if len(data.layers) > LEGEND_LAYERS else [])


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above(_labels(data), width)


def draw(ax, data):
    colours = layer_colours(data.layers)  # as every figure tells layers apart
    for column in drawn_layers(data):
        ax.plot(
            data.progress,
            data.percent[:, column],
            color=colours[column],
            marker="o" if data.progress.size <= 12 else None,
            markersize=marker_size(0.8),
            linewidth=line_width(1.33),
            label=f"Layer {data.layers[column]}",
        )
    if len(data.layers) > LEGEND_LAYERS:  # sixteen crossing lines cannot be told apart: the rest as the range they span
        ax.fill_between(
            data.progress,
            data.percent.min(axis=1),
            data.percent.max(axis=1),
            color=colours[len(colours) // 2],
            alpha=0.15,
            linewidth=0,
            label=_labels(data)[-1],
            zorder=0.5,
        )
    ax.set_ylim(0, 100)
    ax.set_xlabel(data.progress_label)
    set_ylabel(ax, f"Overlap with final top-{data.k} (%)" if data.k > 1 else "Same top-1 as final (%)")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))  # 10, 20, 30, not 8, 16, 24
    set_title(ax, "Router saturation")
    legend_above(ax)


def _shown(data):
    """What the lines, points and band are, for the caption."""
    marks = " (points: the checkpoints)" if data.progress.size <= 12 else ""
    if len(data.layers) <= LEGEND_LAYERS:
        return f"One line per layer, {LAYER_COLOURS_SAID}{marks}."
    first, middle, last = (data.layers[i] for i in drawn_layers(data))
    return (
        f"Lines: layers {first}, {middle} and {last} ({LAYER_COLOURS_SAID}){marks}; band: the range of all "
        f"{len(data.layers)} layers."
    )


def jobs(results):
    """One figure per entry of ``router_saturation`` (one per k)."""
    for entry in results.get("router_saturation", []):
        data = prepare(entry["values"], entry["progress"], entry["layers"], entry["k"])
        last = data.percent[-1]
        label = entry.get("progress_label", "Training step")
        tokens = f"{entry['num_tokens']:,} tokens" if "num_tokens" in entry else "identical inputs"
        yield FigureJob(
            f"_top{entry['k']}",
            {
                "values": entry["values"],
                "progress": entry["progress"],
                "layers": entry["layers"],
                "k": entry["k"],
                "progress_label": label,
            },
            (
                f"Router saturation: the share of the final checkpoint's top-{entry['k']} experts that each "
                f"earlier checkpoint already selects ({tokens}, {len(data.layers)} layers), against {label.lower()}; "
                f"the final checkpoint itself, 100% by definition, is not drawn. "
                + _shown(data)
                + f" At the last checkpoint shown, the layers reach {last.min():.1f}% to {last.max():.1f}%.",
            ),
        )


FIGURE = FigureSpec(
    name="router_saturation",
    title="Router saturation",
    sections=("router_saturation",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={"saturation": "values", "saturation_progress": "progress"},
    required=("saturation", "saturation_progress"),
    height=height,
)


@shared_docs
def plot_router_saturation(
    values: ArrayLike,
    *,
    progress: Sequence[float],
    layers: Sequence[int] | None = None,
    k: int = 8,
    progress_label: str = "Training step",
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """One line per layer: how much of the final checkpoint's top-k routing each checkpoint already makes.

    Parameters
    ----------
    values : array-like
        ``[checkpoints, layers]``: the mean over tokens of |top-k at the checkpoint ∩ top-k
        at the final checkpoint| / k, on identical inputs (``figkit.routing.RouterSaturation``).
    progress : sequence of float
        Each checkpoint's progress (steps, tokens, % of training), increasing.
    layers : sequence of int, optional
        The id of each column (default 0, 1, ...). Up to six get a legend, more a colour bar.
    k : int
        The size of the compared sets, for the axis label.
    progress_label : str
        The x-axis label.
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For values outside [0, 1], a ``progress`` that does not increase or does not match
        the rows, ``layers`` that do not match the columns, or a ``k`` below 1.
    """
    data = prepare(values, progress, layers, k, progress_label)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
