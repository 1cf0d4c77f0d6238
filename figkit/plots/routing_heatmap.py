"""Token × expert routing weights as a heatmap, cut to a readable size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, matrix, strings, whole_vector
from figkit.plots._draw import LITERAL, axes_height, printable, set_title
from figkit.plots.spec import FigureJob, FigureSpec, layer_suffix, layer_text
from figkit.results import method_labels

MAX_TOKEN_LABEL_POINTS = 10
MIN_TOKEN_LABEL_POINTS = 4
MAX_EXPERT_TICKS = 32


@dataclass(frozen=True)
class RoutingHeatmap:
    weights: np.ndarray  # the shown block: [tokens, experts]
    tokens: list
    experts: np.ndarray  # the ids of the shown columns
    total_tokens: int
    total_experts: int
    chose_experts: bool  # columns picked by total weight, not by the caller


def prepare(routing_weights, token_strs, expert_indices=None, max_tokens=50, max_experts=32):
    """Validate, keep the first ``max_tokens`` tokens and at most ``max_experts`` experts.

    Without ``expert_indices``, a cut keeps the experts with the most total weight over
    the shown tokens, in id order.
    """
    weights = matrix(routing_weights, "routing_weights")
    max_tokens = _positive_int(max_tokens, "max_tokens")
    max_experts = _positive_int(max_experts, "max_experts")
    tokens = strings(token_strs, "token_strs", limit=max_tokens)
    if len(token_strs) != weights.shape[0]:
        raise ValueError(
            f"token_strs ({len(token_strs)}) and routing_weights ({weights.shape[0]} rows) must have same length"
        )
    num_tokens, num_experts = weights.shape
    shown = weights[:max_tokens]
    chose = False
    if expert_indices is not None:
        experts = whole_vector(expert_indices, "expert_indices")
        if experts.max() >= num_experts:
            i = int(np.argmax(experts >= num_experts))
            raise ValueError(f"expert_indices[{i}] = {experts[i]} is out of range for {num_experts} experts")
        experts = experts[:max_experts]
    elif num_experts > max_experts:
        load = shown.sum(axis=0)
        experts = np.sort(np.argsort(-load, kind="stable")[:max_experts])
        chose = True
    else:
        experts = np.arange(num_experts)
    return RoutingHeatmap(
        weights=np.asarray(shown[:, experts], dtype=float),
        tokens=[printable(t) for t in tokens],
        experts=experts,
        total_tokens=num_tokens,
        total_experts=num_experts,
        chose_experts=chose,
    )


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def cut_note(data):
    """What the figure leaves out, in words; empty when it shows everything."""
    rows, cols = data.weights.shape
    if rows == data.total_tokens and cols == data.total_experts:
        return ""
    note = f"showing {rows} of {data.total_tokens} tokens, {cols} of {data.total_experts} experts"
    return note + (" (by weight)" if data.chose_experts else "")


def draw(ax, data):
    rows, cols = data.weights.shape
    low = min(0.0, float(data.weights.min()))
    image = ax.imshow(
        data.weights,
        aspect="auto",
        interpolation="none",
        cmap=mpl.rcParams["image.cmap"],
        vmin=low,
        vmax=max(float(data.weights.max()), low + 1e-12),
    )
    ax.figure.colorbar(image, ax=ax, label="Routing weight")
    step = -(-cols // MAX_EXPERT_TICKS)
    ax.set_xticks(range(0, cols, step), [str(e) for e in data.experts[::step]])
    size, every = _token_labels(axes_height(ax), rows)
    ax.set_yticks(range(0, rows, every), data.tokens[::every], fontsize=size, **LITERAL)
    ax.tick_params(axis="x", labelrotation=90 if cols > 16 else 0)
    ax.grid(False)
    ax.set_xlabel("Expert")
    ax.set_ylabel("Token")
    note = cut_note(data)
    set_title(ax, f"Routing weights\n{note}" if note else "Routing weights")


def _token_labels(height, rows):
    """Font size of the token labels, and label every n-th row when even the smallest size overlaps."""
    row_points = height * 72 / rows
    size = float(np.clip(row_points * 0.8, MIN_TOKEN_LABEL_POINTS, MAX_TOKEN_LABEL_POINTS))
    return size, max(1, int(np.ceil(size / (row_points * 0.9))))


def jobs(results):
    """One figure per entry of ``routing_samples``."""
    labels = method_labels(results)
    for sample in results.get("routing_samples", []):
        method, layer = sample["method"], sample.get("layer")
        arguments = {"routing_weights": sample["weights"], "token_strs": sample["tokens"]}
        if "expert_indices" in sample:
            arguments["expert_indices"] = sample["expert_indices"]
        yield FigureJob(
            f"_{method}_{layer_suffix(layer)}",
            arguments,
            (
                "",
                labels[method],
                f": routing weights ({layer_text(layer)}; {len(sample['tokens'])} "
                f"tokens, {len(sample['weights'][0])} experts).",
            ),
        )


FIGURE = FigureSpec(
    name="routing_heatmap",
    title="Routing weights",
    sections=("routing_samples",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={"routing_weights": "routing_weights", "tokens": "token_strs", "expert_indices": "expert_indices"},
    required=("routing_weights", "tokens"),
    cost=2.0,
)


def plot_routing_heatmap(
    routing_weights: ArrayLike,
    token_strs: Sequence[str],
    expert_indices: ArrayLike | None = None,
    max_tokens: int = 50,
    max_experts: int = 32,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of routing weights, one row per token and one column per expert.

    Token strings label the rows literally (``$``, ``%``, ``_`` and ``\\`` included).
    Large inputs are cut, and the figure says what it cut.

    Parameters
    ----------
    routing_weights : array-like
        [tokens, experts] weights.
    token_strs : sequence of str
        One label per row of ``routing_weights``.
    expert_indices : array-like, optional
        The columns to show, in this order; otherwise the experts with the most weight
        over the shown tokens, in id order.
    max_tokens, max_experts : int
        Show at most the first ``max_tokens`` tokens and ``max_experts`` experts.
    save_path, figsize, dpi, ax
        As in every figkit plot function: where to save, size and resolution
        (``None``: the active rcParams), and an axes to draw on.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.figure`` when ``ax`` is given, else a new figure that is pyplot's current one.

    Raises
    ------
    ValueError, TypeError
        For a shape that is not 2-D, tokens that do not pair with rows, non-finite
        weights or expert indices out of range.
    """
    data = prepare(routing_weights, token_strs, expert_indices, max_tokens, max_experts)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
