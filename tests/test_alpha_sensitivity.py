import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from figkit import plot_alpha_sensitivity


def test_points_error_bars_baseline_and_shading(as_input):
    alphas = np.array([0.10, 0.01, 0.20, 0.05])
    avg = np.array([5.8, 3.2, 6.9, 4.5])
    std = np.array([0.9, 0.5, 1.0, 0.8])
    fig = plot_alpha_sensitivity(as_input(alphas), as_input(avg), as_input(std), baseline_k=8)
    ax = fig.axes[0]
    order = np.argsort(alphas)
    curve = next(line for line in ax.lines if line.get_linestyle() == "-")
    np.testing.assert_allclose(curve.get_xdata(), alphas[order])
    np.testing.assert_allclose(curve.get_ydata(), avg[order])
    assert curve.get_marker() in ("none", "None")  # the legend shows no marker in a colour no point has
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([alphas[order], avg[order]]))
    segments = next(c for c in ax.collections if c.get_segments() and len(c.get_segments()) == 4).get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments], 2 * std[order])
    baseline = next(line for line in ax.lines if line.get_label() == "Top-8 baseline")
    assert baseline.get_ydata()[0] == 8
    assert any(isinstance(c, PolyCollection) and c.get_label() == "Reduction vs Top-8" for c in ax.collections)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.05", "0.1", "0.2"]
    assert [t.get_text() for t in ax.texts] == ["3.20", "4.50", "5.80", "6.90"]
    assert ax.get_xscale() == "log" and ax.get_xlabel().endswith("(log scale)")


def test_without_std_or_baseline():
    ax = plot_alpha_sensitivity([0.05, 0.1], [4.5, 5.0], baseline_k=None).axes[0]
    assert not any("baseline" in line.get_label() for line in ax.lines)
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    assert ax.get_xscale() == "linear"


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([0.05], [4.5, 5.5]), {}, r"^alphas \(1\) and avg_experts \(2\) must have same length$"),
        (
            ([0.05, 0.1], [4.5, 5.5]),
            {"std_experts": [1.0]},
            r"alphas \(2\) and std_experts \(1\) must have same length",
        ),
        (([0.05, 1.5], [4.5, 5.5]), {}, r"alphas\[1\] must be in \(0, 1\), got 1.5"),
        (([0.0], [4.5]), {}, r"alphas\[0\] must be in \(0, 1\), got 0"),
        (([0.05], [-1.0]), {}, "avg_experts must be non-negative, got -1 at index 0"),
        (([0.05], [np.inf]), {}, "avg_experts contains infinity at index 0"),
        (([0.05], [4.5]), {"baseline_k": 0}, "baseline_k must be a positive number"),
        (([], []), {}, "^alphas is empty$"),
        (([0.05, 0.1], [1.5, 2]), {"quartiles": [[1, 2]]}, r"one \(25th, 75th percentile\) pair per alpha"),
        (([0.05], [1.5]), {"quartiles": [[2, 1]]}, r"quartiles\[0\] must be \(25th, 75th percentile\), low first"),
    ],
)
def test_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_alpha_sensitivity(*args, **kwargs)


def test_quartile_bars_span_the_quartiles_wherever_the_mean_lies():
    """Skewed whole-number counts: the mean can sit above both quartiles (1.3 with q1 = q3 = 1)."""
    quartiles = [[1, 2], [1, 1], [2, 4]]
    ax = plot_alpha_sensitivity([0.05, 0.01, 0.2], [1.9, 1.3, 3.1], [9, 9, 9], quartiles=quartiles).axes[0]
    segments = next(c for c in ax.collections if c.get_segments() and len(c.get_segments()) == 3).get_segments()
    assert [(s[0, 1], s[1, 1]) for s in segments] == [(1, 1), (1, 2), (2, 4)]  # sorted by alpha; std ignored
    assert ax.get_legend().get_texts()[0].get_text() == "Average experts (bars: middle half of tokens)"


def test_a_sweep_over_k_has_its_own_axis_and_no_alpha_range():
    fig = plot_alpha_sensitivity([2, 4, 6, 8], [2, 4, 6, 8], baseline_k=8, param="k", param_label="Top-$k$")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "Top-$k$"
    assert ax.get_xticks().tolist() == [2, 4, 6, 8] and "Top-$k$" in ax.get_title()
    assert plot_alpha_sensitivity([1, 10, 100], [1, 2, 3], param="threshold").axes[0].get_xscale() == "log"
    assert plot_alpha_sensitivity([1, 10, 100], [1, 2, 3], param="t", scale="linear").axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="a log scale needs positive values, got 0"):
        plot_alpha_sensitivity([0, 1], [1, 2], param="t", scale="log")


def test_the_build_names_a_sweep_by_its_parameter():
    from figkit.plots import figure_spec

    results = {
        "methods": [{"id": "tk", "family": "topk"}],
        "sweeps": [
            {
                "method_family": "topk",
                "param": "k",
                "param_label": "$k$",
                "scale": "linear",
                "values": [1, 2, 4],
                "avg_experts": [1, 2, 4],
            }
        ],
    }
    (job,) = figure_spec("alpha_sensitivity").jobs(results)
    assert job.suffix == "_topk_k" and job.caption[1] == "$k$"
    assert job.arguments["param"] == "k" and job.arguments["scale"] == "linear"
