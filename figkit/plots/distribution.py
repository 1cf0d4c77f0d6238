"""Distribution of experts selected per token: histogram, KDE, mean and median."""

from dataclasses import dataclass

from figkit.arrays import count_histogram, probability
from figkit.plots._figure import (HEADROOM, NEUTRAL, leave_headroom, line_width, mathtext_label, number, palette,
                                  render, stats_box)
from figkit.stats import CountHistogram, count_kde

# Beyond this many distinct counts, label ticks with a locator instead of one per bar.
MAX_LABELLED_BARS = 40


@dataclass(frozen=True)
class CountDistribution:
    hist: CountHistogram
    method_name: str
    alpha: float | None


def prepare(expert_counts, method_name="BH Routing", alpha=None):
    """Validate the inputs and reduce the counts to a histogram."""
    return CountDistribution(
        hist=count_histogram(expert_counts, "expert_counts"),
        method_name=mathtext_label(method_name),
        alpha=None if alpha is None else probability(alpha, "alpha"),
    )


def draw(fig, data):
    hist = data.hist
    ax = fig.add_subplot()
    colours = palette()
    used = hist.tokens > 0  # a sparse histogram draws its few bars, not one per missing value
    handles = [ax.bar(hist.values[used], hist.fractions[used], width=0.85, color=colours[0], alpha=0.75,
                      label="Tokens")]
    left, right, top = hist.min - 0.75, hist.max + 0.75, hist.fractions.max()
    kde = count_kde(hist)
    if kde is not None:
        grid, density, _ = kde
        handles += ax.plot(grid, density, color=colours[1 % len(colours)], linestyle="-", marker="none",
                           linewidth=line_width(1.33), label="KDE")
        left, right, top = min(left, grid[0]), max(right, grid[-1]), max(top, density.max())
    # Mean and median lines stop at the top of the data, below the legend and the box.
    handles.append(ax.axvline(hist.mean, ymax=HEADROOM, color=NEUTRAL, linestyle="--", linewidth=line_width(),
                              label=f"Mean = {number(hist.mean)}"))
    handles.append(ax.axvline(hist.median, ymax=HEADROOM, color=NEUTRAL, linestyle=":", linewidth=line_width(),
                              label=f"Median = {number(hist.median)}"))
    if hist.tokens.size <= MAX_LABELLED_BARS:
        ax.set_xticks(hist.values)
    ax.set_xlim(left, right)
    leave_headroom(ax, top)
    ax.set_xlabel("Experts selected per token")
    ax.set_ylabel("Fraction of tokens")
    title = f"Experts per token: {data.method_name}"
    if data.alpha is not None:
        title += f" ($\\alpha$ = {data.alpha:g})"
    ax.set_title(title, wrap=True)  # a long method name wraps instead of running off the figure
    ax.legend(handles=handles, loc="upper left")
    stats_box(ax, [
        f"Mean: {number(hist.mean)}",
        f"Median: {number(hist.median)}",
        f"Std: {number(hist.std())}",
        f"Range: [{hist.min}, {hist.max}]",
        f"Tokens: {hist.n:,}",
    ])


def plot_expert_count_distribution(
    expert_counts, method_name="BH Routing", alpha=None, save_path=None, figsize=None, dpi=100
):
    """Histogram of the number of experts each token selected, with a KDE overlay.

    ``expert_counts`` is one count per token (tensor on any device, array, list) or an
    aggregate ``{experts: tokens}`` mapping. Mean and median are marked, and a box gives
    mean, median, standard deviation, range and the number of tokens. ``alpha`` (the
    significance level of BH routing) goes in the title. Returns pyplot's current figure;
    ``save_path`` also writes it (format from the suffix, PDF by default).
    """
    data = prepare(expert_counts, method_name, alpha)
    return render(draw, data, figsize=figsize, dpi=dpi, save_path=save_path)
