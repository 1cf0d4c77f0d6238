"""A figure family described once: its name, the data it reads, prepare, draw and caption."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

from figkit.style import default_look, remember_style, save_figure


@dataclass(frozen=True)
class FigureJob:
    """One figure a results file supports: the output's name, prepare's arguments, its caption."""

    suffix: str  # appended to the family name: "expert_utilization" + "_topk8_layer3"
    arguments: dict  # keyword arguments of ``prepare``, as plain JSON data
    caption: tuple  # text, label, text, label, ...: labels may hold $...$ maths, text is literal


@dataclass(frozen=True)
class FigureSpec:
    """Everything figkit knows about one figure family; ``figkit.plots.FIGURES`` lists them.

    ``name`` names the library function (``plot_<name>``), the output files of a build
    (``figures/<name><suffix>.pdf``) and the report's files. ``prepare`` validates and
    computes (it raises before anything is drawn); ``draw(ax, data)`` draws onto one axes,
    or, for a family with ``panels=True``, ``draw(figure, data)`` lays out its own panels in a
    figure or subfigure.
    ``jobs(results)`` yields a ``FigureJob`` per figure a validated results file supports,
    reading only ``sections``. ``report`` maps ``create_analysis_report``'s keys to
    prepare's arguments; the keys in ``required`` must all be present. ``cost`` is the
    render time relative to a plain figure's (benchmarks/README.md): a build starts
    the heaviest jobs first. ``height(data, width)``, when given, sizes a figure figkit
    creates whose height follows its data (a grid of panels). ``width`` is the width a
    build sized for a paper gives the family: "column", or "text" for ``figure*``. ``omitted(results)``
    yields a sentence (caption parts) for each figure the data would make that shows nothing (a constant
    count); the appendix prints it in the figure's place. ``latex(data)``, when given, writes the same
    figure as an ``\\input``-ready LaTeX fragment, which a build writes beside the PDF as
    ``tables/<name><suffix>.tex``.
    """

    name: str
    title: str  # the appendix section heading
    sections: tuple[str, ...]
    prepare: Callable[..., Any]
    draw: Callable[[Any, Any], None]
    jobs: Callable[[Mapping], Iterable[FigureJob]]
    report: Mapping[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    cost: float = 1.0
    panels: bool = False
    height: Callable[[Any, float], float] | None = None  # inches for a new figure of this width, if not fixed
    width: str = "column"
    omitted: Callable[[Mapping], Iterable[tuple]] | None = None  # captions of figures that would show nothing
    latex: Callable[[Any], str] | None = None  # the figure as LaTeX, from prepared data

    @property
    def function_name(self):
        return f"plot_{self.name}"

    def plot(self, data, *, ax=None, figsize=None, dpi=None, save_path=None):
        """Draw prepared ``data`` on ``ax`` (its figure returned), or on a new current pyplot figure.

        Given ``ax``, the user's figure is neither created, resized nor re-laid-out.
        Otherwise ``figsize`` and ``dpi`` default to the active rcParams, and figkit's
        default look fills in only what the user has not set.
        """
        if ax is not None:
            fig = ax.figure
            if self.panels:  # the panels take the axes' place in the user's grid, as a subfigure
                place = ax.get_subplotspec()
                if place is None:
                    raise ValueError(f"{self.function_name} draws several panels: give an axes of a grid")
                ax.remove()
                self.draw(fig.add_subfigure(place), data)
            else:
                self.draw(ax, data)
        else:
            with default_look():
                if figsize is None and self.height is not None:
                    width = mpl.rcParams["figure.figsize"][0]
                    figsize = (width, self.height(data, width))
                fig = remember_style(plt.figure(figsize=figsize, dpi=dpi))
                self.draw(fig if self.panels else fig.add_subplot(), data)
        if save_path is not None:
            save_figure(fig, save_path, dpi=dpi)
        return fig


# Docstring parts every plot function shares, written once (seaborn's DocstringComponents idea): a docstring
# of a function decorated with ``shared_docs`` says "{figure_parameters}" and gets the text.
SHARED_DOCS = {
    "{figure_parameters}": """ax, figsize, dpi, save_path
        As in every figkit plot function: an axes to draw on, size and resolution
        (``None``: the active rcParams), and where to save.""",
    "{figure_returned}": """matplotlib.figure.Figure
        ``ax.figure`` when ``ax`` is given, else a new figure that is pyplot's current one.""",
    "{method_looks}": """methods : list of dict, optional
        The results file's ``methods``: each method its colour and marker of every figure.""",
}


def shared_docs(function):
    """``function`` with the ``SHARED_DOCS`` placeholders of its docstring filled in."""
    for placeholder, text in SHARED_DOCS.items():
        function.__doc__ = function.__doc__.replace(placeholder, text)
    return function


MAX_COMPARED = 7  # methods one figure tells apart: the colours of the paper style's palette (Tol's bright)


def compared(count, first=()):
    """Indices, ascending, of the at most ``MAX_COMPARED`` of ``count`` methods a comparison figure draws:
    those in ``first`` (kept before the others), then others evenly spaced in the order given."""
    if count <= MAX_COMPARED:
        return list(range(count))
    first = list(dict.fromkeys(first))
    chosen = _spread(first, MAX_COMPARED)
    rest = [i for i in range(count) if i not in set(chosen)]
    return sorted(chosen + _spread(rest, MAX_COMPARED - len(chosen)))


def _spread(items, k):
    """``k`` of ``items`` evenly spaced, the first and last included (all of them if there are no more)."""
    if len(items) <= k:
        return list(items)
    return [items[round(j * (len(items) - 1) / (k - 1))] for j in range(k)] if k > 1 else items[:k]


def compared_note(shown, count):
    """What a comparison figure leaves out, in words; empty when it draws every method."""
    return f"showing {shown} of {count:,} methods" if shown < count else ""


def compared_caption(shown, count):
    """The caption's words for the same: empty, or " (7 of the 1,000 methods, evenly spaced in their order)"."""
    return f" ({shown} of the {count:,} methods, evenly spaced in their order)" if shown < count else ""


def representative_layers(layers):
    """The first, middle and last of ``layers`` in order (all of them when three or fewer): the layers a
    per-layer figure is drawn for when a figure across layers shows them all."""
    ordered = sorted(set(layers))
    return ordered if len(ordered) <= 3 else [ordered[0], middle_layer(ordered), ordered[-1]]


def middle_layer(layers):
    """The middle of ``layers`` (the later of two): the layer ``RoutingStats`` shows by default."""
    ordered = sorted(set(layers))
    return ordered[len(ordered) // 2]


def layer_suffix(layer):
    """The part of an output name that says the layer: "layer3", or "all_layers" for pooled data."""
    return "all_layers" if layer is None else f"layer{layer}"


def layer_text(layer):
    """The layer in a caption: "layer 3" or "all layers"."""
    return "all layers" if layer is None else f"layer {layer}"


def layers_text(layers):
    """Several layers in a caption: "layer 3", "layers 0 and 1", "layers 0, 8 and 15"."""
    if len(layers) == 1:
        return layer_text(layers[0])
    return f"layers {', '.join(map(str, layers[:-1]))} and {layers[-1]}"


def compute_sentence(results, counts, methods):
    """Caption parts (a label first) saying what the cheapest of ``methods`` spends against the baseline:
    "BH (α = 0.05) selects 2.78 experts per token on average, 35 % of Top-8's compute."; none when no
    declared baseline selects a fixed number of experts or no other method is among ``methods``.
    ``counts`` is ``method_counts(results)``, which the caller has already read."""
    from figkit.results import method_labels

    labels = method_labels(results)
    baseline = next((m["id"] for m in results["methods"] if m.get("baseline") and m["id"] in counts), None)
    others = [m for m in methods if m in counts and m != baseline]
    if baseline is None or len(counts[baseline].pooled) != 1 or not others:
        return []
    (k,) = counts[baseline].pooled
    cheapest = min(others, key=lambda m: counts[m].mean)
    mean = counts[cheapest].mean
    return [
        labels[cheapest],
        f" selects {mean:.2f} experts per token on average, {100 * mean / k:.0f}\N{NO-BREAK SPACE}% of ",
        labels[baseline],
        "'s compute.",
    ]


def extend_caption(caption, parts):
    """``caption`` (text, label, ..., text) followed by caption ``parts`` that start with text."""
    caption[-1] += parts[0]
    caption += parts[1:]


def add_shading_sentence(caption, results, methods):
    """``caption`` followed by a sentence saying which way the shades of each family among ``methods`` (ids
    or labels) run, "BH (α = 0.01) lightest to BH (α = 0.2) darkest, by α.", if a family shows two."""
    from figkit.plots.looks import shaded_families
    from figkit.results import method_labels

    labels = method_labels(results)
    for key, members in shaded_families(results["methods"]):
        drawn = [m for m in members if m in methods or labels[m] in methods]
        if len(drawn) > 1:
            by = {None: "in their order", "alpha": "by \N{GREEK SMALL LETTER ALPHA}"}.get(key, f"by {key}")
            caption[-1] = caption[-1].rstrip() + " "
            caption += [labels[drawn[0]], " lightest to ", labels[drawn[-1]], f" darkest, {by}."]


def span(low, high):
    """Two numbers as a caption gives a range: "18.2% to 24.8%", or one when they print alike."""
    return low if low == high else f"{low} to {high}"


def the_others(n, one, many):
    """ "the other method's figure" (n = 1) or "the other 3 methods' figures", for a shared scale's caption."""
    return f"the other {one}" if n == 1 else f"the other {n} {many}"


def listed(labels, notes=None, between=", "):
    """Caption parts that name ``labels`` in turn (as labels: their maths is kept), each followed by
    its note, with ``between`` between them and a full stop at the end."""
    parts = []
    for i, label in enumerate(labels):
        parts += [label, (notes[i] if notes else "") + ("." if i == len(labels) - 1 else between)]
    return parts
