"""figkit: publication figures and LaTeX for Mixture-of-Experts routing research.

Importing figkit loads only the standard library; each public name is imported
from its module the first time it is used (PEP 562), so ``import figkit`` and
``figkit --help`` stay fast. The ``plot_*`` functions come from the figure
registry, ``figkit.plots.FIGURES``.
"""

from importlib import import_module

from figkit.plots import FIGURES

__version__ = "0.2.0"

_PUBLIC = {f"plot_{name}": f"figkit.plots.{name}" for name in FIGURES} | {
    "create_analysis_report": "figkit.report",
    "save_figure": "figkit.style",
    "use_style": "figkit.style",
    "available_styles": "figkit.stylesheets",
    "load_results": "figkit.results",
    "write_results": "figkit.results",
    "build": "figkit.pipeline",
    "figsize": "figkit.geometry",
    "measure_tex": "figkit.geometry",
    "create_comparison_table": "figkit.tables",
    "number_macros": "figkit.tables",
    "routing_text_latex": "figkit.routed_text",
}

__all__ = sorted(_PUBLIC)
_SUBMODULES = ("routing",)  # figkit.routing imports torch: only when asked for


def __getattr__(name):
    if name in _SUBMODULES:
        return import_module(f"figkit.{name}")
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'figkit' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBMODULES))
