"""The figure linter, on matplotlib figures and on PDFs: it finds each fault in a figure made to have
it, measures text as printed (rotated, scaled, in maths), and finds nothing in figkit's figures."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

import figkit
from figkit.cli import main
from figkit.latex import compile_pdf
from figkit.lint import check_figure, check_pdf_text, pdf_words
from figkit.plots import figure_specs
from tests.helpers import STYLE_COMBINATIONS

# Colour sheets change no text: one of them stands for the rest here (test_styles draws every combination).
LINTED_STYLES = [names for names in STYLE_COMBINATIONS if not any("colo" in n for n in names)] + [("colourblind",)]


def test_a_clean_figure_passes():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")
    assert check_figure(fig) == []


def faulty_figure():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    ax.text(0.1, 0.2, "tiny", fontsize=3, transform=ax.transAxes)
    fig.text(0.98, 0.5, "runs off the right edge")
    ax.text(0.1, 0.8, "serif", family="DejaVu Serif", transform=ax.transAxes)
    return fig


FAULTS = [
    "'first label' overlaps 'second label'",
    "'tiny' is 3.0 pt, smaller than 6 pt",
    "'runs off the right edge' runs outside the {}",
    "text uses 2 font families: DejaVuSans, DejaVuSerif",
]


def test_each_fault_is_found_and_named():
    fig = faulty_figure()
    problems = check_figure(fig)
    assert sorted(problems) == sorted(f.format("figure") for f in FAULTS)
    assert check_figure(fig, min_size=2, families=None) == [p for p in problems if "pt" not in p and "famil" not in p]


@pytest.mark.slow  # figkit check reads each PDF in a child process
@pytest.mark.parametrize("fonttype", [3, 42])
def test_the_pdf_of_a_figure_shows_the_same_faults(tmp_path, fonttype):
    """Type 3 text is split around ligatures ("fi" of "first"); the pieces are one word again."""
    path = tmp_path / "faults.pdf"
    with plt.rc_context({"pdf.fonttype": fonttype}):
        faulty_figure().savefig(path)
    assert sorted(check_pdf_text(path)) == sorted(f.format("page") for f in FAULTS)
    assert main(["check", str(path)]) == 1


def test_text_is_measured_as_printed_rotated_and_in_maths(tmp_path):
    with plt.rc_context({"font.size": 8, "pdf.fonttype": 42}):
        fig, ax = plt.subplots(figsize=(3.25, 2), layout="constrained")
        ax.set_ylabel("Experts selected")
        ax.set_xlabel(r"Frequency $10^{-3}$")
        fig.savefig(tmp_path / "f.pdf")
    ((width, height), words) = (lambda page, words: (page[2:], words))(*pdf_words(tmp_path / "f.pdf")[0])
    label = next(w for w in words if w.text == "Experts selected")
    assert label.size == pytest.approx(8) and label.box[2] - label.box[0] < label.box[3] - label.box[1]
    assert 0 <= label.box[0] and label.box[2] <= width  # rotated text is inside the page
    exponent = next(w for w in words if w.text == "\N{MINUS SIGN}3")
    assert exponent.size == pytest.approx(8 * 0.7)  # a superscript is smaller than its base
    assert check_pdf_text(tmp_path / "f.pdf", min_size=6) == ["'\N{MINUS SIGN}3' is 5.6 pt, smaller than 6 pt"]
    assert check_figure(fig, min_size=6) == ["'Frequency $10^{-3}$' is 5.6 pt, smaller than 6 pt"]


def test_a_glyph_from_a_fallback_font_is_a_second_family(tmp_path):
    with plt.rc_context({"font.family": ["cmr10", "DejaVu Sans"], "pdf.fonttype": 42}):
        fig = plt.figure(figsize=(3, 2))
        fig.text(0.2, 0.5, "Level \N{GREEK SMALL LETTER ALPHA}")  # cmr10 has no lowercase Greek
        fig.savefig(tmp_path / "f.pdf")
    expected = ["text uses 2 font families: Computer Modern, DejaVuSans"]
    assert check_figure(fig) == expected
    assert check_pdf_text(tmp_path / "f.pdf") == expected


@pytest.mark.slow
def test_a_figure_scaled_down_in_latex_is_measured_at_its_printed_size(tmp_path):
    with figkit.use_style("paper"):
        figkit.plot_expert_count_distribution([1, 2, 2, 3, 3, 3, 4], save_path=tmp_path / "f.pdf")
    assert check_pdf_text(tmp_path / "f.pdf") == []
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage{graphicx}\\begin{document}\n"
        "\\includegraphics[scale=0.5]{f.pdf}\n\\end{document}\n"
    )
    problems = check_pdf_text(compile_pdf(tmp_path / "doc.tex"), families=None)  # the page number is in CM
    assert problems and all("smaller than 6 pt" in p for p in problems)
    assert "'Experts selected per token' is 4.0 pt, smaller than 6 pt" in problems  # the 8 pt label at half size


def data_under_text(legend_inside):
    """A line, bars and a faint band under grid lines, with its legend over the line or above the axes."""
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.axhspan(0.2, 0.9, color="0.3", alpha=0.1)  # a faint band: text over it reads
    ax.plot([0, 1], [0.5, 0.5], color="C0", label="a long legend entry")
    ax.bar([0.9], [0.15], width=0.1, color="C1")
    ax.set_ylim(0, 1)
    ax.text(0.05, 0.3, "over the band only", transform=ax.transAxes)
    if legend_inside:
        ax.legend(loc="center left")
    else:
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=2, frameon=False)
    return fig


@pytest.mark.slow  # figkit check reads each PDF in a child process
def test_text_over_the_data_is_found_in_the_figure_and_in_its_pdf(tmp_path):
    fig = data_under_text(legend_inside=True)
    assert check_figure(fig) == ["'a long legend entry' lies over the data (a line)"]
    fig.savefig(tmp_path / "over.pdf")
    assert check_pdf_text(tmp_path / "over.pdf") == ["'a long legend entry' lies over the data (a line)"]
    assert check_figure(fig, data=False) == []
    clear = data_under_text(legend_inside=False)
    assert check_figure(clear) == []
    clear.savefig(tmp_path / "clear.pdf")
    assert check_pdf_text(tmp_path / "clear.pdf") == []
    assert main(["check", str(tmp_path / "over.pdf")]) == 1


def test_text_over_bars_markers_and_cells_is_found():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.bar([0, 1, 2], [3, 4, 5], color="C0")
    ax.text(1, 2, "on a bar", ha="center")
    assert check_figure(fig) == ["'on a bar' lies over the data (a filled shape)"]
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.imshow([[0.0, 1.0], [1.0, 0.0]])
    ax.text(0.5, 0.5, "on the image", ha="center")
    assert check_figure(fig) == ["'on the image' lies over the data (an image)"]


def test_text_set_on_its_own_box_is_a_label_and_a_box_wider_or_taller_is_data(tmp_path):
    def labelled(pad_x, pad_y):
        fig = plt.figure(figsize=(3, 1))
        label = fig.text(0.3, 0.5, "token", fontsize=10, bbox={"boxstyle": "square,pad=0", "facecolor": "C0"})
        fig.canvas.draw()
        box = label.get_window_extent().transformed(fig.dpi_scale_trans.inverted())
        fig.patches.append(
            Rectangle(
                (box.x0 - pad_x, box.y0 - pad_y),
                box.width + 2 * pad_x,
                box.height + 2 * pad_y,
                transform=fig.dpi_scale_trans,
                facecolor="C1",
                zorder=0,
            )
        )
        label.set_bbox(None)
        return fig

    assert check_figure(labelled(1 / 72, 1 / 72)) == []  # a token on its colour
    labelled(1 / 72, 1 / 72).savefig(tmp_path / "label.pdf")
    assert check_pdf_text(tmp_path / "label.pdf") == []
    assert check_figure(labelled(0.5, 1 / 72)) == ["'token' lies over the data (a filled shape)"]  # a wide bar
    assert check_figure(labelled(1 / 72, 0.3)) == ["'token' lies over the data (a filled shape)"]  # a tall one


def test_tick_labels_outside_the_view_are_not_text_on_the_page():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.bar(range(64), range(64))
    ax.set_xlim(-0.6, 63.6)  # the locator still makes ticks at -10 and 70, which are never drawn
    assert check_figure(fig) == []


@pytest.mark.slow
@pytest.mark.parametrize("names", LINTED_STYLES)
def test_every_figure_of_the_example_and_of_real_routing_passes(names, study, real_study, tmp_path):
    """The figure's own text boxes, and the saved PDF's text against its marks (text over the data is read
    from the PDF once, not also from a second PDF that check_figure(data=True) would print). The study is
    drawn whole in the styles of smallest and largest text (paper, slide); the first figure of each family
    stands for the rest in the notebook style (sizes between those), paper-cm (another font at the paper's
    sizes) and the colour-blind sheet (which changes no text). Real routing, whose text differs, is drawn whole
    in the paper style and by the first figure of each family in the other text styles."""
    recoloured = any("colo" in name for name in names)
    for results in (study,) if recoloured else (study, real_study):
        whole = names == ("paper",) or results is study and names == ("slide",)
        for spec in figure_specs():
            for job in list(spec.jobs(results))[: None if whole else 1]:
                with figkit.use_style(*names):
                    fig = spec.plot(spec.prepare(**job.arguments))
                assert check_figure(fig, data=False) == [], (names, spec.name + job.suffix)
                path = figkit.save_figure(fig, tmp_path / f"{spec.name}{job.suffix}.pdf")
                assert check_pdf_text(path) == [], (names, spec.name + job.suffix)
                plt.close(fig)
