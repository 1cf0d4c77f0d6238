"""Style sheets: composition, restoring rcParams, fonts, page size and reproducible bytes per style."""

import os
import subprocess
import sys

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest

import figkit
from figkit import available_styles, figsize, use_style
from figkit.geometry import GOLDEN, VENUES
from tests.helpers import STYLE_COMBINATIONS as COMBINATIONS
from tests.helpers import pdf_fonts, registered_figures

SIZES = {"notebook": (12, 6), "paper": (3.25, 2.01), "paper-cm": (3.25, 2.01), "slide": (10, 5.625)}


def media_box(path):
    """Width and height in inches of the first page of a PDF."""
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("Page size:"))
    width, _, height = line.split()[2:5]
    return float(width) / 72, float(height) / 72


def test_available_styles():
    assert available_styles() == ["cm", "colorblind", "colourblind", "notebook", "paper", "paper-cm", "slide"]


def test_unknown_style_lists_the_available_ones():
    with pytest.raises(
        ValueError, match="unknown figkit style 'papr'; available: cm, colorblind, colourblind, notebook"
    ):
        use_style("papr")


def test_styles_compose_with_dicts_files_and_matplotlib_styles_in_order(tmp_path):
    """As matplotlib.style.use composes: a tueplots-like dict after "paper" wins, one before it loses."""
    from figkit.style import paper_look

    bundle = {"figure.figsize": (3.25, 2.0), "axes.linewidth": 0.4}
    with use_style("paper", bundle):
        assert paper_look() and mpl.rcParams["axes.linewidth"] == 0.4
        assert tuple(mpl.rcParams["figure.figsize"]) == (3.25, 2.0)
    with use_style(bundle, "paper"):
        assert mpl.rcParams["axes.linewidth"] != 0.4
    sheet = tmp_path / "mine.mplstyle"
    sheet.write_text("lines.linewidth: 3.5\n")
    for mine in (sheet, str(sheet)):
        with use_style("slide", mine):
            assert mpl.rcParams["lines.linewidth"] == 3.5 and not paper_look()
    with use_style("colourblind", {"axes.linewidth": 0.4}):  # an overlay alone: the default base first
        assert figkit.style.style_active() and mpl.rcParams["axes.linewidth"] == 0.4
    with use_style("figkit.styles.paper"):  # plt.style.use's name of the same sheet
        assert paper_look()
    with use_style("paper", "ggplot"):
        assert mpl.rcParams["axes.facecolor"] == "#E5E5E5"
    with pytest.raises(ValueError, match="unknown figkit style 'papr'.*a dict of rcParams"):
        use_style("paper", "papr")


@pytest.mark.parametrize("names", COMBINATIONS)
def test_rcparams_are_restored_exactly(names):
    before = dict(mpl.rcParams)
    with use_style(*names):
        assert mpl.rcParams["pdf.fonttype"] == 42
    assert dict(mpl.rcParams) == before


def test_decorator_and_later_styles_win():
    @use_style("paper", "colourblind")
    def colours():
        return mpl.rcParams["axes.prop_cycle"].by_key()["color"][0], mpl.rcParams["font.size"]

    assert colours() == ("#E69F00", 8.0)
    assert mpl.rcParams["font.size"] != 8.0


def test_overlay_alone_sits_on_the_notebook_look():
    with use_style("colourblind"):
        assert tuple(mpl.rcParams["figure.figsize"]) == (12, 6)
        assert mpl.rcParams["image.cmap"] == "YlGnBu"


@pytest.mark.parametrize("names", COMBINATIONS)
@pytest.mark.slow
def test_saved_pdf_has_the_styles_size_and_embedded_truetype_fonts(names, tmp_path):
    path = tmp_path / "fig.pdf"
    with use_style(*names):
        fig = figkit.plot_expert_count_distribution(
            np.arange(1, 9).repeat(5), "BH ($\\alpha$=0.05)", alpha=0.05, save_path=path
        )
    base = next((n for n in names if n in SIZES), "notebook")
    assert tuple(fig.get_size_inches()) == pytest.approx(SIZES[base])
    assert media_box(path) == pytest.approx(SIZES[base], abs=0.01)
    for name, kind, embedded in pdf_fonts(path):
        assert kind in ("CID TrueType", "TrueType", "Type 1", "Type 1C"), (name, kind)
        assert embedded == "yes", name


def test_figures_follow_the_active_style_and_explicit_sizes_win():
    with use_style("slide"):
        ax = figkit.plot_layer_wise_routing(np.ones((3, 4), int)).axes[0]
        assert ax.xaxis.label.get_fontsize() == 18
        fig = figkit.plot_layer_wise_routing(np.ones((3, 4), int), figsize=(4, 3))
        assert tuple(fig.get_size_inches()) == (4, 3)


@pytest.mark.slow
def test_matplotlib_dotted_style_name_in_a_fresh_interpreter():
    code = (
        "import matplotlib.pyplot as plt, figkit, numpy as np; plt.style.use('figkit.styles.paper'); "
        "fig = figkit.plot_expert_count_distribution([3, 4, 5]); print(fig.get_size_inches().tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ | {"MPLBACKEND": "Agg"}
    ).stdout
    assert out.strip() == "[3.25, 2.01]"


SAVE = """
import sys, numpy as np, figkit
with figkit.use_style(*sys.argv[2].split(",")):
    figkit.plot_alpha_sensitivity([0.01, 0.05], [3.0, 4.0], [0.5, 0.6], save_path=sys.argv[1])
"""


@pytest.mark.parametrize(
    "names, suffix",
    [(",".join(names), ".pdf") for names in COMBINATIONS] + [("paper,colourblind", ".svg"), ("slide", ".svg")],
)
@pytest.mark.slow
def test_two_processes_write_identical_bytes(tmp_path, names, suffix):
    paths = [tmp_path / f"{i}{suffix}" for i in range(2)]
    for path in paths:
        subprocess.run(
            [sys.executable, "-c", SAVE, str(path), names], check=True, env=os.environ | {"MPLBACKEND": "Agg"}
        )
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_no_figures_are_left_over():
    plt.close("all")
    with use_style("paper"):
        fig = figkit.plot_expert_count_distribution([3, 4])
    assert plt.get_fignums() == [fig.number]  # the figure it returns, no figure it measured with besides


@pytest.mark.parametrize(
    "venue, width, expected",
    [
        ("icml", "column", 3.25),
        ("icml", "text", 6.75),
        ("neurips", "column", 5.5),
        ("cvpr", "column", 3.28125),
        ("ieee", "column", 3.4869),
        ("EMNLP", "text", 6.2992),
        ("lncs", "text", 4.8031),
    ],
)
def test_venue_sizes(venue, width, expected):
    w, h = figsize(venue, width)
    assert w == pytest.approx(expected) and h == pytest.approx(expected * GOLDEN)


def test_figsize_options_and_errors():
    assert figsize("icml", "text", aspect=0.5, fraction=0.5) == pytest.approx((3.375, 1.6875))
    with pytest.raises(ValueError, match="unknown venue 'nips'; known: aaai, acl"):
        figsize("nips")
    with pytest.raises(ValueError, match="width must be 'column' or 'text'"):
        figsize("icml", "page")
    assert all(row.source for row in VENUES.values())


@pytest.mark.parametrize("names", COMBINATIONS)
@pytest.mark.slow
def test_every_figure_draws_cleanly_in_every_style(names, study, rng, tmp_path):
    """No missing glyph, no collapsed layout, no other warning, in any style: every registered figure
    of a results file, and the report's figures of harder data (dense, literal tokens, dead experts)."""
    import warnings

    from figkit.report import prepare_figures

    hard = prepare_figures(
        {
            "expert_counts": rng.integers(1, 9, 5000),
            "method_name": "BH ($\\alpha$=0.05)",
            "alpha": 0.05,
            "alphas": [0.01, 0.05, 0.1],
            "avg_experts_per_alpha": [3.2, 4.5, 5.8],
            "std_experts_per_alpha": [1, 1, 1],
            "routing_weights": rng.random((60, 64)),
            "tokens": ["$", "50%", "\u2581the"] * 20,
            "expert_usage": np.r_[0, rng.poisson(50, 63)],
            "token_ids": rng.integers(0, 9000, 8000),
            "token_expert_counts": rng.integers(1, 9, 8000),
            "tokenizer": str,
            "layer_expert_counts": rng.integers(1, 9, (16, 200)),
        }
    )
    with warnings.catch_warnings(), use_style(*names):
        warnings.simplefilter("error")
        for i, (spec, data) in enumerate(registered_figures(study) + list(hard.values())):
            plt.close(spec.plot(data, save_path=tmp_path / f"{i}-{spec.name}.png", dpi=50))


@pytest.mark.slow
def test_save_figure_after_the_style_ended_draws_in_that_style(tmp_path):
    with use_style("paper"):
        fig = figkit.plot_expert_count_distribution([3, 4, 5], "BH ($\\alpha$=0.05)")
        figkit.save_figure(fig, tmp_path / "inside.pdf")
    figkit.save_figure(fig, tmp_path / "after.pdf")
    assert (tmp_path / "after.pdf").read_bytes() == (tmp_path / "inside.pdf").read_bytes()
    assert all("STIX" in name for name, _, _ in pdf_fonts(tmp_path / "after.pdf"))


def test_computer_modern_text_has_the_right_characters(tmp_path):
    from fontTools.ttLib import TTFont

    from figkit.fonts import computer_modern
    from tests.helpers import pdf_text

    cmap = TTFont(computer_modern()).getBestCmap()
    assert [cmap.get(ord(c)) for c in '<>|{}\\_"\N{MINUS SIGN}\N{PLUS-MINUS SIGN}a'] == [
        "less",
        "greater",
        "bar",
        "braceleft",
        "braceright",
        "backslash",
        "underscore",
        "quotedbl",
        "minus",
        "plusminus",
        "a",
    ]
    greek_and_symbols = (
        "\N{GREEK SMALL LETTER ALPHA}\N{GREEK SMALL LETTER MU}\N{GREEK SMALL LETTER RHO}\u221e\u00b7\u2192\u2264"
    )
    assert [cmap.get(ord(c)) for c in greek_and_symbols] == [
        *("alpha", "mu", "rho", "infinity", "periodcentered", "arrowright", "lessequal")
    ]
    widths = TTFont(computer_modern())["hmtx"].metrics
    assert widths[cmap[ord("\N{EN DASH}")]][0] * 2 == widths[cmap[ord("\N{EM DASH}")]][0]
    path = tmp_path / "cm.pdf"
    with use_style("paper-cm"):
        fig = plt.figure()
        fig.text(0.1, 0.5, "bh_k8 <a|b> {x} \N{MINUS SIGN}1 \N{PLUS-MINUS SIGN} 2")
        figkit.save_figure(fig, path)
    assert "bh_k8 <a|b> {x} \N{MINUS SIGN}1 \N{PLUS-MINUS SIGN} 2" in pdf_text(path)
    assert any("figkit-CMR10" in name for name, _, _ in pdf_fonts(path))


@pytest.mark.slow
def test_computer_modern_is_found_in_a_fresh_interpreter(tmp_path):
    code = (
        "import sys, figkit\n"
        "with figkit.use_style('paper-cm'):\n"
        "    figkit.save_figure(figkit.plot_alpha_sensitivity([0.01, 0.1], [2, 3]), sys.argv[1])\n"
    )
    path = tmp_path / "cm.pdf"
    run = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=os.environ | {"MPLBACKEND": "Agg"}
    )
    assert run.returncode == 0 and "findfont" not in run.stderr, run.stderr
    assert any("figkit-CMR10" in name for name, _, _ in pdf_fonts(path))
