"""figkit check's fonts and page size, read with pdfminer, compared with poppler's pdffonts and pdfinfo; hostile
PDFs read within bounds."""

import os
import subprocess
import sys
import time
import zlib

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


@pytest.mark.slow  # each PDF is read in a child process
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
    assert capsys.readouterr().out == f"{tmp_path / 'missing.pdf'}: UNREADABLE: No such file or directory\n" + (
        f"{tmp_path / 'text.pdf'}: UNREADABLE: not a PDF file\n"
    )


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


def page_pdf(content, stream_keys=b""):
    """A one-page PDF (200 x 100 pt, Helvetica as F1) whose content stream holds ``content``; a correct xref."""
    stream = b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(content), stream_keys, content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.5\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def zeros_deflated(size):
    """``size`` zero bytes, deflated (about a thousandth of ``size``), made without holding them."""
    packer = zlib.compressobj(9)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(size >> 20)) + packer.flush()


HOSTILE = {
    # pdfminer's own errors from deep inside, once tracebacks
    "singular.pdf": (
        page_pdf(b"BT /F1 12 Tf 0 0 0 0 10 10 Tm (Hi) Tj ET"),
        "not a readable PDF (float division by zero)",
    ),
    "lzw.pdf": (page_pdf(bytes(range(256)) * 4, b"/Filter /LZWDecode"), "not a readable PDF (list index out of range)"),
    "unended.pdf": (b"%PDF-1.5\n" + b"1 0 obj\n<< /Type /Catalog >>\n" * 12_000, "not a readable PDF (Unexpected EOF)"),
    # a 1 MB stream that inflates to 1 GiB, which pdfminer holds several times over
    "bomb.pdf": (page_pdf(zeros_deflated(1 << 30), b"/Filter /FlateDecode"), "needs more than 1024 MiB of memory"),
}


@pytest.mark.slow  # each PDF is read in a child process
def test_a_hostile_pdf_is_one_line_within_bounded_time_and_memory(tmp_path, capsys):
    fifo = tmp_path / "fifo.pdf"
    os.mkfifo(fifo)  # would block a reader until something writes
    paths = [str(fifo), "/dev/zero", str(tmp_path)]
    for name, (data, _) in HOSTILE.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    good = saved(tmp_path, "good.pdf", {"pdf.fonttype": 42})
    started = time.monotonic()
    assert main(["check", *paths, str(good)]) == 2  # unreadable beats faults
    assert time.monotonic() - started < 30
    out = capsys.readouterr().out.splitlines()
    expected = [f"{path}: UNREADABLE: not a regular file" for path in paths[:3]]
    expected += [f"{tmp_path / name}: UNREADABLE: {message}" for name, (_, message) in HOSTILE.items()]
    assert out[: len(expected)] == expected
    assert out[len(expected)].startswith(f"{good}: 3.25 x 2.00 in; ")


@pytest.mark.slow  # each PDF is read in a child process
def test_faults_past_twenty_are_counted_and_reading_is_timed(tmp_path, capsys):
    pile = b"BT /F1 12 Tf " + b" ".join(b"1 0 0 1 20 40 Tm (Hi) Tj" for _ in range(5_000)) + b" ET"
    (tmp_path / "pile.pdf").write_bytes(page_pdf(pile))
    assert main(["check", str(tmp_path / "pile.pdf")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 22  # the size and fonts, 20 faults, the rest counted
    assert out[1:3] == [f"{tmp_path / 'pile.pdf'}: FAIL: font Helvetica (Type1) is not embedded"] + [
        f"{tmp_path / 'pile.pdf'}: FAIL: 'Hi' overlaps 'Hi'"
    ]
    assert out[-1] == f"{tmp_path / 'pile.pdf'}: FAIL: 4,980 more faults not shown"  # each word once
    assert main(["check", str(tmp_path / "pile.pdf"), "--timeout", "0.05"]) == 2
    assert capsys.readouterr().out == f"{tmp_path / 'pile.pdf'}: UNREADABLE: not done within 0.05 s\n"
