"""A per-layer value over training as a strip: layers as rows, training steps as columns, the value as
colour (load imbalance or dead experts per layer as a run trains)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from figkit.arrays import ArrayLike, layer_ids, matrix, vector
from figkit.plots._draw import STEP_LABELS, colour_bar, mathtext_label, readable, set_title, short_step
from figkit.plots.spec import FigureJob, FigureSpec, shared_docs
from figkit.results import method_labels
from figkit.results.sections.series import STEP_UNITS


@dataclass(frozen=True)
class Strip:
    values: np.ndarray  # [layers, steps]
    layers: tuple
    steps: np.ndarray
    label: str
    step_unit: str
    method: str


def prepare(values, *, steps, layers=None, label="Value", step_unit="steps", method=""):
    """Validate a ``[layers, steps]`` array of one method's per-layer values and the steps they were logged at."""
    if step_unit not in STEP_UNITS:
        raise ValueError(f"step_unit must be one of {', '.join(STEP_UNITS)}, got {step_unit!r}")
    values = matrix(values, "values").astype(float)
    steps = vector(steps, "steps").astype(float)
    if steps.size != values.shape[1]:
        raise ValueError(f"steps has {steps.size} entries for {values.shape[1]} columns of values")
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be ascending, each once")
    ids = layer_ids(layers, values.shape[0], "rows of values")
    return Strip(values, ids, steps, str(label), step_unit, str(method))


def _edges(steps):
    """Cell edges halfway between logged steps (a lone step: one unit either side)."""
    if steps.size == 1:
        return np.array([steps[0] - 0.5, steps[0] + 0.5])
    middle = (steps[:-1] + steps[1:]) / 2
    return np.concatenate([[2 * steps[0] - middle[0]], middle, [2 * steps[-1] - middle[-1]]])


def draw(ax, data):
    rows = np.arange(len(data.layers) + 1) - 0.5
    low = 0.0 if data.values.min() >= 0 else None  # a non-negative value's zero is the scale's lightest colour
    cmap = mpl.rcParams["image.cmap"]
    mesh = ax.pcolormesh(_edges(data.steps), rows, data.values, cmap=cmap, vmin=low, shading="flat")
    ax.set_yticks(range(len(data.layers)), [str(layer) for layer in data.layers])
    if len(data.layers) > 12:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.yaxis.set_major_formatter(
            FuncFormatter(lambda y, _: f"{data.layers[int(y)]}" if 0 <= y < len(data.layers) else "")
        )
    ax.invert_yaxis()  # the first layer on top, as the model reads
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], min_n_ticks=3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: short_step(value)))
    ax.set_xlabel(STEP_LABELS[data.step_unit])
    ax.set_ylabel("Layer")
    ax.grid(False)
    colour_bar(ax, mesh, mathtext_label(data.label))
    set_title(ax, f"{data.label}, {data.method}" if data.method else data.label)


def jobs(results):
    """One strip per series name and method logged in two or more layers at the same steps."""
    entries = [e for e in results.get("series", []) if e.get("layer") is not None]
    labels = method_labels(results)
    info = results.get("metric_info", {})
    for key in dict.fromkeys((e["name"], e["method"]) for e in entries):
        chosen = sorted((e for e in entries if (e["name"], e["method"]) == key), key=lambda e: e["layer"])
        chosen = [e for e in chosen if e["steps"] == chosen[0]["steps"]]
        if len(chosen) < 2:
            continue
        name, method = key
        arguments = {
            "values": [e["values"] for e in chosen],
            "steps": chosen[0]["steps"],
            "layers": [e["layer"] for e in chosen],
            "label": info.get(name, {}).get("label") or readable(name),
            "step_unit": chosen[0].get("step_unit", "steps"),
            "method": labels[method],
        }
        yield FigureJob(f"_{name}_{method}", arguments, tuple(_caption(prepare(**arguments), labels[method])))


def _caption(data, label):
    where = "step" if data.step_unit == "steps" else "tokens seen"
    last = data.values[:, -1]
    high, low = int(np.argmax(last)), int(np.argmin(last))
    at = f"step {data.steps[-1]:,.0f}" if data.step_unit == "steps" else f"{data.steps[-1]:,.0f} tokens"
    return [
        f"{data.label} of each layer (rows, first on top) over training, by {where} (columns, each logged value "
        f"one cell, {data.steps.size:,} in all): colour is the value, as the bar reads. ",
        label,
        f": at {at}, layer {data.layers[high]} is highest ({last[high]:.3g}) and layer {data.layers[low]} lowest "
        f"({last[low]:.3g}).",
    ]


FIGURE = FigureSpec(
    name="training_layers",
    title="Training dynamics per layer",
    sections=("series",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
)


@shared_docs
def plot_training_layers(
    values: ArrayLike,
    *,
    steps: ArrayLike,
    layers: Sequence[int] | None = None,
    label: str = "Value",
    step_unit: str = "steps",
    method: str = "",
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """One method's per-layer value over training as a strip: layers as rows, steps as columns.

    Parameters
    ----------
    values : array-like
        ``[layers, steps]``: the value of each layer at each logged step (a results file's ``series``
        entries with a layer, which ``figkit import`` reads from tags ending in ``layer_<n>``).
    steps : array-like
        The steps the columns were logged at, ascending.
    layers : sequence of int, optional
        The id of each row (default 0, 1, ...).
    label : str
        What the values are; the colour bar's label.
    step_unit : {"steps", "tokens"}
        What the steps count.
    method : str
        The method's name, for the title.
    {figure_parameters}

    Returns
    -------
    {figure_returned}
    """
    data = prepare(values, steps=steps, layers=layers, label=label, step_unit=step_unit, method=method)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
