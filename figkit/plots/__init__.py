"""Figure families, one module each.

``FIGURES`` is the registry: every consumer (the ``plot_*`` functions exported by
``figkit``, ``create_analysis_report``, the build's planner and renderer, the
gallery) loops over it. Module ``figkit.plots.<name>`` defines ``FIGURE`` (a
``FigureSpec``) and the function ``plot_<name>``. Adding a figure is one module and
one line here. This file imports nothing, so ``import figkit`` stays light.
"""

from importlib import import_module

FIGURES = (
    "expert_count_distribution",
    "layer_wise_routing",
    "expert_count_comparison",
    "layer_mean_comparison",
    "compute_quality",
    "alpha_sensitivity",
    "expert_utilization",
    "expert_load_layers",
    "domain_specialization",
    "domain_specialization_grid",
    "routing_heatmap",
    "token_complexity_vs_experts",
    "expert_coactivation",
    "expert_transitions",
    "vocabulary_specialization",
    "router_saturation",
    "router_confidence",
    "method_agreement",
    "routing_text",
    "position_effects",
    "routing_locality",
    "training_curves",
    "training_layers",
)


def figure_spec(name):
    """The ``FigureSpec`` of the figure family ``name``."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; figures: {', '.join(FIGURES)}")
    return import_module(f"figkit.plots.{name}").FIGURE


def figure_specs():
    """Every ``FigureSpec``, in registry order (the order of the appendix and the report)."""
    return [figure_spec(name) for name in FIGURES]
