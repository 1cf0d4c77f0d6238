"""How a routing parameter (the significance level alpha by default; k, p, a threshold) changes the
number of experts selected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, non_negative, same_length, scalar, vector
from figkit.plots._draw import (
    NEUTRAL,
    axes_height,
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    number,
    only_up_to,
    points,
    set_title,
)
from figkit.plots.looks import Role, family_role, method_roles
from figkit.plots.spec import FigureJob, FigureSpec, shared_docs
from figkit.results import method_counts
from figkit.stats import CountHistogram
from figkit.style import paper_look

# Positive values spanning at least this ratio are shown on a log axis unless a scale is given.
LOG_AXIS_SPAN = 10
ALPHA_SYMBOL = "\N{GREEK SMALL LETTER ALPHA}"
ALPHA_LABEL = f"Significance level {ALPHA_SYMBOL}"


@dataclass(frozen=True)
class AlphaSweep:
    alphas: np.ndarray
    avg_experts: np.ndarray
    std_experts: np.ndarray | None
    quartiles: np.ndarray | None  # [values, 2]: the 25th and 75th percentile of experts per token
    baseline_k: float | None
    count_range: tuple  # (fewest, most) experts a token can select: the bars stop there
    label: str  # what varies, for the axis and the title
    log: bool  # a log x-axis
    role: Role  # the colour of the swept family, as in every figure
    point_roles: list  # each value's method, when one of the family has it: its colour of every figure

    def bars(self):
        """(bottom, top) of each value's bar: its quartiles, else ±1 std clipped to ``count_range``; None
        without either."""
        if self.quartiles is not None:
            return self.quartiles[:, 0], self.quartiles[:, 1]
        if self.std_experts is None:
            return None
        low, high = self.count_range
        return np.maximum(self.avg_experts - self.std_experts, low), np.minimum(
            self.avg_experts + self.std_experts, high
        )


def prepare(
    alphas,
    avg_experts,
    std_experts=None,
    baseline_k=8,
    count_range=None,
    param="alpha",
    param_label=None,
    scale=None,
    method_family=None,
    methods=None,
    quartiles=None,
):
    """Validate the sweep and sort it by the parameter; ``count_range`` defaults to (0, unbounded)."""
    alphas = vector(alphas, "alphas").astype(float)
    avg = vector(avg_experts, "avg_experts").astype(float)
    same_length(alphas, avg, "alphas", "avg_experts")
    outside = (alphas <= 0) | (alphas >= 1) if param == "alpha" else np.zeros(alphas.size, dtype=bool)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"alphas[{i}] must be in (0, 1), got {alphas[i]:g}")
    if scale not in (None, "linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    if scale == "log" and alphas.min() <= 0:
        raise ValueError(f"a log scale needs positive values, got {alphas.min():g}")
    non_negative(avg, "avg_experts")
    std = None
    if std_experts is not None:
        std = vector(std_experts, "std_experts").astype(float)
        same_length(alphas, std, "alphas", "std_experts")
        non_negative(std, "std_experts")
    if quartiles is not None:
        quartiles = np.asarray(quartiles, dtype=float)
        if quartiles.shape != (alphas.size, 2):
            raise ValueError(
                f"quartiles must be one (25th, 75th percentile) pair per alpha, got shape {quartiles.shape}"
            )
        non_negative(quartiles.ravel(), "quartiles")
        if (quartiles[:, 0] > quartiles[:, 1]).any():
            i = int(np.argmax(quartiles[:, 0] > quartiles[:, 1]))
            raise ValueError(f"quartiles[{i}] must be (25th, 75th percentile), low first, got {quartiles[i].tolist()}")
    if baseline_k is not None:
        baseline_k = scalar(baseline_k)
        if isinstance(baseline_k, bool) or not np.isscalar(baseline_k) or not baseline_k > 0:
            raise ValueError(f"baseline_k must be a positive number, got {baseline_k!r}")
        baseline_k = float(baseline_k)
    low, high = (0.0, np.inf) if count_range is None else _count_range(count_range)
    order = np.argsort(alphas, kind="stable")
    alphas = alphas[order]
    log = scale == "log" or (scale is None and alphas[0] > 0 and alphas[-1] / alphas[0] >= LOG_AXIS_SPAN)
    label = mathtext_label(param_label) if param_label else ALPHA_LABEL if param == "alpha" else str(param)
    role = family_role(method_family, methods)
    members = {}
    for method in methods or []:
        value = (method.get("params") or {}).get(param)
        if method.get("family") == method_family and isinstance(value, (int, float)):
            members[float(value)] = method["id"]
    roles = method_roles(list(members.values()), methods)
    points = [roles[members[a]] if a in members else role for a in alphas.tolist()]
    std = None if std is None else std[order]
    quartiles = None if quartiles is None else quartiles[order]
    return AlphaSweep(alphas, avg[order], std, quartiles, baseline_k, (low, high), label, log, role, points)


def _count_range(count_range):
    try:
        low, high = (float(v) for v in count_range)
    except (TypeError, ValueError):
        raise ValueError(f"count_range must be (fewest, most) experts, got {count_range!r}") from None
    if not 0 <= low <= high:
        raise ValueError(f"count_range must have 0 <= fewest <= most, got {count_range!r}")
    return low, high


def _entries(data):
    """The legend's entries, in the order drawn: in a paper, short (the caption says what bars and shading are)."""
    if paper_look():
        bars = " (bars: quartiles)" if data.quartiles is not None else " (bars: \N{PLUS-MINUS SIGN}1 std)"
        label = "Average" + (bars if data.bars() is not None else " experts")
        return [label] + ([] if data.baseline_k is None else [f"Top-{data.baseline_k:g}"])
    label = "Average experts"
    if data.quartiles is not None:
        label += " (bars: middle half of tokens)"
    elif data.std_experts is not None:
        low, high = data.count_range
        clipped = np.isfinite(high) or low > 0
        label += f" (\N{PLUS-MINUS SIGN}1 std{f', within [{low:g}, {high:g}]' if clipped else ''})"
    if data.baseline_k is None:
        return [label]
    k = data.baseline_k
    return [label, f"Top-{k:g} baseline", f"Reduction vs Top-{k:g}"]


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above(_entries(data), width)


def draw(ax, data):
    line = NEUTRAL  # the points carry each level's method colour; the line and bars only join them
    bars = data.bars()
    entries = _entries(data)
    (mean_line,) = ax.plot(data.alphas, data.avg_experts, color=line, marker="none", linewidth=line_width(1.33))
    handle = mean_line
    if bars is not None:  # from its bottom to its top, wherever the mean lies (quartiles of counts need not hold it)
        bottom, top = bars
        spans = ax.errorbar(
            data.alphas,
            (bottom + top) / 2,
            yerr=(top - bottom) / 2,
            fmt="none",
            ecolor=line,
            elinewidth=line_width(1.33),
            capsize=marker_size(0.7),
        )
        handle = (spans, mean_line)
    ax.scatter(  # each value in its method's colour, over the line's own markers
        data.alphas,
        data.avg_experts,
        s=marker_size(1.15) ** 2,
        c=[role.look().color for role in data.point_roles],
        edgecolors="white",  # seen on a bar's cap as on the line
        linewidths=line_width(0.6),
        zorder=3,
    )
    tops = data.avg_experts if bars is None else np.maximum(data.avg_experts, bars[1])
    for alpha, avg, top in zip(data.alphas, data.avg_experts, tops):  # above the bar, clear of line and caps
        ax.annotate(
            number(avg),
            (alpha, top),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize="small",
            color=NEUTRAL,
        )
    if data.baseline_k is not None:
        k = data.baseline_k
        baseline = Role(baseline=True).look()
        ax.axhline(k, color=baseline.color, linestyle=baseline.linestyle, linewidth=line_width(1.33), label=entries[1])
        shading = f"Reduction vs Top-{k:g}"
        ax.fill_between(
            data.alphas,
            data.avg_experts,
            k,
            where=data.avg_experts <= k,
            interpolate=True,
            color=data.role.look().color,
            alpha=0.08,  # a tint behind the values and their labels, not a mark competing with them
            label=shading,
        )
    if data.log:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(data.alphas, [f"{a:g}" for a in data.alphas])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Room above the highest bar for its value's label (two lines of small text), no more.
    label_room = 2.2 * points("small") / 72 / axes_height(ax)
    top = max(tops.max(), data.baseline_k or 0)
    ax.set_ylim(0, top / (1 - label_room))
    if np.isfinite(data.count_range[1]):
        only_up_to(ax.yaxis, data.count_range[1])  # no tick at more experts than a token can select
    ax.set_xlabel(f"{data.label} (log scale)" if data.log else data.label)
    ax.set_ylabel("Experts per token")
    set_title(ax, f"Sensitivity of expert selection to {ALPHA_SYMBOL if data.label == ALPHA_LABEL else data.label}")
    handles, labels = ax.get_legend_handles_labels()
    drawn = dict(zip(labels, handles))
    legend_above(ax, [handle, *(drawn[entry] for entry in entries[1:])], entries)


def jobs(results):
    """One figure per entry of ``sweeps``, named by the family and, unless it is alpha, the parameter."""
    for sweep in results.get("sweeps", []):
        family, param = sweep.get("method_family"), sweep["param"]
        quartiles = _quartiles(results, sweep)
        arguments = {
            "alphas": sweep["values"],
            "avg_experts": sweep["avg_experts"],
            "std_experts": None if quartiles else sweep.get("std_experts"),
            "quartiles": quartiles,
            "baseline_k": _baseline_k(results, sweep),
            "count_range": _family_range(results, family),
            "param": param,
            "param_label": sweep.get("param_label"),
            "scale": sweep.get("scale"),
            "method_family": family,
            "methods": results["methods"],
        }
        named = "the significance level $\\alpha$" if param == "alpha" else param
        data = prepare(**arguments)
        suffix = "".join(f"_{part}" for part in (family, None if param == "alpha" else param) if part)
        yield FigureJob(
            suffix,
            arguments,
            (
                "Average experts per token against ",
                sweep.get("param_label", named),
                (f" ({FAMILY_NAMES.get(family, family)} routing, {len(sweep['values'])} values)." if family else ".")
                + _encodings(arguments)
                + _range_sentence(data),
            ),
        )


def _quartiles(results, sweep):
    """Each value's 25th and 75th percentile of experts per token, from the ``expert_counts`` of the family's
    method at that value (every layer pooled), or None unless every value has one."""
    counts = method_counts(results)
    found = {}
    for method in results["methods"]:
        value = (method.get("params") or {}).get(sweep["param"])
        if method.get("family") == sweep.get("method_family") and method["id"] in counts and value is not None:
            found.setdefault(value, method["id"])
    if not all(value in found for value in sweep["values"]):
        return None
    histograms = [CountHistogram.from_mapping(counts[found[value]].pooled) for value in sweep["values"]]
    return [[float(q) for q in histogram.quantile([0.25, 0.75])] for histogram in histograms]


def _range_sentence(data):
    """The sweep's ends in numbers: " From 0.01 to 0.2 the average rises from 1.92 to 3.81 experts per
    token (24 % to 48 % of Top-8).", with the share of top-k when there is a reference."""
    first, last = data.avg_experts[0], data.avg_experts[-1]
    trend = "rises" if last > first else "falls" if last < first else "stays"
    text = f" From {data.alphas[0]:g} to {data.alphas[-1]:g} the average {trend} from {number(first)} to {number(last)}"
    text += " experts per token"
    if data.baseline_k:
        k = data.baseline_k
        text += f" ({100 * first / k:.0f}\N{NO-BREAK SPACE}% to {100 * last / k:.0f}\N{NO-BREAK SPACE}% of Top-{k:g})"
    scale = " The x-axis is logarithmic." if data.log else ""
    return text + "." + scale


FAMILY_NAMES = {"bh": "BH", "topk": "top-k", "topp": "top-p"}  # as papers write them


def _encodings(arguments):
    """The caption's words for the marks: the bars, the top-k line and the shaded reduction."""
    text = " Points: the average experts per token, labelled and coloured by level as the methods are"
    if arguments["quartiles"] is not None:
        text += (
            "; bars: the middle half of each level's tokens, from the 25th to the 75th percentile of experts per token"
        )
    elif arguments["std_experts"] is not None:
        text += "; bars: \N{PLUS-MINUS SIGN}1 standard deviation"
        if arguments["count_range"] is not None:
            text += f", cut at {arguments['count_range'][0]:g} and {arguments['count_range'][1]:g} experts"
    k = arguments["baseline_k"]
    if k is not None:
        text += f". Dashed grey: Top-{k:g}; shaded: the experts saved against it"
    return text + "."


def _baseline_k(results, sweep):
    """The top-k reference: the sweep's ``baseline_k``, else the baseline method's ``k``, else ``model.top_k``."""
    if sweep.get("baseline_k") is not None:
        return sweep["baseline_k"]
    baseline = next((m for m in results["methods"] if m.get("baseline")), {})
    k = (baseline.get("params") or {}).get("k")
    return k if k is not None else results.get("model", {}).get("top_k")


def _family_range(results, family):
    """(min_k, max_k) shared by the methods of ``family``, else (1, model.num_experts) or None."""
    params = [m.get("params", {}) for m in results["methods"] if family and m.get("family") == family]
    ranges = {(p.get("min_k"), p.get("max_k")) for p in params}
    if len(ranges) == 1 and None not in next(iter(ranges)):
        return next(iter(ranges))
    experts = results.get("model", {}).get("num_experts")
    return None if experts is None else (1, experts)


FIGURE = FigureSpec(
    name="alpha_sensitivity",
    title="Sensitivity to the significance level",
    sections=("sweeps",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={
        "alphas": "alphas",
        "avg_experts_per_alpha": "avg_experts",
        "std_experts_per_alpha": "std_experts",
        "baseline_k": "baseline_k",
    },
    required=("alphas", "avg_experts_per_alpha"),
    height=height,
)


@shared_docs
def plot_alpha_sensitivity(
    alphas: ArrayLike,
    avg_experts: ArrayLike,
    std_experts: ArrayLike | None = None,
    baseline_k: float | None = 8,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    count_range: tuple[float, float] | None = None,
    param: str = "alpha",
    param_label: str | None = None,
    scale: str | None = None,
    method_family: str | None = None,
    methods: Sequence[Mapping] | None = None,
    quartiles: ArrayLike | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Average experts per token against the significance level alpha, or any routing parameter.

    The points are labelled with their values and the x-axis ticks with the alphas
    (log scale when they span a factor of ten or more).

    Parameters
    ----------
    alphas : array-like
        Significance levels, each in (0, 1); any order.
    avg_experts : array-like
        Average experts per token at each alpha.
    std_experts : array-like, optional
        Standard deviations, drawn as error bars.
    baseline_k : float, optional
        The top-k reference line, with the reduction below it shaded; ``None`` hides both.
    save_path, figsize, dpi
        Where to save, size and resolution (``None``: the active rcParams).
    count_range : (float, float), optional
        The fewest and most experts a token can select (BH's ``min_k``, ``max_k``): the
        error bars stop there, as the counts do, and the legend says so.
    param : str
        What ``alphas`` holds: ``"alpha"`` (values in (0, 1)), or any other parameter
        (``"k"``, ``"top_p"``, a threshold, ``"max_k"``).
    param_label : str, optional
        The x-axis label (``$...$`` maths allowed); default: "Significance level α" or ``param``.
    scale : {"linear", "log"}, optional
        The x-axis; default: log when the values are positive and span a factor of ten.
    method_family, methods : optional
        The swept family and the results file's ``methods``: the line takes the family's colour of every
        figure, and the top-k line the baseline's grey.
    quartiles : array-like, optional
        The 25th and 75th percentile of experts per token at each alpha, ``[[q1, q3], ...]``: drawn as the
        bars instead of ``std_experts``. Whole-number counts are skewed, so a ±1 std bar runs past the
        fewest experts a token selects; the build takes the quartiles from the methods' ``expert_counts``.
    ax : matplotlib.axes.Axes, optional
        Draw on this axes instead of a new figure.

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For lengths that differ, alphas outside (0, 1), negative or non-finite values.
    """
    data = prepare(
        alphas,
        avg_experts,
        std_experts,
        baseline_k,
        count_range,
        param,
        param_label,
        scale,
        method_family,
        methods,
        quartiles,
    )
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
