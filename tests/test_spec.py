"""The figure registry and the life cycle every plot function shares: ax=, the user's rcParams, signatures."""

import inspect
import json
from importlib import import_module

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

import figkit
import figkit.plots.spec
from figkit.plots import FIGURES, figure_spec, figure_specs
from figkit.results import SECTIONS, schema
from figkit.results.json_schema import generated_text


def test_every_registered_figure_is_one_module_with_its_function():
    for name in FIGURES:
        module = import_module(f"figkit.plots.{name}")
        spec = module.FIGURE
        assert spec.name == name and spec.function_name in figkit.__all__
        assert getattr(figkit, spec.function_name) is getattr(module, spec.function_name)
        assert set(spec.sections) <= set(SECTIONS), spec.sections


def test_the_shipped_schema_is_the_one_the_sections_make():
    """``make schema`` rewrites it; the file editors read must say what the loader checks."""
    assert schema() == generated_text()
    assert list(json.loads(schema())["properties"]) == ["$schema", "schema_version", *list(SECTIONS)[1:]]


def test_signatures_keep_the_spec_positions_and_share_the_trailing_keywords():
    spec_positions = {
        "plot_expert_count_distribution": ["expert_counts", "method_name", "alpha", "save_path", "figsize", "dpi"],
        "plot_alpha_sensitivity": ["alphas", "avg_experts", "std_experts", "baseline_k", "save_path", "figsize", "dpi"],
        "plot_routing_heatmap": [
            "routing_weights",
            "token_strs",
            "expert_indices",
            "max_tokens",
            "max_experts",
            "save_path",
            "figsize",
            "dpi",
        ],
        "plot_expert_utilization": ["expert_counts_by_expert", "num_experts", "save_path", "figsize", "dpi"],
        "plot_token_complexity_vs_experts": ["token_ids", "expert_counts", "tokenizer", "save_path", "figsize", "dpi"],
        "plot_layer_wise_routing": ["layer_expert_counts", "layer_names", "save_path", "figsize", "dpi"],
    }
    for spec in figure_specs():
        parameters = inspect.signature(getattr(figkit, spec.function_name)).parameters.values()
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        keywords = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]
        if spec.function_name in spec_positions:
            assert positional == spec_positions[spec.function_name]
            assert keywords[-1] == "ax"
        else:  # new figures: one data argument, everything else keyword-only
            assert len(positional) == 1 and keywords[-4:] == ["ax", "figsize", "dpi", "save_path"]
        assert all(p.default is None for p in parameters if p.name in ("ax", "figsize", "dpi", "save_path"))


@pytest.fixture
def grid_data(rng):
    weights = rng.random((12, 16))
    return {
        "counts": rng.integers(1, 9, 500),
        "layers": rng.integers(2, 7, (4, 300)),
        "alphas": [0.01, 0.05, 0.1],
        "avg": [3.0, 4.0, 5.5],
        "load": rng.integers(10, 90, 16),
        "weights": weights,
        "ids": rng.integers(0, 300, 400),
        "id_counts": rng.integers(1, 9, 400),
    }


@pytest.mark.slow
def test_six_figkit_figures_and_a_plain_panel_share_one_figure(grid_data, tmp_path):
    d = grid_data
    fig, axes = plt.subplots(3, 3, figsize=(15, 11), layout="constrained")
    before = plt.get_fignums()
    axes[2, 2].plot([0, 1, 2], [2, 0, 1], label="plain")
    calls = [
        figkit.plot_expert_count_distribution(d["counts"], ax=axes[0, 0]),
        figkit.plot_layer_wise_routing(d["layers"], ax=axes[0, 1]),
        figkit.plot_alpha_sensitivity(d["alphas"], d["avg"], ax=axes[0, 2]),
        figkit.plot_expert_utilization(d["load"], ax=axes[1, 0]),
        figkit.plot_routing_heatmap(d["weights"], [f"t{i}" for i in range(12)], ax=axes[1, 1]),
        figkit.plot_token_complexity_vs_experts(d["ids"], d["id_counts"], ax=axes[1, 2]),
        figkit.plot_expert_count_comparison({"A": d["counts"], "B": d["layers"][0]}, ax=axes[2, 0]),
        figkit.plot_layer_mean_comparison({"A": d["layers"], "B": d["layers"][::-1]}, ax=axes[2, 1]),
    ]
    assert all(result is fig for result in calls)
    assert plt.get_fignums() == before  # no figure was created
    path = tmp_path / "grid.pdf"
    figkit.save_figure(fig, path)
    assert tuple(fig.get_size_inches()) == (15, 11) and path.read_bytes().startswith(b"%PDF")
    assert min(ax.get_position().height for ax in axes.flat) > 0.2  # nothing stretched the shared layout

    counts = np.bincount(d["counts"])[1:] / d["counts"].size
    bars = [p for p in axes[0, 0].patches if isinstance(p, Rectangle)]
    assert [b.get_height() for b in bars] == pytest.approx(counts[counts > 0].tolist())
    means = [line for line in axes[0, 1].lines if line.get_marker() == "D"][0]
    assert means.get_ydata() == pytest.approx(d["layers"].mean(axis=1))
    assert axes[0, 2].lines[0].get_ydata() == pytest.approx(d["avg"])
    assert [p.get_height() for p in axes[1, 0].patches if isinstance(p, Rectangle)][:16] == pytest.approx(d["load"])
    assert np.allclose(axes[1, 1].images[0].get_array(), d["weights"])
    scatter = next(c for c in axes[1, 2].collections if isinstance(c, PathCollection))
    assert scatter.get_offsets()[:, 1].tolist() == d["id_counts"].tolist()
    first = axes[2, 0].containers[0]  # method A's bars, grouped with B's at each number of experts
    assert [bar.get_height() for bar in first.patches] == pytest.approx(counts[counts > 0].tolist())
    assert axes[2, 1].lines[1].get_ydata() == pytest.approx(d["layers"][::-1].mean(axis=1))
    assert axes[2, 2].lines[0].get_ydata().tolist() == [2, 0, 1] and axes[2, 2].get_legend() is None


def test_without_ax_the_figure_is_new_and_current(grid_data):
    fig = figkit.plot_expert_utilization(grid_data["load"])
    assert plt.gcf() is fig and len(fig.axes) == 1


# What tueplots.bundles.icml2024(usetex=False) sets, in kind: size, resolution, serif fonts, small sizes.
PAPER_RC = {
    "figure.figsize": (3.25, 2.0),
    "figure.dpi": 150,
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 6,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "figure.constrained_layout.use": True,
}


def test_the_users_rcparams_win_over_the_default_look(grid_data):
    with mpl.rc_context(PAPER_RC):
        before = dict(mpl.rcParams)
        fig = figkit.plot_layer_wise_routing(grid_data["layers"])
        assert dict(mpl.rcParams) == before
    ax = fig.axes[0]
    assert tuple(fig.get_size_inches()) == (3.25, 2.0) and fig.dpi == 150
    assert ax.xaxis.label.get_fontsize() == 8 and ax.get_xticklabels()[0].get_fontsize() == 6
    assert ax.xaxis.label.get_fontfamily() == ["serif"]
    assert ax.get_legend().get_texts()[0].get_fontsize() == 6
    assert ax.title.get_fontweight() == "bold"  # not set by the user: figkit's default look fills it in


def test_an_explicit_size_wins_and_dpi_means_the_figure_and_its_raster(grid_data, tmp_path):
    path = tmp_path / "fig.png"
    fig = figkit.plot_expert_count_distribution(grid_data["counts"], figsize=(4, 3), dpi=80, save_path=path)
    assert tuple(fig.get_size_inches()) == (4, 3) and fig.dpi == 80
    assert int.from_bytes(path.read_bytes()[16:20], "big") == 320


def test_use_style_restores_exactly_and_decorates():
    before = dict(mpl.rcParams)

    @figkit.use_style("paper", "colourblind")
    def inside():
        return mpl.rcParams["figure.figsize"], mpl.rcParams["font.size"]

    assert inside() == ([3.25, 2.01], 8.0) and inside() == ([3.25, 2.01], 8.0)
    assert dict(mpl.rcParams) == before
    with pytest.raises(ValueError, match="unknown figkit style 'poster'"):
        figkit.use_style("poster")


def test_unknown_figure():
    with pytest.raises(ValueError, match="unknown figure 'pie'"):
        figure_spec("pie")


def two_panels(figure, data):
    left, right = figure.subplots(1, 2)
    left.plot(data, label="left")
    right.bar(range(len(data)), data)


PANELS = figkit.plots.spec.FigureSpec(
    name="two_panels", title="Two panels", sections=(), prepare=list, draw=two_panels, jobs=lambda r: (), panels=True
)


def test_a_multi_panel_family_fills_a_new_figure_or_the_users_grid_cell():
    fig = PANELS.plot([1, 3, 2])
    assert len(fig.axes) == 2 and fig.axes[0].lines[0].get_ydata().tolist() == [1, 3, 2]
    grid, (mine, cell) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    mine.plot([0, 1])
    assert PANELS.plot([1, 3, 2], ax=cell) is grid
    assert grid.get_size_inches().tolist() == [8, 3] and cell not in grid.axes
    (subfigure,) = grid.subfigs
    assert len(subfigure.axes) == 2 and mine in grid.axes
    with pytest.raises(ValueError, match="draws several panels: give an axes of a grid"):
        PANELS.plot([1], ax=plt.figure().add_axes((0, 0, 1, 1)))
