"""Every figure a dict of routing data supports: validated first, then drawn, saved and closed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from figkit.plots import figure_specs
from figkit.style import SAVE_FORMATS


def report_keys():
    """Every key ``create_analysis_report`` reads, sorted."""
    return sorted({key for spec in figure_specs() for key in spec.report})


def prepare_figures(routing_data):
    """``{figure name: (spec, prepared data)}`` for every figure ``routing_data`` has data for."""
    if not isinstance(routing_data, Mapping):
        raise TypeError(f"routing_data must be a dict, got {type(routing_data).__name__}")
    known = report_keys()
    unknown = sorted(set(routing_data) - set(known))
    if unknown:
        raise ValueError(
            f"routing_data has unknown key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(known)}"
        )
    prepared = {}
    for spec in figure_specs():
        present = [key for key in spec.required if routing_data.get(key) is not None]
        if not spec.required or not present:
            continue
        if len(present) < len(spec.required):
            missing = [key for key in spec.required if key not in present]
            raise ValueError(
                f"routing_data: {spec.name} needs {' and '.join(spec.required)}; missing {', '.join(missing)}"
            )
        arguments = {arg: routing_data[key] for key, arg in spec.report.items() if routing_data.get(key) is not None}
        prepared[spec.name] = (spec, spec.prepare(**arguments))
    if not prepared:
        raise ValueError(f"routing_data holds nothing to plot; known keys: {', '.join(known)}")
    return prepared


def create_analysis_report(
    routing_data: Mapping, output_dir: str = "./plots", dpi: float = 300, *, format: str = "pdf"
) -> dict[str, Figure]:
    """Draw and save every figure ``routing_data`` has data for.

    Parameters
    ----------
    routing_data : dict
        Any of: ``expert_counts`` (+ ``method_name``, ``alpha``); ``alphas`` +
        ``avg_experts_per_alpha`` (+ ``std_experts_per_alpha``, ``baseline_k``);
        ``routing_weights`` + ``tokens`` (+ ``expert_indices``); ``expert_usage``
        (+ ``num_experts``); ``token_ids`` + ``token_expert_counts`` (+ ``tokenizer``,
        ``token_frequency``); ``layer_expert_counts`` (+ ``layer_names``).
    output_dir : str or os.PathLike
        Folder of the files ``<figure name>.<format>``; created if needed.
    dpi : float
        Resolution of the figures and of raster files saved from them.
    format : {"pdf", "svg", "png"}
        File format.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        The figures by name, each closed once saved (pyplot keeps none open).

    Raises
    ------
    ValueError, TypeError
        For an unknown key, a key whose partner is missing, or bad data; every input
        is checked before any file is written.
    """
    suffix = f".{format.lower().lstrip('.')}"
    if suffix not in SAVE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(f[1:] for f in SAVE_FORMATS)}, got {format!r}")
    prepared = prepare_figures(routing_data)
    folder = Path(output_dir)
    figures = {}
    for name, (spec, data) in prepared.items():
        figures[name] = spec.plot(data, dpi=dpi, save_path=folder / f"{name}{suffix}")
        plt.close(figures[name])
    return figures
