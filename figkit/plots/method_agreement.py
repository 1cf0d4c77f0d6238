"""Agreement between methods on the same tokens, per layer: one line per method against a reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figkit.arrays import ArrayLike, labelled, layer_ids, vector
from figkit.plots._draw import (
    height_with_legend_above,
    legend_above,
    line_width,
    marker_size,
    mathtext_label,
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
    extend_caption,
    shared_docs,
)
from figkit.results import method_labels

# measure: (axis label, what the caption says is measured), both naming the reference method {ref}
MEASURES = {
    "jaccard": (
        "Jaccard overlap with {ref} (%)",
        "the mean over tokens of the Jaccard overlap |A ∩ B| / |A ∪ B| of the experts each method (A) and {ref} (B) "
        "select for the same token",
    ),
    "shared": (
        "Experts also chosen by {ref} (%)",
        "the share of each method's selected experts that {ref} also selects for the same token",
    ),
    "top1": (
        "Same top-1 expert as {ref} (%)",
        "the share of tokens whose expert of largest router logit is the same for each method and for {ref}",
    ),
}


@dataclass(frozen=True)
class Agreement:
    methods: list  # (label, values in % per layer, Role)
    layers: np.ndarray
    reference: str
    measure: str
    note: str  # what the figure leaves out


def prepare(agreement, reference, measure="jaccard", layers=None, methods=None):
    """Validate each method's per-layer shares in [0, 1] against ``reference``."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    items = labelled(agreement, "agreement")
    roles = method_roles([label for label, _ in items], methods)
    series, size = [], None
    for label, values in items:
        shares = vector(values, f"agreement[{label!r}]").astype(float)
        if shares.min() < 0 or shares.max() > 1:
            raise ValueError(f"agreement[{label!r}]: shares must be between 0 and 1, got {shares.max():g}")
        if size is not None and shares.size != size:
            raise ValueError(f"agreement[{label!r}] has {shares.size} layers, the first method {size}")
        size = shares.size
        series.append((mathtext_label(label), 100 * shares, roles[label]))
    ids = np.asarray(layer_ids(layers, size, "layers of agreement"))
    shown = [series[i] for i in compared(len(series))]
    return Agreement(shown, ids, mathtext_label(str(reference)), measure, compared_note(len(shown), len(series)))


def height(data, width):
    """The style's height for the axes, and room for the legend above them."""
    return height_with_legend_above([label for label, *_ in data.methods], width, data.note)


def draw(ax, data):
    for label, percent, role in data.methods:
        look = role.look().line()
        ax.plot(data.layers, percent, linewidth=line_width(1.33), markersize=marker_size(), label=label, **look)
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Layer")
    set_ylabel(ax, MEASURES[data.measure][0].format(ref=data.reference))
    set_title(ax, "", data.note)
    legend_above(ax)


def _extremes(layers, shares):
    """ " from 41.2% (layer 0) to 77.9% (layer 15)", or ": 100.0% in every layer"."""
    low, high = int(np.argmin(shares)), int(np.argmax(shares))
    if shares[high] - shares[low] < 0.0005:
        return f": {100 * shares[low]:.1f}% in every layer"
    return f" from {100 * shares[low]:.1f}% (layer {layers[low]}) to {100 * shares[high]:.1f}% (layer {layers[high]})"


def _complete(entry, measure):
    """Whether ``measure`` is 100% in every layer (absent: not measured, so not known to differ)."""
    return measure not in entry or min(entry[measure]) >= 0.9995


def _by_reference(results):
    """``{reference: (entries drawn, all entries)}``: at most ``MAX_COMPARED`` methods against each reference."""
    entries = results.get("method_agreement", [])
    grouped = {}
    for reference in dict.fromkeys(entry["reference"] for entry in entries):
        mine = [entry for entry in entries if entry["reference"] == reference]
        grouped[reference] = ([mine[i] for i in compared(len(mine))], mine)
    return grouped


def _nested(entries):
    """Whether every method's experts lie within the reference's and its top-1 expert is the reference's, in
    every layer: then the overlap is only each method's count over the reference's, which the
    experts-per-layer figure shows."""
    return all(_complete(entry, "shared") and _complete(entry, "top1") for entry in entries)


def jobs(results):
    """Per reference, a figure for the Jaccard overlap and for each other measure not 100% everywhere; none
    when every method's experts lie within the reference's (``omitted`` says so)."""
    labels = method_labels(results)
    for reference, (shown, every) in _by_reference(results).items():
        if _nested(shown):
            continue
        tokens = min(entry.get("num_tokens", 0) for entry in shown)
        said = f"{tokens:,} tokens" + compared_caption(len(shown), len(every)) if tokens else ""
        for measure in MEASURES:
            drawn = [entry for entry in shown if measure in entry]
            if measure != "jaccard" and all(_complete(entry, measure) for entry in drawn):
                continue
            caption = ["Agreement with ", labels[reference], f" per layer ({said}): " if said else " per layer: "]
            caption[-1] += MEASURES[measure][1].format(ref="the reference") + ". "
            for i, entry in enumerate(drawn):
                ending = "." if i == len(drawn) - 1 else "; "
                caption += [labels[entry["method"]], _extremes(entry["layers"], entry[measure]) + ending]
            extend_caption(caption, _always(shown, measure, labels, reference))
            add_shading_sentence(caption, results, [entry["method"] for entry in drawn])
            arguments = {
                "agreement": {labels[e["method"]]: e[measure] for e in drawn},
                "reference": labels[reference],
                "measure": measure,
                "layers": drawn[0]["layers"],
                "methods": results["methods"],
            }
            yield FigureJob(f"_{measure}_vs_{reference}", arguments, tuple(caption))


def omitted(results):
    """A sentence for each reference whose methods' experts all lie within its own."""
    labels = method_labels(results)
    for reference, (shown, _) in _by_reference(results).items():
        if _nested(shown):
            yield (
                "In every layer, every expert that ",
                *_names([labels[entry["method"]] for entry in shown]),
                " selects is also selected by ",
                labels[reference],
                ", and the top-1 expert is the same, so their overlap is only the share of ",
                labels[reference],
                "'s experts they keep (experts per token over its own); no agreement figure is drawn.",
            )


def _always(entries, measure, labels, reference):
    """Caption parts (text first) for the other measures that are 100% for every method, which are not drawn."""
    sentences = {
        "shared": (" In every layer, every expert each method selects is also selected by ", "."),
        "top1": (" In every layer, each method's top-1 expert is also ", "'s."),
    }
    parts = [""]
    for other, (before, after) in sentences.items():
        measured = [entry for entry in entries if other in entry]
        if other != measure and measured and all(_complete(entry, other) for entry in measured):
            parts[-1] += before
            parts += [labels[reference], after]
    return parts


def _names(labels):
    """Caption parts naming ``labels`` (label, text, label, ..., label): "A, B or C"."""
    parts = []
    for i, label in enumerate(labels):
        parts += [label, " or " if i == len(labels) - 2 else ", "]
    return parts[:-1]


FIGURE = FigureSpec(
    name="method_agreement",
    title="Agreement between methods",
    sections=("method_agreement",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
    omitted=omitted,
)


@shared_docs
def plot_method_agreement(
    agreement: Mapping[str, ArrayLike],
    *,
    reference: str,
    measure: str = "jaccard",
    layers: Sequence[int] | None = None,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """One line per method: how far its experts agree with ``reference``'s for the same tokens, per layer.

    Parameters
    ----------
    agreement : dict
        Method name (``$...$`` maths allowed) to one share in [0, 1] per layer, as
        ``RoutingStats.add_agreement`` writes them into ``method_agreement``.
    reference : str
        The method every line is compared with, named in the legend.
    measure : {"jaccard", "shared", "top1"}
        What the shares are: the mean Jaccard overlap of the two expert sets, the share of the
        method's experts the reference also selects, or the share of tokens with the same top-1 expert.
    layers : sequence of int, optional
        The id of each layer (default 0, 1, ...).
    {method_looks}
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no methods, shares outside [0, 1], methods with different numbers of layers, ``layers``
        that do not match, or an unknown ``measure``.
    """
    data = prepare(agreement, reference, measure, layers, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
