"""One look per method: the same colour in every figure of a build, the baseline neutral, a family ordered."""

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb

import figkit
from figkit.plots import figure_spec
from figkit.plots.looks import BASELINE, method_looks, method_roles
from tests import real_routing

METHODS = [
    {"id": "topk8", "label": "Top-8", "family": "topk", "params": {"k": 8}, "baseline": True},
    {"id": "bh20", "label": "BH 0.2", "family": "bh", "params": {"alpha": 0.2}},
    {"id": "topk4", "label": "Top-4", "family": "topk", "params": {"k": 4}},
    {"id": "bh01", "label": "BH 0.01", "family": "bh", "params": {"alpha": 0.01}},
    {"id": "bh05", "label": "BH 0.05", "family": "bh", "params": {"alpha": 0.05}},
]


def lightness(colour):
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("styles", [("paper",), ("paper", "colourblind"), ("slide",)])
def test_baseline_neutral_family_light_to_dark_by_its_parameter_others_distinct(styles):
    with figkit.use_style(*styles):
        looks = method_looks([m["label"] for m in METHODS], METHODS)
        cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    assert looks["Top-8"].color == to_rgb(BASELINE["color"]) and looks["Top-8"].linestyle == "--"
    family = [looks[label] for label in ("BH 0.01", "BH 0.05", "BH 0.2")]  # ordered by alpha, not as declared
    assert [lightness(look.color) for look in family] == sorted(
        (lightness(look.color) for look in family), reverse=True
    )
    assert len({look.marker for look in family}) == 1  # one family, one marker
    # Hues go in declared order: BH's family (first met at bh20) the first, its middle member at the hue
    # itself; top-4 the second.
    assert looks["BH 0.05"].color == pytest.approx(to_rgb(cycle[0]))
    assert looks["Top-4"].color == pytest.approx(to_rgb(cycle[1]))
    colours = {to_hex(look.color) for look in looks.values()}
    assert len(colours) == len(METHODS)


def test_a_method_keeps_its_look_whichever_others_a_figure_shows():
    with figkit.use_style("paper"):
        everyone = method_looks(["Top-4", "BH 0.05"], METHODS)
        alone = method_looks(["BH 0.05"], METHODS)
        by_id = method_looks(["bh05"], METHODS)
    assert everyone["BH 0.05"] == alone["BH 0.05"] == by_id["bh05"]


def test_labels_without_methods_get_hues_in_order_and_bad_methods_are_named():
    roles = method_roles(["a", "b"])
    assert [role.hue for role in roles.values()] == [0, 1]
    with pytest.raises(ValueError, match=r"methods\[1\] must be a method of a results file"):
        method_roles(["a"], [{"id": "a"}, {"label": "b"}])
    with pytest.raises(TypeError, match="methods must be a results file's list of methods"):
        method_roles(["a"], {"id": "a"})


def drawn_colours(fig):
    """{legend label: colour} of every labelled line, point or bar of a figure's axes."""
    ax = fig.axes[0]
    colours = {}
    for artist in ax.lines:
        if not artist.get_label().startswith("_"):
            colours[artist.get_label()] = to_hex(artist.get_color())
    for container in ax.containers:
        if container.get_label() and not container.get_label().startswith("_"):
            colours[container.get_label()] = to_hex(container.patches[0].get_facecolor())
    return colours


@pytest.fixture(scope="module")
def real_study(tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "results.json"
    return figkit.load_results(figkit.write_results(path, **real_routing.sections()))


@pytest.mark.parametrize("styles", [("paper",), ("paper", "colourblind")])
def test_every_method_has_one_colour_in_every_figure_of_a_build_of_real_routing(styles, real_study):
    """Top-8 and BH at four levels, routed from the real OLMoE slice, in every comparison figure."""
    results = real_study
    labels = {m["id"]: m.get("label", m["id"]) for m in results["methods"]}
    seen = {}
    with figkit.use_style(*styles):
        for family in (
            "expert_count_comparison",
            "layer_mean_comparison",
            "compute_quality",
            "vocabulary_specialization",
        ):
            spec = figure_spec(family)
            for job in spec.jobs(results):
                for label, colour in drawn_colours(spec.plot(spec.prepare(**job.arguments))).items():
                    method = next((m for m, name in labels.items() if label.startswith(name)), None)
                    if method is not None:
                        seen.setdefault(method, set()).add(colour)
    assert set(seen) == set(labels)
    assert all(len(colours) == 1 for colours in seen.values()), seen
    assert seen["topk8"] == {to_hex(BASELINE["color"])}
    shades = [lightness(next(iter(seen[m]))) for m in ("bh01", "bh05", "bh10", "bh20")]
    assert shades == sorted(shades, reverse=True) and len(set(shades)) == 4
    assert np.ptp(shades) > 0.25  # told apart in greyscale


def test_legends_read_row_by_row():
    from figkit.plots._draw import reading_order

    # matplotlib fills a legend column by column: handing it this order reads 0 1 2 / 3 4 5 / 6 7
    order = reading_order(8, 3)
    columns = [order[0:3], order[3:6], order[6:8]]  # the sizes matplotlib gives 8 entries in 3 columns
    rows = [[column[r] for column in columns if r < len(column)] for r in range(3)]
    assert rows == [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_the_alpha_sweep_takes_the_methods_colours_and_counts_and_layers_take_none(real_study):
    """A method's colour means that method in every figure: numbers of experts and layers, which are no
    methods, are drawn in colours of their own (the style's sequential map; one layer scale)."""
    from matplotlib.collections import PathCollection

    from figkit.plots.looks import amount_colours, layer_colours

    with figkit.use_style("paper"):
        looks = method_looks([m["id"] for m in real_study["methods"]], real_study["methods"])
        spec = figure_spec("alpha_sensitivity")
        (job,) = spec.jobs(real_study)
        ax = spec.plot(spec.prepare(**job.arguments)).axes[0]
        points = next(c for c in ax.collections if isinstance(c, PathCollection))
        expected = [to_hex(looks[f"bh{round(a * 100):02d}"].color) for a in job.arguments["alphas"]]
        assert [to_hex(colour) for colour in points.get_facecolors()] == expected
        amounts = amount_colours(8)
        methods = {to_hex(look.color) for look in looks.values()}
        spec = figure_spec("layer_wise_routing")
        job = next(iter(spec.jobs(real_study)))
        shares = spec.plot(spec.prepare(**job.arguments)).axes[0]
        drawn = {to_hex(bar.get_facecolor()) for bar in shares.patches}
    assert [lightness(c) for c in amounts] == sorted((lightness(c) for c in amounts), reverse=True)
    assert drawn <= {to_hex(c) for c in amounts} and not drawn & methods
    scale = layer_colours(list(range(16)))
    assert layer_colours([0, 8, 15]) == [scale[0], scale[8], scale[15]]  # a layer's place on one scale
    assert not {to_hex(c) for c in scale} & methods


def test_captions_say_which_way_a_family_s_shades_run(real_study):
    """Every figure that shades BH's levels of α names the lightest and the darkest, and they are so drawn."""
    said = "BH ($\\alpha$ = 0.01) lightest to BH ($\\alpha$ = 0.2) darkest, by α."
    looks = method_looks([m["label"] for m in real_study["methods"]], real_study["methods"])
    bh = [looks[m["label"]].color for m in real_study["methods"] if m["family"] == "bh"]
    assert lightness(bh[0]) == max(map(lightness, bh)) and lightness(bh[-1]) == min(map(lightness, bh))
    for name in ("expert_count_comparison", "layer_mean_comparison"):
        (job,) = figure_spec(name).jobs(real_study)
        assert said in "".join(job.caption)
    study = dict(real_study, methods=[m for m in real_study["methods"] if m["id"] in ("topk8", "bh05")])
    for name in ("expert_count_comparison", "layer_mean_comparison"):  # one BH: no shades to explain
        (job,) = figure_spec(name).jobs(study)
        assert "lightest" not in "".join(job.caption)


@pytest.mark.parametrize("source", ["study", "real_study"])
def test_every_caption_alternates_text_and_method_labels(source, request):
    """A caption is text, label, text, ...: a label in a text part would print its maths escaped."""
    results = request.getfixturevalue(source)
    labels = [m["label"] for m in results["methods"] if "$" in m["label"]]
    assert labels
    for spec in figkit.plots.figure_specs():
        for job in spec.jobs(results):
            texts = job.caption[::2]
            assert not [text for text in texts if any(label in text for label in labels)], (spec.name, job.suffix)
