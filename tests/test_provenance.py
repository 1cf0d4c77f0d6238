"""Figures that know where they came from: a build records each figure's data in its PDF, and `figkit check
--stale` finds the figures of a compiled paper that the current results would draw differently."""

import subprocess

import numpy as np
import pytest

from figkit import build, load_results, write_results
from figkit.cli import main
from figkit.provenance import current_digests, recorded, stale
from tests.helpers import sections

PAPER = r"""\documentclass{article}
\usepackage{graphicx}
\begin{document}
\includegraphics{out/figures/layer_mean_comparison.pdf}\par
\includegraphics{out/figures/expert_load_layers_topk2.pdf}\par
\includegraphics{out/figures/router_saturation_top2.pdf}
\end{document}
"""


@pytest.mark.slow  # a build and pdflatex
def test_a_compiled_paper_names_the_figures_drawn_from_old_results(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    results = write_results(tmp_path / "results.json", **sections())
    assert build(results, tmp_path / "out", compile=False, jobs=1).ok
    figure = recorded(tmp_path / "out" / "figures" / "layer_mean_comparison.pdf")
    assert list(figure) == ["layer_mean_comparison"] and len(figure["layer_mean_comparison"]) == 24
    (tmp_path / "paper.tex").write_text(PAPER)
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "paper.tex"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(recorded(tmp_path / "paper.pdf")) == [
        "expert_load_layers_topk2",
        "layer_mean_comparison",
        "router_saturation_top2",
    ]
    assert main(["check", "paper.pdf", "--families", "0", "--stale", "results.json"]) == 0, capsys.readouterr().out
    capsys.readouterr()

    changed = sections()
    changed["expert_counts"][3]["values"] = np.full(400, 3)  # BH's last layer: the layer means, not the loads
    del changed["router_saturation"]
    write_results(results, **changed)
    assert main(["check", "paper.pdf", "--families", "0", "--stale", "results.json"]) == 1
    assert [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line] == [
        "paper.pdf: FAIL: figure layer_mean_comparison was drawn from other data than results.json holds now: "
        "rebuild it",
        "paper.pdf: FAIL: figure router_saturation_top2 is not one results.json makes any more",
    ]
    assert build(results, tmp_path / "out", compile=False, jobs=1).ok  # rebuilt, recompiled: current again
    gone = r"\par" "\n" r"\includegraphics{out/figures/router_saturation_top2.pdf}"
    (tmp_path / "paper.tex").write_text(PAPER.replace(gone, ""))  # the author drops the figure
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "paper.tex"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(recorded(tmp_path / "paper.pdf")) == ["expert_load_layers_topk2", "layer_mean_comparison"]
    assert stale(tmp_path / "paper.pdf", current_digests(load_results(results))) == []
