"""Render docs/images/table_in_paper.png: a figkit table and macros compiled in a small LaTeX page.

python docs/make_table_image.py      (needs pdflatex, latexmk and pdftoppm)
"""

import subprocess
import tempfile
from pathlib import Path

import figkit
from figkit.latex import compile_pdf

RESULTS = {
    "Top-8": {"perplexity": 16.98, "avg_experts": 8.0, "accuracy": 0.34},
    "BH ($\\alpha$=0.05)": {"perplexity": 17.40, "avg_experts": {"mean": 4.52, "std": 0.81}, "accuracy": 0.34},
    "BH ($\\alpha$=0.01)": {"perplexity": 18.72, "avg_experts": {"mean": 3.21, "std": 0.64}, "accuracy": 0.33},
}
PAPER = r"""\documentclass{article}
\usepackage[T1]{fontenc}\usepackage{lmodern}\usepackage{booktabs}
\input{macros.tex}
\pagestyle{empty}
\begin{document}
BH routing at $\alpha=0.05$ keeps perplexity at \figkitvalue{bh05}{perplexity} with only
\figkitvalue{bh05}{avg_experts} experts per token on average (Table~\ref{tab:routing}).
\input{table.tex}
\end{document}
"""


def main():
    out = Path(__file__).resolve().parent / "images" / "table_in_paper.png"
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "table.tex").write_text(
            figkit.create_comparison_table(
                RESULTS,
                output_format="latex",
                best={"perplexity": "min", "avg_experts": "min", "accuracy": "max"},
                caption="Routing methods on WikiText (synthetic numbers).",
                label="tab:routing",
            )
        )
        (work / "macros.tex").write_text(figkit.number_macros({"bh05": {"perplexity": 17.40, "avg_experts": 4.52}}))
        (work / "paper.tex").write_text(PAPER)
        pdf = compile_pdf(work / "paper.tex")
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "110",
                "-singlefile",
                "-x",
                "140",
                "-y",
                "150",
                "-W",
                "720",
                "-H",
                "230",
                str(pdf),
                str(out.with_suffix("")),
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
