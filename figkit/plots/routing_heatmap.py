"""Token × expert routing weights as a heatmap, cut to a readable size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, Normalize, PowerNorm
from matplotlib.figure import Figure

from figkit.arrays import (
    TOKEN_MARKS,
    ArrayLike,
    integer_at_least,
    matrix,
    same_length,
    scalar,
    strings,
    token_text,
    whole_vector,
)
from figkit.plots._draw import (
    LITERAL,
    colour_bar,
    drawable,
    label_every,
    laid_out_height,
    nice_step,
    note_height,
    number,
    ordinal,
    points,
    round_limits,
    set_title,
    style_height,
    wrap_label,
)
from figkit.plots.spec import FigureJob, FigureSpec, layer_suffix, layer_text, shared_docs, the_others
from figkit.results import method_labels
from figkit.style import titled_look

MIN_TOKEN_LABEL_POINTS = 6  # smaller cannot be read in print: label every n-th token instead, and say so
BUILD_TOKENS = 20  # the build shows the first 20 tokens of a sample, each labelled, and its caption says so
BUILD_EXPERTS = 64  # and up to 64 experts: every expert of OLMoE, Mixtral or DeepSeek-V2-Lite's 64
WEIGHT_GAMMA = 0.5  # colour by the square root of the weight
SMALLEST_TINT = 0.15  # where on the style's colormap the smallest selected weight starts
OUTLIER_RATIO = 2  # a largest weight past twice the 99th percentile of the selected ones does not set the scale
SAME_NORMALISATION = 1.25  # heatmaps share a colour scale when a token's weights sum alike (within 25 %)
ROW_PITCH = 1.25  # a token row's height in units of its label's font size
MIN_TOKEN_LABEL_SHARE = 0.6  # nor smaller than this share of the style's tick labels (slides have large ones)


@dataclass(frozen=True)
class RoutingHeatmap:
    weights: np.ndarray  # the shown block: [tokens, experts]
    tokens: list
    experts: np.ndarray  # the ids of the shown columns
    total_tokens: int
    total_experts: int
    by_weight: bool  # more experts had weight than could be shown: these have the most
    unused: int  # experts with no weight on the shown tokens, left out
    weight_max: float  # the top of the colour scale


def prepare(
    routing_weights, token_strs, expert_indices=None, max_tokens=50, max_experts=32, weight_max=None, expert_ids=None
):
    """Validate, keep the first ``max_tokens`` tokens and at most ``max_experts`` experts.

    ``expert_indices`` are expert ids: of the columns, named by ``expert_ids`` when the weights hold
    only some experts. Without them, the columns are every expert when there are at most
    ``max_experts``, else the experts with weight on the shown tokens (at most ``max_experts``:
    those with the most), in id order.
    """
    weights = matrix(routing_weights, "routing_weights")
    max_tokens = integer_at_least(max_tokens, "max_tokens", 1)
    max_experts = integer_at_least(max_experts, "max_experts", 1)
    tokens = strings(token_strs, "token_strs", limit=max_tokens)
    if len(token_strs) != weights.shape[0]:
        raise ValueError(
            f"token_strs ({len(token_strs)}) and routing_weights ({weights.shape[0]} rows) must have same length"
        )
    weight_max = scalar(weight_max)
    if weight_max is not None and (
        isinstance(weight_max, bool)
        or not isinstance(weight_max, (int, float, np.number))
        or not weight_max > 0
        or not np.isfinite(weight_max)
    ):
        raise ValueError(f"weight_max must be a positive number, got {weight_max!r}")
    num_tokens, num_experts = weights.shape
    ids = np.arange(num_experts)
    if expert_ids is not None:  # the weights hold a subset of the experts: these are their ids
        ids = whole_vector(expert_ids, "expert_ids")
        same_length(ids, weights[0], "expert_ids", "routing_weights' columns")
    shown = weights[:max_tokens]
    unused = 0
    if expert_indices is not None:
        wanted = whole_vector(expert_indices, "expert_indices")
        column = {int(expert): i for i, expert in enumerate(ids)}
        absent = next((i for i, expert in enumerate(wanted) if int(expert) not in column), None)
        if absent is not None:
            among = f"the ids of its {num_experts} columns" if expert_ids is not None else f"{num_experts} experts"
            raise ValueError(f"expert_indices[{absent}] = {wanted[absent]} is not among {among}")
        experts = np.array([column[int(expert)] for expert in wanted[:max_experts]])
    elif num_experts <= max_experts and expert_ids is None:  # every expert, in order: nothing hidden
        experts = np.arange(num_experts)
    else:
        load = shown.sum(axis=0)
        experts = np.flatnonzero(load > 0)
        unused = num_experts - experts.size
        if experts.size == 0:  # nothing routed: the first columns, all zero
            experts = np.arange(min(num_experts, max_experts))
        elif experts.size > max_experts:
            experts = np.sort(experts[np.argsort(-load[experts], kind="stable")[:max_experts]])
    block = np.asarray(shown[:, experts], dtype=float)
    return RoutingHeatmap(
        weights=block,
        tokens=[token_text(t) for t in tokens],
        experts=ids[experts],
        total_tokens=num_tokens,
        total_experts=num_experts,
        by_weight=expert_indices is None and num_experts - unused > experts.size,
        unused=unused,
        weight_max=float(weight_max) if weight_max is not None else _scale_top(block),
    )


def _scale_top(block):
    """The top of a heatmap's own colour scale: its largest weight, unless that is more than
    ``OUTLIER_RATIO`` times the 99th percentile of the selected weights; then that percentile rounded up as
    the colour bar rounds, so one heavy weight does not fade every other (it takes the darkest colour, and
    the colour bar an arrow)."""
    selected = block[block > 0]
    top = float(block.max())
    if selected.size:
        typical = float(np.quantile(selected, 0.99))
        top = float(round_limits(0.0, typical)[1]) if top > OUTLIER_RATIO * typical else top
    return max(top, 1e-12)


def beyond_sentence(data):
    """The caption's words for weights above the colour scale, or nothing."""
    above = int(np.count_nonzero(data.weights > data.weight_max))
    if not above:
        return ""
    weights, take = ("weight", "takes") if above == 1 else ("weights", "take")
    highest = number(data.weights.max())
    return f" {above} {weights} above {data.weight_max:g} (at most {highest}) {take} the darkest colour."


def cut_note(data, every=1):
    """What the figure leaves out, in words (a figure may be used without its caption); empty when it shows
    and labels everything."""
    rows, cols = data.weights.shape
    parts = []
    if rows < data.total_tokens:
        parts.append(f"{rows} of {data.total_tokens} tokens")
    if cols < data.total_experts:
        experts = f"{cols} of {data.total_experts} experts"
        if data.by_weight:
            experts += " by weight"
        if data.unused:
            experts += f" ({data.unused} unused)"
        parts.append(experts)
    if every > 1:
        parts.append(f"every {ordinal(every)} token labelled")
    return "showing " + ", ".join(parts) if parts else ""


def shown_sentence(data):
    """Which tokens (rows) and experts (columns) the heatmap shows, for a caption."""
    rows, cols = data.weights.shape
    tokens = f"the first {rows} of {data.total_tokens} tokens" if rows < data.total_tokens else f"{rows} tokens"
    if cols == data.total_experts:
        experts = f"all {cols} experts"
    else:
        chosen = "the heaviest of those with weight" if data.by_weight else "those with weight on these tokens"
        experts = f"{cols} of the {data.total_experts} experts ({chosen}, in id order)"
    return f"{tokens} of the sample (rows; {TOKEN_MARKS}) and {experts} (columns)"


def height(data, width):
    """Tall enough to label every token row at the tick size (at least 6 pt), and never under the style's
    height; plus the lines of the note of what the figure cut."""
    note = (
        wrap_label(cut_note(data, every=3), None, 0.9, "axes.titlesize", length=0.7 * width) if cut_note(data) else ""
    )
    size = max(MIN_TOKEN_LABEL_POINTS, points(mpl.rcParams["ytick.labelsize"]))
    rows = data.weights.shape[0] * ROW_PITCH * size
    below = 1.4 * points(mpl.rcParams["axes.labelsize"]) + 3.0 * points(mpl.rcParams["xtick.labelsize"])
    title = 1.3 * points(mpl.rcParams["axes.titlesize"]) if titled_look() else 0
    return max(style_height(width), (rows + below + title) / 72 * 1.08) + note_height(note)


def draw(ax, data):
    rows, cols = data.weights.shape
    low = min(0.0, float(data.weights.min()))
    top = max(data.weight_max, low + 1e-12)
    # Square-root colour: top-k softmax shares of a few hundredths stay visible beside one heavy weight.
    norm = PowerNorm(WEIGHT_GAMMA, vmin=0.0, vmax=top) if low == 0 else Normalize(low, top)
    cmap = _selected_colours()
    cmap.colorbar_extend = "max" if (data.weights > top).any() else "neither"  # an arrow for weights above
    image = ax.imshow(
        np.ma.masked_equal(data.weights, 0.0),  # an expert a token did not select is white in every style
        aspect="auto",
        interpolation="none",
        cmap=cmap,
        norm=norm,
    )
    names = [str(e) for e in data.experts]
    contiguous = np.array_equal(data.experts, np.arange(data.experts[0], data.experts[0] + cols))
    step = label_every(ax, names)
    rotated = step > 1 and not contiguous  # ids in order read as an axis: every n-th, as on any axis
    if rotated:  # turned, a label is one line wide, however many digits it has
        step = label_every(ax, names, rotated=True)
    step = nice_step(step) if contiguous else step
    ax.set_xticks(range(0, cols, step), names[::step])
    if step > 1 and not contiguous:  # ids not in order: a tick per column says where the unlabelled ones are
        ax.set_xticks(range(cols), minor=True)
    ax.tick_params(axis="x", labelrotation=90 if rotated else 0)
    ax.grid(False, which="both")
    ax.set_xlabel("Expert")
    ax.set_ylabel("Token")
    # The rows' height once the title (with its note), the expert ids and the axis label have their room.
    longest_note = wrap_label(cut_note(data, every=3), ax, share=0.9, size="axes.titlesize")
    title_lines = (1 if titled_look() else 0) + (longest_note.count("\n") + 1 if cut_note(data) else 0)
    below = points(mpl.rcParams["axes.labelsize"]) * 1.4
    below += points(mpl.rcParams["xtick.labelsize"]) * (2.4 if rotated else 1.4)
    rows_height = laid_out_height(ax) - (title_lines * 1.3 * points(mpl.rcParams["axes.titlesize"]) + below) / 72
    size, every = _token_labels(rows_height, rows)
    ax.set_yticks(range(0, rows, every), [drawable(t) for t in data.tokens[::every]], fontsize=size, **LITERAL)
    note = wrap_label(cut_note(data, every), ax, share=0.9, size="axes.titlesize")
    set_title(ax, "Routing weights", note)
    # Last: the colour bar takes its width from the axes, which everything above was measured on.
    colour_bar(ax, image, "Routing weight")


def _selected_colours():
    """The style's colormap from a visible tint up: the smallest selected weight is told from white, which
    is an expert not selected."""
    cmap = mpl.colormaps[mpl.rcParams["image.cmap"]]
    return ListedColormap(cmap(np.linspace(SMALLEST_TINT, 1.0, 256))).with_extremes(bad="white")


def _token_labels(height, rows):
    """Font size of the token labels, and label every n-th row when even the smallest size overlaps."""
    row_points = height * 72 / rows
    smallest = max(MIN_TOKEN_LABEL_POINTS, MIN_TOKEN_LABEL_SHARE * points(mpl.rcParams["ytick.labelsize"]))
    largest = max(smallest, points(mpl.rcParams["ytick.labelsize"]))
    size = float(np.clip(row_points / ROW_PITCH, smallest, largest))
    return size, max(1, int(np.ceil(size * ROW_PITCH / row_points - 1e-9)))


def jobs(results):
    """One figure per entry of ``routing_samples`` (its first ``BUILD_TOKENS`` tokens); with several, one
    colour scale for all of them, and samples of the same tokens and layer show the same experts."""
    labels = method_labels(results)
    samples = results.get("routing_samples", [])
    blocks = [np.asarray(sample["weights"][:BUILD_TOKENS], dtype=float) for sample in samples]
    shared = _shared_scale(blocks)
    others = the_others(len(samples) - 1, "heatmap", "heatmaps")
    scale = f" The colour scale, up to {shared:.2f}, is that of {others} too." if shared else ""
    columns = _shared_columns(samples)
    for i, sample in enumerate(samples):
        method, layer = sample["method"], sample.get("layer")
        arguments = {"routing_weights": sample["weights"], "token_strs": sample["tokens"], "max_tokens": BUILD_TOKENS}
        arguments["max_experts"] = BUILD_EXPERTS
        if "expert_indices" in sample:  # in a results file: the ids of the weights' columns
            arguments["expert_ids"] = sample["expert_indices"]
        if columns[i] is not None:
            arguments["expert_indices"] = columns[i]
        if shared:
            arguments["weight_max"] = shared
        elif len(samples) > 1:
            total = float(np.median(blocks[i].sum(axis=1)))
            scale = (
                f" Its own colour scale: the methods' weights are normalised differently (here a token's weights "
                f"sum to {number(total)} in the median)."
            )
        data = prepare(**arguments)
        paired = (
            " The columns are those of the other methods' heatmaps of these tokens: the experts any of them selects."
            if columns[i] is not None
            else ""
        )
        yield FigureJob(
            f"_{method}_{layer_suffix(layer)}",
            arguments,
            (
                "",
                labels[method],
                f": routing weights ({layer_text(layer)}) of {shown_sentence(data)}. Colour: the "
                f"weight, on a square-root scale; white: not selected.{beyond_sentence(data)}{paired}{scale}",
            ),
        )


def _shared_scale(blocks):
    """One colour scale's top for several heatmaps, or None: for one heatmap, or for weights normalised
    differently (top-8 softmax shares summing to 0.2 beside BH's weights summing to 1 would fade one of
    them to nothing), told by the median weight a token's row sums to."""
    if len(blocks) < 2:
        return None
    totals = [float(np.median(block.sum(axis=1))) for block in blocks]
    if min(totals) <= 0 or max(totals) > SAME_NORMALISATION * min(totals):
        return None
    return max(float(block.max()) for block in blocks)


def _shared_columns(samples, max_experts=BUILD_EXPERTS):
    """For samples of the same tokens and layer (methods compared on one passage), the expert ids they all
    show: those with weight in any of them, the heaviest first when there are more than ``max_experts``;
    None for a sample with no such partner, or that shows every expert anyway."""
    groups = {}
    for i, sample in enumerate(samples):
        key = (sample.get("layer"), tuple(sample["tokens"][:BUILD_TOKENS]))
        groups.setdefault(key, []).append(i)
    columns = [None] * len(samples)
    for members in groups.values():
        every = all(
            "expert_indices" not in samples[i] and len(samples[i]["weights"][0]) <= max_experts for i in members
        )
        if len(members) < 2 or every:
            continue
        load = {}
        for i in members:
            weights = np.asarray(samples[i]["weights"][:BUILD_TOKENS], dtype=float)
            ids = samples[i].get("expert_indices", range(weights.shape[1]))
            for expert, total in zip(ids, weights.sum(axis=0)):
                load[int(expert)] = load.get(int(expert), 0.0) + float(total)
        used = sorted((e for e, total in load.items() if total > 0), key=lambda e: -load[e])[:max_experts]
        for i in members:  # a sample of some experts' columns shows those of them it has
            has = {int(e) for e in samples[i].get("expert_indices", range(len(samples[i]["weights"][0])))}
            columns[i] = sorted(e for e in used if e in has)
    return columns


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
    height=height,
)


@shared_docs
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
    weight_max: float | None = None,
    expert_ids: ArrayLike | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of routing weights, one row per token and one column per expert.

    Token strings label the rows literally (``$``, ``%``, ``_`` and ``\\`` included).
    Colour follows the square root of a non-negative weight, so top-k softmax shares of a
    few hundredths stay visible beside a heavy one; white is an expert not selected.
    Large inputs are cut, and the figure says what it cut.

    Parameters
    ----------
    routing_weights : array-like
        [tokens, experts] weights.
    token_strs : sequence of str
        One label per row of ``routing_weights``.
    expert_indices : array-like, optional
        The ids of the experts to show, in this order; otherwise the experts with weight on
        the shown tokens (those with the most when there are more than ``max_experts``), in
        id order, and the figure says how many had none.
    max_tokens, max_experts : int
        Show at most the first ``max_tokens`` tokens and ``max_experts`` experts.
    save_path, figsize, dpi
        Where to save, size and resolution (``None``: the active rcParams).
    weight_max : float, optional
        The top of the colour scale, to give several heatmaps (top-k and BH, say) one
        scale; weights above it take the darkest colour and the colour bar an arrow. Default:
        this block's largest weight, or its 99th percentile of selected weights when the
        largest is more than twice that.
    expert_ids : array-like, optional
        When ``routing_weights`` holds only some experts' columns: their ids, which label
        the x-axis and which ``expert_indices`` name.
    ax : matplotlib.axes.Axes, optional
        Draw on this axes instead of a new figure.

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For a shape that is not 2-D, tokens that do not pair with rows, non-finite
        weights, or expert indices that are not ids of the weights' columns.
    """
    data = prepare(routing_weights, token_strs, expert_indices, max_tokens, max_experts, weight_max, expert_ids)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
