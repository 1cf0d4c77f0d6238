"""figkit bundle: a paper as arXiv takes it, compiled alone, and what it refuses."""

import os
import shutil
import subprocess
import sys
import zipfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from figkit.bundle import bundle  # noqa: E402
from figkit.latex import compile_pdf  # noqa: E402
from tests.helpers import pdf_text  # noqa: E402

pytestmark = pytest.mark.slow  # LaTeX

PAPER = r"""\documentclass{article}
\usepackage{graphicx}
\usepackage{house}% the authors' own package, beside the paper
\graphicspath{{art/}}
\begin{document}
\housename{} results. % a comment the bundle leaves out
\input{sections/intro}
\include{sections/results}
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
"""


def figure(path, fonttype=42):
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"pdf.fonttype": fonttype}):
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot([0, 1], [1, 0])
        ax.set_title("Loss")
        fig.savefig(path)
        plt.close(fig)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The paper, compiled once (latexmk runs BibTeX: main.bbl beside it); each test takes a copy."""
    folder = tmp_path_factory.mktemp("compiled") / "paper"
    write_paper(folder)
    compile_pdf(folder / "main.tex")
    return folder


@pytest.fixture
def make_paper(compiled):
    def copy(folder):
        shutil.copytree(compiled, folder, symlinks=True)
        return folder / "main.tex"

    return copy


def write_paper(folder):
    """A paper with inputs in a subfolder, a figure found through \\graphicspath without its extension, its
    own package and a bibliography; and, beside it, files the paper does not use."""
    (folder / "sections").mkdir(parents=True)
    (folder / "main.tex").write_text(PAPER)
    (folder / "house.sty").write_text("\\newcommand{\\housename}{Our}\n")
    (folder / "refs.bib").write_text("@article{moe, title={Experts}, author={A. Author}, journal={J}, year={2024}}\n")
    (folder / "sections" / "intro.tex").write_text("Intro text, see~\\cite{moe}.\n\\input{sections/numbers}\n")
    (folder / "sections" / "numbers.tex").write_text("Value: 42\\% of tokens.\n")
    (folder / "sections" / "results.tex").write_text(
        "\\begin{figure}\\includegraphics{loss}\\caption{Training loss.}\\end{figure}\n"
    )
    figure(folder / "art" / "loss.pdf")
    figure(folder / "art" / "unused.pdf")
    (folder / "notes.txt").write_text("not part of the paper\n")


def test_a_paper_is_flattened_with_only_what_it_uses_and_compiles_alone(make_paper, tmp_path):
    main = make_paper(tmp_path / "paper")
    made = bundle(main, tmp_path / "submission.zip")
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        names = sorted(archive.namelist())
        source = archive.read("main.tex").decode()
        archive.extractall(tmp_path / "arxiv")
    assert names == ["art/loss.pdf", "house.sty", "main.bbl", "main.tex"]
    assert made.files == ["art/loss.pdf", "house.sty", "main.bbl"] and made.compiled
    assert "\\input" not in source and "\\include{" not in source and "a comment" not in source
    assert "Value: 42\\% of tokens." in source and "\\clearpage\n\\begin{figure}" in source
    shutil.rmtree(tmp_path / "paper")  # nothing of the original is left to read
    pdf = compile_pdf(tmp_path / "arxiv" / "main.tex")
    text = " ".join(pdf_text(pdf).split())
    assert "Our results." in text and "Intro text, see [1]." in text and "Training loss." in text
    assert "A. Author. Experts" in text  # the bibliography, from the .bbl


def test_the_same_paper_makes_the_same_zip_and_a_folder(make_paper, tmp_path):
    main = make_paper(tmp_path / "paper")
    bundle(main, tmp_path / "one.zip", compile=False)
    bundle(main, tmp_path / "two.zip", compile=False)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    bundle(main, tmp_path / "folder", compile=False)
    assert sorted(p.relative_to(tmp_path / "folder").as_posix() for p in (tmp_path / "folder").rglob("*.*")) == [
        "art/loss.pdf",
        "house.sty",
        "main.bbl",
        "main.tex",
    ]
    with pytest.raises(ValueError, match="exists and is not an empty folder"):
        bundle(main, tmp_path / "folder", compile=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: (p / "sections" / "intro.tex").write_text("\\input{../../secret}\n"), "is outside the paper's"),
        (lambda p: (p / "sections" / "intro.tex").write_text("\\input{/etc/hostname}\n"), "is an absolute path"),
        (lambda p: (p / "sections" / "intro.tex").write_text("\\input{sections/gone}\n"), "gone.tex does not exist"),
        (lambda p: (p / "art" / "loss.pdf").unlink(), r"\\includegraphics\{loss\}: no such figure"),
        (lambda p: (p / "main.bbl").unlink(), "has a bibliography but no main.bbl was found"),
        (lambda p: figure(p / "art" / "loss.pdf", fonttype=3), "loss.pdf: Type 3 font"),
        (lambda p: (p / "sections" / "intro.tex").write_text("\\input{sections/intro}\n"), "nested more than 20"),
    ],
)
def test_what_arxiv_would_not_take_is_refused_and_nothing_is_written(make_paper, tmp_path, change, message):
    (tmp_path / "secret.tex").write_text("secret\n")
    main = make_paper(tmp_path / "paper")
    change(main.parent)
    with pytest.raises(ValueError, match=message):
        bundle(main, tmp_path / "submission.zip")
    assert not (tmp_path / "submission.zip").exists()
    assert not list(tmp_path.glob(".submission.zip*"))


def test_a_symbolic_link_out_of_the_paper_is_refused(make_paper, tmp_path):
    (tmp_path / "elsewhere.pdf").write_bytes(b"%PDF-1.4 not the paper's")
    main = make_paper(tmp_path / "paper")
    (main.parent / "art" / "loss.pdf").unlink()
    os.symlink(tmp_path / "elsewhere.pdf", main.parent / "art" / "loss.pdf")
    with pytest.raises(ValueError, match="art/loss.pdf is outside the paper's folder"):
        bundle(main, tmp_path / "submission.zip")


def test_a_bundle_that_does_not_compile_alone_says_why(make_paper, tmp_path):
    main = make_paper(tmp_path / "paper")
    (main.parent / "sections" / "numbers.tex").write_text("\\InputIfFileExists{notes.txt}{}{\\undefinedmacro}\n")
    with pytest.raises(ValueError, match="the bundle does not compile on its own: .*undefinedmacro|Undefined"):
        bundle(main, tmp_path / "submission.zip")


def test_the_command_line(make_paper, tmp_path):
    main = make_paper(tmp_path / "paper")
    run = subprocess.run(
        [sys.executable, "-m", "figkit", "bundle", str(main), "-o", str(tmp_path / "s.zip")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("figkit bundle: main.tex and 3 files") and "compiled alone" in run.stdout
    (main.parent / "main.bbl").unlink()
    refused = subprocess.run(
        [sys.executable, "-m", "figkit", "bundle", str(main), "-o", str(tmp_path / "t.zip")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "no main.bbl was found" in refused.stderr
