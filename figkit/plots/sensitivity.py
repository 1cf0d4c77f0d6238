"""How the significance level alpha changes the number of experts selected."""

from dataclasses import dataclass

import numpy as np

from figkit.arrays import non_negative, same_length, vector
from figkit.plots._figure import NEUTRAL, leave_headroom, line_width, marker_size, number, palette, render

# Alphas spanning at least this ratio are shown on a log axis.
LOG_AXIS_SPAN = 10


@dataclass(frozen=True)
class AlphaSweep:
    alphas: np.ndarray
    avg_experts: np.ndarray
    std_experts: np.ndarray | None
    baseline_k: float | None


def prepare(alphas, avg_experts, std_experts=None, baseline_k=8):
    """Validate the sweep and sort it by alpha."""
    alphas = vector(alphas, "alphas").astype(float)
    avg = vector(avg_experts, "avg_experts").astype(float)
    same_length(alphas, avg, "alphas", "avg_experts")
    outside = (alphas <= 0) | (alphas >= 1)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"alphas[{i}] must be in (0, 1), got {alphas[i]:g}")
    non_negative(avg, "avg_experts")
    std = None
    if std_experts is not None:
        std = vector(std_experts, "std_experts").astype(float)
        same_length(alphas, std, "alphas", "std_experts")
        non_negative(std, "std_experts")
    if baseline_k is not None:
        if isinstance(baseline_k, bool) or not np.isscalar(baseline_k) or not baseline_k > 0:
            raise ValueError(f"baseline_k must be a positive number, got {baseline_k!r}")
        baseline_k = float(baseline_k)
    order = np.argsort(alphas, kind="stable")
    return AlphaSweep(alphas[order], avg[order], None if std is None else std[order], baseline_k)


def draw(fig, data):
    ax = fig.add_subplot()
    colours = palette()
    line = colours[len(colours) // 2 + 1 if len(colours) > 2 else 0]
    label = "Average experts" if data.std_experts is None else "Average experts (\N{PLUS-MINUS SIGN}1 std)"
    ax.errorbar(data.alphas, data.avg_experts, yerr=data.std_experts, color=line, linestyle="-", marker="o",
                markersize=marker_size(1.15), linewidth=line_width(1.33), capsize=marker_size(0.7), label=label)
    for i, (alpha, avg) in enumerate(zip(data.alphas, data.avg_experts)):
        last = i == len(data.alphas) - 1  # label the last point on its left, inside the axes
        ax.annotate(number(avg), (alpha, avg), xytext=(-7 if last else 7, 5), textcoords="offset points",
                    ha="right" if last else "left", va="bottom", fontsize="small", color=NEUTRAL)
    if data.baseline_k is not None:
        k = data.baseline_k
        ax.axhline(k, color=colours[0], linestyle="--", linewidth=line_width(1.33),
                   label=f"Top-{k:g} baseline")
        ax.fill_between(data.alphas, data.avg_experts, k, where=data.avg_experts <= k,
                        interpolate=True, color=line, alpha=0.15, label=f"Reduction vs top-{k:g}")
    if data.alphas[-1] / data.alphas[0] >= LOG_AXIS_SPAN:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(data.alphas, [f"{a:g}" for a in data.alphas])
    top = max(data.avg_experts.max() + (0 if data.std_experts is None else data.std_experts.max()),
              data.baseline_k or 0)
    leave_headroom(ax, top)
    ax.set_xlabel("Significance level \N{GREEK SMALL LETTER ALPHA}")
    ax.set_ylabel("Experts per token")
    ax.set_title("Sensitivity of expert selection to \N{GREEK SMALL LETTER ALPHA}")
    ax.legend(loc="upper left")


def plot_alpha_sensitivity(
    alphas, avg_experts, std_experts=None, baseline_k=8, save_path=None, figsize=None, dpi=100
):
    """Average experts per token against the significance level alpha.

    Optional ``std_experts`` become error bars; ``baseline_k`` draws the top-k
    reference line and shades the reduction below it (``None`` hides both). The
    points are labelled with their values and the x-axis ticks with the alphas
    (log scale when they span a factor of ten or more). Returns pyplot's current figure.
    """
    data = prepare(alphas, avg_experts, std_experts, baseline_k)
    return render(draw, data, figsize=figsize, dpi=dpi, save_path=save_path)
