"""How sure the router is in each layer: quantile bands of its top-1 probability or of its entropy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from figkit.arrays import ArrayLike, labelled, layer_id, to_numpy
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
from figkit.plots.looks import Role, method_roles
from figkit.plots.spec import FigureJob, FigureSpec, compared, compared_caption, compared_note, shared_docs
from figkit.results import method_labels
from figkit.results.sections.router_confidence import MEASURES
from figkit.stats import binned_quantiles, confidence_counts

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
AXIS_LABELS = {"top1_probability": "Top-1 routing probability", "entropy": "Normalised routing entropy"}
MIDDLE_HALF = "25\N{EN DASH}75 %"
FLAT = 0.01  # medians that differ by less across layers are one value
INNER_ALPHA, OUTER_ALPHA, BAND_ALPHA = 0.3, 0.12, 0.2  # one router's two bands; each method's middle half
ALL_METHODS = "All methods"  # the one series of a build whose methods route the same router logits


@dataclass(frozen=True)
class Confidence:
    measure: str
    series: list  # (label, layer ids, quantiles [layers, QUANTILES], Role or None for the neutral look)
    uniform: float | None  # the measure under a uniform router: 1/E, or 1 for the entropy
    experts: int | None
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""


def prepare(counts_by_method, measure="top1_probability", num_experts=None, methods=None):
    """Validate each method's per-layer confidence and keep the quantiles each layer's band draws."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    items = labelled(counts_by_method, "counts_by_method")
    roles = method_roles([label for label, _ in items], methods) if methods or len(items) > 1 else {}
    series = []
    for label, layers in items:
        ids, counts = _layer_counts(layers, measure, f"counts_by_method[{label!r}]")
        quantiles = np.array([binned_quantiles(row, QUANTILES) for row in counts])
        series.append((mathtext_label(label), ids, quantiles, roles.get(label)))
    shown = [series[i] for i in compared(len(series))]
    whole = isinstance(num_experts, (int, np.integer)) and not isinstance(num_experts, bool)
    if num_experts is not None and not (whole and num_experts >= 1):
        raise ValueError(f"num_experts must be a whole number of at least 1, got {num_experts!r}")
    uniform = 1.0 if measure == "entropy" else None if num_experts is None else 1 / num_experts
    experts = None if num_experts is None else int(num_experts)
    return Confidence(measure, shown, uniform, experts, compared_note(len(shown), len(series)))


def _layer_counts(layers, measure, name):
    """(layer ids ascending, ``[layers, bins]`` token counts) from ``{layer: counts}``, a ``[layers, bins]``
    array of counts, or a ``[layers, tokens, experts]`` array of router probabilities."""
    if isinstance(layers, Mapping):
        ids = [layer_id(layer, name) for layer in layers]
        rows = [_counts(counts, f"{name}[{layer}]") for layer, counts in layers.items()]
        if len({row.size for row in rows}) > 1:
            raise ValueError(f"{name}: every layer's counts need the same number of bins")
        order = np.argsort(ids, kind="stable")
        return np.asarray(ids)[order], np.stack(rows)[order]
    array = to_numpy(layers, name)
    if array.ndim == 3:
        probabilities = array.astype(float)
        if probabilities.min() < 0 or probabilities.max() > 1 or not np.allclose(probabilities.sum(-1), 1, atol=1e-3):
            raise ValueError(f"{name}: router probabilities [layers, tokens, experts] must each sum to 1")
        rows = [confidence_counts(layer)[measure] for layer in probabilities]
        return np.arange(len(rows)), np.stack(rows)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected [layers, bins] counts or [layers, tokens, experts] probabilities")
    return np.arange(array.shape[0]), np.stack([_counts(row, f"{name}[{i}]") for i, row in enumerate(array)])


def _counts(counts, name):
    counts = to_numpy(counts, name)
    if counts.ndim != 1 or counts.size < 2:
        raise ValueError(f"{name}: expected tokens per bin, a list of two or more counts")
    if not np.all(np.isfinite(counts)) or counts.min() < 0 or np.any(counts != np.round(counts)):
        raise ValueError(f"{name}: counts of tokens are whole numbers of at least 0")
    if not counts.any():
        raise ValueError(f"{name}: all zero: no token was counted")
    return counts.astype(np.int64)


def _legend_labels(data):
    if len(data.series) == 1:
        labels = ["Median", MIDDLE_HALF, "5\N{EN DASH}95 %"]
    else:
        labels = [label for label, *_ in data.series] + [f"Bands: {MIDDLE_HALF}"]
    return labels + ([_uniform_label(data)] if data.uniform is not None else [])


def _uniform_label(data):
    return f"Uniform, {_uniform_value(data)}"


def _uniform_value(data):
    return "1" if data.measure == "entropy" else f"1/{round(1 / data.uniform)}"


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above(_legend_labels(data), width, data.note)


def draw(ax, data):
    one = len(data.series) == 1
    inner_alpha = INNER_ALPHA if one else BAND_ALPHA
    handles = []
    for _, layers, quantiles, role in data.series:
        look = role.look().line() if isinstance(role, Role) else {"color": NEUTRAL, "marker": "o", "linestyle": "-"}
        if one:
            ax.fill_between(layers, quantiles[:, 0], quantiles[:, 4], color=look["color"], alpha=OUTER_ALPHA, lw=0)
        ax.fill_between(layers, quantiles[:, 1], quantiles[:, 3], color=look["color"], alpha=inner_alpha, lw=0)
        (median,) = ax.plot(layers, quantiles[:, 2], linewidth=line_width(1.33), markersize=marker_size(), **look)
        handles.append(median)
    over_outer = 1 - (1 - OUTER_ALPHA) * (1 - INNER_ALPHA)  # the middle half is drawn over the 5-95 % band
    if one:
        handles += [Patch(color=NEUTRAL, alpha=over_outer), Patch(color=NEUTRAL, alpha=OUTER_ALPHA)]
    else:  # each method's band is in its colour: the key shows only what a band is
        handles.append(Patch(facecolor="none", edgecolor="0.45", linewidth=line_width(0.5)))
    if data.uniform is not None:
        handles.append(ax.axhline(data.uniform, color="0.45", linestyle=":", linewidth=line_width(), zorder=1))
    _y_axis(ax, data)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Layer")
    set_ylabel(ax, AXIS_LABELS[data.measure])
    set_title(ax, "Router confidence", data.note)
    legend_above(ax, handles, _legend_labels(data))


def _y_axis(ax, data):
    """The widest band drawn and the uniform level in view: top-1 probabilities on a log scale (a router's
    layers differ by factors, from 1/E up), entropy on a linear one up to 1."""
    outer = (0, 4) if len(data.series) == 1 else (1, 3)
    low = min(q[:, outer[0]].min() for _, _, q, _ in data.series)
    high = max(q[:, outer[1]].max() for _, _, q, _ in data.series)
    if data.uniform is not None:
        low, high = min(low, data.uniform), max(high, data.uniform)
    if data.measure == "top1_probability":
        ax.set_yscale("log")
        ax.set_ylim(max(low, 1e-4) / 1.25, min(1.0, high * 1.25))
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        pad = 0.06 * (high - low) or 0.01
        ax.set_ylim(max(0.0, low - pad), high + pad)


def _medians_sentence(data, names):
    """Where each series' median is lowest and highest, as caption parts: "The median is lowest in layer 7
    (0.04) and highest in layer 0 (0.21)." (a sentence per method, led by its label, when there are several)."""
    parts = []
    for (_, layers, quantiles, _), name in zip(data.series, names):
        medians = quantiles[:, 2]
        low, high = int(np.argmin(medians)), int(np.argmax(medians))
        if medians[high] - medians[low] < FLAT:
            said = f"stays at {np.median(medians):.2f} (within {FLAT:g}) in every layer."
        else:
            said = (
                f"is lowest in layer {layers[low]} ({medians[low]:.2f}) "
                f"and highest in layer {layers[high]} ({medians[high]:.2f})."
            )
        parts += [f"The median {said} "] if len(data.series) == 1 else [name, f": the median {said} "]
    return parts


def jobs(results):
    """One figure per measure, over the layers ``router_confidence`` gives; the methods drawn as one when
    their counts are the same in every layer (they route the same router logits)."""
    labels = method_labels(results)
    entries = [e for e in results.get("router_confidence", []) if e.get("layer") is not None]
    experts = results.get("model", {}).get("num_experts")
    for measure in MEASURES:
        by_method = {}
        for entry in (e for e in entries if e["measure"] == measure):
            by_method.setdefault(entry["method"], {})[entry["layer"]] = entry["counts"]
        if not by_method:
            continue
        ordered = [m["id"] for m in results["methods"] if m["id"] in by_method]
        same = len({repr(sorted(by_method[m].items())) for m in ordered}) == 1
        if same:
            counts = {ALL_METHODS: by_method[ordered[0]]}
            methods, names = None, [ALL_METHODS]
        else:
            counts = {labels[m]: by_method[m] for m in ordered}
            methods, names = results["methods"], [labels[m] for m in ordered]
        arguments = {"counts_by_method": counts, "measure": measure, "num_experts": experts, "methods": methods}
        data = prepare(**arguments)
        yield FigureJob(f"_{measure}", arguments, tuple(_caption(data, counts, names, same, len(ordered))))


def _caption(data, counts, names, same, count):
    tokens = {sum(layer) for layers in counts.values() for layer in layers.values()}
    per_layer = f"{min(tokens):,}" if len(tokens) == 1 else f"{min(tokens):,}\N{EN DASH}{max(tokens):,}"
    shown = [names[i] for i in compared(len(names))]
    experts = "the experts" if data.experts is None else f"all {data.experts} experts"
    what = {
        "top1_probability": f"top-1 probability (its largest softmax probability over {experts}, before any "
        "selection; logarithmic axis)",
        "entropy": f"routing entropy (of its softmax over {experts}, divided by log E: 1 for a uniform router)",
    }[data.measure]
    if same:
        whose = f", the same for all {count} methods, which route the same router logits" if count > 1 else ""
    else:
        whose = f" by method{compared_caption(len(shown), len(names))}"
    head = f"The router's {what} in each layer{whose}, over {per_layer} tokens per layer (lines join the layers): "
    if same:
        head += (
            "line, the median token; dark band, the middle half of tokens (25\N{EN DASH}75\N{NO-BREAK SPACE}%); "
            "light band, 5\N{EN DASH}95\N{NO-BREAK SPACE}%."
        )
    else:
        head += (
            "line, each method's median token; band, its middle half of tokens (25\N{EN DASH}75\N{NO-BREAK SPACE}%; "
        )
        head += "5\N{EN DASH}95\N{NO-BREAK SPACE}% is left out to keep the methods apart)."
    if data.measure == "top1_probability" and data.uniform is not None:
        head += f" Dotted: 1/{data.experts} = {data.uniform:.3g}, a uniform router."
    elif data.uniform is not None:
        head += " Dotted: 1, a uniform router."
    return [head + " ", *_medians_sentence(data, shown)]


FIGURE = FigureSpec(
    name="router_confidence",
    title="Router confidence by layer",
    sections=("router_confidence",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_router_confidence(
    counts_by_method: Mapping[str, ArrayLike | Mapping[int, ArrayLike]],
    *,
    measure: str = "top1_probability",
    num_experts: int | None = None,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """How sure the router is in each layer: the median token and quantile bands of one measure.

    Parameters
    ----------
    counts_by_method : dict
        Method name (``$...$`` maths allowed) to its per-layer confidence: router probabilities
        ``[layers, tokens, experts]`` (softmax of the router logits; torch or numpy), tokens per even
        bin over [0, 1] as a ``[layers, bins]`` array, or a dict of layer id to the bins of that
        layer (a results file's ``router_confidence``, ``figkit.stats.confidence_counts``). One
        method is drawn as its median with the middle half and 5–95 % of tokens as bands; several
        as one median line each with its middle half.
    measure : {"top1_probability", "entropy"}
        The router's largest softmax probability, or the entropy of its softmax over log(experts).
    num_experts : int, optional
        Draws a uniform router's top-1 probability, 1/E (the entropy's is always 1).
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no methods, an unknown measure, a bad layer id, counts that are negative, fractional or all
        zero, or probabilities that do not sum to 1.
    """
    data = prepare(counts_by_method, measure, num_experts, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
