import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from figkit import create_analysis_report


@pytest.fixture
def routing_data(rng):
    return {
        "expert_counts": torch.randint(3, 8, (100,)),
        "method_name": "BH",
        "alpha": 0.05,
        "alphas": [0.01, 0.05, 0.10],
        "avg_experts_per_alpha": [3.2, 4.5, 5.8],
        "std_experts_per_alpha": [0.5, 0.8, 0.9],
        "routing_weights": torch.rand(20, 64) * 0.3,
        "tokens": [f"t{i}" for i in range(20)],
        "expert_usage": rng.poisson(50, 64),
        "token_ids": rng.integers(0, 1000, 200),
        "token_expert_counts": rng.integers(1, 9, 200),
        "layer_expert_counts": rng.integers(3, 8, (16, 100)),
    }


NAMES = [
    "expert_count_distribution",
    "layer_wise_routing",
    "alpha_sensitivity",
    "expert_utilization",
    "routing_heatmap",
    "token_complexity_vs_experts",
]


@pytest.mark.slow
def test_every_figure_is_saved_and_closed(routing_data, tmp_path):
    figures = create_analysis_report(routing_data, tmp_path / "report")
    assert list(figures) == NAMES
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(f"{n}.pdf" for n in NAMES)
    assert plt.get_fignums() == []
    assert figures["routing_heatmap"].axes[0].images[0].get_array().shape == (20, 32)


def test_only_what_is_present(tmp_path):
    figures = create_analysis_report({"expert_usage": [1, 2, 3]}, tmp_path, format="png")
    assert list(figures) == ["expert_utilization"]
    assert (tmp_path / "expert_utilization.png").read_bytes()[:4] == b"\x89PNG"


def test_many_reports_never_warn_about_open_figures(routing_data, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(5):  # 30 figures in all
            create_analysis_report(routing_data, tmp_path / str(i), dpi=20, format="png")


def test_bad_input_writes_nothing(routing_data, tmp_path):
    routing_data["layer_expert_counts"] = np.array([[1, 2], [3, -4]])
    with pytest.raises(ValueError, match=r"layer_expert_counts\[1\] must be non-negative"):
        create_analysis_report(routing_data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"alphas": [0.1]}, "alpha_sensitivity needs alphas and avg_experts_per_alpha; missing avg_experts_per_alpha"),
        ({"expert_count": [1]}, "routing_data has unknown key\\(s\\) 'expert_count'; known keys: "),
        ({}, "routing_data holds nothing to plot"),
    ],
)
def test_errors(data, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        create_analysis_report(data, tmp_path)


def test_format_is_checked(tmp_path):
    with pytest.raises(ValueError, match="format must be one of pdf, svg, png, got 'gif'"):
        create_analysis_report({"expert_usage": [1, 2]}, tmp_path, format="gif")
