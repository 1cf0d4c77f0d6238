"""figkit check's fonts and page size, read with pdfminer, compared with poppler's pdffonts and pdfinfo."""

import os
import subprocess
import sys

import matplotlib.pyplot as plt
import pytest

import figkit
from figkit.cli import main
from figkit.lint import check_pdf_fonts as check_pdf
from tests.helpers import pdf_fonts


def saved(tmp_path, name, rc, text="Experts $x^2$"):
    path = tmp_path / name
    with plt.rc_context(rc):
        fig = plt.figure(figsize=(3.25, 2))
        fig.text(0.1, 0.5, text)
        fig.savefig(path)
    return path


@pytest.mark.parametrize("fonttype", [3, 42])
def test_fonts_and_size_agree_with_poppler(tmp_path, fonttype):
    path = saved(tmp_path, "f.pdf", {"pdf.fonttype": fonttype})
    report = check_pdf(path)
    assert (report.width, report.height) == pytest.approx((3.25, 2))
    poppler = pdf_fonts(path)
    assert sorted(f.name for f in report.fonts) == sorted(name for name, _, _ in poppler)
    assert bool(report.problems) == (fonttype == 3)


def test_unembedded_fonts_fail(tmp_path):
    report = check_pdf(saved(tmp_path, "core.pdf", {"pdf.use14corefonts": True}, text="Experts"))
    assert report.problems == ["font Helvetica (Type1) is not embedded"]


def test_cli_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.pdf"
    with figkit.use_style("paper"):
        figkit.plot_expert_count_distribution([3, 4, 5], figsize=(3.25, 2.01), save_path=good)
    bad = saved(tmp_path, "bad.pdf", {"pdf.fonttype": 3})
    assert main(["check", str(good), "--width", "3.25", "--height", "2.01"]) == 0
    assert "3.25 x 2.01 in" in capsys.readouterr().out
    assert main(["check", str(good), "--width", "6.75"]) == 1
    assert "page is 3.25 in wide, expected 6.75" in capsys.readouterr().out
    assert main(["check", str(good), str(bad)]) == 1
    assert "bad.pdf: FAIL: Type 3 font" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "missing.pdf")]) == 2
    (tmp_path / "text.pdf").write_text("hello")
    assert main(["check", str(tmp_path / "text.pdf")]) == 2
    assert "not a PDF file" in capsys.readouterr().err


@pytest.mark.slow
def test_styles_command():
    out = subprocess.run(
        [sys.executable, "-m", "figkit", "styles"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"MPLBACKEND": "Agg"},
    ).stdout
    assert out.split() == figkit.available_styles()


def test_the_old_module_name_still_works_and_says_where_it_went():
    sys.modules.pop("figkit.pdfcheck", None)
    with pytest.warns(DeprecationWarning, match="figkit.lint.check_pdf_fonts"):
        from figkit.pdfcheck import check_pdf as old
    assert old is check_pdf
