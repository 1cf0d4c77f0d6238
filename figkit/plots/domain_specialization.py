"""Domain specialisation: the share of each domain's tokens routed to each expert, one row per domain."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from figkit.arrays import ArrayLike, non_negative, vector
from figkit.plots import expert_load_layers
from figkit.plots.spec import FigureJob, FigureSpec, layer_suffix, layer_text, middle_layer, shared_docs
from figkit.results import method_labels


def prepare(domain_loads, num_tokens=None, layer=None, order="given"):
    """Validate ``{domain: per-expert load}`` and turn each into shares of the domain (see ``share_grid``)."""
    if not isinstance(domain_loads, Mapping) or not domain_loads:
        raise ValueError("domain_loads must be a non-empty mapping of domain name to each expert's load")
    domains = [str(domain) for domain in domain_loads]
    rows = [
        non_negative(vector(v, f"domain_loads[{d!r}]"), f"domain_loads[{d!r}]")
        for d, v in zip(domains, domain_loads.values())
    ]
    sizes = {row.size for row in rows}
    if len(sizes) > 1:
        raise ValueError(f"domain_loads must give every domain the same number of experts, got {sorted(sizes)}")
    tokens = None
    if num_tokens is not None:
        if not isinstance(num_tokens, Mapping) or set(map(str, num_tokens)) != set(domains):
            raise ValueError("num_tokens must map each domain of domain_loads to its number of tokens")
        given = {str(d): n for d, n in num_tokens.items()}
        tokens = non_negative(vector([given[d] for d in domains], "num_tokens").astype(float), "num_tokens")
    where = dict(enumerate(map(repr, domains))).get
    which = layer_text(layer)
    return expert_load_layers.share_grid(
        np.array(rows, dtype=float),
        tokens,
        order,
        rows=domains,
        row_title="Domain",
        of="domain",
        title=f"Load by domain, {which}",
        name="domain_loads",
        where=where,
    )


def jobs(results):
    """One figure per method of ``domain_load`` with two or more domains: of its middle layer, or the
    layers pooled when they are given."""
    labels = method_labels(results)
    grouped = {}
    for entry in results.get("domain_load", []):
        grouped.setdefault(entry["method"], {}).setdefault(entry.get("layer"), []).append(entry)
    for method, by_layer in grouped.items():
        layer = None if None in by_layer else middle_layer(by_layer)
        entries = by_layer[layer]
        if len(entries) < 2:
            continue
        arguments = {
            "domain_loads": {e["domain"]: e["counts"] for e in entries},
            "layer": layer,
        }
        data = prepare(**arguments)
        unit = "tokens" if data.of_tokens else "routings"
        yield FigureJob(
            f"_{method}_{layer_suffix(layer)}",
            arguments,
            (
                "",
                labels[method],
                f": each expert's share of each domain's {unit} ({layer_text(layer)}; "
                f"{len(entries)} domains, {data.share.shape[1]} experts); {expert_load_layers.scale_caption(data)}. "
                "The largest share: "
                f"{_largest(data)}.",
            ),
        )


def _largest(data):
    row, expert = np.unravel_index(np.argmax(data.share), data.share.shape)
    return f"{data.share[row, expert]:.1f}% of {data.rows[row]} to expert {expert}"


FIGURE = FigureSpec(
    name="domain_specialization",
    title="Load by domain",
    sections=("domain_load",),
    prepare=prepare,
    draw=expert_load_layers.draw,
    jobs=jobs,
    report={"domain_loads": "domain_loads", "domain_tokens": "num_tokens"},
    required=("domain_loads",),
    cost=1.5,
)


@shared_docs
def plot_domain_specialization(
    domain_loads: Mapping[str, ArrayLike],
    *,
    num_tokens: Mapping[str, int] | None = None,
    layer: int | None = None,
    order: str = "given",
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """Heatmap of domains × experts: the share of each domain's tokens routed to each expert.

    The compact form of OLMoE's domain-specialisation bar charts: one row per domain, an
    even load (k/E) in the middle of the colour scale, so a specialised expert stands out.

    Parameters
    ----------
    domain_loads : mapping
        ``{domain: tokens routed to each expert}`` (``domain_load`` counts of one layer).
    num_tokens : mapping, optional
        ``{domain: tokens}``. With these and a fixed number of experts per token (top-k),
        shares are of the domain's tokens and an even load is k/E; otherwise shares are of
        the domain's routings and an even load is 1/E.
    layer : int, optional
        The layer, for the title.
    order : {"given", "load"}
        Experts in id order, or each domain's experts by their load, busiest first.
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError
        For an empty mapping, negative or non-finite loads, domains with different numbers
        of experts, a domain with no load, ``num_tokens`` that does not name every domain or
        is below a domain's largest load, or an unknown ``order``.
    """
    data = prepare(domain_loads, num_tokens, layer, order)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
