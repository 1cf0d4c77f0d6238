"""Every figure the data supports, validated first, then drawn, saved and closed one by one."""

from pathlib import Path

import matplotlib.pyplot as plt

from figkit.plots import complexity, distribution, heatmap, layers, sensitivity, utilization
from figkit.plots._figure import render
from figkit.style import FORMATS

# figure name -> (module, {argument: routing_data key}, keys that must all be present)
FIGURES = {
    "expert_count_distribution": (distribution, {
        "expert_counts": "expert_counts", "method_name": "method_name", "alpha": "alpha",
    }, ("expert_counts",)),
    "alpha_sensitivity": (sensitivity, {
        "alphas": "alphas", "avg_experts": "avg_experts_per_alpha",
        "std_experts": "std_experts_per_alpha", "baseline_k": "baseline_k",
    }, ("alphas", "avg_experts_per_alpha")),
    "routing_heatmap": (heatmap, {
        "routing_weights": "routing_weights", "token_strs": "tokens", "expert_indices": "expert_indices",
    }, ("routing_weights", "tokens")),
    "expert_utilization": (utilization, {
        "expert_counts_by_expert": "expert_usage", "num_experts": "num_experts",
    }, ("expert_usage",)),
    "token_complexity": (complexity, {
        "token_ids": "token_ids", "expert_counts": "token_expert_counts",
        "tokenizer": "tokenizer", "token_frequency": "token_frequency",
    }, ("token_ids", "token_expert_counts")),
    "layer_wise_routing": (layers, {
        "layer_expert_counts": "layer_expert_counts", "layer_names": "layer_names",
    }, ("layer_expert_counts",)),
}
KNOWN_KEYS = sorted({key for _, arguments, _ in FIGURES.values() for key in arguments.values()})


def plan(routing_data):
    """Validate ``routing_data`` and prepare the data of every figure it supports, in order."""
    if not hasattr(routing_data, "keys"):
        raise TypeError(f"routing_data must be a dict, got {type(routing_data).__name__}")
    unknown = sorted(set(routing_data) - set(KNOWN_KEYS))
    if unknown:
        raise ValueError(f"routing_data has unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"known keys: {', '.join(KNOWN_KEYS)}")
    prepared = {}
    for name, (module, arguments, required) in FIGURES.items():
        present = [key for key in required if routing_data.get(key) is not None]
        if not present:
            continue
        if len(present) < len(required):
            missing = [key for key in required if key not in present]
            raise ValueError(f"routing_data: {name} needs {' and '.join(required)}; missing {', '.join(missing)}")
        kwargs = {arg: routing_data[key] for arg, key in arguments.items() if routing_data.get(key) is not None}
        prepared[name] = (module, module.prepare(**kwargs))
    if not prepared:
        raise ValueError(f"routing_data holds nothing to plot; known keys: {', '.join(KNOWN_KEYS)}")
    return prepared


def create_analysis_report(routing_data, output_dir="./plots", dpi=300, *, format="pdf"):
    """Draw and save every figure ``routing_data`` has data for; return them by name.

    Keys (all optional, but pairs go together): ``expert_counts`` (+ ``method_name``,
    ``alpha``); ``alphas`` + ``avg_experts_per_alpha`` (+ ``std_experts_per_alpha``,
    ``baseline_k``); ``routing_weights`` + ``tokens`` (+ ``expert_indices``);
    ``expert_usage`` (+ ``num_experts``); ``token_ids`` + ``token_expert_counts``
    (+ ``tokenizer``, ``token_frequency``); ``layer_expert_counts`` (+ ``layer_names``).
    All inputs are checked before any file is written. Files are ``<name>.<format>``
    in ``output_dir``; ``dpi`` applies to raster formats. Each figure is closed once
    saved, so pyplot never accumulates open figures.
    """
    suffix = f".{format.lower().lstrip('.')}"
    if suffix not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(f[1:] for f in FORMATS)}, got {format!r}")
    prepared = plan(routing_data)
    output_dir = Path(output_dir)
    figures = {}
    for name, (module, data) in prepared.items():
        figures[name] = render(module.draw, data, figsize=None, dpi=None,
                               save_path=output_dir / f"{name}{suffix}", save_dpi=dpi)
        plt.close(figures[name])
    return figures
