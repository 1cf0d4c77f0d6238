"""A paper in a real document class holding a build's figures (at their natural size), table and macros.

``check_paper`` builds for the paper (``--tex``), compiles it with pdflatex and returns what LaTeX and
the figures' PDFs say: errors, Overfull boxes, each figure's width against the column (or the text for
``figure*``), and the figures' text sizes against the paper's own ``\\small``. It works for any class or
venue template: give the preamble and the folder holding the template's files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import figkit
from figkit.lint import pdf_words

# The families a paper shows, at most one figure of each: one-column figures and a text-width one.
FIGURES = (
    "expert_count_comparison",
    "expert_count_distribution_*",
    "layer_wise_routing_*",
    "expert_utilization_*",
    "alpha_sensitivity_*",
    "compute_quality_*",
    "domain_specialization_grid_*",
)
PROBE = r"""\makeatletter
\typeout{FIGKIT columnwidth=\the\columnwidth}
\typeout{FIGKIT textwidth=\the\textwidth}
{\small\typeout{FIGKIT small=\f@size}}
\makeatother
"""
FIGURE = r"""\begin{{{environment}}}[tp]
\centering
\sbox0{{\includegraphics{{build/figures/{name}.pdf}}}}\typeout{{FIGKIT figure {name}=\the\wd0}}\usebox0
\caption{{{caption}.}}
\end{{{environment}}}
"""


@dataclass
class Paper:
    log: str
    errors: list  # LaTeX's "!" lines
    overfull: list  # Overfull \hbox lines
    widths: dict  # figure name -> (width pt, the width it should have pt)
    small: float  # the paper's \small in points
    text_sizes: dict  # figure name -> sorted distinct text sizes (pt) read from its PDF
    table: str  # the comparison table's source
    table_width: float  # the table's natural width in points (its widest tabular), as figkit measured it in the paper
    columnwidth: float  # points
    textwidth: float  # points


def check_paper(folder: Path, preamble: str, results: Path, start: str = "") -> Paper:
    """Write ``folder/main.tex`` from ``preamble`` (its body opening with ``start``: a ``\\maketitle``),
    build ``results`` for it and compile it."""
    main = folder / "main.tex"
    main.write_text(
        preamble + "\n\\usepackage{graphicx}\n\\input{build/macros.tex}\n\\begin{document}\nText.\n\\end{document}\n"
    )
    report = figkit.build(results, folder / "build", tex=main, only=["comparison", "macros", *FIGURES], compile=False)
    assert report.ok, report.failed
    made = sorted(path.stem for path in (folder / "build" / "figures").glob("*.pdf"))
    shown = [next(name for name in made if re.fullmatch(pattern.replace("*", ".*"), name)) for pattern in FIGURES]
    body = [start, PROBE, "Value: \\figkitvalue{bh:05}{ppl}.\n", "\\input{build/tables/comparison.tex}\n"]
    for i, name in enumerate(shown):
        wide = name.startswith("domain_specialization_grid")
        body.append(
            FIGURE.format(environment="figure*" if wide else "figure", name=name, caption=name.replace("_", " "))
        )
        body.append("\\clearpage\n" if i % 3 == 2 else "")
    main.write_text(
        preamble
        + "\n\\usepackage{graphicx}\n\\input{build/macros.tex}\n\\begin{document}\n"
        + "".join(body)
        + "\\end{document}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "main.tex"],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
    )
    log = (folder / "main.log").read_text(encoding="latin-1")
    assert run.returncode == 0 or "!" in log, run.stdout[-2000:]
    found = dict(re.findall(r"^FIGKIT (\w+)=([\d.]+)pt$", log, re.M))
    widths = {}
    for name, width in re.findall(r"^FIGKIT figure (\S+)=([\d.]+)pt$", log, re.M):
        target = "textwidth" if name.startswith("domain_specialization_grid") else "columnwidth"
        widths[name] = (float(width), float(found[target]))
    small = float(re.search(r"^FIGKIT small=([\d.]+)$", log, re.M).group(1))
    table = (folder / "build" / "tables" / "comparison.tex").read_text()
    sizes = {}
    for name in shown:
        (_, words), *_ = pdf_words(folder / "build" / "figures" / f"{name}.pdf")
        sizes[name] = sorted({round(word.size, 2) for word in words})
    return Paper(
        log=log,
        errors=[line for line in log.splitlines() if line.startswith("!")],
        overfull=[line for line in log.splitlines() if line.startswith("Overfull \\hbox")],
        widths=widths,
        small=small,
        text_sizes=sizes,
        table=table,
        table_width=72.0 * float(re.search(r"natural width: ([\d.]+) in, measured", table).group(1)),
        columnwidth=float(found["columnwidth"]),
        textwidth=float(found["textwidth"]),
    )


def copy_template(source: Path, folder: Path) -> None:
    """The files of a venue's template (class, style, bibliography style) beside the paper."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix in (".sty", ".cls", ".bst", ".tex", ".clo", ".def"):
            shutil.copy(path, folder / path.name)
