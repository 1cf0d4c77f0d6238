"""The figure linter: it finds each fault in a figure made to have it, and none in figkit's figures."""

import matplotlib.pyplot as plt
import pytest

import figkit
from figkit.lint import check_figure
from figkit.plots import figure_specs
from tests.conftest import STYLE_COMBINATIONS


def test_a_clean_figure_passes():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")
    assert check_figure(fig) == []


def test_each_fault_is_found_and_named():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    ax.text(0.1, 0.2, "tiny", fontsize=3, transform=ax.transAxes)
    fig.text(0.98, 0.5, "runs off the right edge")
    ax.text(0.1, 0.8, "serif", family="DejaVu Serif", transform=ax.transAxes)
    problems = check_figure(fig)
    assert "'first label' overlaps 'second label'" in problems
    assert "'tiny' is 3.0 pt, smaller than 5 pt" in problems
    assert "'runs off the right edge' runs outside the figure" in problems
    assert any(p.startswith("text uses 2 font families: DejaVu Sans, DejaVu Serif") for p in problems)
    assert check_figure(fig, min_size=2, families=None) == [p for p in problems if "pt" not in p and "famil" not in p]


def test_tick_labels_outside_the_view_are_not_text_on_the_page():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.bar(range(64), range(64))
    ax.set_xlim(-0.6, 63.6)  # the locator still makes ticks at -10 and 70, which are never drawn
    assert check_figure(fig) == []


@pytest.mark.slow
@pytest.mark.parametrize("names", STYLE_COMBINATIONS)
def test_every_figure_of_the_example_and_of_real_routing_passes(names, study, real_study):
    for results in (study, real_study):
        for spec in figure_specs():
            for job in spec.jobs(results):
                with figkit.use_style(*names):
                    fig = spec.plot(spec.prepare(**job.arguments))
                assert check_figure(fig) == [], (names, spec.name + job.suffix)
                plt.close(fig)
