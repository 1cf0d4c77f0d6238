"""Distribution of experts selected per token: bars of the share of tokens, mean and median (and the spec's
KDE in its own notebook look)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, count_histogram, number_in, probability
from figkit.plots._draw import (
    NEUTRAL,
    legend_above,
    line_width,
    marker_size,
    marks_above,
    mathtext_label,
    number,
    only_up_to,
    palette,
    set_title,
    statistics_beside,
)
from figkit.plots.looks import Role, method_role
from figkit.plots.spec import FigureJob, FigureSpec, compute_sentence, shared_docs, the_others
from figkit.results import method_counts, method_labels
from figkit.stats import CountHistogram, count_kde
from figkit.style import notebook_look

# Beyond this many distinct counts, label ticks with a locator instead of one per bar.
MAX_LABELLED_BARS = 40
MIN_SLOTS = 7  # the x-axis shows at least this many whole numbers of experts


@dataclass(frozen=True)
class CountDistribution:
    hist: CountHistogram
    method_name: str
    alpha: float | None
    role: Role  # the method's colour in every figure
    top: float | None  # the top of a y scale shared with other methods' histograms, or None


def prepare(expert_counts, method_name="BH Routing", alpha=None, methods=None, top=None):
    """Validate the inputs and reduce the counts to a histogram; ``top`` is the top of the y scale."""
    hist = count_histogram(expert_counts, "expert_counts")
    if top is not None:  # a share from the tallest bar up
        top = number_in(top, "top", hist.fractions.max(), 1)
    return CountDistribution(
        hist=hist,
        method_name=mathtext_label(method_name),
        alpha=None if alpha is None else probability(alpha, "alpha"),
        role=method_role(method_name, methods),
        top=top,
    )


def caption_statistics(hist):
    """The caption's sentence of the statistics and the encodings: "Mean 2.78 (filled triangle above the
    bars), median 2 (open triangle), standard deviation 1.79, range 1–8; 31.5 % of tokens select one expert,
    the fewest"."""
    fewest = f"{hist.min} expert{'s' * (hist.min != 1)}" if hist.min != 1 else "one expert"
    return (
        f"Mean {number(hist.mean)} (filled triangle above the bars), median {hist.median:g} (open triangle), "
        f"standard deviation {number(hist.std())}, range {hist.min}\N{EN DASH}{hist.max}; "
        f"{100 * hist.fractions[0]:.1f} % of tokens select {fewest}, the fewest."
    )


def _statistics(hist):
    """The statistics the box beside the axes shows (notebook and slide; the paper's caption states them)."""
    return [
        f"Mean: {number(hist.mean)}",
        f"Median: {number(hist.median)}",
        f"Std: {number(hist.std())}",
        f"Range: [{hist.min}, {hist.max}]",
        f"At min. ({hist.min}): {100 * hist.fractions[0]:.1f}%",
        f"Tokens: {hist.n:,}",
    ]


def _shows_kde(hist):
    """The spec's KDE overlay, in its own look (notebook) only: a smooth density over whole numbers of
    experts would imply values between them, so paper and slide figures show the bars alone."""
    return notebook_look() and count_kde(hist) is not None


def draw(ax, data):
    hist = data.hist
    colours = palette()
    used = hist.tokens > 0  # a sparse histogram draws its few bars, not one per missing value
    ax.bar(hist.values[used], hist.fractions[used], width=0.8, color=data.role.look().color)
    handles = []
    top = data.top or hist.fractions.max()
    if _shows_kde(hist):
        grid, density, _ = count_kde(hist)
        handles += ax.plot(grid, density, color=colours[1 % len(colours)], marker="none", linewidth=line_width(1.33))
        handles[-1].set_label("KDE")
        top = max(top, density.max())
    names = (f"Mean = {number(hist.mean)}", f"Median = {hist.median:g}")
    size = marker_size(1.1)
    if notebook_look():  # the spec's lines, through the bars
        for value, style, name in zip((hist.mean, hist.median), ("--", ":"), names):
            handles.append(ax.axvline(value, color=NEUTRAL, linestyle=style, linewidth=line_width(), label=name))
    else:  # marked on the frame above the bars, filled and open
        handles += marks_above(ax, (hist.mean, hist.median), (True, False), names, size)
    if hist.tokens.size <= MAX_LABELLED_BARS:
        ax.set_xticks(hist.values)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    middle, half = (hist.min + hist.max) / 2, max(hist.max - hist.min + 1, MIN_SLOTS) / 2
    ax.set_xlim(middle - half - 0.25, middle + half + 0.25)  # a lone bar is one slot of several, not the axes
    ax.set_ylim(0, top * 1.05)  # a bar at 1 clears the frame
    only_up_to(ax.yaxis, 1.0)
    ax.set_xlabel("Experts selected per token")
    ax.set_ylabel("Share of tokens")
    title = f"Experts per token: {data.method_name}"
    if data.alpha is not None:
        title += f" ($\\alpha$ = {data.alpha:g})"
    set_title(ax, title, wrap=True)  # a long method name wraps instead of running off the figure
    legend_above(ax, handles, [handle.get_label() for handle in handles], clear=0 if notebook_look() else size)
    statistics_beside(ax, _statistics(hist))


def jobs(results):
    """One figure per method with ``expert_counts``, its layers pooled; none for a method that always
    selects the same number (top-k), whose histogram is one bar (the comparison figure shows it)."""
    labels = method_labels(results)
    everyone = method_counts(results)
    drawn = {m: CountHistogram.from_mapping(c.pooled) for m, c in everyone.items() if len(c.pooled) > 1}
    top = max((hist.fractions.max() for hist in drawn.values()), default=None)  # one y scale for all
    others = the_others(len(drawn) - 1, "method's histogram", "methods' histograms")
    shared = f" The y scale is that of {others} too." if len(drawn) > 1 else ""
    for method, hist in drawn.items():
        arguments = {"expert_counts": everyone[method].pooled, "method_name": labels[method]}
        arguments |= {"methods": results["methods"]} | ({"top": top} if shared else {})
        yield FigureJob(
            f"_{method}",
            arguments,
            (
                "",
                labels[method],
                f": experts selected per token ({everyone[method].counted()}). {caption_statistics(hist)}{shared} ",
                *compute_sentence(results, everyone, [method]),
            ),
        )


def omitted(results):
    """A sentence for each method that selects the same number of experts for every token."""
    labels = method_labels(results)
    for method, counts in method_counts(results).items():
        if len(counts.pooled) == 1:
            (experts,) = counts.pooled
            yield (
                "",
                labels[method],
                f" selects {experts} experts for every token ({counts.counted()}), "
                "so its histogram would be a single bar.",
            )


FIGURE = FigureSpec(
    name="expert_count_distribution",
    title="Experts selected per token",
    sections=("expert_counts",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    omitted=omitted,
    report={"expert_counts": "expert_counts", "method_name": "method_name", "alpha": "alpha"},
    required=("expert_counts",),
)


@shared_docs
def plot_expert_count_distribution(
    expert_counts: ArrayLike | Mapping[int, int],
    method_name: str = "BH Routing",
    alpha: float | None = None,
    save_path: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    *,
    methods: Sequence[Mapping] | None = None,
    top: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Bars of the share of tokens that selected each number of experts (the notebook look adds a KDE).

    Mean and median are marked; a box gives mean, median, standard deviation, range
    and the number of tokens.

    Parameters
    ----------
    expert_counts : array-like or mapping
        One count per token (tensor on any device, array, list), or an aggregate
        ``{experts: tokens}`` mapping.
    method_name : str
        Shown in the title; ``$...$`` maths is kept where matplotlib can draw it.
    alpha : float, optional
        The significance level of BH routing, added to the title.
    save_path : str or os.PathLike, optional
        Also write the figure there (format from the suffix, PDF by default).
    figsize, dpi : optional
        Size in inches and resolution; ``None`` follows the active rcParams.
    methods : list of dict, optional
        The results file's ``methods``: the bars take ``method_name``'s colour of every figure.
    top : float, optional
        The top of the y-axis (a share), to give several methods' histograms one scale.
    ax : matplotlib.axes.Axes, optional
        Draw on this axes instead of a new figure.

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For empty, negative, fractional or non-finite counts, or ``alpha`` outside (0, 1).
    """
    data = prepare(expert_counts, method_name, alpha, methods, top)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
