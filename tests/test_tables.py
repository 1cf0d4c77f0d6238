"""Comparison tables and number macros: values, best marks, errors, goldens, and real pdflatex runs."""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from figkit import create_comparison_table, number_macros
from figkit.latex import Raw, compile_pdf, escape_label, render_template
from figkit.tables import caption_notes
from figkit.tables.formatting import Value
from tests.helpers import pdf_text

GOLDEN = Path(__file__).parent / "golden"
RESULTS = {
    "Top-8": {"avg_experts": 8.0, "perplexity": 16.98, "delta": 0.0},
    "BH ($\\alpha$=0.05)": {"avg_experts": {"mean": 4.524, "std": 0.806}, "perplexity": 17.40, "delta": -0.4},
    "BH ($\\alpha$=0.01)": {"avg_experts": {"mean": 3.2, "std": 0.5}, "perplexity": 17.40},
}
BEST = {"perplexity": "min", "avg_experts": "min", "delta": "max"}
HOSTILE = [
    "& % $ # _ { } ~ ^ \\ < > |",
    "\\input{/etc/passwd}",
    "\\immediate\\write18{touch PWNED}",
    "a\"b 'c' -- x",
    "^^5cinput",
    "odd $x}$ maths",
]


def document(body, preamble=""):
    return (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
        + preamble
        + "\n\\begin{document}\n"
        + body
        + "\n\\end{document}\n"
    )


def compile_text(tmp_path, files, body, preamble=""):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "doc.tex").write_text(document(body, preamble))
    return pdf_text(compile_pdf(tmp_path / "doc.tex"))


def test_dataframe_matches_the_spec():
    df = create_comparison_table(
        {
            "TopK": {"avg_experts": 8.0, "std": 0.0, "perplexity": 12.5},
            "BH": {"avg_experts": 4.5, "std": 0.8, "perplexity": 12.7},
        }
    )
    assert list(df.columns) == ["avg_experts", "perplexity", "std"] and list(df.index) == ["TopK", "BH"]
    assert df.loc["BH", "std"] == 0.8
    assert create_comparison_table({"a": {"x": 1 / 3}}).loc["a", "x"] == 0.333  # three significant figures


def test_dataframe_mean_std_and_missing():
    df = create_comparison_table(RESULTS)
    assert df.loc["BH ($\\alpha$=0.05)", "avg_experts"] == "4.52 \N{PLUS-MINUS SIGN} 0.81"
    assert math.isnan(df.loc["BH ($\\alpha$=0.01)", "delta"])


def test_metrics_pick_and_order_columns():
    df = create_comparison_table(RESULTS, metrics=["perplexity", "avg_experts"])
    assert list(df.columns) == ["perplexity", "avg_experts"]
    with pytest.raises(ValueError, match=r"metrics \['ppl'\] are in no method's results"):
        create_comparison_table(RESULTS, metrics=["ppl"])


def test_best_values_are_bold_and_ties_all_bold():
    md = create_comparison_table(RESULTS, output_format="markdown", best=BEST)
    lines = md.splitlines()
    assert lines[0] == "| Method | avg\\_experts | delta | perplexity |"
    assert lines[1] == "| :--- | ---: | ---: | ---: |"
    assert lines[2] == "| Top-8 | 8 | **0** | **17.0** |"  # exact whole numbers without decimals
    assert lines[3] == "| BH (α=0.05) | 4.52 ± 0.81 | \N{MINUS SIGN}0.400 | 17.4 |"  # maths as GitHub shows it
    assert lines[4] == "| BH (α=0.01) | **3.20 ± 0.50** | – | 17.4 |"
    tie = create_comparison_table(
        {"a": {"x": 1.0}, "b": {"x": 1.0}, "c": {"x": 2.5}}, output_format="markdown", best={"x": "min"}
    )
    assert tie.splitlines()[2:] == ["| a | **1** |", "| b | **1** |", "| c | 2.50 |"]
    close = {"a": {"x": 1.004}, "b": {"x": 0.996}, "c": {"x": 2.5}}  # 1.00 and 1.00 at three figures
    lines = create_comparison_table(close, output_format="markdown", best={"x": "min"}).splitlines()
    assert lines[2:] == ["| a | 1.004 |", "| b | **0.996** |", "| c | 2.500 |"]  # a decimal more tells them apart


def test_rounding_and_minus_signs_in_latex():
    tex = create_comparison_table({"m": {"x": -0.004, "y": {"mean": -1.005, "std": 0.125}}}, output_format="latex")
    assert "m & $-$0.00400 & $-$1.00 & \\,$\\pm$\\,0.12 \\\\" in tex  # three figures; round-half-even on binary values


@pytest.mark.parametrize(
    "value, error, message",
    [
        (float("nan"), ValueError, r"results_dict\['m'\]\['x'\] is nan: tables hold finite numbers only"),
        (float("inf"), ValueError, r"results_dict\['m'\]\['x'\] is inf"),
        ("17.4", TypeError, r"results_dict\['m'\]\['x'\] must be a number, got str '17.4'"),
        ({"mean": 1, "sd": 2}, ValueError, r"must be a number, \{'mean': m, 'std': s\}, "),
        (True, TypeError, "must be a number, got bool"),
    ],
)
def test_bad_values_name_the_method_and_metric(value, error, message):
    with pytest.raises(error, match=message):
        create_comparison_table({"m": {"x": value}})


def test_other_errors():
    with pytest.raises(ValueError, match="output_format must be one of dataframe, markdown, latex"):
        create_comparison_table(RESULTS, output_format="html")
    with pytest.raises(ValueError, match=r"best\['perplexity'\] must be 'min' or 'max'"):
        create_comparison_table(RESULTS, best={"perplexity": "smallest"})
    with pytest.raises(ValueError, match="results_dict must be a non-empty dict"):
        create_comparison_table({})
    with pytest.raises(ValueError, match="label 'tab main' may use only"):
        create_comparison_table(RESULTS, output_format="latex", label="tab main")
    with pytest.raises(ValueError, match="'bh 05' cannot name a macro"):
        number_macros({"bh 05": {"x": 1}})


@pytest.mark.parametrize(
    "name, make",
    [
        (
            "table.tex",
            lambda: create_comparison_table(
                RESULTS, output_format="latex", best=BEST, caption="Routing on $x^2$ & friends", label="tab:routing"
            ),
        ),
        ("tabular.tex", lambda: create_comparison_table(RESULTS, output_format="latex", best=BEST)),
        ("table.md", lambda: create_comparison_table(RESULTS, output_format="markdown", best=BEST)),
        (
            "macros.tex",
            lambda: number_macros({"topk8": {"perplexity": 16.98}, "bh05": {"perplexity": 17.4, "delta": -0.4}}),
        ),
        (
            "figure.tex",
            lambda: render_template(
                "figure.tex",
                path="figures/counts.pdf",
                width=Raw("\\columnwidth"),
                caption=Raw(escape_label("Experts per token, BH ($\\alpha$=0.05)")),
                label="fig:counts",
            ),
        ),
    ],
)
def test_golden_files(name, make):
    assert make() == (GOLDEN / name).read_text()


@pytest.mark.slow
def test_latex_table_compiles_with_caption_above_label_and_bold(tmp_path):
    table = create_comparison_table(RESULTS, output_format="latex", best=BEST, caption="Main results", label="tab:main")
    assert "\\documentclass" not in table and "\\small" not in table
    assert table.index("\\caption") < table.index("\\label") < table.index("\\begin{tabular}")
    text = compile_text(tmp_path, {"table.tex": table}, "See Table~\\ref{tab:main}.\n\\input{table.tex}")
    assert "Table 1: Main results" in text
    assert "BH (α=0.05)" in text and "4.52 ± 0.81" in text and "−0.400" in text
    bare = create_comparison_table(RESULTS, output_format="latex")
    assert "\\begin{tabular}{lr@{}lrr}" in bare.splitlines() and "\\begin{table}" not in bare  # ± in line
    assert "17.4" in compile_text(tmp_path, {"bare.tex": bare}, "\\input{bare.tex}")


@pytest.mark.slow
def test_hostile_strings_compile_and_show_literally(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the placeholder warning for U+2581
        table = create_comparison_table(
            {name: {"x": 1.0} for name in HOSTILE + ["α é ▁the"]},
            output_format="latex",
            caption="\\input{/etc/passwd} $\\input{/etc/passwd}$",
        )
    compile_text(tmp_path, {"table.tex": table}, "\\input{table.tex}")  # the default OT1 encoding
    text = compile_text(tmp_path, {}, "\\input{table.tex}", preamble="\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}")
    assert "&%$#_{}~^\\<>|" in text.replace(" ", "")  # pdftotext drops the narrow spaces between symbols
    assert "\\input{/etc/passwd}" in text and "\\immediate\\write18{touch PWNED}" in text
    assert "^^5cinput" in text and "α é [U+2581]the" in text and "a”b ’c’ -- x" in text
    assert "odd $x}$ maths" in text
    assert "root:" not in text
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.slow
def test_macros_work_in_captions_and_unknown_keys_fail(tmp_path):
    macros = number_macros({"topk8": {"perplexity": 16.98}, "bh05": {"perplexity": 17.4, "delta": -0.4}})
    body = (
        "PPL \\figkitvalue{bh05}{perplexity}, change \\figkitvalue{bh05}{delta}.\n"
        "\\begin{table}\\caption{Top-8 reaches \\figkitvalue{topk8}{perplexity}.}\\end{table}\n\\listoftables"
    )
    text = compile_text(tmp_path, {"macros.tex": macros}, body, preamble="\\input{macros.tex}")
    assert "PPL 17.4, change −0.400." in text and "Top-8 reaches 17.0." in text  # as the table prints them
    with pytest.raises(RuntimeError, match="No value for `bh05' / `ppl'"):
        compile_text(tmp_path, {}, "\\figkitvalue{bh05}{ppl}", preamble="\\input{macros.tex}")


def test_template_folder_of_the_paper_overrides_the_package(tmp_path):
    (tmp_path / "table.md").write_text("custom: \\VAR{header}\n")
    assert render_template("table.md", template_dirs=[tmp_path], header="a|b", rule="", rows=[]) == "custom: a\\|b\n"


def test_dataframe_values_against_numpy(rng):
    raw = rng.normal(size=(5, 3)) * 10
    results = {f"m{i}": {f"k{j}": raw[i, j] for j in range(3)} for i in range(5)}
    df = create_comparison_table(results)
    decimals = 2 - np.floor(np.log10(np.median(np.abs(raw), axis=0))).astype(int)  # three figures of the median
    expected = np.column_stack([np.round(raw[:, j], max(0, d)) for j, d in enumerate(decimals)])
    np.testing.assert_allclose(df.to_numpy(dtype=float), expected)
    assert isinstance(df, pd.DataFrame)


def test_numbers_as_authors_write_them():
    """Whole-number columns without decimals, no "± 0.00", and no bold where every value ties."""
    results = {
        "Top-8": {"dead": 10, "experts": {"mean": 8.0, "std": 0.0}, "tie": 1.5},
        "BH": {"dead": 3, "experts": {"mean": 2.5, "std": 1.25}, "tie": 1.5},
    }
    best = {"dead": "min", "experts": "min", "tie": "min"}
    md = create_comparison_table(results, output_format="markdown", best=best).splitlines()
    assert md[2] == "| Top-8 | 10 | 8 | 1.50 |"
    assert md[3] == "| BH | **3** | **2.50 ± 1.25** | 1.50 |"
    tex = create_comparison_table(results, output_format="latex", best=best)
    assert "Top{-}8 & 10 & 8 &  & 1.50 \\\\" in tex  # 8 beneath the other means, its ± column empty
    assert "BH & \\textbf{3} & \\textbf{2.50} & \\textbf{\\,$\\pm$\\,1.25} & 1.50" in tex
    assert create_comparison_table(results)["dead"].tolist() == [10, 3]


def test_a_column_prints_as_its_metric_info_says_and_huge_values_move_a_power_of_ten_up():
    results = {
        "a": {"acc": {"mean": 0.3251, "stderr": 0.075}, "tokens": 42240.0, "ppl": 1.2659e18, "ms": 0.0123},
        "b": {"acc": {"mean": 0.2, "stderr": 0.05}, "tokens": 3840.0, "ppl": 3.1e17, "ms": 0.0456},
    }
    formats = {"acc": {"percent": True}, "ms": {"scale": 1000, "unit": "ms", "digits": 1}}
    md = create_comparison_table(results, output_format="markdown", formats=formats, best={"acc": "max"})
    header, _, a, b = md.splitlines()
    assert header == "| Method | acc (%) | ms (ms) | ppl ($\\times 10^{18}$) | tokens |"
    half = 1.959963984540054 * 0.075 * 100
    assert a == f"| a | **32.5 ± {half:.1f}** | 12.3 | 1.266 | 42,240 |"  # three figures of the median
    assert b == "| b | 20.0 ± 9.8† | 45.6 | 0.310 | 3,840 |"  # within the noise of the best: z = 1.39
    tex = create_comparison_table(results, output_format="latex", formats=formats)
    assert "\\multicolumn{2}{c}{acc (\\%)} & ms (ms) & ppl ($\\times 10^{18}$) & tokens" in tex
    with pytest.raises(ValueError, match=r"formats\['acc'\] has \['decimals'\]; a column's format may give"):
        create_comparison_table(results, formats={"acc": {"decimals": 2}})


def test_seeds_give_t_intervals_and_tests_against_the_best_agree_with_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    seeds = {m: (17.0 + shift + rng.normal(0, 0.4, 5)).tolist() for m, shift in (("a", 0.0), ("b", 0.3), ("c", 2.0))}
    seeds["d"] = (17.1 + rng.normal(0, 0.4, 3)).tolist()  # other seeds: Welch, not paired
    results = {m: {"ppl": {"seeds": s}} for m, s in seeds.items()}
    rows = create_comparison_table(results, output_format="markdown", best={"ppl": "min"}).splitlines()[2:]
    for row, values in zip(rows, seeds.values()):
        low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert f"{np.mean(values):.1f} ± {(high - low) / 2:.1f}" in row, (row, (high - low) / 2)  # three figures
    from figkit.tables import _marks, _printed, _values

    values = _values(results)
    marks = _marks(values, _printed(values, ["ppl"], {"ppl": "min"}, {}), {"ppl": "min"})
    best = min(seeds, key=lambda m: np.mean(seeds[m]))
    assert marks[(best, "ppl")] == {"best"}
    from figkit.tables.uncertainty import compare

    for method in set(seeds) - {best}:
        test, p = compare(values[best]["ppl"], values[method]["ppl"])
        if len(seeds[method]) == len(seeds[best]):
            assert test == "paired" and p == pytest.approx(stats.ttest_rel(seeds[best], seeds[method]).pvalue, rel=1e-9)
        else:
            expected = stats.ttest_ind(seeds[best], seeds[method], equal_var=False).pvalue
            assert test == "welch" and p == pytest.approx(expected, rel=1e-9)
        assert (marks.get((method, "ppl")) == {test}) == (p >= 0.05)
    z = (0.40 - 0.35) / np.hypot(0.02, 0.03)
    assert compare(Value(0.40, stderr=0.02), Value(0.35, stderr=0.03)) == ("z", pytest.approx(2 * stats.norm.sf(z)))
    notes = caption_notes(results, {"ppl": "min"})
    assert notes.startswith("± gives a 95 % interval of the mean over seeds (Student t).")
    assert "paired t-test over seeds" in notes or "Welch's t-test over seeds" in notes
    tex = create_comparison_table(results, output_format="latex", best={"ppl": "min"})
    assert "\\rlap{$^\\dagger$}" in tex if any(m != {"best"} for m in marks.values()) else True


def test_the_caption_says_what_plus_minus_and_the_dagger_mean():
    assert caption_notes({"a": {"x": 1.0}}) == ""
    assert caption_notes({"a": {"x": {"mean": 1.0, "std": 0.5}}}) == "± gives a standard deviation."
    both = {"a": {"x": {"mean": 1.0, "std": 0.5, "stderr": 0.1}}}  # the ± is the interval: no deviation is shown
    assert caption_notes(both) == "± gives a 95 % interval of the mean from the standard error (1.96 standard errors)."
    with_errors = {"a": {"x": {"mean": 0.40, "stderr": 0.02}}, "b": {"x": {"mean": 0.39, "stderr": 0.02}}}
    assert caption_notes(with_errors, {"x": "max"}) == (
        "± gives a 95 % interval of the mean from the standard error (1.96 standard errors). "
        "†: not significantly different from the best of its column (two-sided, 5 %; a z-test of the standard errors)."
    )
    with pytest.raises(ValueError, match=r"\['seeds'\] must hold at least two values, got 1"):
        create_comparison_table({"a": {"x": {"seeds": [1.0]}}})


def test_the_second_best_is_underlined_when_asked_and_only_among_three_or_more_values():
    results = {"a": {"ppl": 17.0, "acc": 50.0}, "b": {"ppl": 17.5, "acc": 50.0}, "c": {"ppl": 17.5, "acc": 60.0}}
    results["d"] = {"ppl": 18.0, "acc": 40.0}
    best = {"ppl": "min", "acc": "max"}
    markdown = create_comparison_table(results, output_format="markdown", best=best, underline_second=True)
    cells = [line.strip("| ").split(" | ") for line in markdown.splitlines()[2:]]
    assert {row[0]: row[1:] for row in cells} == {  # acc: 60 best, 50 second (tied); ppl: 17 best, 17.5 second
        "a": ["<ins>50</ins>", "**17**"],
        "b": ["<ins>50</ins>", "<ins>17.5</ins>"],
        "c": ["**60**", "<ins>17.5</ins>"],
        "d": ["40", "18"],
    }
    tex = create_comparison_table(results, output_format="latex", best=best, underline_second=True)
    assert tex.count("\\underline{") == 4 and tex.count("\\textbf{") == 2
    two = {"a": {"ppl": 17.0}, "b": {"ppl": 18.0}}  # with two values the second best is only the rest
    assert "<ins>" not in create_comparison_table(
        two, output_format="markdown", best={"ppl": "min"}, underline_second=True
    )
    assert "<ins>" not in create_comparison_table(results, output_format="markdown", best=best)  # only when asked
