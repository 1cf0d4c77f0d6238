"""Domain specialisation as OLMoE draws it: a bar chart per domain and layer of each expert's share of the tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, non_negative, vector
from figkit.plots._draw import LITERAL, NEUTRAL, label_every, line_width, nice_step, palette
from figkit.plots.spec import FigureJob, FigureSpec, representative_layers
from figkit.results import method_labels

PANEL_EMS = 7  # the height of a row of panels, in the style's font size (0.78 in at 8 pt)


@dataclass(frozen=True)
class DomainGrid:
    percent: np.ndarray  # [domains, layers, experts]: % of the domain's tokens routed to the expert
    uniform: np.ndarray  # [domains, layers]: the % of an even load, (experts per token) / E
    domains: tuple
    layers: tuple


def prepare(domain_loads, num_tokens):
    """Validate ``{domain: {layer: per-expert load}}`` and ``{domain: {layer: tokens}}`` (or ``{domain: tokens}``)."""
    if not isinstance(domain_loads, Mapping) or not domain_loads:
        raise ValueError("domain_loads must be a non-empty mapping of domain to {layer: each expert's load}")
    domains = [str(d) for d in domain_loads]
    layer_sets = {
        d: tuple(sorted(v)) if isinstance(v, Mapping) and v else None for d, v in zip(domains, domain_loads.values())
    }
    layers = next(iter(layer_sets.values()))
    bad = [d for d, ids in layer_sets.items() if ids is None or ids != layers]
    if bad:
        raise ValueError(
            f"domain_loads[{bad[0]!r}] must map the same layers as the other domains, {list(layers or ())}"
        )
    if not isinstance(num_tokens, Mapping) or set(map(str, num_tokens)) != set(domains):
        raise ValueError("num_tokens must give each domain of domain_loads its tokens")
    tokens = {str(d): n for d, n in num_tokens.items()}
    percent, uniform = [], []
    for domain, by_layer in zip(domains, domain_loads.values()):
        rows, evens = [], []
        for layer in layers:
            name = f"domain_loads[{domain!r}][{layer!r}]"
            counts = non_negative(vector(by_layer[layer], name).astype(float), name)
            n = tokens[domain].get(layer) if isinstance(tokens[domain], Mapping) else tokens[domain]
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < max(counts.max(), 1):
                raise ValueError(
                    f"num_tokens[{domain!r}] must be a whole number of at least {counts.max():g}, got {n!r}"
                )
            rows.append(100 * counts / n)
            evens.append(100 * counts.sum() / n / counts.size)
        percent.append(rows)
        uniform.append(evens)
    sizes = {len(row) for rows in percent for row in rows}
    if len(sizes) > 1:
        raise ValueError(
            f"domain_loads must give every domain and layer the same number of experts, got {sorted(sizes)}"
        )
    return DomainGrid(np.array(percent), np.array(uniform), tuple(domains), tuple(layers))


def height(data, width):
    """Rows of panels in units of the style's font: as tall in a slide as in a paper, relative to the text."""
    em = mpl.rcParams["font.size"] / 72
    return (PANEL_EMS * len(data.domains) + 8) * em


def draw(figure, data):
    n_domains, n_layers, n_experts = data.percent.shape
    axes = np.atleast_2d(figure.subplots(n_domains, n_layers, sharex=True, sharey=True, squeeze=False))
    colour = palette()[0]
    top = float(data.percent.max())
    for d, domain in enumerate(data.domains):
        for i, layer in enumerate(data.layers):
            ax = axes[d, i]
            ax.bar(np.arange(n_experts), data.percent[d, i], width=0.85, color=colour, linewidth=0)
            ax.axhline(data.uniform[d, i], color=NEUTRAL, linestyle="--", linewidth=line_width(0.8))
            ax.grid(False, axis="x")
            if d == 0:
                ax.set_title(f"Layer {layer}", y=1.0)
            if i == 0:
                ax.set_ylabel(domain, rotation=0, ha="right", va="center", **LITERAL)
    axes[0, 0].set_ylim(0, max(top, float(data.uniform.max())) * 1.08)
    axes[0, 0].set_xlim(-0.6, n_experts - 0.4)
    step = nice_step(label_every(axes[-1, 0], [str(n_experts)] * n_experts, share=0.8))
    axes[-1, 0].set_xticks(range(0, n_experts, step))
    figure.supxlabel("Expert", fontsize="medium")
    figure.supylabel("Tokens routed (%)", fontsize="medium")


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
            "num_tokens": {d: {layer: e[layer]["num_tokens"] for layer in layers} for d, e in by_domain.items()},
        }
        yield FigureJob(
            f"_{method}",
            arguments,
            (
                "",
                labels[method],
                f": the share of each domain's tokens routed to each expert, at layers "
                f"{', '.join(map(str, layers))} ({len(by_domain)} domains); dashed: an even load, the experts "
                "per token divided by the number of experts.",
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
)


def plot_domain_specialization_grid(
    domain_loads: Mapping[str, Mapping[int, ArrayLike]],
    *,
    num_tokens: Mapping[str, int | Mapping[int, int]],
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """A bar chart per domain (rows) and layer (columns): the % of the domain's tokens routed to each expert.

    OLMoE's domain-specialisation figure; a dashed line marks an even load (k/E for top-k).
    It is made for the text width; ``plot_domain_specialization`` is the one-column form.

    Parameters
    ----------
    domain_loads : mapping
        ``{domain: {layer: tokens routed to each expert}}``, the same layers for every domain.
    num_tokens : mapping
        ``{domain: tokens}``, or ``{domain: {layer: tokens}}``.
    ax, figsize, dpi, save_path
        As in every figkit plot function. Given ``ax`` (an axes of a grid), the panels take its
        place; a new figure is 7 font sizes tall per domain (0.78 in at 8 pt).

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.figure`` when ``ax`` is given, else a new figure that is pyplot's current one.

    Raises
    ------
    ValueError
        For an empty mapping, domains with different layers or numbers of experts, negative or
        non-finite loads, or ``num_tokens`` missing a domain or below its largest load.
    """
    data = prepare(domain_loads, num_tokens)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
