"""Token rarity against the number of experts a token selects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import (
    TOKEN_MARKS,
    ArrayLike,
    count_vector,
    decode_token,
    same_length,
    token_text,
    vector,
    whole_vector,
)
from figkit.plots._draw import (
    LITERAL,
    NEUTRAL,
    axes_width,
    colour_bar,
    drawable,
    label_decades,
    line_width,
    marker_size,
    number,
    only_up_to,
    points,
    set_title,
    wrap_label,
)
from figkit.plots.looks import Role, method_role
from figkit.plots.spec import FigureJob, FigureSpec, layer_suffix, layer_text, shared_docs
from figkit.results import method_labels, token_cells, token_stats_entries
from figkit.stats import Trend, group_means, trend
from figkit.style import paper_look

# Up to this many tokens are drawn as points; more become a 2-D histogram.
MAX_SCATTER_POINTS = 5000
DENSITY_COLUMNS = 40  # even bins in log frequency, before sparse ones are joined
MIN_COLUMN_TOKENS = 50  # a column's shares rest on at least this many tokens
MAX_ANNOTATIONS = 10
WEAK_CORRELATION = 0.1  # below this |r| the caption says the fitted line describes no trend


@dataclass(frozen=True)
class TokenComplexity:
    """Points to draw and fit: tokens one by one, or (token id, experts) cells with token counts."""

    frequency: np.ndarray
    experts: np.ndarray
    tokens: np.ndarray | None  # tokens per point; None when each point is one token
    n_tokens: int
    measured: bool  # a real corpus frequency, not the 1/(id+1) proxy
    fit: Trend  # experts against log10(frequency)
    labels: dict  # token id -> (frequency, text), when a tokenizer was given
    role: Role  # the method's colour of every figure, for the points
    density: bool  # drawn as columns of shares per frequency bin, not as points
    bins: FrequencyBins


@dataclass(frozen=True)
class FrequencyBins:
    """Bins even in log frequency, each of at least ``MIN_COLUMN_TOKENS`` tokens: the density's columns,
    and the means with 95 % intervals drawn in both views."""

    log_edges: np.ndarray
    shares: np.ndarray  # [experts - lowest, bin]: % of the bin's tokens selecting that many; NaN: none
    means: np.ndarray  # mean experts per bin
    half_widths: np.ndarray  # half the 95 % Student-t interval of each mean


def prepare(
    token_ids,
    expert_counts,
    tokenizer=None,
    token_frequency=None,
    tokens=None,
    method_name=None,
    methods=None,
    density=None,
):
    """Validate, pick the frequency (real or proxy), aggregate large inputs and fit the trend.

    With ``tokens``, each position stands for that many tokens (aggregated statistics). ``density``:
    columns of shares per frequency bin instead of points (None: past ``MAX_SCATTER_POINTS`` tokens).
    """
    ids = whole_vector(token_ids, "token_ids")
    experts = count_vector(expert_counts, "expert_counts")
    same_length(ids, experts, "token_ids", "expert_counts")
    frequency = None
    if token_frequency is not None:
        frequency = vector(token_frequency, "token_frequency").astype(float, copy=False)
        same_length(ids, frequency, "token_ids", "token_frequency")
        if frequency.min() <= 0:
            i = int(np.argmax(frequency <= 0))
            raise ValueError(f"token_frequency[{i}] must be positive, got {frequency[i]:g}")
    weights = None
    if tokens is not None:
        weights = whole_vector(tokens, "tokens")
        same_length(ids, weights, "token_ids", "tokens")
        if weights.sum() <= MAX_SCATTER_POINTS:  # few enough to draw one by one
            ids, experts = np.repeat(ids, weights), np.repeat(experts, weights)
            frequency = None if frequency is None else np.repeat(frequency, weights)
            weights = None
    n_tokens = ids.size if weights is None else int(weights.sum())
    by_id = 1.0 / (np.arange(ids.max() + 1) + 1.0) if frequency is None else _frequency_by_id(ids, frequency)
    if n_tokens > MAX_SCATTER_POINTS and by_id is not None:
        cell_ids, point_experts, point_tokens = _cells(ids, experts, weights)
        point_frequency = by_id[cell_ids]
    else:
        point_frequency = by_id[ids] if by_id is not None else frequency
        point_experts, point_tokens = experts, weights
    labels = {}
    if tokenizer is not None:
        mean_frequency = by_id if by_id is not None else _mean_by_id(ids, frequency)
        labels = _token_labels(tokenizer, ids, weights, mean_frequency)
    return TokenComplexity(
        frequency=point_frequency,
        experts=point_experts,
        tokens=point_tokens,
        n_tokens=n_tokens,
        measured=token_frequency is not None,
        fit=trend(np.log10(point_frequency), point_experts, point_tokens),
        labels=labels,
        role=method_role(method_name, methods),
        density=n_tokens > MAX_SCATTER_POINTS if density is None else bool(density),
        bins=frequency_bins(point_frequency, point_experts, point_tokens),
    )


def frequency_bins(frequency, experts, tokens=None):
    """Tokens binned evenly in log frequency; a bin with fewer than ``MIN_COLUMN_TOKENS`` tokens joins the
    next (the last joins the one before), so no bin is a few tokens' noise and none is empty."""
    logs = np.log10(frequency)
    low, high = logs.min(), logs.max()
    margin = max(high - low, 1.0) / DENSITY_COLUMNS / 2  # the rarest and commonest tokens clear the frame
    fine = np.linspace(low - margin, high + margin, DENSITY_COLUMNS + 1)
    column = np.minimum(np.searchsorted(fine, logs, side="right") - 1, DENSITY_COLUMNS - 1)
    weights = np.ones(logs.size) if tokens is None else tokens.astype(float)
    kept = _column_edges(np.bincount(column, weights=weights, minlength=DENSITY_COLUMNS))
    column = np.searchsorted(kept, column, side="right") - 1
    columns, rows = kept.size - 1, int(experts.max() - experts.min()) + 1
    cells = np.bincount(column * rows + (experts - experts.min()), weights=weights, minlength=columns * rows)
    cells = cells.reshape(columns, rows).T
    shares = 100 * cells / cells.sum(axis=0, keepdims=True)
    shares[cells == 0] = np.nan
    means, half_widths = group_means(column, experts.astype(float), weights, columns)
    return FrequencyBins(log_edges=fine[kept], shares=shares, means=means, half_widths=half_widths)


def _frequency_by_id(ids, frequency):
    """Frequency indexed by token id, or None when one id comes with different frequencies."""
    by_id = np.zeros(ids.max() + 1)
    by_id[ids] = frequency
    return by_id if np.array_equal(by_id[ids], frequency) else None


def _mean_by_id(ids, values):
    """Mean of ``values`` per token id (0 for ids that never occur)."""
    return np.bincount(ids, weights=values) / np.maximum(np.bincount(ids), 1)


def _cells(ids, experts, weights=None):
    """Distinct (token id, experts) pairs and how many tokens each holds; O(n), one temporary."""
    low = experts.min()
    width = int(experts.max() - low) + 1
    key = ids * width
    key += experts
    key -= low
    if (ids.max() + 1) * width <= 4 * ids.size:
        tokens = np.bincount(key, weights=weights)
        cells = np.flatnonzero(tokens)
        tokens = tokens[cells]
    elif weights is None:
        cells, tokens = np.unique(key, return_counts=True)
    else:
        cells, where = np.unique(key, return_inverse=True)
        tokens = np.bincount(where, weights=weights)
    return cells // width, cells % width + low, tokens.astype(np.int64, copy=False)


def _token_labels(tokenizer, ids, weights, by_id):
    """Up to ten distinct tokens spread evenly over the log-frequency axis.

    A mapping as ``tokenizer`` labels only the ids it holds.
    """
    seen = np.flatnonzero(np.bincount(ids, weights=weights))
    if isinstance(tokenizer, Mapping):
        seen = seen[np.isin(seen, np.fromiter(tokenizer, dtype=np.int64, count=len(tokenizer)))]
        if not seen.size:
            return {}
    frequency = by_id[seen]
    log_freq = np.log10(frequency)
    targets = np.linspace(log_freq.min(), log_freq.max(), MAX_ANNOTATIONS)
    chosen = np.unique(np.abs(log_freq[None, :] - targets[:, None]).argmin(axis=1))
    labels = {}
    for i in chosen:
        token = int(seen[i])
        labels[token] = (frequency[i], token_text(decode_token(tokenizer, token)))
    return labels


def draw(ax, data):
    x, y = data.frequency, data.experts
    if not data.density:
        ax.scatter(
            x,
            y,
            s=marker_size(0.8) ** 2,
            color=data.role.look().color,
            edgecolors="none",
            label=f"Tokens ({x.size:,})",
        )
    else:
        _density(ax, data)
    _bin_means(ax, data.bins)
    fit = data.fit
    if np.isfinite(fit.slope):
        line_x = np.geomspace(x.min(), x.max(), 100)
        ax.plot(
            line_x,
            fit.slope * np.log10(line_x) + fit.intercept,
            color=NEUTRAL,
            linestyle="--",
            marker="none",
            linewidth=line_width(1.33),
            label=equation(fit),
        )
    ax.set_xscale("log")
    label_decades(ax.xaxis)
    ax.set_ylim(y.min() - 0.5, y.max() + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    only_up_to(ax.yaxis, y.max())  # no tick at more experts than any token selected
    ax.set_xlabel("Token frequency in corpus" if data.measured else "Token frequency proxy 1/(id + 1)")
    ax.set_ylabel("Experts selected")
    lines = [
        f"Pearson r: {_coefficient(fit.pearson_r)}",
        f"Spearman \N{GREEK SMALL LETTER RHO}: {_coefficient(fit.spearman_rho)}",
        f"Tokens: {data.n_tokens:,}",
    ]
    # Nothing over the points or cells: named tokens are on the top axis; the fit and the correlations are a
    # note above the axes (the colour bar of a density takes their right side), in the caption in the paper
    # style.
    lines += [f"Fit: {equation(fit)}"] if np.isfinite(fit.slope) else []
    note = "" if paper_look() else wrap_label("; ".join(lines), ax, share=0.95, size="axes.titlesize")
    pad = _name_tokens(ax, data) if data.labels else 0.0
    set_title(ax, "Token rarity vs experts selected", note, pad=pad + 0.4 * points(mpl.rcParams["axes.titlesize"]))


def caption_fit(data):
    """The correlations and the fitted line in a sentence, and what the marks are."""
    fit = data.fit
    least = min(MIN_COLUMN_TOKENS, data.n_tokens)
    marks = (
        f"Points are tokens; dots are the mean experts of frequency bins of at least {least} tokens, with "
        "95 % intervals"
        if not data.density
        else f"Each column is a frequency bin of at least {least} tokens, its cells the share of the bin's tokens "
        "selecting that many experts, its dot their mean with a 95 % interval"
    )
    text = (
        f"{marks}; Pearson r = {_coefficient(fit.pearson_r)} and Spearman \N{GREEK SMALL LETTER RHO} = "
        f"{_coefficient(fit.spearman_rho)} between experts and log10 "
        + ("frequency" if data.measured else "of the proxy 1/(id + 1)")
    )
    if np.isfinite(fit.slope):
        text += f"; the dashed line is the least-squares fit over all tokens, {equation(fit)}"
    if np.isfinite(fit.pearson_r) and abs(fit.pearson_r) < WEAK_CORRELATION:
        text += f" (|r| < {WEAK_CORRELATION:g}: no linear trend to speak of)"
    where = "frequency" if data.measured else "proxy value"
    named = f"; the top axis names example tokens at their {where} ({TOKEN_MARKS})"
    return text + (named if data.labels else "") + "."


def equation(fit):
    """The least-squares line in words a reader can copy: "y = −0.30·log10(x) + 2.18"."""
    sign = "+" if fit.intercept >= 0 else "\N{MINUS SIGN}"
    slope = number(fit.slope)  # subscript digits are missing from most text fonts: log10, not log₁₀
    return f"y = {slope}\N{MIDDLE DOT}log10(x) {sign} {number(abs(fit.intercept))}"


def _name_tokens(ax, data):
    """Write each named token on a top axis at its frequency, leaving out one that would overlap the name
    to its left; returns the points the names take above the axes."""
    size = points(mpl.rcParams["xtick.labelsize"])
    width = 0.7 * axes_width(ax) * 72
    low, high = (np.log10(limit) for limit in ax.get_xlim())
    named, right = {}, -np.inf
    for frequency, token in sorted(data.labels.values(), key=lambda label: label[0]):
        text = drawable(token)
        centre = (np.log10(frequency) - low) / (high - low) * width
        half = (0.55 * len(text) + 0.4) * size / 2
        if centre - half > right:
            named[frequency] = text
            right = centre + half
    top = ax.secondary_xaxis("top")
    top.set_xticks(list(named), list(named.values()), **LITERAL)
    top.tick_params(axis="x", which="minor", top=False)
    top.tick_params(axis="x", which="major", labelsize=size, labelcolor=NEUTRAL)
    return 1.6 * size + mpl.rcParams["xtick.major.size"]


def _coefficient(value):
    return number(value) if np.isfinite(value) else "undefined (constant input)"


def _density(ax, data):
    """Each frequency bin's tokens split by experts selected: a column of shares summing to 100 %.
    A few hundred vector quads, however many tokens."""
    bins, y = data.bins, data.experts
    y_edges = np.arange(y.min(), y.max() + 2) - 0.5
    mesh = ax.pcolormesh(
        10**bins.log_edges, y_edges, bins.shares, vmin=0, vmax=np.nanmax(bins.shares), cmap=mpl.rcParams["image.cmap"]
    )
    colour_bar(ax, mesh, "Tokens in the bin (%)")
    ax.grid(False)


def _bin_means(ax, bins):
    """Each bin's mean experts with its 95 % interval, at the bin's centre in log frequency."""
    centres = 10 ** ((bins.log_edges[:-1] + bins.log_edges[1:]) / 2)
    ax.errorbar(
        centres,
        bins.means,
        yerr=np.nan_to_num(bins.half_widths),
        linestyle="none",
        marker="o",
        markersize=marker_size(0.9),
        color=NEUTRAL,
        markeredgecolor="white",
        markeredgewidth=line_width(0.5),
        elinewidth=line_width(0.8),
        capsize=0,
        label="Bin means",
        zorder=3,
    )


def _column_edges(tokens):
    """Indices of the fine edges that bound the columns: fine bins grouped until each holds enough tokens."""
    edges, held = [0], 0.0
    for i, count in enumerate(tokens):
        held += count
        if held >= MIN_COLUMN_TOKENS:
            edges.append(i + 1)
            held = 0.0
    if edges[-1] != tokens.size:
        if len(edges) > 1 and held < MIN_COLUMN_TOKENS:
            edges[-1] = tokens.size  # too few at the end: they join the column before
        else:
            edges.append(tokens.size)
    return np.array(edges)


def jobs(results):
    """One figure per ``token_stats`` entry, labelled with ``token_strings`` when the file has them."""
    labels = method_labels(results)
    strings = {int(k): v for k, v in results.get("token_strings", {}).items()}
    for entry in token_stats_entries(results):
        ids, experts, tokens, frequency = token_cells(entry)
        if len(set(experts)) == 1:  # every token selects the same number (top-k): nothing to relate to rarity
            continue
        # Columns of shares at any size: whole-number counts as points pile up on eight lines.
        arguments = {"token_ids": ids, "expert_counts": experts, "tokens": tokens, "density": True}
        arguments |= {"method_name": labels[entry["method"]], "methods": results["methods"]}
        if frequency is not None:
            arguments["token_frequency"] = frequency
        if strings:
            arguments["tokenizer"] = strings
        axis = "corpus frequency" if frequency is not None else "the frequency proxy 1/(id + 1)"
        layer = entry.get("layer")
        where = "" if layer is None else f", {layer_text(layer)}"
        yield FigureJob(
            f"_{entry['method']}" + ("" if layer is None else f"_{layer_suffix(layer)}"),
            arguments,
            (
                "",
                labels[entry["method"]],
                f"{where}: experts selected per token against {axis} "
                f"({sum(tokens):,} tokens, {len(set(ids)):,} distinct). " + caption_fit(prepare(**arguments)),
            ),
        )


FIGURE = FigureSpec(
    name="token_complexity_vs_experts",
    title="Token rarity and experts",
    sections=("token_stats",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={
        "token_ids": "token_ids",
        "token_expert_counts": "expert_counts",
        "tokenizer": "tokenizer",
        "token_frequency": "token_frequency",
        "token_counts": "tokens",
    },
    required=("token_ids", "token_expert_counts"),
    cost=1.8,
)


@shared_docs
def plot_token_complexity_vs_experts(
    token_ids: ArrayLike,
    expert_counts: ArrayLike,
    tokenizer: Any = None,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    token_frequency: ArrayLike | None = None,
    tokens: ArrayLike | None = None,
    method_name: str | None = None,
    methods: Sequence[Mapping] | None = None,
    density: bool | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Experts selected per token against how frequent the token is.

    Tokens are binned evenly in log frequency (at least 50 per bin) and each bin's mean
    is drawn with its 95 % interval; the dashed trend line is a least-squares fit of
    experts on log10(frequency), given with its equation, Pearson's r and Spearman's
    rho. Past 5,000 tokens the points become columns of each bin's shares.

    Parameters
    ----------
    token_ids : array-like
        The token at each position.
    expert_counts : array-like
        Experts selected at each position.
    tokenizer : optional
        A mapping of token ids to text, anything with ``decode(ids)`` or
        ``convert_ids_to_tokens(id)``, or a callable: up to ten tokens spread over the
        frequency range are named, literally, on a top axis at their frequency.
    save_path, figsize, dpi
        Where to save, size and resolution (``None``: the active rcParams).
    token_frequency : array-like, optional
        A real corpus frequency per position, in (0, 1]; otherwise the x-axis is the
        rough proxy 1/(id + 1), and the axis label says which.
    tokens : array-like, optional
        How many tokens each position stands for, for statistics already aggregated
        by (token id, experts) such as a results file's ``token_stats``.
    method_name, methods : optional
        The method and the results file's ``methods``: the points take the method's colour of every figure.
    density : bool, optional
        Draw each frequency bin as a column of the shares of its tokens by experts selected,
        instead of points; ``None`` (default) does so past 5,000 tokens.
    ax : matplotlib.axes.Axes, optional
        Draw on this axes instead of a new figure.

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For lengths that differ, negative or fractional ids and counts, a frequency that
        is not positive, or a tokenizer figkit cannot use.
    """
    data = prepare(token_ids, expert_counts, tokenizer, token_frequency, tokens, method_name, methods, density)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
