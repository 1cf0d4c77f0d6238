"""A talk: a build of the slide style makes a 16:9 Beamer deck of the results instead of the appendix."""

import subprocess
import sys

import pytest

from figkit import build, write_results
from figkit.lint import check_pdf_text
from figkit.pipeline.outputs import DECK, frame_title
from tests.helpers import pdf_text, sections

FRAME = (453.543, 255.118)  # points: beamer's aspectratio=169, 160 mm x 90 mm
TITLES = {  # the first figure of each family of the default deck, its frame title from its caption
    "expert_count_comparison": "Experts selected per token, by method",
    "alpha_sensitivity": "Average experts per token against the significance level",
    "compute_quality": "Experts per token against PPL",
    "routing_text": "Routing over the text",
}


TALK = ("title", "model", "methods", "metric_info", "metrics", "expert_counts", "sweeps", "routing_text")


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """A talk of the sections its default deck draws (the rest would only make more figures to wait for)."""
    folder = tmp_path_factory.mktemp("talk")
    results = write_results(folder / "results.json", **{k: v for k, v in sections().items() if k in TALK})
    report = build(results, folder / "out", style="slide", jobs=2)
    assert report.ok, report.failed
    return results, folder / "out", report


@pytest.mark.slow
def test_a_slide_build_makes_a_deck_instead_of_the_appendix(talk):
    _, out, report = talk
    assert report.pdf == out / "slides.pdf"
    assert not (out / "appendix.tex").exists() and not (out / "appendix.pdf").exists()
    pages = pdf_text(out / "slides.pdf").split("\f")[:-1]
    # the title, the table, a frame per family; routing over the text, set by LaTeX, a frame per method
    assert len(pages) == 2 + len(DECK) + 1
    assert pages[0].split()[:2] == ["Routing", "study"]
    assert pages[1].startswith("Comparison of methods") and "Top-2" in pages[1] and "ppl" in pages[1].lower()
    for page, family in zip(pages[2:], DECK):
        assert " ".join(page.split()).startswith(TITLES[family]), (family, page[:80])
    assert " ".join(pages[-1].split()).startswith("Routing over the text (continued) Top-2: top-1 expert")


@pytest.mark.slow
def test_every_frame_holds_its_figure_and_passes_the_checks(talk):
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTFigure, LTTextContainer

    _, out, _ = talk
    frames = list(extract_pages(out / "slides.pdf"))
    assert all((page.width, page.height) == pytest.approx(FRAME, abs=0.01) for page in frames)
    for number, page in enumerate(frames[2:], start=3):
        figures = [item for item in page if isinstance(item, LTFigure)]
        if number > 2 + len(DECK) - 1:  # routing over the text: set at the frame's type size, not shrunk
            chars = [char for line in page if isinstance(line, LTTextContainer) for char in _chars(line)]
            sizes = sorted(char.size for char in chars if char.y0 > 20)  # not the page number
            median = sizes[len(sizes) // 2]  # the tokens; the heading is \small
            assert not figures and median >= 10 and sizes[0] >= 9, (number, median, sizes[0])
            continue
        title = min(item.y0 for item in page if isinstance(item, LTTextContainer) and item.y0 > page.height / 2)
        assert len(figures) == 1, number
        x0, y0, x1, y1 = figures[0].bbox
        assert x0 >= 28 and x1 <= page.width - 28 and y0 >= 10 and y1 <= title, (number, figures[0].bbox)
        assert x1 - x0 > 0.6 * (page.width - 56), number  # a frame's figure, not a thumbnail
    assert check_pdf_text(out / "slides.pdf", min_size=6, families=None) == []
    for figure in sorted((out / "figures").glob("*.pdf")):  # drawn at the frame's text width, in one typeface
        assert check_pdf_text(figure, min_size=6) == [], figure.name
    sweep = " ".join(pdf_text(out / "figures" / "alpha_sensitivity_bh.pdf").split())
    assert "Sensitivity of expert selection" not in sweep  # the frame's title says it; the slide look's would
    assert "Average experts" in sweep


def _chars(container):
    from pdfminer.layout import LTChar

    for item in container:
        if isinstance(item, LTChar):
            yield item
        elif hasattr(item, "__iter__"):
            yield from _chars(item)


def test_the_deck_takes_its_families_in_the_order_given():
    from figkit.pipeline import BuildOptions, plan
    from figkit.pipeline.options import Target
    from figkit.pipeline.outputs import Planning

    families = "routing_text,router_confidence,expert_count_comparison"
    target = Target.of(BuildOptions(style="slide", slides=families))
    assert target.page.name == "beamer" and target.deck == tuple(families.split(","))
    jobs = plan(load_results_of(sections()), Planning(deck=target.deck))
    assert not any(job.kind == "appendix" for job in jobs)
    (deck,) = [job for job in jobs if job.kind == "slides"]
    assert [frame["path"] for frame in deck.data["frames"]] == [
        "tables/routing_text_passage1_layer1.tex",  # set by LaTeX: the drawn figure would shrink to the frame
        "figures/router_confidence_top1_probability.pdf",
        "figures/expert_count_comparison.pdf",
    ]
    with pytest.raises(ValueError, match="--slides 'pie_chart' is no figure family"):
        Target.of(BuildOptions(style="slide", slides="pie_chart"))
    with pytest.raises(ValueError, match="--slides makes a talk's deck: it needs --style slide"):
        Target.of(BuildOptions(slides="routing_text"))


@pytest.mark.slow
def test_the_command_line_refuses_a_deck_without_the_slide_style(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    figkit = [sys.executable, "-m", "figkit", "build", str(results), "-o", str(tmp_path / "out")]
    refused = subprocess.run([*figkit, "--slides", "routing_text"], capture_output=True, text=True)
    assert refused.returncode == 2 and "it needs --style slide" in refused.stderr
    assert not (tmp_path / "out").exists()


def load_results_of(data):
    """``data`` as a loaded results file: validated and stored as the build reads it."""
    import tempfile
    from pathlib import Path

    from figkit import load_results

    with tempfile.TemporaryDirectory() as folder:
        return load_results(write_results(Path(folder) / "r.json", **data))


def test_a_frame_title_is_the_captions_opening_words():
    assert frame_title(("Experts selected per token, by method (each 400 tokens): ", "Top-2"), "Counts") == (
        "Experts selected per token, by method",
    )
    maths = ("Average experts per token against ", "$\\alpha$", " (BH routing, 4 values).")
    assert frame_title(maths, "Sweep") == ("Average experts per token against ", "$\\alpha$", "")
    assert frame_title(("", "Top-8", ": tokens routed to each expert."), "Expert utilisation") == (
        "Expert utilisation",
    )  # a caption that opens with a method's name
