"""Tokens routed to each expert: load imbalance at a glance."""

from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from figkit.arrays import non_negative, vector
from figkit.plots._figure import NEUTRAL, leave_headroom, line_width, marker_size, number, render, stats_box
from figkit.stats import LoadBalance, load_balance

# Load relative to the mean: (upper bound, legend label, colour). Red for under-used to green for
# balanced, as in the spec's look, in Okabe & Ito's colours so colour-blind readers tell them apart.
LOAD_CLASSES = (
    (0.5, "< 0.5\N{MULTIPLICATION SIGN} mean", "#D55E00"),
    (0.8, "0.5\N{EN DASH}0.8\N{MULTIPLICATION SIGN}", "#E69F00"),
    (1.2, "0.8\N{EN DASH}1.2\N{MULTIPLICATION SIGN}", "#009E73"),
    (np.inf, "> 1.2\N{MULTIPLICATION SIGN}", "#0072B2"),
)

WIDE = 5.0  # inches; narrower figures give the statistics in the title and only the classes in the legend


@dataclass(frozen=True)
class ExpertLoad:
    counts: np.ndarray
    balance: LoadBalance


def prepare(expert_counts_by_expert, num_experts=None):
    """Validate per-expert loads; ``num_experts`` pads with experts that received nothing."""
    counts = non_negative(vector(expert_counts_by_expert, "expert_counts_by_expert"), "expert_counts_by_expert")
    counts = counts.astype(float)
    if not counts.any():
        raise ValueError("expert_counts_by_expert is all zero: no token was routed")
    if num_experts is not None:
        if isinstance(num_experts, bool) or not isinstance(num_experts, (int, np.integer)) \
                or num_experts < counts.size:
            raise ValueError(
                f"num_experts must be an integer of at least {counts.size} "
                f"(the length of expert_counts_by_expert), got {num_experts!r}"
            )
        counts = np.pad(counts, (0, int(num_experts) - counts.size))
    return ExpertLoad(counts, load_balance(counts))


def load_classes(counts, mean):
    """Index into LOAD_CLASSES for each expert."""
    bounds = np.array([upper for upper, _, _ in LOAD_CLASSES[:-1]])
    return np.searchsorted(bounds, counts / mean, side="right")


def draw(fig, data):
    ax = fig.add_subplot()
    counts, balance = data.counts, data.balance
    classes = load_classes(counts, balance.mean)
    colours = np.array([colour for _, _, colour in LOAD_CLASSES])
    ax.bar(np.arange(counts.size), counts, width=0.8, color=colours[classes])
    ax.axhspan(balance.mean - balance.std, balance.mean + balance.std, color=NEUTRAL, alpha=0.08, zorder=0)
    dead = np.flatnonzero(counts == 0)
    ax.plot(dead, np.zeros(dead.size), linestyle="none", marker="x", color=LOAD_CLASSES[0][2],
            markersize=marker_size(1.33), markeredgewidth=line_width(1.33), clip_on=False, zorder=4)
    ax.axhline(balance.mean, color=NEUTRAL, linestyle="--", linewidth=line_width())
    handles = [
        Patch(color=colour, label=f"{name} ({n})")
        for (_, name, colour), n in zip(LOAD_CLASSES, np.bincount(classes, minlength=len(LOAD_CLASSES)))
        if n
    ]
    handles += [
        Line2D([], [], color=NEUTRAL, linestyle="--", label=f"mean {number(balance.mean)}"),
        Patch(color=NEUTRAL, alpha=0.08, label=f"\N{PLUS-MINUS SIGN}1 std {number(balance.std)}"),
    ]
    if dead.size:
        handles.append(Line2D([], [], linestyle="none", marker="x", color=LOAD_CLASSES[0][2],
                              markeredgewidth=line_width(1.33), label=f"dead ({dead.size})"))
    ratio = "\N{INFINITY}" if np.isinf(balance.max_min_ratio) else number(balance.max_min_ratio)
    dead_note = f" ({balance.dead_experts} dead)" if balance.dead_experts else ""
    lines = [
        f"CV: {number(balance.cv)}",
        f"MaxVio: {number(balance.max_vio)}",
        f"Max/min: {ratio}{dead_note}",
        f"Entropy (norm.): {number(balance.entropy)}",
    ]
    top = max(counts.max(), balance.mean + balance.std)
    title = "Expert utilisation"
    if fig.get_figwidth() < WIDE:
        classes_only = [h for h in handles if not h.get_label().startswith(("mean", "\N{PLUS-MINUS SIGN}"))]
        ax.legend(handles=classes_only, loc="upper center", ncols=-(-len(classes_only) // 2), columnspacing=0.8,
                  handlelength=1.0, handletextpad=0.4)
        title += (f": mean {number(balance.mean)} \N{PLUS-MINUS SIGN} {number(balance.std)}\n"
                  f"CV {number(balance.cv)}, MaxVio {number(balance.max_vio)}, max/min {ratio}{dead_note}, "
                  f"entropy {number(balance.entropy)}")
        leave_headroom(ax, top, fraction=0.7)
    else:
        fig.legend(handles=handles, loc="outside lower center", ncols=4)
        stats_box(ax, lines)
        leave_headroom(ax, top)
    ax.set_xlim(-0.6, counts.size - 0.4)
    ax.set_xlabel("Expert")
    ax.set_ylabel("Tokens routed")
    ax.set_title(title)


def plot_expert_utilization(
    expert_counts_by_expert, num_experts=None, save_path=None, figsize=None, dpi=100
):
    """Bar chart of the tokens each expert received, coloured by load relative to the mean.

    A dashed line marks the mean and a band ±1 std; the box gives mean, std, CV, MaxVio
    (max/mean − 1), max/min (∞ with the number of dead experts when one got nothing) and
    normalised entropy. ``num_experts`` adds experts missing from the end of the input.
    Returns pyplot's current figure.
    """
    data = prepare(expert_counts_by_expert, num_experts)
    return render(draw, data, figsize=figsize, dpi=dpi, save_path=save_path)
