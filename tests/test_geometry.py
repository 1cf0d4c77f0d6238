"""measure_tex compiles a probe of the paper's own preamble with a real pdflatex."""

import shutil

import pytest

import figkit
from figkit import geometry

PT = 72.27


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert shutil.which("pdflatex"), "pdflatex is missing: install TeX Live (.ci/run does)"


def paper(tmp_path, preamble, files=None):
    folder = tmp_path / "paper"
    folder.mkdir()
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    path = folder / "main.tex"
    path.write_text(preamble + "\n\\begin{document}\nText.\n\\end{document}\n")
    return path


def test_two_column_article(tmp_path):
    path = paper(tmp_path, "\\documentclass[11pt,twocolumn]{article}\n\\usepackage[margin=1in]{geometry}")
    got = figkit.measure_tex(path)
    assert got["textwidth"] == pytest.approx(6.5, abs=1e-4)
    assert got["columnwidth"] == pytest.approx((6.5 * PT - 10) / 2 / PT, abs=1e-4)
    assert got["fontsize"] == 10.95  # what LaTeX calls 11pt


def test_a_venue_style_file_beside_the_paper_is_used(tmp_path):
    style = "\\setlength{\\textwidth}{5.5in}\\setlength{\\columnwidth}{5.5in}\n"
    path = paper(tmp_path, "\\documentclass{article}\n\\usepackage{venue}", {"venue.sty": style})
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(5.5, abs=1e-4)


def test_results_are_cached(tmp_path, monkeypatch):
    path = paper(tmp_path, "\\documentclass{article}")
    first = figkit.measure_tex(path)
    monkeypatch.setattr(geometry.shutil, "which", lambda name: None)
    assert figkit.measure_tex(path) == first


def test_errors_name_the_latex_problem(tmp_path):
    path = paper(tmp_path, "\\documentclass{article}\n\\usepackage{nosuchpackage}")
    with pytest.raises(
        RuntimeError, match="pdflatex could not compile the preamble: ! LaTeX Error: File `nosuchpackage.sty'"
    ):
        figkit.measure_tex(path)
    (tmp_path / "plain.tex").write_text("no document here")
    with pytest.raises(ValueError, match="no \\\\begin\\{document\\}"):
        figkit.measure_tex(tmp_path / "plain.tex")


def test_without_tex_the_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(geometry.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="install TeX Live"):
        figkit.measure_tex(paper(tmp_path, "\\documentclass{article}"))


def test_the_preamble_cannot_run_commands(tmp_path):
    marker = tmp_path / "ran"
    path = paper(tmp_path, f"\\documentclass{{article}}\n\\immediate\\write18{{touch {marker}}}")
    figkit.measure_tex(path)
    assert not marker.exists()
