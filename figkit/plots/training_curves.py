"""A value over training, methods compared: what each run logged, faint, and its smoothed line (OLMoE's
load-balancing and router z-loss figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from figkit.arrays import ArrayLike, labelled, vector
from figkit.plots._draw import (
    NEUTRAL,
    STEP_LABELS,
    height_with_legend_above,
    legend_above,
    line_width,
    mathtext_label,
    readable,
    set_title,
    set_ylabel,
    short_step,
    significant,
)
from figkit.plots.looks import method_roles
from figkit.plots.spec import FigureJob, FigureSpec, compared, compared_caption, compared_note, shared_docs
from figkit.results import method_labels
from figkit.results.sections.series import STEP_UNITS

SPAN = 0.05  # by default the moving average reaches back about this share of a run's logged values
MOST_SMOOTHING = 0.95
RAW_ALPHA = 0.6


@dataclass(frozen=True)
class Curves:
    series: list  # (label, steps, values as logged, smoothed, Role or None)
    label: str  # what the values are
    step_unit: str
    smoothing: float
    note: str


def smoothing_for(count):
    """The moving average's weight for ``count`` logged values: one reaching back about 5 % of them (0.9 for
    200 values, none for 20 or fewer), so that it lags by no more than that."""
    return round(min(MOST_SMOOTHING, max(0.0, 1 - 1 / (SPAN * count))), 2)


def smoothed(values, weight):
    """The debiased exponential moving average of ``values`` (TensorBoard's smoothing): each point the
    weighted mean of those before it, weight ``weight ** age``; its first value is the first logged."""
    values = np.asarray(values, dtype=float)
    if weight == 0:
        return values.copy()
    out = np.empty_like(values)
    total, norm = 0.0, 0.0
    for i, value in enumerate(values):
        total = weight * total + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out[i] = total / norm
    return out


def prepare(curves, *, label="Value", step_unit="steps", smoothing=None, methods=None):
    """Validate each method's ``(steps, values)`` and smooth them (by default as ``smoothing_for`` the
    longest run)."""
    if step_unit not in STEP_UNITS:
        raise ValueError(f"step_unit must be one of {', '.join(STEP_UNITS)}, got {step_unit!r}")
    if smoothing is not None and not (isinstance(smoothing, (int, float)) and 0 <= smoothing < 1):
        raise ValueError(f"smoothing must be a weight in [0, 1), got {smoothing!r}")
    items = labelled(curves, "curves")
    roles = method_roles([name for name, _ in items], methods) if methods or len(items) > 1 else {}
    read = [(name, *_steps_and_values(curve, f"curves[{name!r}]")) for name, curve in items]
    if smoothing is None:
        smoothing = smoothing_for(max(values.size for _, _, values in read))
    series = []
    for name, steps, values in read:
        series.append((mathtext_label(name), steps, values, smoothed(values, smoothing), roles.get(name)))
    shown = [series[i] for i in compared(len(series))]
    return Curves(shown, str(label), step_unit, float(smoothing), compared_note(len(shown), len(series)))


def _steps_and_values(curve, name):
    if isinstance(curve, Mapping):
        missing = [key for key in ("steps", "values") if key not in curve]
        if missing:
            raise ValueError(f"{name}: needs {' and '.join(missing)}")
        steps, values = curve["steps"], curve["values"]
    else:
        try:
            steps, values = curve
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected (steps, values) or {{'steps': ..., 'values': ...}}") from None
    steps, values = vector(steps, f"{name} steps"), vector(values, f"{name} values")
    if steps.size != values.size:
        raise ValueError(f"{name}: {steps.size} steps for {values.size} values")
    if np.any(np.diff(steps) <= 0):
        raise ValueError(f"{name}: steps must be ascending, each once")
    return steps.astype(float), values.astype(float)


def _labels(data):
    return [label for label, *_ in data.series]


def height(data, width):
    return height_with_legend_above(_labels(data) if len(data.series) > 1 else [], width, data.note)


def draw(ax, data):
    handles = []
    for _, steps, values, smooth, role in data.series:
        color = role.look().color if role is not None else NEUTRAL
        alone = len(data.series) == 1  # a dashed baseline stands apart from others; alone it is the curve
        linestyle = role.look().linestyle if role is not None and not alone else "-"
        if data.smoothing:  # the values as logged, under their average
            ax.plot(steps, values, color=color, alpha=RAW_ALPHA, linewidth=line_width(0.7), marker="none", zorder=1)
        (line,) = ax.plot(
            steps, smooth, color=color, linestyle=linestyle, linewidth=line_width(1.33), marker="none", zorder=2
        )
        handles.append(line)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], min_n_ticks=3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: short_step(value)))
    ax.set_xlabel(STEP_LABELS[data.step_unit])
    set_ylabel(ax, mathtext_label(data.label))
    set_title(ax, data.label, data.note)
    if len(data.series) > 1:  # one run's name is in the caption
        legend_above(ax, handles, _labels(data))


def jobs(results):
    """One figure per series name logged without a layer, every method that logged it on it."""
    entries = [e for e in results.get("series", []) if e.get("layer") is None]
    labels = method_labels(results)
    info = results.get("metric_info", {})
    order = [m["id"] for m in results["methods"]]
    for name in dict.fromkeys(e["name"] for e in entries):
        chosen = sorted((e for e in entries if e["name"] == name), key=lambda e: order.index(e["method"]))
        units = {e.get("step_unit", "steps") for e in chosen}
        if len(units) > 1:  # steps and tokens on one axis would mislead: the first unit's entries only
            chosen = [e for e in chosen if e.get("step_unit", "steps") == chosen[0].get("step_unit", "steps")]
        label = info.get(name, {}).get("label") or readable(name)
        arguments = {
            "curves": {labels[e["method"]]: {"steps": e["steps"], "values": e["values"]} for e in chosen},
            "label": label,
            "step_unit": chosen[0].get("step_unit", "steps"),
            "methods": results["methods"],
        }
        data = prepare(**arguments)
        yield FigureJob(f"_{name}", arguments, tuple(_caption(data, chosen, labels, info.get(name, {}))))


def _caption(data, entries, labels, info):
    logged = {len(e["steps"]) for e in entries}
    counted = f"{min(logged):,}" if len(logged) == 1 else f"{min(logged):,}\N{EN DASH}{max(logged):,}"
    unit = "step" if data.step_unit == "steps" else "tokens seen"
    described = f" ({info['description']})" if info.get("description") else ""
    shown = compared_caption(len(data.series), len(entries))
    runs = "each run logged" if len(entries) > 1 else "the run logged"
    if data.smoothing:
        smooth = (
            f"the line, their exponential moving average with weight {data.smoothing:g} (debiased, as TensorBoard "
            f"smooths; it reaches back about {1 / (1 - data.smoothing):.0f} values and lags by as many). "
        )
        head = f"faint, the {counted} values {runs}; {smooth}"
    else:
        head = f"the {counted} values {runs}, not smoothed. "
    parts = [f"{data.label} over training{described}, by {unit}{shown}: {head}"]
    if len(entries) == 1:  # the run's name first: the figure has no legend to give it
        parts = ["", labels[entries[0]["method"]], ": " + parts[0]]
    better = info.get("better")
    ends = []
    for (_, steps, values, smooth, _), entry in zip(data.series, [entries[i] for i in compared(len(entries))]):
        where = f"step {steps[-1]:,.0f}" if data.step_unit == "steps" else f"{steps[-1]:,.0f} tokens"
        averaged = f"; smoothed {significant(smooth[-1], 3)}" if data.smoothing else ""
        said = f"starts at {significant(values[0], 3)} and last logs {significant(values[-1], 3)} ({where}{averaged}). "
        if len(entries) == 1:
            parts[-1] += "It " + said
        else:
            parts += [labels[entry["method"]], " " + said]
        ends.append((smooth[-1], entry))
    if better in ("lower", "higher") and len(ends) > 1:
        best = (min if better == "lower" else max)(ends, key=lambda end: end[0])
        parts += [labels[best[1]["method"]], f" ends best, smoothed ({better} is better). "]
    parts[-1] = parts[-1].rstrip()
    return parts


FIGURE = FigureSpec(
    name="training_curves",
    title="Training dynamics",
    sections=("series",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_training_curves(
    curves: Mapping[str, Mapping[str, ArrayLike] | tuple[ArrayLike, ArrayLike]],
    *,
    label: str = "Value",
    step_unit: str = "steps",
    smoothing: float | None = None,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """A value over training, one line per method: the values as logged, faint, and their moving average.

    Parameters
    ----------
    curves : dict
        Method name to ``(steps, values)`` or ``{"steps": ..., "values": ...}`` (a results file's ``series``,
        which ``figkit import`` reads from TensorBoard and CSV files).
    label : str
        What the values are ("Load-balancing loss"); the y axis and the title.
    step_unit : {"steps", "tokens"}
        What the steps count: optimiser steps or tokens seen.
    smoothing : float, optional
        The moving average's weight on the past, in [0, 1): 0 draws the values as logged. By default
        one that reaches back about 5 % of the longest run's values.
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}
    """
    data = prepare(curves, label=label, step_unit=step_unit, smoothing=smoothing, methods=methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
