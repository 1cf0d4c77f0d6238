"""Domain specialisation as OLMoE draws it: a bar chart per domain and layer of each expert's share of the tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike
from figkit.plots import domain_specialization
from figkit.plots._draw import LITERAL, NEUTRAL, label_every, line_width, nice_step
from figkit.plots.looks import Role, method_role
from figkit.plots.spec import FigureJob, FigureSpec, representative_layers, shared_docs
from figkit.results import method_labels

PANEL_EMS = 7  # the height of a row of panels, in the style's font size (0.78 in at 8 pt)


@dataclass(frozen=True)
class DomainGrid:
    percent: np.ndarray  # [domains, layers, experts]: each domain's share of its tokens (or routings), in %
    uniform: np.ndarray  # [layers]: the share of an even load, in %
    of_tokens: bool  # shares of tokens (a fixed k), else of routings
    domains: tuple
    layers: tuple
    role: Role  # the method's colour of every figure, for the bars


def prepare(domain_loads, num_tokens=None, method_name=None, methods=None):
    """Validate ``{domain: {layer: per-expert load}}`` and, optionally, ``{domain: tokens}`` (or ``{domain:
    {layer: tokens}}``); each layer's shares are those of ``plot_domain_specialization``."""
    if not isinstance(domain_loads, Mapping) or not domain_loads:
        raise ValueError("domain_loads must be a non-empty mapping of domain to {layer: each expert's load}")
    domains = [str(d) for d in domain_loads]
    layer_sets = [tuple(sorted(v)) if isinstance(v, Mapping) and v else None for v in domain_loads.values()]
    bad = [d for d, ids in zip(domains, layer_sets) if ids is None or ids != layer_sets[0]]
    if bad:
        raise ValueError(
            f"domain_loads[{bad[0]!r}] must map the same layers as the other domains, {list(layer_sets[0] or ())}"
        )
    if num_tokens is not None and (not isinstance(num_tokens, Mapping) or set(map(str, num_tokens)) != set(domains)):
        raise ValueError("num_tokens must give each domain of domain_loads its tokens")
    tokens = None if num_tokens is None else {str(d): n for d, n in num_tokens.items()}
    grids = [
        domain_specialization.prepare(
            {d: loads[layer] for d, loads in zip(domains, domain_loads.values())},
            None if tokens is None else {d: _tokens_in(tokens[d], d, layer) for d in domains},
            layer,
        )
        for layer in layer_sets[0]
    ]
    sizes = sorted({grid.share.shape[1] for grid in grids})
    if len(sizes) > 1:
        raise ValueError(f"domain_loads must give every layer the same number of experts, got {sizes}")
    return DomainGrid(
        percent=np.stack([grid.share for grid in grids], axis=1),
        uniform=np.array([grid.uniform for grid in grids]),
        of_tokens=all(grid.of_tokens for grid in grids),
        domains=tuple(domains),
        layers=layer_sets[0],
        role=method_role(method_name, methods),
    )


def _tokens_in(tokens, domain, layer):
    if not isinstance(tokens, Mapping):
        return tokens
    if layer not in tokens:
        raise ValueError(f"num_tokens[{domain!r}] gives no tokens for layer {layer}")
    return tokens[layer]


def height(data, width):
    """Rows of panels in units of the style's font: as tall in a slide as in a paper, relative to the text."""
    em = mpl.rcParams["font.size"] / 72
    return (PANEL_EMS * len(data.domains) + 8) * em


def draw(figure, data):
    n_domains, n_layers, n_experts = data.percent.shape
    axes = np.atleast_2d(figure.subplots(n_domains, n_layers, sharex=True, sharey=True, squeeze=False))
    colour = data.role.look().color
    top = float(data.percent.max())
    for d, domain in enumerate(data.domains):
        for i, layer in enumerate(data.layers):
            ax = axes[d, i]
            ax.bar(np.arange(n_experts), data.percent[d, i], width=0.85, color=colour, linewidth=0)
            ax.axhline(data.uniform[i], color=NEUTRAL, linestyle="--", linewidth=line_width(0.8), zorder=0.9)
            ax.grid(False, axis="x")
            if d == 0:
                ax.set_title(f"Layer {layer}", y=1.0)
            if i == len(data.layers) - 1:  # the domain to the right of its row, apart from the tick labels
                ax.yaxis.set_label_position("right")
                ax.set_ylabel(domain, rotation=0, ha="left", va="center", **LITERAL)
    axes[0, 0].set_ylim(0, max(top, float(data.uniform.max())) * 1.08)
    axes[0, 0].set_xlim(-1, n_experts)  # the outer bars clear the frame
    step = nice_step(label_every(axes[-1, 0], [str(n_experts)] * n_experts, share=0.8))
    axes[-1, 0].set_xticks(range(0, n_experts, step))
    figure.supxlabel("Expert", fontsize="medium")
    figure.supylabel(
        "Share of the domain's tokens (%)" if data.of_tokens else "Share of routings (%)", fontsize="medium"
    )


def _largest(data):
    """The largest share drawn, where: "7.0% of maths to expert 47 in layer 8"."""
    domain, layer, expert = np.unravel_index(np.argmax(data.percent), data.percent.shape)
    share = data.percent[domain, layer, expert]
    return f"{share:.1f}% of {data.domains[domain]} to expert {expert} in layer {data.layers[layer]}"


def jobs(results):
    """One grid per method of ``domain_load`` with two or more domains and layers: the first, middle and last."""
    labels = method_labels(results)
    grouped = {}
    for entry in results.get("domain_load", []):
        if entry.get("layer") is not None:
            grouped.setdefault(entry["method"], {}).setdefault(entry["domain"], {})[entry["layer"]] = entry
    for method, by_domain in grouped.items():
        common = set.intersection(*(set(layers) for layers in by_domain.values()))
        if len(by_domain) < 2 or len(common) < 2:
            continue
        layers = representative_layers(common)
        arguments = {
            "domain_loads": {d: {layer: e[layer]["counts"] for layer in layers} for d, e in by_domain.items()},
            "method_name": labels[method],
            "methods": results["methods"],
        }
        data = prepare(**arguments)
        unit, even = ("tokens", "k/E") if data.of_tokens else ("routings", "1/E")
        yield FigureJob(
            f"_{method}",
            arguments,
            (
                "",
                labels[method],
                f": each expert's share of each domain's {unit}, at layers "
                f"{', '.join(map(str, layers))} ({len(by_domain)} domains); dashed: an even load, {even}. "
                f"The largest share: {_largest(data)}.",
            ),
        )


FIGURE = FigureSpec(
    name="domain_specialization_grid",
    title="Load by domain and layer",
    sections=("domain_load",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    report={"domain_layer_loads": "domain_loads", "domain_layer_tokens": "num_tokens"},
    required=("domain_layer_loads", "domain_layer_tokens"),
    cost=3.0,
    panels=True,
    height=height,
    width="text",
)


@shared_docs
def plot_domain_specialization_grid(
    domain_loads: Mapping[str, Mapping[int, ArrayLike]],
    *,
    num_tokens: Mapping[str, int | Mapping[int, int]] | None = None,
    method_name: str | None = None,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """A bar chart per domain (rows) and layer (columns): each expert's share of the domain's load.

    OLMoE's domain-specialisation figure; a dashed line marks an even load. Shares are those
    of ``plot_domain_specialization``: of the domain's routings (an even load is 1/E), or with
    ``num_tokens`` and a fixed number of experts per token, of its tokens (k/E).
    It is made for the text width; ``plot_domain_specialization`` is the one-column form.

    Parameters
    ----------
    domain_loads : mapping
        ``{domain: {layer: tokens routed to each expert}}``, the same layers for every domain.
    num_tokens : mapping, optional
        ``{domain: tokens}``, or ``{domain: {layer: tokens}}``.
    method_name, methods : optional
        The method and the results file's ``methods``: the bars take the method's colour of every figure.
    ax, figsize, dpi, save_path
        As in every figkit plot function. Given ``ax`` (an axes of a grid), the panels take its
        place; a new figure is 7 font sizes tall per domain (0.78 in at 8 pt).

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For an empty mapping, domains with different layers or numbers of experts, negative or
        non-finite loads, or ``num_tokens`` missing a domain or below its largest load.
    """
    data = prepare(domain_loads, num_tokens, method_name, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
