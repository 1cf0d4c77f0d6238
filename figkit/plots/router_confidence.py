"""How sure the router is in each layer: quantile bands of its top-1 probability, of its entropy or (for BH)
of the p-value of each token's top expert."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator

from figkit.arrays import ArrayLike, labelled, layer_id, probability, to_numpy
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
from figkit.plots.spec import (
    FigureJob,
    FigureSpec,
    compared,
    compared_caption,
    compared_note,
    layers_text,
    shared_docs,
)
from figkit.results import method_labels
from figkit.results.sections.router_confidence import MEASURES, P_VALUE_DECADES
from figkit.stats import CONFIDENCE_BINS, binned_quantiles, confidence_counts

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
AXIS_LABELS = {
    "top1_probability": "Top-1 routing probability",
    "entropy": "Normalised routing entropy",
    "smallest_p_value": "Top expert's \N{MINUS SIGN}log10 p",
}
MIDDLE_HALF = "25\N{EN DASH}75 %"
FLAT = 0.01  # medians that differ by less across layers are one value
MIN_DECADES = 0.1  # the p-value axis's floor, p = 0.79: a top expert's p-value is below 0.5
FLAT_DECADES = 0.5  # p-value medians within a factor of 10 ** 0.5 across layers are said to stay put
INNER_ALPHA, OUTER_ALPHA, BAND_ALPHA = 0.3, 0.12, 0.2  # one router's two bands; each method's middle half
ALL_METHODS = "All methods"  # the one series of a build whose methods route the same router logits


@dataclass(frozen=True)
class Confidence:
    measure: str
    series: list  # (label, layer ids, quantiles [layers, QUANTILES], Role or None for the neutral look)
    uniform: float | None  # the measure under a uniform router: 1/E, or 1 for the entropy
    experts: int | None
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""
    levels: list  # (alpha, -log10(alpha / E), Role): BH's step-up level for a token's smallest p-value
    floored: bool  # some token's p-value is at or below the smallest the counts tell apart, 1e-40


def prepare(counts_by_method, measure="top1_probability", num_experts=None, methods=None, alphas=None):
    """Validate each method's per-layer confidence and keep the quantiles each layer's band draws."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    items = labelled(counts_by_method, "counts_by_method")
    alphas = labelled(alphas, "alphas") if alphas else []
    if alphas and measure != "smallest_p_value":
        raise ValueError('alphas: BH\'s levels are drawn with measure="smallest_p_value" only')
    lone = len(items) == 1 and items[0][0] == ALL_METHODS  # a build's methods drawn as one: neutral
    named = [label for label, _ in items if not lone] + [label for label, _ in alphas]
    roles = method_roles(named, methods) if methods or len(named) > 1 else {}
    series, floored = [], False
    for label, layers in items:
        ids, counts = _layer_counts(layers, measure, f"counts_by_method[{label!r}]")
        floored |= measure == "smallest_p_value" and bool(counts[:, -1].any())
        quantiles = np.array([binned_quantiles(row, QUANTILES) for row in counts])
        if measure == "smallest_p_value":  # p-values as decades below 1: -log10(p)
            quantiles = P_VALUE_DECADES * quantiles
        series.append((mathtext_label(label), ids, quantiles, roles.get(label)))
    shown = [series[i] for i in compared(len(series))]
    whole = isinstance(num_experts, (int, np.integer)) and not isinstance(num_experts, bool)
    if num_experts is not None and not (whole and num_experts >= 1):
        raise ValueError(f"num_experts must be a whole number of at least 1, got {num_experts!r}")
    if alphas and num_experts is None:
        raise ValueError("alphas: BH's level for the top expert is alpha / num_experts; give num_experts")
    uniform = {"entropy": 1.0, "top1_probability": None if num_experts is None else 1 / num_experts}.get(measure)
    experts = None if num_experts is None else int(num_experts)
    checked = [(probability(alpha, f"alphas[{label!r}]"), roles.get(label)) for label, alpha in alphas]
    levels = [
        (alpha, -math.log10(alpha / experts), role) for alpha, role in (checked[i] for i in compared(len(checked)))
    ]
    note = compared_note(len(shown), len(series))
    return Confidence(measure, shown, uniform, experts, note, levels, floored)


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
        if measure == "smallest_p_value":
            raise ValueError(f"{name}: p-values come from a rule's tests, not from router probabilities; give counts")
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
    if data.levels:  # one key for the family's lines, light to dark
        labels.append(f"$\\alpha/{data.experts}$, $\\alpha$ = {_alphas(data)}")
    return labels + ([_uniform_label(data)] if data.uniform is not None else [])


def _alphas(data):
    """The levels' alphas in words: "0.01, 0.05, 0.1, 0.2", or "0.01 to 0.5" for more than four."""
    alphas = sorted(alpha for alpha, _, _ in data.levels)
    return ", ".join(f"{a:g}" for a in alphas) if len(alphas) <= 4 else f"{alphas[0]:g} to {alphas[-1]:g}"


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
    drawn = [
        ax.axhline(level, color=role.look().color if isinstance(role, Role) else NEUTRAL, linestyle="--", zorder=1)
        for _, level, role in sorted(data.levels, key=lambda item: item[0])
    ]
    for line in drawn:
        line.set_linewidth(line_width())
    if drawn:
        handles.append(drawn[len(drawn) // 2])
    if data.uniform is not None:
        handles.append(ax.axhline(data.uniform, color="0.45", linestyle=":", linewidth=line_width(), zorder=1))
    _y_axis(ax, data)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Layer")
    set_ylabel(ax, AXIS_LABELS[data.measure])
    set_title(ax, "Router confidence", data.note)
    legend_above(ax, handles, _legend_labels(data))


def _y_axis(ax, data):
    """The widest band drawn and the reference levels in view: top-1 probabilities on a log scale (a router's
    layers differ by factors, from 1/E up), p-values as -log10(p) on a log scale (p = 1e-2 and 1e-40 both
    in view, the surest at the top), entropy on a linear one up to 1."""
    outer = (0, 4) if len(data.series) == 1 else (1, 3)
    ends = np.array([q[:, list(outer)] for _, _, q, _ in data.series])
    levels = [level for _, level, _ in data.levels]
    references = levels + ([data.uniform] if data.uniform is not None else [])
    low, high = min(ends.min(), *references), max(ends.max(), *references)
    if data.measure == "smallest_p_value":
        ax.set_yscale("log")
        low, high = max(low / 1.15, MIN_DECADES), high * 1.15
        ax.set_ylim(low, high)
        ax.yaxis.set_major_locator(FixedLocator(_decade_ticks(low, high)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    elif data.measure == "top1_probability":
        ax.set_yscale("log")
        ax.set_ylim(max(low, 1e-4) / 1.25, min(1.0, high * 1.25))
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        pad = 0.06 * (high - low) or 0.01
        ax.set_ylim(max(0.0, low - pad), high + pad)


def _decade_ticks(low, high):
    """Ticks of the p-value axis, in decades below 1: every decade over a short range, else 1, 2, 5, 10, 20,
    50, ... (regular on an axis logarithmic in the decades)."""
    first, last = math.ceil(low), math.floor(high)
    if last - first < 8:
        return list(range(max(first, 1), last + 1))
    return [d for power in range(3) for d in (10**power, 2 * 10**power, 5 * 10**power) if low <= d <= high]


def _medians_sentence(data, names):
    """Where each series' median is lowest and highest, as caption parts (label, text, ...): "The median is
    lowest in layer 7 (0.04) and highest in layer 0 (0.21)." (a sentence per method, led by its label, when
    there are several); p-values as powers of ten, smallest and largest."""
    parts = []
    p_values = data.measure == "smallest_p_value"
    for (_, layers, quantiles, _), name in zip(data.series, names):
        lead = ["", "The median "] if len(data.series) == 1 else [name, ": the median "]
        medians = -quantiles[:, 2] if p_values else quantiles[:, 2]  # p-values: their log10
        low, high = int(np.argmin(medians)), int(np.argmax(medians))
        if p_values and medians[high] - medians[low] < FLAT_DECADES:
            parts += [*lead[:-1], lead[-1] + "stays between ", _power(medians[low]), " and "]
            parts += [_power(medians[high]), " in every layer. "]
            continue
        if p_values:  # p-values differ by factors: the ends as powers of ten, in the caption's maths
            lead[-1] += f"is smallest in layer {layers[low]} ("
            parts += [*lead, _power(medians[low]), f") and largest in layer {layers[high]} ("]
            parts += [_power(medians[high]), "). "]
            continue
        if medians[high] - medians[low] < FLAT:
            said = f"stays at {np.median(medians):.2f} (within {FLAT:g}) in every layer."
        else:
            said = (
                f"is lowest in layer {layers[low]} ({medians[low]:.2f}) "
                f"and highest in layer {layers[high]} ({medians[high]:.2f})."
            )
        parts += [lead[0], lead[1] + said + " "]
    return parts


def _power(exponent):
    """10 to ``exponent`` as maths, one significant figure: "$3 \\times 10^{-5}$"."""
    mantissa, power = f"{10.0**exponent:.0e}".split("e")
    return f"${mantissa} \\times 10^{{{int(power)}}}$"


def jobs(results):
    """One figure per measure, over the layers ``router_confidence`` gives; the methods drawn as one when
    their counts are the same in every layer (they route the same router logits, or test them under the
    same null)."""
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
            counts, names = {ALL_METHODS: by_method[ordered[0]]}, [ALL_METHODS]
        else:
            counts, names = {labels[m]: by_method[m] for m in ordered}, [labels[m] for m in ordered]
        arguments = {"counts_by_method": counts, "measure": measure, "num_experts": experts}
        arguments["methods"] = results["methods"]
        if measure == "smallest_p_value" and experts:
            alphas = {labels[m["id"]]: (m.get("params") or {}).get("alpha") for m in results["methods"]}
            arguments["alphas"] = {label: alphas[label] for label in map(labels.get, ordered) if alphas[label]}
        data = prepare(**arguments)
        yield FigureJob(f"_{measure}", arguments, tuple(_caption(data, counts, names, same, len(ordered))))


def _caption(data, counts, names, same, count):
    tokens = {sum(layer) for layers in counts.values() for layer in layers.values()}
    per_layer = f"{min(tokens):,}" if len(tokens) == 1 else f"{min(tokens):,}\N{EN DASH}{max(tokens):,}"
    shown = [names[i] for i in compared(len(names))]
    experts = "the experts" if data.experts is None else f"all {data.experts} experts"
    what = {
        "top1_probability": f"The router's top-1 probability (its largest softmax probability over {experts}, "
        "before any selection; logarithmic axis)",
        "entropy": f"The router's routing entropy (of its softmax over {experts}, divided by log E: 1 for a "
        "uniform router)",
        "smallest_p_value": "The p-value p of each token's top expert under the rule's null (the smallest of the "
        "token's p-values), as \N{MINUS SIGN}log10 p on a logarithmic axis (2 is p = 0.01; higher, a smaller p)",
    }[data.measure]
    if same and count > 1:
        whose = "test the same router logits under the same null" if data.levels else "route the same router logits"
        whose = f", the same for all {count} methods, which {whose}"
    else:
        whose = "" if same else f" by method{compared_caption(len(shown), len(names))}"
    head = f"{what} in each layer{whose}, over {per_layer} tokens per layer (lines join the layers): "
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
    if data.levels:
        alpha = "\N{GREEK SMALL LETTER ALPHA}"
        head += (
            f" Dashed: {alpha}/{data.experts} for each BH method ({alpha} = {_alphas(data)}, light to dark): a token "
            "whose top expert is at or below it has at least one expert found significant (sufficient, not "
            f"necessary: the step-up also finds experts when the n-th smallest p-value is at or below "
            f"n{alpha}/{data.experts})."
        )
    if data.measure == "top1_probability" and data.uniform is not None:
        head += f" Dotted: 1/{data.experts} = {data.uniform:.3g}, a uniform router."
    elif data.uniform is not None:
        head += " Dotted: 1, a uniform router."
    parts = [head + " ", *_medians_sentence(data, shown)]
    if data.floored:  # label, text, label, text
        at_floor = sorted(
            {
                int(layer)
                for _, layers, q, _ in data.series
                for layer, top in zip(layers, q[:, 4])
                if top >= P_VALUE_DECADES * (1 - 1 / CONFIDENCE_BINS)
            }
        )
        where = f" (at least 5\N{NO-BREAK SPACE}% of tokens in {layers_text(at_floor)})" if at_floor else ""
        parts += [
            "",
            "Tokens with a p-value at or below ",
            f"$10^{{-{P_VALUE_DECADES}}}$",
            f" are counted there{where}.",
        ]
    return parts


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
    alphas: Mapping[str, float] | None = None,
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
    measure : {"top1_probability", "entropy", "smallest_p_value"}
        The router's largest softmax probability, the entropy of its softmax over log(experts), or (for
        BH) the p-value of each token's top expert, binned as -log10(p) / 40 (``RoutingStats`` counts it).
    num_experts : int, optional
        Draws a uniform router's top-1 probability, 1/E (the entropy's is always 1).
    alphas : dict, optional
        With ``measure="smallest_p_value"``: method label to its BH level alpha, each drawn as a dashed
        line at alpha / num_experts: a top expert at or below it is a discovery (the step-up can also
        find one above it, through a later rank).
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no methods, an unknown measure, a bad layer id, counts that are negative, fractional or all
        zero, probabilities that do not sum to 1, or an alpha outside (0, 1).
    """
    data = prepare(counts_by_method, measure, num_experts, methods, alphas)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
