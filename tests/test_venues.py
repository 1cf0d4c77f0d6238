"""figkit's outputs in real document classes: figures at their natural size fill the column, text follows
the paper, the table fits, and a paper without booktabs compiles.

The classes are those Debian's TeX Live ships (.ci/run installs them). The official venue templates
(NeurIPS, ICML, ICLR, ACL, CVPR), which authors download, go through the same check when
FIGKIT_VENUE_TEMPLATES names a folder holding one folder per template: its files, and a
``preamble.tex`` with the template's own preamble (everything before ``\\begin{document}``) and,
if its body must open with one, a ``start.tex`` (``\\maketitle`` with its front matter).
"""

import os
import shutil
from pathlib import Path

import pytest

from figkit import write_results
from tests.helpers import sections
from tests.venue_paper import check_paper, copy_template

CLASSES = {
    "ieeetran": "\\documentclass[conference]{IEEEtran}",
    "acmart": "\\documentclass[sigconf]{acmart}\n\\settopmatter{printacmref=false}\\setcopyright{none}\\title{figkit}",
    "article": "\\documentclass[10pt]{article}",
    "article-twocolumn": "\\documentclass[10pt,twocolumn]{article}\n\\usepackage{times}\n\\usepackage{booktabs}",
    "article-11pt": "\\documentclass[11pt]{article}\n\\usepackage[margin=1.25in]{geometry}",
}
FONT_TOLERANCE = 1.0  # points
WIDTH_TOLERANCE = 0.5  # points


LONG_NAMES = {  # seven metrics named as researchers name them
    "compute": "Compute vs top-4 (%)",
    "mass": "Router mass kept (%)",
    "cv6": "Load CV (layer 6)",
    "unused6": "Unused experts (layer 6)",
    "experts": "Experts per token",
    "recall": "Recall vs top-4 (%)",
    "wikitext": "Perplexity (WikiText)",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The test study with five methods compared on nine metrics, seven of them with long names."""
    assert shutil.which("pdflatex"), "pdflatex is missing: install TeX Live (.ci/run does)"
    study = sections()
    study["methods"] += [{"id": f"bh{a}", "label": f"BH ($\\alpha$ = 0.{a})"} for a in ("01", "10", "20")]
    study["metric_info"] |= {metric: {"label": label} for metric, label in LONG_NAMES.items()}
    for i, method in enumerate(m["id"] for m in study["methods"]):
        row = study["metrics"].setdefault(method, {"ppl": 17.25 + i / 7})
        row |= {metric: 31.25 + 7.5 * i + j for j, metric in enumerate(LONG_NAMES) if metric != "experts"}
        row["experts"] = {"mean": 2.5 + i / 3, "std": 1.125}
    return write_results(tmp_path_factory.mktemp("venue") / "results.json", **study)


def official_templates():
    root = os.environ.get("FIGKIT_VENUE_TEMPLATES")
    if not root:
        reason = "the official templates are downloaded from the venues: set FIGKIT_VENUE_TEMPLATES"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="official")]
    return sorted(p for p in Path(root).iterdir() if (p / "preamble.tex").is_file())


def assert_fits(paper):
    assert not paper.errors, paper.errors
    assert not paper.overfull, paper.overfull  # the paper's own text is one word: every box is figkit's
    assert len(paper.widths) >= 7
    for name, (width, target) in paper.widths.items():
        assert abs(width - target) <= WIDTH_TOLERANCE, (name, width, target)
    for name, sizes in paper.text_sizes.items():
        assert abs(max(sizes) - paper.small) <= FONT_TOLERANCE, (name, sizes, paper.small)  # labels: \small
        assert min(sizes) >= 6 - 1e-6, (name, sizes)


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.slow
def test_figures_and_tables_fit_the_document_class(name, results, tmp_path):
    paper = check_paper(tmp_path, CLASSES[name], results, "\\maketitle\n" if name == "acmart" else "")
    assert_fits(paper)
    assert_table_fits(paper)


def assert_table_fits(paper):
    """The table is within the width it claims: the column, or the text for a table*; text never scaled."""
    room = paper.textwidth if "\\begin{table*}" in paper.table else paper.columnwidth
    assert paper.table_width <= room + WIDTH_TOLERANCE, (paper.table_width, room)
    assert "resizebox" not in paper.table


@pytest.mark.parametrize("template", official_templates(), ids=lambda path: getattr(path, "name", "official"))
@pytest.mark.slow
def test_official_venue_templates(template, results, tmp_path):
    copy_template(template, tmp_path)
    start = template / "start.tex"  # what the template's body opens with (\maketitle), if anything
    paper = check_paper(
        tmp_path, (template / "preamble.tex").read_text(), results, start.read_text() if start.is_file() else ""
    )
    assert_fits(paper)
    assert_table_fits(paper)
