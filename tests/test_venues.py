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
MARGIN = 12.0  # points (a sixth of an inch) between the table and the widths it is measured against


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    assert shutil.which("pdflatex"), "pdflatex is missing: install TeX Live (.ci/run does)"
    study = sections()  # a table wider than any column, narrower than any text, by a clear margin in both
    for metric, label in (("recall", "Mass recall (%)"), ("compute", "Compute (%)")):
        study["metric_info"][metric] = {"label": label, "better": "lower" if metric == "compute" else "higher"}
        for i, row in enumerate(study["metrics"].values()):
            row[metric] = 47.25 + 21.5 * i
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
    two_column = name in ("ieeetran", "acmart", "article-twocolumn")
    # The table is far enough from both widths that no font (texlive-fonts-extra's, say) moves it across.
    assert paper.table_width >= paper.columnwidth + MARGIN or not two_column, (paper.table_width, paper.columnwidth)
    assert paper.table_width <= paper.textwidth - MARGIN, (paper.table_width, paper.textwidth)
    assert ("\\begin{table*}" in paper.table) == two_column  # wider than a column: spans both


@pytest.mark.parametrize("template", official_templates(), ids=lambda path: getattr(path, "name", "official"))
def test_official_venue_templates(template, results, tmp_path):
    copy_template(template, tmp_path)
    start = template / "start.tex"  # what the template's body opens with (\maketitle), if anything
    paper = check_paper(
        tmp_path, (template / "preamble.tex").read_text(), results, start.read_text() if start.is_file() else ""
    )
    assert_fits(paper)
