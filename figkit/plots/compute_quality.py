"""Compute against quality: each method a point, the Pareto front marked, the baseline labelled."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import labelled
from figkit.plots._draw import (
    NEUTRAL,
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    number,
    set_title,
    set_ylabel,
    significant,
)
from figkit.plots.looks import Role, method_roles
from figkit.plots.spec import (
    FigureJob,
    FigureSpec,
    add_shading_sentence,
    compared,
    compared_note,
    extend_caption,
    listed,
    shared_docs,
)
from figkit.results import method_counts, method_labels, metric_mean

DIRECTIONS = ("lower", "higher")


@dataclass(frozen=True)
class ComputeQuality:
    labels: list
    compute: np.ndarray  # experts per token (or any cost): lower is better
    quality: np.ndarray
    higher_is_better: bool
    front: np.ndarray  # indices of the Pareto-optimal points, by compute
    baseline: int | None
    quality_label: str
    compute_label: str
    roles: list  # each point's Role: its colour and marker of every figure
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""


def prepare(
    points, *, quality_label="Quality", better="higher", baseline=None, compute_label="Experts per token", methods=None
):
    """Validate ``{method: (compute, quality)}`` and find the Pareto front over all of them; keep at most
    ``MAX_COMPARED`` points: the baseline, the front, then others evenly spaced."""
    items = labelled(points, "points")
    if better not in DIRECTIONS:
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    values = []
    for label, pair in items:
        try:
            compute, quality = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise ValueError(f"points[{label!r}] must be (compute, quality) numbers, got {pair!r}") from None
        if not (math.isfinite(compute) and math.isfinite(quality)):
            raise ValueError(f"points[{label!r}] must be finite, got {pair!r}")
        values.append((compute, quality))
    names = [label for label, _ in items]
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of the points: {', '.join(map(repr, names))}")
    compute, quality = (np.array(column) for column in zip(*values))
    higher = better == "higher"
    front = pareto_front(compute, quality if higher else -quality)
    baseline = None if baseline is None else names.index(baseline)
    shown = shown_points(len(names), front, baseline)
    at = {old: new for new, old in enumerate(shown)}
    roles = method_roles(names, methods)
    if baseline is not None:
        roles[names[baseline]] = Role(baseline=True)
    return ComputeQuality(
        labels=[mathtext_label(names[i]) for i in shown],
        compute=compute[shown],
        quality=quality[shown],
        higher_is_better=higher,
        front=np.array([at[i] for i in front if i in at], dtype=int),
        baseline=at.get(baseline),
        quality_label=mathtext_label(quality_label),
        compute_label=mathtext_label(compute_label),
        roles=[roles[names[i]] for i in shown],
        note=compared_note(len(shown), len(names)),
    )


def shown_points(count, front, baseline):
    """The indices of the points drawn: all, or the baseline, the Pareto front and others evenly spaced."""
    return compared(count, ([] if baseline is None else [baseline]) + front.tolist())


def pareto_front(cost, gain):
    """Indices of the points no other point beats (no more cost and at least as much gain, one strictly),
    ordered by cost."""
    order = np.lexsort((-gain, cost))
    front = []
    for i in order:
        last = front[-1] if front else None
        if last is None or gain[i] > gain[last] or (gain[i] == gain[last] and cost[i] == cost[last]):
            front.append(i)  # a point equal to an optimum is one too
    return np.array(front, dtype=int)


def _point_labels(data):
    return [f"{label} (baseline)" if i == data.baseline else label for i, label in enumerate(data.labels)]


def _entries(data):
    """The legend's entries: a point per method, then the front's line if it has one."""
    return _point_labels(data) + (["Pareto front"] if data.front.size > 1 else [])


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above(_entries(data), width, data.note)


def draw(ax, data):
    for i, (label, x, y) in enumerate(zip(_point_labels(data), data.compute, data.quality)):
        look = data.roles[i].look()
        ax.plot(
            x,
            y,
            linestyle="none",
            marker=look.marker,
            markersize=marker_size(2.2 if i == data.baseline else 1.5),
            color=look.color,
            zorder=3,
            label=label,
        )
    front = data.front
    if front.size > 1:
        # The edge of what the methods attain: each optimum holds until a costlier one does better.
        ax.plot(
            data.compute[front],
            data.quality[front],
            drawstyle="steps-post",
            color=NEUTRAL,
            linestyle="--",
            linewidth=line_width(),
            zorder=2,
            label="Pareto front",
        )
    ax.margins(x=0.12)
    ax.set_xlim(left=0)  # no compute is the origin; it also keeps an x tick label off the corner
    ax.set_xlabel(f"{data.compute_label} (lower is better)")
    set_ylabel(ax, f"{data.quality_label}\n({'higher' if data.higher_is_better else 'lower'} is better)")
    low, high = data.quality.min(), data.quality.max()
    pad = 0.12 * (high - low) if high > low else 0.05 * max(abs(high), 1.0)
    ax.set_ylim(low - pad, high + pad)
    ax.yaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10]))  # 80, 85, 90: not 7.5, 12.5
    set_title(ax, "", data.note)
    legend_above(ax)


def jobs(results):
    """One figure per quality metric of ``metric_info`` (with ``better``) that two or more methods with
    ``expert_counts`` report; metrics proportional to the experts per token (compute) are skipped."""
    counts = method_counts(results)
    labels = method_labels(results)
    baseline = next((m["id"] for m in results["methods"] if m.get("baseline") and m["id"] in counts), None)
    experts = {m: c.mean for m, c in counts.items()}
    for metric, info in results.get("metric_info", {}).items():
        if info.get("better") not in DIRECTIONS:
            continue
        reported = {m: metric_mean(results.get("metrics", {}).get(m, {}).get(metric)) for m in counts}
        reported = {m: v for m, v in reported.items() if v is not None}
        if len(reported) < 2 or _restates(np.array([experts[m] for m in reported]), np.array(list(reported.values()))):
            continue
        label = info.get("label", metric)
        points = {labels[m]: (experts[m], v) for m, v in reported.items()}
        front = pareto_front(*_oriented(points, info["better"]))
        names = list(points)
        baseline_at = names.index(labels[baseline]) if baseline in reported else None
        shown = set(shown_points(len(names), front, baseline_at))
        drawn = f" ({len(shown)} drawn: the baseline and the front first)" if len(shown) < len(names) else ""
        defined = f"{info['description']}; " if "description" in info else ""
        caption = ["Experts per token against ", label, f" ({defined}{info['better']} is better) for "]
        caption[-1] += f"{len(points):,} methods{drawn}. "
        for sentence in (
            _front_sentence([names[i] for i in front if i in shown], len(front), len(names)),
            _reach_sentence(points, names[front[0]], labels.get(baseline), names[front[-1]], _unit(label)),
        ):
            extend_caption(caption, sentence)
        add_shading_sentence(caption, results, [names[i] for i in shown])
        arguments = {
            "points": points,
            "quality_label": label,
            "better": info["better"],
            "baseline": labels[baseline] if baseline in reported else None,
            "methods": results["methods"],
        }
        yield FigureJob(f"_{metric}", arguments, tuple(caption))


def _front_sentence(optimal, front, methods):
    """What the Pareto front says, as caption parts (text first): one method better in both, every method on
    it (the metric only grows with experts), or the methods the dashed line joins."""
    if front == 1:
        return ["", optimal[0], " needs the fewest experts per token for the best value: it dominates every other. "]
    if front == methods:
        return [
            "Every method is Pareto-optimal (the dashed line): each added expert buys a better value, and no "
            "method dominates another. "
        ]
    parts = ["The dashed line joins the Pareto-optimal ones: ", *listed(optimal)]
    if front > len(optimal):
        parts[-1] = f", and {front - len(optimal):,} more."
    parts[-1] += " "
    return parts


def _reach_sentence(points, cheapest, baseline, best, unit=""):
    """The cheapest Pareto-optimal method against the baseline (or, when it is the baseline, against the
    best-scoring one), in numbers with the metric's ``unit``, as caption parts (text first)."""
    other = baseline if baseline in points and baseline != cheapest else best
    x, y = points[cheapest]
    parts = ["", cheapest, f" reaches {significant(y, 3)}{unit} with {number(x)} experts per token"]
    if other != cheapest:
        ox, oy = points[other]
        parts[-1] += ", "
        parts += [other, f" {significant(oy, 3)}{unit} with {number(ox)}"]
    parts[-1] += "."
    return parts


def _unit(label):
    """The unit a metric's label gives in parentheses at its end, for numbers in a sentence: "%" of
    "Recall (%)", nothing of "PPL"."""
    return "%" if label.rstrip().endswith("(%)") else ""


def _restates(x, y):
    """Whether ``y`` only restates the experts per token ``x``: the same for every method, or
    proportional to it (the mean itself, a compute share of top-k)."""
    if np.ptp(y) == 0:
        return True
    ratio = y / np.where(x > 0, x, np.nan)
    return bool(np.all(np.isfinite(ratio)) and np.ptp(ratio) <= 1e-6 * np.abs(ratio).max())


def _oriented(points, better):
    cost = np.array([x for x, _ in points.values()])
    gain = np.array([y for _, y in points.values()])
    return cost, gain if better == "higher" else -gain


FIGURE = FigureSpec(
    name="compute_quality",
    title="Compute against quality",
    sections=("expert_counts", "metrics", "metric_info"),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
)


@shared_docs
def plot_compute_quality(
    points: Mapping[str, tuple[float, float]],
    *,
    quality_label: str = "Quality",
    better: str = "higher",
    baseline: str | None = None,
    compute_label: str = "Experts per token",
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Each routing method as a point of compute against quality, with the Pareto front marked.

    Parameters
    ----------
    points : dict
        Method name (``$...$`` maths allowed) to ``(compute, quality)``: experts per token
        (or any cost, lower is better) and a quality metric.
    quality_label : str
        The quality axis' label.
    better : {"higher", "lower"}
        Which way the quality metric improves (perplexity: "lower").
    baseline : str, optional
        The method drawn as a grey star and labelled "(baseline)", e.g. top-k.
    compute_label : str
        The compute axis' label.
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no points, a point that is not two finite numbers, an unknown ``better`` or ``baseline``.
    """
    data = prepare(
        points,
        quality_label=quality_label,
        better=better,
        baseline=baseline,
        compute_label=compute_label,
        methods=methods,
    )
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
