"""Vocabulary specialisation: how often a token is routed to its most frequent expert, per layer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, integer_at_least, labelled, whole_vector
from figkit.plots._draw import (
    NEUTRAL,
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
    only_up_to,
    set_title,
    set_ylabel,
)
from figkit.plots.looks import method_roles
from figkit.plots.spec import (
    FigureJob,
    FigureSpec,
    add_shading_sentence,
    compared,
    compared_caption,
    compared_note,
    listed,
    shared_docs,
    span,
)
from figkit.results import method_counts, method_labels

MIN_OCCURRENCES = 10  # OLMoE's: a token seen fewer times says little about its expert
NEXT_TOKEN_STYLES = {"-": "by the token's id", ":": "by the next token's id"}
CHANCE_STYLE, CHANCE_LABEL = "-.", "random routing, per method"  # each drawn in its method's colour


@dataclass(frozen=True)
class Specialization:
    methods: list  # (label, layer ids, mean specialisation per layer in %, token ids counted)
    next_tokens: list  # the same, with token ids of the next token, for the labels among ``methods``
    min_occurrences: int
    roles: dict  # label -> Role: each method's colour and marker of every figure
    note: str  # what the figure leaves out: "showing 7 of 1,000 methods", or ""
    chance: dict  # label -> (layers, the level routing at random would reach there in %), methods drawn


def prepare(
    vocabulary,
    min_occurrences=MIN_OCCURRENCES,
    next_tokens=None,
    methods=None,
    experts_per_token=None,
    num_experts=None,
):
    """Each method's mean specialisation per layer over the token ids seen at least ``min_occurrences`` times.

    ``vocabulary[method][layer]`` holds ``occurrences`` and ``top_expert_routings`` per token
    id (or per group of ids, with ``id_count``): a token's specialisation is its routings to its
    most frequent expert divided by its occurrences. ``next_tokens``, in the same form, groups
    the routings by the id of the token that follows. With ``experts_per_token`` (per method: a number,
    or one per layer) and ``num_experts``, each method's level under random routing is computed from the
    same tokens (``random_level``) and drawn dash-dotted.
    """
    min_occurrences = integer_at_least(min_occurrences, "min_occurrences", 1)
    by_token = _series(vocabulary, "vocabulary", min_occurrences)
    following = [] if next_tokens is None else _series(next_tokens, "next_tokens", min_occurrences)
    unknown = [label for label, *_ in following if label not in {label for label, *_ in by_token}]
    if unknown:
        raise ValueError(f"next_tokens names {unknown[0]!r}, which is not a method of vocabulary")
    shown = [by_token[i] for i in compared(len(by_token))]
    drawn = {label for label, *_ in shown}
    following = [series for series in following if series[0] in drawn]
    roles = method_roles([label for label, *_ in by_token], methods)
    chance = _random_levels(vocabulary, shown, experts_per_token, num_experts, min_occurrences)
    return Specialization(shown, following, min_occurrences, roles, compared_note(len(shown), len(by_token)), chance)


def _random_levels(vocabulary, shown, experts_per_token, num_experts, min_occurrences):
    """{label: (layers, levels in %)} under random routing, for the shown methods ``experts_per_token`` has."""
    if experts_per_token is None:
        return {}
    if isinstance(num_experts, bool) or not isinstance(num_experts, (int, np.integer)) or num_experts < 1:
        raise ValueError(f"experts_per_token needs num_experts, a positive integer; got {num_experts!r}")
    by_label = {str(label): layers for label, layers in vocabulary.items()}
    unknown = [label for label in experts_per_token if str(label) not in by_label]
    if unknown:
        raise ValueError(f"experts_per_token names {unknown[0]!r}, which is not a method of vocabulary")
    given = {str(label): value for label, value in experts_per_token.items()}
    levels = {}
    for label, layers, _, _ in shown:
        if label not in given:
            continue
        per_layer = given[label]
        counts = {int(layer): c for layer, c in by_label[label].items()}
        values = []
        for layer in layers:
            k = per_layer.get(int(layer), per_layer.get(str(layer))) if isinstance(per_layer, Mapping) else per_layer
            if k is None or not 0 < float(k) <= num_experts:
                raise ValueError(f"experts_per_token[{label!r}] must give layer {layer} a number in (0, {num_experts}]")
            c = counts[int(layer)]
            weight = c.get("id_count", np.ones(len(c["occurrences"])))
            values.append(random_level(c["occurrences"], weight, float(k) / num_experts, num_experts, min_occurrences))
        levels[label] = (np.asarray(layers), np.array(values))
    return levels


def random_level(occurrences, id_count, p, experts, min_occurrences=MIN_OCCURRENCES):
    """The specialisation, in %, routing at random would show: for each token id seen ``n`` ≥
    ``min_occurrences`` times, E[max of ``experts`` counts ~ Binomial(n, p)] / n (each occurrence picks
    each expert with probability ``p``; the experts taken as independent), averaged over the ids.

    Well above p for few occurrences: top-8 of 64 (p = 0.125) gives 41 % for a token seen 10 times.
    """
    occurrences = np.asarray(occurrences, dtype=np.int64)
    weight = np.asarray(id_count, dtype=float)
    kept = occurrences >= min_occurrences
    if p >= 1:
        return 100.0
    total = 0.0
    for n in np.unique(occurrences[kept]):
        total += weight[kept & (occurrences == n)].sum() * _expected_max(int(n), p, experts) / n
    return 100 * total / weight[kept].sum()


def _expected_max(n, p, experts):
    """E[max of ``experts`` independent Binomial(n, p) counts] = Σ_m P(max ≥ m), over the counts within 12
    standard deviations of n·p (below them P(max ≥ m) is 1, above them nothing): O(√n) per n."""
    spread = 12 * math.sqrt(n * p * (1 - p)) + 2
    low, high = max(0, math.floor(n * p - spread)), min(n, math.ceil(n * p + spread))
    m = np.arange(low, high + 1)
    start = math.lgamma(n + 1) - math.lgamma(low + 1) - math.lgamma(n - low + 1) + low * math.log(p)
    start += (n - low) * math.log1p(-p)
    steps = np.log((n - m[:-1]) / (m[:-1] + 1)) + math.log(p) - math.log1p(-p)  # pmf(m + 1) / pmf(m)
    pmf = np.exp(start + np.concatenate([[0.0], np.cumsum(steps)]))
    below = np.minimum(np.cumsum(pmf), 1.0)  # P(count ≤ m) for m = low..high
    return low + float(np.sum(1.0 - below[:-1] ** experts))  # P(max ≥ m) for m = low + 1..high


def _mean(histogram):
    """Mean experts per token of an ``{experts: tokens}`` histogram."""
    return sum(k * n for k, n in histogram.items()) / sum(histogram.values())


def _series(vocabulary, name, min_occurrences):
    methods = []
    for label, layers in labelled(vocabulary, name):
        if not isinstance(layers, Mapping) or not layers:
            raise ValueError(f"{name}[{label!r}] must map each layer to its token counts")
        ids = whole_vector(list(layers), f"layers of {name}[{label!r}]")
        order = np.argsort(ids, kind="stable")
        counts = list(layers.values())
        means, counted = [], 0
        for i in order:
            mean, counted = _mean_specialization(counts[i], f"{name}[{label!r}][{ids[i]}]", min_occurrences)
            means.append(mean)
        methods.append((label, ids[order], np.array(means), counted))
    return methods


def _mean_specialization(counts, name, min_occurrences):
    if not isinstance(counts, Mapping) or not {"occurrences", "top_expert_routings"} <= set(counts):
        raise ValueError(f"{name} must hold occurrences and top_expert_routings (and optionally id_count)")
    occurrences = whole_vector(counts["occurrences"], f"{name}.occurrences")
    top = whole_vector(counts["top_expert_routings"], f"{name}.top_expert_routings")
    weight = whole_vector(counts.get("id_count", np.ones(occurrences.size)), f"{name}.id_count")
    if not occurrences.size == top.size == weight.size:
        raise ValueError(f"{name}: occurrences, top_expert_routings and id_count differ in length")
    if np.any(top > occurrences):
        i = int(np.argmax(top > occurrences))
        raise ValueError(f"{name}: {top[i]} routings to one expert of a token seen {occurrences[i]} times")
    kept = occurrences >= min_occurrences
    if not kept.any():
        raise ValueError(
            f"{name}: no token was seen {min_occurrences} times or more (the most: {occurrences.max()}); "
            f"lower min_occurrences"
        )
    share = top[kept] / occurrences[kept]
    return float(100 * np.average(share, weights=weight[kept])), int(weight[kept].sum())


def _entries(data):
    labels = [mathtext_label(label) for label, *_ in data.methods]
    labels += list(NEXT_TOKEN_STYLES.values()) if data.next_tokens else []
    return labels + ([CHANCE_LABEL] if data.chance else [])


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above(_entries(data), width, data.note)


def draw(ax, data):
    for series, style in ((data.methods, "-"), (data.next_tokens, ":")):
        for label, layers, means, _ in series:
            look = data.roles[label].look()
            ax.plot(
                layers,
                means,
                color=look.color,
                linestyle=style,
                marker=look.marker,
                markersize=marker_size(0.8),
                linewidth=line_width(1.33),
                label=mathtext_label(label) if style == "-" else "_",
            )
    for label, (layers, levels) in data.chance.items():  # what each method would show at random, its colour
        look = data.roles[label].look()
        ax.plot(layers, levels, color=look.color, linestyle=CHANCE_STYLE, linewidth=line_width(0.9), marker="none")
    top = max(means.max() for series in (data.methods, data.next_tokens) for _, _, means, _ in series)
    top = max([top, *(levels.max() for _, levels in data.chance.values())])
    ax.set_ylim(0, min(105, 10 * np.ceil(top / 10 + 0.05)))  # a line at 100 % stays clear of the frame
    only_up_to(ax.yaxis, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Layer")
    set_ylabel(ax, "Occurrences at the token's top expert (%)")
    set_title(
        ax,
        f"Vocabulary specialisation (tokens seen \N{GREATER-THAN OR EQUAL TO}{data.min_occurrences} times)",
        data.note,
    )
    handles = ax.get_legend_handles_labels()[0]
    if data.next_tokens:  # the methods by colour, the token whose id counts by line style
        handles += [
            Line2D([], [], color=NEUTRAL, linestyle=style, linewidth=line_width(1.33), label=label)
            for style, label in NEXT_TOKEN_STYLES.items()
        ]
    if data.chance:
        handles.append(
            Line2D([], [], color=NEUTRAL, linestyle=CHANCE_STYLE, linewidth=line_width(0.9), label=CHANCE_LABEL)
        )
    legend_above(ax, handles, [handle.get_label() for handle in handles])


def jobs(results):
    """One figure of every method with ``vocabulary`` entries, when some token was seen often enough."""
    labels = method_labels(results)
    kinds = {"input": {}, "next": {}}
    for entry in results.get("vocabulary", []):
        if entry.get("layer") is not None:  # the figure runs over layers
            counts = {key: entry[key] for key in ("occurrences", "top_expert_routings", "id_count")}
            kinds[entry.get("token", "input")].setdefault(entry["method"], {})[entry["layer"]] = counts
    vocabulary = kinds["input"]
    every = [c for kind in kinds.values() for v in kind.values() for c in v.values()]
    if not vocabulary or min(max(c["occurrences"]) for c in every) < MIN_OCCURRENCES:
        return
    arguments = {"vocabulary": {labels[m]: layers for m, layers in vocabulary.items()}, "methods": results["methods"]}
    experts = results.get("model", {}).get("num_experts")
    everyone = method_counts(results)
    if experts:  # each layer's experts per token, for the level random routing would show there
        arguments["num_experts"] = experts
        arguments["experts_per_token"] = {
            labels[m]: {layer: _mean(everyone[m].layers.get(layer, everyone[m].pooled)) for layer in layers}
            for m, layers in vocabulary.items()
            if m in everyone
        }
    if kinds["next"]:
        arguments["next_tokens"] = {labels[m]: layers for m, layers in kinds["next"].items()}
    data = prepare(**arguments)
    chance = data.chance
    notes = [
        f" ({_percent_span(means)}" + (f"; {_percent_span(chance[label][1])} at random)" if label in chance else ")")
        for label, _, means, _ in data.methods
    ]
    tokens = max(n for *_, n in data.methods)
    shown = [label for label, *_ in data.methods]  # prepare keeps at most MAX_COMPARED
    caption = [
        f"Vocabulary specialisation: for each token id seen at least {MIN_OCCURRENCES} times ({tokens:,} ids), "
        "the share of its occurrences routed to its most frequent expert (one of the experts each occurrence "
        f"selects), averaged over the ids, per layer{compared_caption(len(shown), len(vocabulary))}: ",
        *listed(shown, notes),
    ]
    if chance:
        caption[-1] += (
            " Dash-dotted, in each method's colour: the level routing at random would show on the same tokens, "
            "with the layer's experts per token (a token's most frequent expert by chance, approximately); a "
            "method that selects more experts scores higher without specialising."
        )
    if data.next_tokens:
        caption[-1] += " Dotted: the same with the routings grouped by the id of the next token."
    add_shading_sentence(caption, results, shown)
    yield FigureJob("", arguments, tuple(caption))


def _percent_span(shares):
    """ "18.2% to 24.8%", or "30.7%" when every layer rounds alike."""
    return span(f"{shares.min():.1f}%", f"{shares.max():.1f}%")


FIGURE = FigureSpec(
    name="vocabulary_specialization",
    title="Vocabulary specialisation",
    sections=("vocabulary", "expert_counts"),  # the counts give the caption its chance level
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
    report={"vocabulary": "vocabulary", "vocabulary_next_tokens": "next_tokens"},
    required=("vocabulary",),
)


@shared_docs
def plot_vocabulary_specialization(
    vocabulary: Mapping[str, Mapping[int, Mapping[str, ArrayLike]]],
    *,
    next_tokens: Mapping[str, Mapping[int, Mapping[str, ArrayLike]]] | None = None,
    min_occurrences: int = MIN_OCCURRENCES,
    methods: Sequence[Mapping] | None = None,
    experts_per_token: Mapping[str, float | Mapping[int, float]] | None = None,
    num_experts: int | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """One line per method: the mean share of a token's occurrences routed to its most frequent expert.

    Parameters
    ----------
    vocabulary : mapping
        ``{method: {layer: {"occurrences": ..., "top_expert_routings": ..., "id_count": ...}}}``:
        per token id (or per group of ids with the same two numbers, ``id_count`` of them), how
        often it was seen and how often it was routed to its most frequent expert
        (``vocabulary`` entries, written by ``RoutingStats``).
    next_tokens : mapping, optional
        The same, grouped by the id of the token that follows (``vocabulary`` entries with
        ``"token": "next"``): drawn dotted in the method's colour.
    min_occurrences : int
        Count only token ids seen this often (10).
    {method_looks}
    experts_per_token, num_experts : optional
        ``{method: experts per token}`` (a number, or ``{layer: number}``) and the experts of a
        layer: each method's level under random routing on the same tokens is drawn dash-dotted in
        its colour (``random_level``).
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For counts that are not whole numbers, differ in length, give a token more routings
        to one expert than occurrences, or have no token seen ``min_occurrences`` times.
    """
    data = prepare(vocabulary, min_occurrences, next_tokens, methods, experts_per_token, num_experts)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
