"""The colourblind style for readers with a colour-vision deficiency and in greyscale print."""

import itertools

import matplotlib as mpl
import numpy as np
import pytest
from colorspacious import cspace_convert, deltaE

from figkit import use_style

# CAM02-UCS colour difference; about 10 is plainly visible between lines and markers, 1 is the
# just-noticeable difference between large patches.
MIN_DELTA_E = 10


def cycle(*names):
    with use_style(*names):
        return list(mpl.rcParams["axes.prop_cycle"])


@pytest.mark.parametrize("deficiency", ["deuteranomaly", "protanomaly", "tritanomaly"])
def test_colours_stay_apart_under_full_colour_blindness(deficiency):
    """Machado et al. (2009) simulation at severity 100 (dichromacy), via colorspacious."""
    rgb = np.array([mpl.colors.to_rgb(entry["color"]) for entry in cycle("colourblind")])
    seen = np.clip(cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": deficiency, "severity": 100}, "sRGB1"), 0, 1)
    closest = min(deltaE(a, b, input_space="sRGB1") for a, b in itertools.combinations(seen, 2))
    assert closest >= MIN_DELTA_E


def test_line_styles_and_markers_tell_every_series_apart_in_greyscale():
    entries = cycle("paper", "colourblind")
    assert len({str(entry["linestyle"]) for entry in entries}) == len(entries)
    assert len({entry["marker"] for entry in entries}) == len(entries)


def test_heatmaps_start_near_white_and_darken_steadily_for_every_reader():
    """Zero (most cells of a routing heatmap) is near-white, and lightness falls monotonically, also as
    readers with each colour-vision deficiency see it."""
    with use_style("slide", "colourblind"):
        cmap = mpl.colormaps[mpl.rcParams["image.cmap"]]
    rgb = cmap(np.linspace(0, 1, 64))[:, :3]
    for deficiency in (None, "deuteranomaly", "protanomaly", "tritanomaly"):
        shown = (
            rgb
            if deficiency is None
            else np.clip(
                cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": deficiency, "severity": 100}, "sRGB1"), 0, 1
            )
        )
        lightness = cspace_convert(shown, "sRGB1", "CAM02-UCS")[:, 0]
        assert lightness[0] > 95 and np.all(np.diff(lightness) < 0), deficiency


def test_top1_expert_colours_stay_apart_and_mean_nothing_else():
    """Routing over the text colours experts: apart from each other and the grey of the rest for every reader,
    and from what colours mean in the same figure and elsewhere (numbers of experts, methods)."""
    from figkit.plots.looks import amount_colours, method_looks
    from figkit.plots.routing_text import EXPERT_COLOURS, OTHER_COLOUR
    from tests import real_routing

    keys = np.array([mpl.colors.to_rgb(c) for c in (*EXPERT_COLOURS, OTHER_COLOUR)])
    for seen, least in [(keys, 16)] + [
        (np.clip(cspace_convert(keys, {"name": "sRGB1+CVD", "cvd_type": d, "severity": 100}, "sRGB1"), 0, 1), 12.5)
        for d in ("deuteranomaly", "protanomaly")
    ]:
        assert min(deltaE(a, b, input_space="sRGB1") for a, b in itertools.combinations(seen, 2)) >= least
    with use_style("paper"):
        meant = amount_colours(8) + [
            look.color
            for look in method_looks([m["label"] for m in real_routing.methods()], real_routing.methods()).values()
        ]
    assert min(deltaE(k, m, input_space="sRGB1") for k in keys[:-1] for m in meant) >= 13
