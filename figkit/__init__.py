"""figkit: publication figures and LaTeX for Mixture-of-Experts routing research.

Importing figkit loads only the standard library; each public name is imported
from its module the first time it is used (PEP 562), so ``import figkit`` and
``figkit --help`` stay fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "plot_expert_count_distribution": "figkit.plots.distribution",
    "plot_alpha_sensitivity": "figkit.plots.sensitivity",
    "plot_routing_heatmap": "figkit.plots.heatmap",
    "plot_expert_utilization": "figkit.plots.utilization",
    "plot_token_complexity_vs_experts": "figkit.plots.complexity",
    "plot_layer_wise_routing": "figkit.plots.layers",
    "create_analysis_report": "figkit.plots.report",
    "save_figure": "figkit.style",
    "use_style": "figkit.style",
    "available_styles": "figkit.stylesheets",
    "load_results": "figkit.results",
    "write_results": "figkit.results",
    "build": "figkit.build",
    "figsize": "figkit.geometry",
    "create_comparison_table": "figkit.tables",
    "number_macros": "figkit.tables",
    "measure_tex": "figkit.geometry",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'figkit' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
