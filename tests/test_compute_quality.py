import numpy as np
import pytest

from figkit import plot_compute_quality
from figkit.plots import figure_spec
from figkit.plots.compute_quality import pareto_front


def brute_front(cost, gain):
    beaten = [
        any(
            cost[j] <= cost[i] and gain[j] >= gain[i] and (cost[j], gain[j]) != (cost[i], gain[i])
            for j in range(cost.size)
        )
        for i in range(cost.size)
    ]
    return sorted((i for i in range(cost.size) if not beaten[i]), key=lambda i: (cost[i], -gain[i]))


@pytest.mark.parametrize("seed", range(20))
def test_the_front_is_every_point_no_other_beats(seed):
    rng = np.random.default_rng(seed)
    cost, gain = rng.integers(0, 6, 12).astype(float), rng.integers(0, 6, 12).astype(float)
    assert pareto_front(cost, gain).tolist() == brute_front(cost, gain)


def test_points_front_and_baseline_are_drawn():
    points = {"Top-8": (8.0, 16.9), "BH 0.01": (2.0, 19.5), "BH 0.05": (3.0, 17.8), "BH 0.1": (3.5, 18.1)}
    ax = plot_compute_quality(points, quality_label="PPL", better="lower", baseline="Top-8").axes[0]
    markers = {line.get_label(): line for line in ax.lines if line.get_linestyle() == "None"}
    assert set(markers) == {"Top-8 (baseline)", "BH 0.01", "BH 0.05", "BH 0.1"}
    assert markers["Top-8 (baseline)"].get_marker() == "*"
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in markers.values()] == list(points.values())
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    assert front.get_xdata().tolist() == [2.0, 3.0, 8.0]  # BH 0.1 costs more than BH 0.05 for a worse PPL
    assert "lower is better" in ax.get_ylabel()


@pytest.mark.parametrize(
    "points, message",
    [
        ({}, "points is empty"),
        ({"a": (1, float("nan"))}, "points\\['a'\\] must be finite"),
        ({"a": 3}, "must be \\(compute, quality\\) numbers"),
    ],
)
def test_bad_points(points, message):
    with pytest.raises(ValueError, match=message):
        plot_compute_quality(points)


def test_the_build_skips_metrics_that_restate_compute(study):
    jobs = list(figure_spec("compute_quality").jobs(study))
    assert [job.suffix for job in jobs] == ["_ppl"]  # "experts" is the experts per token itself
    (job,) = jobs
    assert job.arguments["better"] == "lower" and job.arguments["baseline"] == "Top-2"
    assert set(job.arguments["points"]) == {"Top-2", "BH ($\\alpha$=0.05)"}
    assert "".join(job.caption).startswith("Experts per token against PPL (lower is better) for 2 methods")
    labels = job.caption[1::2]  # text and labels alternate: the labels keep their maths in LaTeX
    assert labels[0] == "PPL" and set(labels[1:]) <= set(job.arguments["points"])
    # Top-2 has fewer experts and a lower (better) PPL: it alone is on the front, and no line is drawn.
    assert "Top-2 needs the fewest experts per token for the best value: it dominates every other." in "".join(
        job.caption
    )
    assert "dashed" not in "".join(job.caption)


def test_the_caption_says_what_the_metric_measures(study):
    info = {**study["metric_info"], "ppl": {**study["metric_info"]["ppl"], "description": "perplexity on C4"}}
    (job,) = figure_spec("compute_quality").jobs({**study, "metric_info": info})
    assert "".join(job.caption).startswith("Experts per token against PPL (perplexity on C4; lower is better)")
