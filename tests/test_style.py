"""Saving: formats, atomicity, determinism and embedded fonts."""

import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

from figkit import plot_expert_count_distribution, plot_token_complexity_vs_experts, save_figure
from tests.helpers import pdf_fonts

MAGIC = {".pdf": b"%PDF", ".svg": b"<?xml", ".png": b"\x89PNG"}


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_format_follows_the_suffix_and_folders_are_made(tmp_path, suffix):
    path = tmp_path / "a" / "b" / f"fig{suffix}"
    plot_expert_count_distribution([3, 4, 5], save_path=path)
    assert path.read_bytes().startswith(MAGIC[suffix])
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(path.parent)) == [path.name]


@pytest.mark.slow
def test_no_suffix_means_pdf_and_raster_is_300_dpi(tmp_path):
    fig = plot_expert_count_distribution([3, 4, 5], figsize=(4, 3))
    assert save_figure(fig, tmp_path / "fig").name == "fig.pdf"
    png = save_figure(fig, tmp_path / "fig.png")
    width = int.from_bytes(png.read_bytes()[16:20], "big")
    assert width == 1200


def test_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"cannot save fig.gif: use one of .pdf, .svg, .png"):
        plot_expert_count_distribution([3, 4], save_path=tmp_path / "fig.gif")


def test_a_failed_save_leaves_the_earlier_file_and_no_temporary(tmp_path):
    path = tmp_path / "fig.pdf"
    path.write_bytes(b"earlier")
    fig = plt.figure()
    fig.add_subplot().text(0, 0, "$\\frac{$")  # mathtext that fails when drawn
    with pytest.raises(ValueError):
        save_figure(fig, path)
    assert path.read_bytes() == b"earlier"
    assert os.listdir(tmp_path) == ["fig.pdf"]


SAVE_IN_A_NEW_PROCESS = """
import sys, numpy as np, figkit
rng = np.random.default_rng(1)
figkit.plot_layer_wise_routing(rng.integers(1, 9, (4, 50)), save_path=sys.argv[1])
"""


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
@pytest.mark.slow
def test_bytes_are_identical_across_processes(tmp_path, suffix):
    paths = [tmp_path / f"{i}{suffix}" for i in range(2)]
    for path in paths:
        subprocess.run(
            [sys.executable, "-c", SAVE_IN_A_NEW_PROCESS, str(path)], check=True, env=os.environ | {"MPLBACKEND": "Agg"}
        )
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.slow
def test_pdf_fonts_are_embedded_truetype(tmp_path):
    path = tmp_path / "fig.pdf"
    plot_expert_count_distribution(np.arange(10), "BH ($\\alpha$ = 0.05)", save_path=path)
    fonts = pdf_fonts(path)
    assert fonts
    for name, kind, embedded in fonts:
        assert kind != "Type 3", name
        assert embedded == "yes", name


def test_figure_size_and_default_look():
    fig = plot_expert_count_distribution([3, 4, 5])
    assert tuple(fig.get_size_inches()) == (12, 6)
    assert fig.dpi == 100
    fig = plot_expert_count_distribution([3, 4, 5], figsize=(4, 3), dpi=150)
    assert tuple(fig.get_size_inches()) == (4, 3) and fig.dpi == 150
    ax = fig.axes[0]
    assert ax.title.get_fontsize() == 14 and ax.title.get_fontweight() == "bold"
    assert ax.xaxis.label.get_fontsize() == 12
    assert ax.get_xticklabels()[0].get_fontsize() == 10


def test_the_global_style_is_untouched():
    before = dict(plt.rcParams)
    plot_expert_count_distribution([3, 4, 5])
    assert dict(plt.rcParams) == before


def test_plt_savefig_after_a_call_keeps_the_figkit_look(tmp_path):
    import matplotlib.image as mpimg

    fig = plot_token_complexity_vs_experts(np.arange(50), np.arange(50) % 7 + 1, figsize=(4, 3))
    plt.savefig(tmp_path / "pyplot.png", dpi=100)
    save_figure(fig, tmp_path / "figkit.png", dpi=100)
    np.testing.assert_array_equal(mpimg.imread(tmp_path / "pyplot.png"), mpimg.imread(tmp_path / "figkit.png"))
