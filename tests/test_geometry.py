"""measure_tex compiles a probe of the paper's own preamble with a real pdflatex."""

import getpass
import shutil

import pytest

import figkit
from figkit import geometry
from figkit.files import MAX_TEX_BYTES

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


@pytest.mark.slow
def test_two_column_article(tmp_path):
    path = paper(tmp_path, "\\documentclass[11pt,twocolumn]{article}\n\\usepackage[margin=1in]{geometry}")
    got = figkit.measure_tex(path)
    assert got["textwidth"] == pytest.approx(6.5, abs=1e-4)
    assert got["columnwidth"] == pytest.approx((6.5 * PT - 10) / 2 / PT, abs=1e-4)
    assert got["fontsize"] == 10.95  # what LaTeX calls 11pt


@pytest.mark.slow
def test_a_venue_style_file_beside_the_paper_is_used(tmp_path):
    style = "\\setlength{\\textwidth}{5.5in}\\setlength{\\columnwidth}{5.5in}\n"
    path = paper(tmp_path, "\\documentclass{article}\n\\usepackage{venue}", {"venue.sty": style})
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(5.5, abs=1e-4)


@pytest.mark.slow
def test_results_are_cached(tmp_path, monkeypatch):
    path = paper(tmp_path, "\\documentclass{article}")
    first = figkit.measure_tex(path)
    monkeypatch.setattr(geometry.shutil, "which", lambda name: None)
    assert figkit.measure_tex(path) == first


@pytest.mark.slow
def test_errors_name_the_latex_problem(tmp_path):
    path = paper(tmp_path, "\\documentclass{article}\n\\usepackage{nosuchpackage}")
    with pytest.raises(
        RuntimeError, match="pdflatex could not compile the preamble: ! LaTeX Error: File `nosuchpackage.sty'"
    ):
        figkit.measure_tex(path)
    (tmp_path / "plain.tex").write_text("no document here")
    with pytest.raises(ValueError, match="no \\\\begin\\{document\\}"):
        figkit.measure_tex(tmp_path / "plain.tex")


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting, message",
    [
        ("\\setlength{\\textwidth}{0pt}", "sets a textwidth of 0.00 in; figkit sizes figures for 1 to 60 in"),
        ("\\setlength{\\textwidth}{16000pt}", "sets a textwidth of 221.39 in"),
        (
            "\\AtBeginDocument{\\setlength{\\columnwidth}{8in}}",
            r"sets a columnwidth \(8.00 in\) wider than its textwidth",
        ),
        ("\\renewcommand{\\normalsize}{\\fontsize{500}{600}\\selectfont}", "sets a fontsize of 500 pt"),
    ],
)
def test_measurements_no_page_has_are_refused(tmp_path, setting, message):
    path = paper(tmp_path, "\\documentclass{article}\n\\usepackage{lmodern}\n" + setting)
    with pytest.raises(RuntimeError, match=message):
        figkit.measure_tex(path)


def test_only_a_regular_paper_file_is_read(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.tex")  # opening it to read would wait for a writer forever
    with pytest.raises(ValueError, match="pipe.tex: not a regular file"):
        figkit.measure_tex(tmp_path / "pipe.tex")
    with pytest.raises(ValueError, match="zero: not a regular file"):
        figkit.measure_tex("/dev/zero")
    big = tmp_path / "big.tex"
    big.write_bytes(b"%" * (MAX_TEX_BYTES + 1))
    with pytest.raises(ValueError, match="big.tex: larger than 16 MiB"):
        figkit.measure_tex(big)
    with pytest.raises(ValueError, match="missing.tex: cannot be read"):
        figkit.measure_tex(tmp_path / "missing.tex")


def test_a_failure_without_an_error_line_quotes_the_end_of_the_log(tmp_path, monkeypatch):
    """The probe's folder is deleted before the message is read: pointing to "its log" would lead nowhere."""

    def failing(command, work, env, **kwargs):
        (work / "probe.log").write_text("This is pdfTeX\n(./probe.tex\nEmergency stop.\n\nNo pages of output.\n")
        return 1

    monkeypatch.setattr(geometry, "run_tex", failing)
    monkeypatch.setattr(geometry.shutil, "which", lambda name: "/usr/bin/pdflatex")
    with pytest.raises(RuntimeError, match=r"exit 1; its log ends: \(\./probe\.tex / Emergency stop\. / No pages"):
        figkit.measure_tex(paper(tmp_path, "\\documentclass{article}"))


def test_without_tex_the_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(geometry.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="install TeX Live"):
        figkit.measure_tex(paper(tmp_path, "\\documentclass{article}"))


@pytest.mark.slow
def test_the_preamble_cannot_run_commands(tmp_path):
    marker = tmp_path / "ran"
    path = paper(tmp_path, f"\\documentclass{{article}}\n\\immediate\\write18{{touch {marker}}}")
    figkit.measure_tex(path)
    assert not marker.exists()


@pytest.mark.slow
def test_a_change_to_a_style_file_is_measured_again(tmp_path):
    path = paper(tmp_path, "\\documentclass{article}\n\\usepackage{venue}", {"venue.sty": "\\textwidth=5in\n"})
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(5.0, abs=1e-4)
    (path.parent / "venue.sty").write_text("\\textwidth=6in\n")
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(6.0, abs=1e-4)


@pytest.mark.slow
def test_a_build_output_that_does_not_exist_yet_does_not_stop_the_probe(tmp_path):
    path = paper(tmp_path, "\\documentclass{article}\n\\input{build/macros.tex}\n\\input{build/width}")
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(345 / PT, abs=1e-4)
    (path.parent / "build").mkdir()
    (path.parent / "build" / "macros.tex").write_text("\\newcommand{\\figkitBhPpl}{23.8}\n")
    (path.parent / "build" / "width.tex").write_text("\\textwidth=4in\n")
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(4.0, abs=1e-4)  # the new file counts


@pytest.mark.slow
def test_a_hostile_preamble_reads_nothing_outside_and_cannot_fill_the_disk(tmp_path):
    reads = "\\newread\\r\\openin\\r=/etc/passwd\\read\\r to\\x\\errmessage{\\x}"
    with pytest.raises(RuntimeError) as caught:
        figkit.measure_tex(paper(tmp_path, "\\documentclass{article}\n" + reads))
    assert "root" not in str(caught.value)
    (tmp_path / "paper" / "main.tex").unlink()
    (tmp_path / "paper").rmdir()
    endless = "\\def\\x{\\typeout{" + "output " * 100 + "}\\x}\\x"
    with pytest.raises(RuntimeError, match="could not compile the preamble"):
        figkit.measure_tex(paper(tmp_path, "\\documentclass{article}\n" + endless), timeout=50)


@pytest.mark.slow
def test_the_cache_is_private_and_a_bad_entry_is_measured_again(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "figkit" / "measure_tex").mkdir(parents=True)
    (shared / "figkit").chmod(0o777)  # anyone could plant an entry here
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    monkeypatch.setattr(geometry.tempfile, "tempdir", str(tmp_path / "tmp"))
    folder = geometry.cache_dir("measure_tex")
    assert folder == tmp_path / "tmp" / f"figkit-{getpass.getuser()}" / "measure_tex"
    assert folder.parent.stat().st_mode & 0o777 == 0o700
    path = paper(tmp_path, "\\documentclass{article}")
    figkit.measure_tex(path)
    (entry,) = folder.iterdir()
    entry.write_text('{"measured": {"textwidth": "/etc/passwd"}, "inputs": {}}')
    assert figkit.measure_tex(path)["textwidth"] == pytest.approx(345 / PT, abs=1e-4)
