"""Sizing for the paper: a venue's or a measured paper's widths, its text sizes and typeface, in Python
and in the build; tables that fit the page or say that they do not."""

import json
import re
import subprocess
import sys
import warnings

import matplotlib as mpl
import pytest

import figkit
from figkit import build, create_comparison_table, use_style, write_results
from figkit.geometry import VENUES, FitWarning, measure_tabular, tex_page, venue_page
from figkit.lint import pdf_words
from figkit.tables import create_expert_token_table
from tests.helpers import sections
from tests.test_styles import media_box

PT = 72.27
WIDE_RESULTS = {  # five columns: wider than a column, narrower than a two-column text
    "Top-8": {"Experts per token": {"mean": 8, "std": 0}, "Recall (%)": 95.38, "Precision (%)": 47.69,
              "Compute (%)": 100},
    "BH ($\\alpha$ = 0.01)": {"Experts per token": {"mean": 1.92, "std": 1.32}, "Recall (%)": 47.44,
                              "Precision (%)": 98.58, "Compute (%)": 24.06},
}  # fmt: skip


def paper(tmp_path, preamble):
    path = tmp_path / "main.tex"
    path.write_text(preamble + "\n\\begin{document}\nText.\n\\end{document}\n")
    return path


@pytest.mark.parametrize(
    "venue, size, family",
    [("icml", (3.25, 9, 8), "STIXGeneral"), ("acl", (3.0315, 10, 9), "STIXGeneral"),
     ("jmlr", (6.0, 10, 9), "figkit CMR10")],
)  # fmt: skip
def test_a_venue_sets_the_width_the_text_sizes_and_the_typeface(venue, size, family):
    width, base, small = size
    with use_style("paper", venue=venue):
        assert mpl.rcParams["figure.figsize"][0] == pytest.approx(width)
        assert mpl.rcParams["axes.labelsize"] == base and mpl.rcParams["font.size"] == base  # the caption size
        assert mpl.rcParams["xtick.labelsize"] == small and mpl.rcParams["legend.fontsize"] == small
        assert mpl.rcParams["font.family"][0] == family
    with use_style("paper", venue=venue, width="text"):
        assert mpl.rcParams["figure.figsize"][0] == pytest.approx(venue_page(venue).text_width)
    with use_style("paper", venue=venue, width=4.5):
        assert mpl.rcParams["figure.figsize"][0] == 4.5


def test_sizes_are_never_under_six_points():
    page = venue_page("icml")
    tiny = type(page)(**{**page.__dict__, "small": 5.0, "footnote": 4.0})
    from figkit.stylesheets import page_rc

    rc = page_rc(tiny)
    assert rc["font.size"] == 6 and rc["xtick.labelsize"] == 6


def test_bad_venue_or_width_is_refused_at_once():
    with pytest.raises(ValueError, match="unknown venue 'nips'"):
        use_style("paper", venue="nips")
    with pytest.raises(ValueError, match="width must be 'column', 'text' or a number of inches, got 'page'"):
        use_style("paper", venue="icml", width="page")
    with pytest.raises(ValueError, match="give venue or tex, not both"):
        use_style("paper", venue="icml", tex="main.tex")


def test_a_figure_made_for_a_venue_has_its_size_and_text(tmp_path):
    with use_style("paper", venue="ieee"):
        fig = figkit.plot_expert_count_distribution([1, 2, 2, 3, 3, 3, 4], "BH", save_path=tmp_path / "f.pdf")
    assert media_box(tmp_path / "f.pdf")[0] == pytest.approx(venue_page("ieee").column_width, abs=0.01)
    (_, words), *_ = pdf_words(tmp_path / "f.pdf")
    assert max(w.size for w in words) == pytest.approx(9) and min(w.size for w in words) >= 6
    assert fig.axes[0].get_title() == ""  # the paper style draws no title: the caption says it


def test_notebook_and_slide_keep_their_titles_and_paper_keeps_what_a_figure_leaves_out():
    for style in ("notebook", "slide"):
        with use_style(style):
            ax = figkit.plot_alpha_sensitivity([0.01, 0.1], [2.0, 4.0]).axes[0]
        assert ax.get_title().startswith("Sensitivity of expert selection")
    with use_style("paper"):
        ax = figkit.plot_routing_heatmap([[0.5] * 64] * 100, [f"t{i}" for i in range(100)]).axes[0]
    assert ax.get_title().replace("\n", " ").startswith("showing 50 of 100 tokens, 32 of 64 experts")


@pytest.mark.slow
def test_the_paper_is_measured_with_its_sizes_and_typeface(tmp_path):
    times = tex_page(paper(tmp_path, "\\documentclass[10pt,twocolumn]{article}\n\\usepackage{mathptmx}"))
    assert (times.body_size, times.small, times.footnote, times.font) == (10, 9, 8, "times")
    assert times.two_column and times.column_width < times.text_width
    (tmp_path / "cm").mkdir()
    cm = tex_page(paper(tmp_path / "cm", "\\documentclass[11pt]{article}"))
    assert (cm.body_size, cm.small, cm.footnote, cm.font) == (10.95, 10, 9, "cm") and not cm.two_column


@pytest.mark.slow
def test_acmart_counts_the_two_columns_its_title_turns_on(tmp_path):
    page = tex_page(paper(tmp_path, "\\documentclass[sigconf]{acmart}"))
    assert page.two_column and page.column_width == pytest.approx((page.text_width - 24 / PT) / 2)


@pytest.mark.slow
def test_a_tabular_is_measured_in_the_paper(tmp_path):
    main = paper(tmp_path, "\\documentclass{article}")
    assert measure_tabular(main, "\\begin{tabular}{@{}l@{}}\\rule{2in}{1pt}\\end{tabular}") == pytest.approx(2)


LONG_NAMES = ["Compute vs top-4 (%)", "Router mass kept (%)", "Load CV (layer 6)", "Unused experts (layer 6)"]
LONG_NAMES += ["Experts per token", "Recall vs top-4 (%)", "Perplexity (WikiText)"]
SEVEN = {  # five methods, seven metrics named as researchers name them
    method: {
        name: ({"mean": 2.5 + i, "std": 1.1} if "Experts" in name else 31.2 + j + i)
        for j, name in enumerate(LONG_NAMES)
    }
    for i, method in enumerate(
        ["Top-4", "BH ($\\alpha$ = 0.01)", "BH ($\\alpha$ = 0.05)", "BH ($\\alpha$ = 0.1)", "Top-p"]
    )
}


def layout(tex):
    return next(line for line in tex.splitlines() if line.startswith("% Set ")).removeprefix("% Set ").split(";")[0]


def test_a_table_is_fitted_as_authors_do_wrapped_then_small_then_across_then_reshaped():
    assert layout(create_comparison_table(WIDE_RESULTS, output_format="latex", page="neurips")) == "as it is"
    fitted = create_comparison_table(WIDE_RESULTS, output_format="latex", label="t", page="icml")
    assert layout(fitted) == "headers wrapped, small type" and "\\begin{table}[tbp]" in fitted
    assert (
        "\\begin{figkitboxtabular}[b]{@{}r@{}}Precision\\\\(\\%)\\end{figkitboxtabular}" in fitted
        and "\\small\\setlength{\\tabcolsep}{4pt}" in fitted
    )
    said = {venue: layout(create_comparison_table(SEVEN, output_format="latex", page=venue)) for venue in VENUES}
    assert said["icml"] == said["ieee"] == "headers wrapped, small type, across both columns"
    assert said["neurips"] == "headers wrapped, small type"
    assert said["lncs"] == "metrics in 2 tables, headers wrapped, small type"
    assert all("scaled" not in how for how in said.values())  # text is never scaled unless asked
    tall = {m: dict(list(row.items())[:2]) for m, row in SEVEN.items()} | {f"Method {i}": {} for i in range(8)}
    assert layout(
        create_comparison_table({m: SEVEN[m] for m in list(SEVEN)[:2]}, output_format="latex", page="lncs")
    ) == ("methods as columns, headers wrapped, small type")
    assert "methods as columns" not in layout(create_comparison_table(tall, output_format="latex", page="lncs"))


def test_a_table_that_fits_nothing_says_so_in_python_latex_and_fails_the_build(tmp_path):
    wider = {
        f"Method {j}": {f"A long metric name {i}": {"mean": 100.5 + i, "std": 10.25} for i in range(40)}
        for j in range(14)
    }
    with pytest.warns(
        FitWarning, match=r"the table is \d+\.\d\d in wide \(estimated, .*\), wider than the text of icml"
    ):
        tex = create_comparison_table(wider, output_format="latex", label="t", page="icml")
    assert "\\PackageWarningNoLine{figkit}{the table is" in tex
    scaled = create_comparison_table(wider, output_format="latex", label="t", page="icml", fit="scale")
    assert "\\resizebox{\\linewidth}{!}{\\begin{figkitboxtabular}" in scaled and "PackageWarning" not in scaled
    study = sections()
    study["metric_info"] |= {f"m{i}": {"label": f"A long metric name {i}"} for i in range(40)}
    study["methods"] += [{"id": f"x{j}", "label": f"Method {j}"} for j in range(12)]
    study["metrics"] |= {f"x{j}": {} for j in range(12)}
    for row in study["metrics"].values():
        row |= {f"m{i}": 100.5 + i for i in range(40)}
    results = write_results(tmp_path / "r.json", **study)
    for _ in range(2):  # every build says so, also when nothing changed: the paper still overflows
        report = build(results, tmp_path / "out", venue="icml", only=["comparison"])
        assert not report.ok and report.failed["comparison"].startswith("tables/comparison.tex: the table is")
        assert report.failed["comparison"].endswith(
            "wider than the text of icml (6.75 in) (--allow-overfull makes this a note)"
        )
        assert not (tmp_path / "out" / "tables" / "comparison.tex").exists()
    report = build(results, tmp_path / "out", venue="icml", only=["comparison"], allow_overfull=True)
    assert report.ok and report.notes[0].startswith("tables/comparison.tex: the table is")


@pytest.mark.slow
def test_the_build_sizes_figures_for_the_venue_and_makes_the_named_families_wide(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    out = tmp_path / "out"
    only = ["expert_count_comparison", "layer_mean_comparison", "domain_specialization_grid_*", "comparison"]
    report = build(results, out, venue="icml", wide="layer_mean_*", only=only)
    assert report.ok, report.failed
    assert media_box(out / "figures" / "expert_count_comparison.pdf")[0] == pytest.approx(3.25, abs=0.01)
    assert media_box(out / "figures" / "layer_mean_comparison.pdf")[0] == pytest.approx(6.75, abs=0.01)
    assert media_box(out / "figures" / "domain_specialization_grid_topk2.pdf")[0] == pytest.approx(6.75, abs=0.01)
    keys = json.loads((out / ".figkit" / "manifest.json").read_text())["jobs"]
    build(results, out, venue="neurips", only=only)  # another venue: every figure again
    again = json.loads((out / ".figkit" / "manifest.json").read_text())["jobs"]
    assert all(keys[name]["key"] != again[name]["key"] for name in keys if name != "comparison")
    assert media_box(out / "figures" / "expert_count_comparison.pdf")[0] == pytest.approx(5.5, abs=0.01)
    build(results, out, width=4.0, only=["expert_count_comparison"])
    assert media_box(out / "figures" / "expert_count_comparison.pdf")[0] == pytest.approx(4.0, abs=0.01)


@pytest.mark.slow
def test_sizing_options_that_need_a_paper_are_one_line_errors(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())

    def run(*options):
        command = [sys.executable, "-m", "figkit", "build", str(results), "-o", str(tmp_path / "out"), *options]
        return subprocess.run(command, capture_output=True, text=True)

    for options, message in [
        (["--wide", "layer_mean_comparison"], "--wide needs the paper's text width: give --venue or --tex"),
        (["--width", "text"], "--width text needs the paper's widths"),
        (["--venue", "icml", "--wide", "nothing"], "--wide 'nothing' names no figure family"),
        (["--venue", "nips"], "unknown venue 'nips'"),
        (["--tex", str(paper(tmp_path, "\\documentclass{nosuchclass}"))], "--tex .*main.tex: pdflatex could not"),
    ]:
        run_ = run(*options)
        assert run_.returncode == 2, run_.stderr
        assert len(run_.stderr.strip().splitlines()) == 1 and __import__("re").search(message, run_.stderr), run_.stderr
    assert not (tmp_path / "out").exists()


def test_no_warning_escapes_a_venue_build(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = build(results, tmp_path / "out", venue="acl", compile=False, jobs=1)
    assert report.ok, report.failed


@pytest.mark.slow
def test_a_line_wider_than_the_appendix_fails_its_build_every_time(tmp_path):
    """LaTeX's log is read after each compile: a caption with a word longer than the page is named by file
    and line, on every build, until it fits; --allow-overfull makes it a note."""
    study = sections()
    del study["metrics"], study["metric_info"]
    study["methods"][1]["label"] = "BH" + "x" * 150  # one word: nowhere to break
    results = write_results(tmp_path / "r.json", **study)
    for _ in range(2):
        report = build(results, tmp_path / "out")
        failed = report.failed["appendix.pdf"]
        assert re.match(r"appendix\.pdf: appendix\.tex, line \d+: \d+\.\d pt too wide; ", failed), failed
        assert failed.endswith("more lines too wide (see its log) (--allow-overfull makes this a note)")
    report = build(results, tmp_path / "out", allow_overfull=True)
    assert report.ok and report.notes[0].startswith("appendix.pdf: appendix.tex, line")


def test_a_long_token_is_cut_in_latex_and_whole_in_markdown():
    token = "x" * 40
    tex = create_expert_token_table([[0, 1]], {0: token, 1: "the"}, "latex")
    assert "\\texttt{" + "x" * 15 + "\\ldots{}}" in tex and token not in tex
    assert token in create_expert_token_table([[0, 1]], {0: token, 1: "the"}, "markdown")
