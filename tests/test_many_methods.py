"""A study of 1,000 methods: comparison figures draw at most seven and say so; the appendix lists them all."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import figkit
from figkit import build, write_results
from figkit.pipeline import plan
from figkit.plots._draw import style_height
from figkit.plots.spec import MAX_COMPARED, compared
from figkit.results import validate

METHODS = 1000


def test_compared_keeps_what_comes_first_then_spreads_the_rest_evenly():
    assert compared(5) == [0, 1, 2, 3, 4]
    assert compared(1000) == [0, 166, 333, 500, 666, 832, 999]
    assert compared(1000, first=[500, 7, 500]) == [0, 7, 250, 499, 500, 750, 999]
    assert compared(1000, first=list(range(100, 200))) == [100, 116, 133, 150, 166, 182, 199]


def shown_labels(fig):
    """The labels of what a figure draws, in drawing order (its legend reads them row by row)."""
    drawn = fig.axes[0].get_legend_handles_labels()[1]
    assert sorted(drawn) == sorted(text.get_text() for text in fig.axes[0].get_legend().get_texts())
    return drawn


def test_comparison_figures_draw_at_most_eight_methods_and_say_so(rng):
    counts = {f"M{i}": {1: 10, 2 + i % 5: i + 1} for i in range(METHODS)}
    layers = {name: {0: hist, 1: hist} for name, hist in counts.items()}
    points = {f"M{i}": (float(c), float(q)) for i, (c, q) in enumerate(rng.random((METHODS, 2)))}
    figures = {
        "counts": figkit.plot_expert_count_comparison(counts),
        "layers": figkit.plot_layer_mean_comparison(layers),
        "quality": figkit.plot_compute_quality(points, baseline="M500"),
    }
    for name, fig in figures.items():
        assert fig.axes[0].get_title() == f"showing {MAX_COMPARED} of 1,000 methods", name
        assert fig.get_size_inches()[1] <= 1.5 * style_height(fig.get_size_inches()[0]), name
    assert [label.split(",")[0] for label in shown_labels(figures["counts"])] == [f"M{i}" for i in compared(1000)]
    assert shown_labels(figures["layers"]) == [f"M{i}" for i in compared(1000)]
    quality = shown_labels(figures["quality"])
    assert "M500 (baseline)" in quality and "Pareto front" in quality and len(quality) == MAX_COMPARED + 1
    front = figkit.plots.compute_quality.pareto_front(*np.array(list(points.values())).T)
    assert {f"M{i}" for i in front} <= set(quality)  # a front of a few points is drawn whole
    plt.close("all")


def study(with_counts=True):
    methods = [{"id": f"m{i}", "label": f"Method {i}", "family": "bh", "params": {"alpha": (i + 1) / 1001}}
               for i in range(METHODS)]  # fmt: skip
    results = {
        "schema_version": 1,
        "title": "A thousand methods",
        "methods": methods,
        "metric_info": {"ppl": {"label": "PPL", "better": "lower"}},
        "metrics": {m["id"]: {"ppl": 17 + (i % 7) / 10} for i, m in enumerate(methods)},
        "sweeps": [{"method_family": "bh", "param": "alpha", "values": [m["params"]["alpha"] for m in methods],
                    "avg_experts": [2 + i / 500 for i in range(METHODS)]}],
    }  # fmt: skip
    if with_counts:
        results["expert_counts"] = [
            {"method": m["id"], "layer": layer, "histogram": {"1": 10, str(2 + i % 5): i + 1}}
            for i, m in enumerate(methods)
            for layer in (0, 1)
        ]
    return results


def test_captions_name_the_methods_a_comparison_figure_draws():
    results = study()
    validate(results)
    captions = {job.name: "".join(job.caption) for job in plan(results)}
    assert captions["expert_count_comparison"].startswith(
        "Experts selected per token, by method (7 of the 1,000 methods, evenly spaced in their order): Method 0 ("
    )
    assert [f"Method {i} " in captions["expert_count_comparison"] for i in range(METHODS)].count(True) == 7
    assert (
        "(7 of the 1,000 methods, evenly spaced in their order): Method 0, Method 166,"
        in captions["layer_mean_comparison"]
    )
    assert "for 1,000 methods (7 drawn: the baseline and the front first)" in captions["compute_quality_ppl"]


@pytest.mark.slow
def test_the_appendix_of_a_thousand_methods_lists_every_one(tmp_path):
    from tests.helpers import pdf_text

    path = write_results(tmp_path / "r.json", **study(with_counts=False))
    report = build(path, tmp_path / "out", require_pdf=True)
    assert report.ok, report.failed
    text = " ".join(pdf_text(tmp_path / "out" / "appendix.pdf").split())
    assert all(f"Method {i} " in text for i in range(METHODS))
