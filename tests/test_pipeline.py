"""figkit build: outputs, numbers, incremental rebuilds, failures, hostile strings, the CLI."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from figkit import build, write_results
from figkit.pipeline import NO_TEX
from tests.helpers import pdf_columns_text, pdf_text, sections

HOSTILE = r"\input{/etc/passwd} \immediate\write18{touch pwned} 100% & _ # ~ ^ {x} $ | < > -- `q' "
FIGURES = [
    "expert_count_distribution_bh-05",  # none for Top-2: its count is always 2
    "layer_wise_routing_bh-05",
    "expert_count_comparison",
    "layer_mean_comparison",
    "compute_quality_ppl",
    "alpha_sensitivity_bh",
    "expert_utilization_topk2_layer1",
    "expert_utilization_topk2_layer0",
    "expert_load_layers_topk2",
    "domain_specialization_topk2_layer2",
    "domain_specialization_grid_topk2",
    "routing_heatmap_bh-05_layer0",
    "token_complexity_vs_experts_bh-05",
    "expert_coactivation_bh-05_layer1",
    "expert_transitions_bh-05_layer0",
    "router_saturation_top2",
    "router_confidence_top1_probability",
    "router_confidence_entropy",
    "method_agreement_jaccard_vs_topk2",
    "method_agreement_shared_vs_topk2",
    "method_agreement_top1_vs_topk2",
    "routing_text_passage1_layer1",
    "position_effects_experts_bh-05",
    "position_effects_top1_probability_bh-05",
    "routing_locality",
    "training_curves_lm_loss",
    "training_layers_load_cv_topk2",
    "vocabulary_specialization",
]

pytestmark = pytest.mark.slow  # builds, LaTeX and processes


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One complete build of the small study, shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("built")
    results = write_results(folder / "results.json", **sections())
    report = build(results, folder / "out", jobs=1)
    return results, folder / "out", report


def outputs(out):
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".figkit/latex" not in p.as_posix()
    }


def stamps(out):
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_every_output_is_made(built):
    _, out, report = built
    assert report.ok and report.pdf == out / "appendix.pdf"
    assert sorted(p.stem for p in (out / "figures").iterdir()) == sorted(FIGURES)
    assert sorted(outputs(out)) == sorted(
        [f"figures/{name}.pdf" for name in FIGURES]
        + [
            "tables/comparison.tex",
            "tables/comparison.md",
            "tables/expert_tokens_bh-05_layer1.tex",
            "tables/expert_tokens_bh-05_layer1.md",
            "tables/routing_text_passage1_layer1.tex",
            "macros.tex",
            "appendix.tex",
            "appendix.pdf",
            "figkit.d",
            ".figkit/manifest.json",
            ".figkit/lock",
        ]
    )


def test_tables_and_macros_print_the_numbers(built):
    results, out, _ = built
    data = json.loads(results.read_text())
    bh = np.concatenate(
        [
            np.repeat([int(k) for k in e["histogram"]], list(e["histogram"].values()))
            for e in data["expert_counts"]
            if e["method"] == "bh:05"
        ]
    )
    shown = f"{bh.mean():.2f} $\\pm$ {bh.std():.2f}"  # as the macros print it; the table puts ± in a column of its own
    table = (out / "tables" / "comparison.tex").read_text()
    assert "Method & PPL & \\multicolumn{2}{c}{Experts} \\\\" in table
    assert "Top{-}2 & \\textbf{17} & \\textbf{2} &  \\\\" in table  # exact: no decimals, no ± 0: top-2 selects 2
    assert f"BH ($\\alpha$=0.05) & 17.5 & {bh.mean():.2f} & \\,$\\pm$\\,{bh.std():.2f} \\\\" in table  # three figures
    assert "Bold: the best value of a column (lower is better for PPL, Experts)" in table
    assert "| Top-2 | **17** | **2** |" in (out / "tables" / "comparison.md").read_text()
    assert f"\\@namedef{{figkit@value@bh:05@experts}}{{{shown}}}" in (out / "macros.tex").read_text()


def test_the_appendix_shows_every_figure_with_captions_from_the_data(built):
    _, out, _ = built
    text = " ".join(pdf_text(out / "appendix.pdf").split())
    captions = " ".join(pdf_columns_text(out / "appendix.pdf").split())  # two figures to a row
    assert "Routing study" in text
    assert "Figure 1: BH (α=0.05): experts selected per token (400 tokens × 3 layers, pooled)." in captions
    assert "BH (α=0.05): experts selected per token in each layer (400 tokens × 3 layers)." in captions
    assert "Top-2: tokens routed to each expert (layer 1; 8 experts," in captions
    # pdftotext may read the line with the visible-space glyph out of order: the PDF has the caption's start,
    # the LaTeX source the whole of it
    assert "BH (α=0.05): routing weights (layer 0) of 6" in captions
    source = " ".join((out / "appendix.tex").read_text().split())
    assert "routing weights (layer 0) of 6 tokens of the sample (rows;" in source
    assert "and all 8 experts (columns). Colour: the weight, on a square{-}root scale" in source
    distinct = len(set(sections()["token_stats"]["token_ids"].tolist()))
    assert f"the frequency proxy 1/(id + 1) (1,200 tokens, {distinct} distinct)" in captions
    assert "BH (α=0.05): expert co-activation (layer 1): of the tokens routed to the row’s expert" in captions
    assert "Table 1: Comparison of routing methods." in text
    assert len(re.findall(r"Figure \d+:", text)) == len(FIGURES)
    assert "BH (α=0.05)" in text  # a figure's own legend, embedded in the appendix
    assert "Mean experts per token: Top-2 2.00, BH (α=0.05) 3.03." in captions  # a paper's caption gives the means
    assert "Experts per token: BH (α=0.05)" not in text  # paper figures carry no title: the caption says it


def test_a_rebuild_with_nothing_changed_writes_nothing_and_loads_no_plotting(built):
    results, out, _ = built
    before = stamps(out), outputs(out)
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "figkit", "build", str(results), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time")}
    assert not imported & {"matplotlib", "numpy", "jinja2", "pandas", "scipy"}
    assert (stamps(out), outputs(out)) == before


def test_changing_one_method_rerenders_only_what_uses_it(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    build(results, tmp_path / "out", jobs=1)
    changed = sections()
    changed["expert_counts"][3]["values"] = np.full(400, 3)  # bh:05, layer 0
    pooled = np.concatenate([e["values"] for e in changed["expert_counts"][3:]])
    changed["metrics"]["bh:05"] = {"ppl": 16.5, "experts": {"mean": pooled.mean(), "std": pooled.std()}}
    write_results(results, **changed)
    report = build(results, tmp_path / "out", jobs=1)
    # appendix.tex changes only where a caption names the data: BH now leads the Pareto front
    assert sorted(report.rendered) == [
        "appendix",
        "appendix.pdf",
        "comparison",
        "compute_quality_ppl",
        "expert_count_comparison",
        "expert_count_distribution_bh-05",
        "layer_mean_comparison",
        "layer_wise_routing_bh-05",
        "macros",
        "vocabulary_specialization",  # its caption's chance level follows the experts per token
    ]
    again = build(results, tmp_path / "out", jobs=1, force=True)
    # the figures, both tables, the macros, appendix.tex and appendix.pdf
    assert len(again.rendered) == len(FIGURES) + 5 and not again.unchanged


def test_builds_are_byte_identical_across_folders_and_job_counts(built, tmp_path):
    results, out, _ = built
    build(results, tmp_path / "two", jobs=2)
    first, second = outputs(out), outputs(tmp_path / "two")
    first.pop("figkit.d"), second.pop("figkit.d")  # names its own folder
    assert first == second


def test_the_depfile_names_every_source(built):
    results, out, _ = built
    targets, sources = (out / "figkit.d").read_text().split(": ")
    assert f"{out}/appendix.tex" in targets.split()
    assert f"{out}/figures/layer_wise_routing_bh-05.pdf" in targets.split()
    sources = sources.split()
    assert sources[0] == str(results)
    assert any(s.endswith("paper.mplstyle") for s in sources) and any(s.endswith("table.tex") for s in sources)


@pytest.mark.parametrize("folder", ["o u#t$x%:y", "line\nbreak", "glob[1]*"])
def test_make_reads_the_depfile_whatever_the_folder_is_called(tmp_path, folder):
    """GNU Make's own reading of figkit.d: every file named as written, or, for a name no rule can hold
    (a newline; a wildcard, which Make expands even escaped), a comment that includes cleanly."""
    results = write_results(tmp_path / "r#$.json", **sections())
    out = tmp_path / folder
    build(results, out, only=["macros"], compile=False)
    (tmp_path / "depfile").write_text((out / "figkit.d").read_text())  # included by a name Make reads plainly
    (tmp_path / "Makefile").write_text("include depfile\nshow:\n\t@true\n")
    run = subprocess.run(["make", "-p", "-q", "show"], cwd=tmp_path, capture_output=True, text=True)
    assert "***" not in run.stderr, run.stderr  # Make's errors: a missing separator, a file it cannot find
    rules = [line for line in run.stdout.splitlines() if line.startswith(f"{out}/macros.tex:")]
    if "\n" in folder or "*" in folder:
        assert (out / "figkit.d").read_text().startswith("# figkit: no Make rule can name") and not rules
    else:
        (rule,) = rules
        assert f" {results}" in rule and any(part.endswith("paper.mplstyle") for part in rule.split())


def test_only_selects_jobs_and_unknown_names_are_refused(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    report = build(results, tmp_path / "out", only=["expert_count_distribution_*", "macros"], jobs=1)
    assert sorted(report.rendered) == ["expert_count_distribution_bh-05", "macros"]
    assert not (tmp_path / "out" / "appendix.pdf").exists()
    with pytest.raises(ValueError, match="--only 'heatmap' matches no job; jobs: comparison, macros, "):
        build(results, tmp_path / "out", only=["heatmap"])


def test_removed_sections_take_their_outputs_with_them(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    build(results, tmp_path / "out", jobs=1, compile=False)
    smaller = sections()
    del smaller["routing_samples"]
    write_results(results, **smaller)
    build(results, tmp_path / "out", jobs=1, compile=False)
    assert not (tmp_path / "out" / "figures" / "routing_heatmap_bh-05_layer0.pdf").exists()
    assert "routing_heatmap" not in (tmp_path / "out" / "appendix.tex").read_text()


def cli(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "figkit", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_a_bad_file_stops_the_build_before_anything_is_written(tmp_path):
    bad = tmp_path / "bad.json"
    text = write_results(bad, **sections()).read_text()
    bad.write_text(text.replace('"ppl": 17.0', '"ppl": "17.4"'))
    run = cli("build", bad, "-o", tmp_path / "out")
    assert run.returncode == 2
    assert run.stderr == f'figkit build: {bad}: metrics.topk2.ppl: expected a number, got "17.4"\n'
    assert not (tmp_path / "out").exists()
    for args, message in (
        (["build", tmp_path / "missing.json"], "missing.json: No such file or directory"),
        (["build", bad, "--style", "poster"], "unknown figkit style 'poster'"),
        (["build", bad, "--jobs", "0"], "--jobs must be at least 1"),
    ):
        run = cli(*args, "-o", tmp_path / "out")
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_failing_job_is_named_and_the_others_finish(tmp_path):
    """A broken template of the paper repo fails its job; other and earlier outputs stay intact."""
    results = write_results(tmp_path / "r.json", **sections())
    run = cli("build", results, "-o", "out", "--no-compile", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    earlier = (tmp_path / "out" / "tables" / "comparison.md").read_bytes()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "table.md").write_text("\\VAR{ no_such_value }\n")
    changed = sections()
    changed["metrics"]["topk2"]["ppl"] = 16.0
    changed["expert_counts"][0]["values"] = np.full(400, 3)
    write_results(results, **changed)
    run = cli("build", results, "-o", "out", "--no-compile", "-j", "2", cwd=tmp_path)
    assert run.returncode == 1
    failed = [line for line in run.stderr.splitlines() if line.startswith("figkit build:")]
    assert sorted(failed) == [  # both tables use the template
        f"figkit build: {name} failed: UndefinedError: 'no_such_value' is undefined"
        for name in ("comparison", "expert_tokens_bh-05_layer1")
    ]
    assert re.search(r"^figkit: 10 written, 23 up to date, 2 failed in [\d.]+ s -> out$", run.stderr, re.M)
    assert (tmp_path / "out" / "tables" / "comparison.md").read_bytes() == earlier
    assert "{16}" in (tmp_path / "out" / "macros.tex").read_text()  # the other jobs ran
    (tmp_path / "templates" / "table.md").unlink()
    run = cli("build", results, "-o", "out", "--no-compile", "-v", cwd=tmp_path)
    assert run.returncode == 0 and "figkit: comparison: written" in run.stderr  # retried, not marked done


def test_hostile_strings_compile_and_show_literally(tmp_path):
    results = write_results(tmp_path / "r.json", **sections(title=HOSTILE, label="BH " + HOSTILE))
    report = build(results, tmp_path / "out", jobs=1)
    assert report.ok, report.failed
    text = pdf_text(tmp_path / "out" / "appendix.pdf")
    flat = " ".join(text.split())
    # every character as typed; only quotes are typeset as quotes
    assert r"\input{/etc/passwd} \immediate\write18{touch pwned} 100% & _ # ~ ^ {x} $ | < > -- ‘q’" in flat
    assert "root:" not in text and not list(tmp_path.rglob("pwned"))
    figure = " ".join(pdf_text(tmp_path / "out" / "figures" / "expert_count_comparison.pdf").split())
    assert all(word in figure.split() for word in HOSTILE.split())  # the legend wraps it, literally
    assert "`q'" in figure


def test_broken_maths_is_printed_literally_and_compiles(tmp_path):
    results = write_results(tmp_path / "r.json", **sections(label="BH $\\frac{1}$"))
    report = build(results, tmp_path / "out", jobs=1)
    assert report.ok, report.failed
    assert "BH $\\frac{1}$" in " ".join(pdf_text(tmp_path / "out" / "appendix.pdf").split())


def test_a_latex_error_names_the_line_and_the_field(tmp_path, monkeypatch):
    from figkit import latex

    monkeypatch.setattr(latex, "_safe_math", lambda part: part.startswith("$"))  # a gap in the maths check
    results = write_results(tmp_path / "r.json", **sections(label="BH $\\frac{1}$"))
    report = build(results, tmp_path / "out", jobs=1)
    assert list(report.failed) == ["appendix.pdf"]  # the figures drew the broken maths literally
    message = report.failed["appendix.pdf"]
    assert re.match(r"\w+\.tex:\d+: .+ \(from methods\[1\]\.label 'BH \$\\\\frac\{1\}\$'\)$", message), message
    assert (tmp_path / "out" / "appendix.tex").exists() and not (tmp_path / "out" / "appendix.pdf").exists()


def test_without_tex_the_sources_are_written_and_the_message_says_how_to_get_it(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    env = os.environ | {"PATH": str(Path(sys.executable).parent)}  # python, but no latexmk or pdflatex
    run = cli("build", results, "-o", tmp_path / "out", env=env)
    lines = run.stderr.splitlines()  # not a terminal: a line per stage, the note, the summary
    assert run.returncode == 0 and lines[:3] == [
        "figkit: making 32 outputs (0 up to date)",
        "figkit: compiling appendix.pdf",
        f"figkit: {NO_TEX.format(pdf='appendix.pdf')}",
    ]
    assert len(lines) == 4 and re.fullmatch(r"figkit: 32 written, 0 up to date, 0 failed in .+ s -> .+/out", lines[3])
    assert (tmp_path / "out" / "appendix.tex").exists() and not (tmp_path / "out" / "appendix.pdf").exists()
    run = cli("build", results, "-o", tmp_path / "out", "--require-pdf", "-q", env=env)
    assert (
        run.returncode == 1
        and run.stderr == f"figkit build: appendix.pdf failed: {NO_TEX.format(pdf='appendix.pdf')}\n"
    )
    # An appendix compiled where TeX was, then new results where it is not: the old PDF would contradict them.
    assert build(results, tmp_path / "out").pdf.is_file()
    write_results(results, **sections(title="New results"))
    run = cli("build", results, "-o", tmp_path / "out", env=env)
    assert run.returncode == 0 and not (tmp_path / "out" / "appendix.pdf").exists()
    assert "; the old appendix.pdf, compiled from earlier outputs, is removed" in run.stderr


def test_a_build_into_a_log_says_how_far_it_is(tmp_path, monkeypatch, capsys):
    """Not on a terminal (CI, a log file): a line per stage and, between them, at most one per interval."""
    from figkit.pipeline import stages

    monkeypatch.setattr(stages._Progress, "LOG_INTERVAL", 0.0)  # a line for every output
    results = write_results(tmp_path / "r.json", **sections())
    build(results, tmp_path / "out", quiet=False, compile=False, jobs=1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "figkit: making 32 outputs (0 up to date)"
    done = [re.fullmatch(r"figkit: (\d+)/32 done \(.+\)", line) for line in lines[1:-1]]
    assert all(done) and [int(match.group(1)) for match in done] == list(range(1, 33))
    assert lines[-1].startswith("figkit: 32 written, 0 up to date, 0 failed in ")
    build(results, tmp_path / "out", quiet=True, compile=False)
    assert capsys.readouterr().err == ""


def test_help_is_fast_to_import():
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "figkit", "build", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "--no-compile" in run.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines() if line.startswith("import time")
    }
    assert not imported & {"matplotlib", "numpy", "jinja2", "pandas", "scipy"}


def test_output_names_are_safe_stable_and_unique():
    from figkit.pipeline import plan

    results = {
        "schema_version": 1,
        "methods": [{"id": "a:b"}, {"id": "a+b"}, {"id": "A:B"}],
        "expert_counts": [{"method": m, "histogram": {"2": 5, "3": 1}} for m in ("a:b", "a+b", "A:B")],
    }
    names = [job.name for job in plan(results)]
    assert names == [
        "expert_count_distribution_a-b",
        "expert_count_distribution_a-b_2",
        "expert_count_distribution_A-B_3",
        "expert_count_comparison",
        "appendix",
    ]
    assert plan(results) == plan(results)


def test_a_killed_build_leaves_complete_files(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    build(results, tmp_path / "out", jobs=1, compile=False)
    changed = sections(seed=1)
    write_results(results, **changed)
    process = subprocess.Popen(
        [sys.executable, "-m", "figkit", "build", str(results), "-o", str(tmp_path / "out"), "-j", "1", "--no-compile"]
    )
    time.sleep(1.5)  # somewhere in the middle of the figures
    process.kill()
    process.wait()
    for pdf in (tmp_path / "out" / "figures").glob("*.pdf"):
        assert pdf.read_bytes().rstrip().endswith(b"%%EOF"), pdf.name
    assert build(results, tmp_path / "out", jobs=1, compile=False).ok
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_a_compile_killed_from_outside_does_not_wedge_the_next_build(tmp_path):
    """pdflatex killed mid-run leaves a truncated .aux and a latexmk database that remembers the failure."""
    results = write_results(tmp_path / "r.json", **sections())
    killer = tmp_path / "bin" / "pdflatex"
    killer.parent.mkdir()
    killer.write_text(f'#!/bin/sh\n{shutil.which("pdflatex")} "$@" &\nsleep 0.3\nkill -9 $!\nexit 1\n')
    killer.chmod(0o755)
    env = os.environ | {"PATH": f"{killer.parent}{os.pathsep}{os.environ['PATH']}"}
    run = cli("build", results, "-o", tmp_path / "out", env=env)
    assert run.returncode == 1 and "appendix.pdf failed" in run.stderr
    assert (tmp_path / "out" / ".figkit" / "latex" / "appendix.fdb_latexmk").exists()  # what used to wedge
    run = cli("build", results, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert "Comparison of routing methods" in pdf_text(tmp_path / "out" / "appendix.pdf")


def test_the_build_options_exist_once():
    """``build``'s keywords, ``BuildOptions`` and ``figkit build``'s flags are one list with one set of defaults."""
    import inspect
    from dataclasses import fields

    from figkit.cli import parser
    from figkit.pipeline import BuildOptions

    keywords = list(inspect.signature(build).parameters.values())[2:]
    defaults = {f.name: f.default for f in fields(BuildOptions)}
    assert [p.name for p in keywords] == list(defaults)
    assert {p.name: BuildOptions(**{p.name: p.default}) for p in keywords} == {n: BuildOptions() for n in defaults}
    args = parser().parse_args(["build", "r.json"])
    assert BuildOptions(**{name: getattr(args, name) for name in defaults}) == BuildOptions(quiet=False)
    with pytest.raises(ValueError, match="give --venue or --tex, not both"):
        BuildOptions(venue="icml", tex="main.tex")
    assert BuildOptions(style="paper, slide", only=["a,b", "c"]).only == ("a", "b", "c")


def test_the_build_underlines_the_second_best_when_asked_and_says_so(tmp_path):
    study = sections()
    study["methods"].append({"id": "bh10", "label": "BH other"})
    study["metrics"]["bh10"] = {"ppl": 18.5}
    results = write_results(tmp_path / "r.json", **study)
    run = cli("build", results, "-o", tmp_path / "out", "--only", "comparison", "--underline-second")
    assert run.returncode == 0, run.stderr
    markdown = (tmp_path / "out" / "tables" / "comparison.md").read_text()
    tex = (tmp_path / "out" / "tables" / "comparison.tex").read_text()
    assert "<ins>17.5</ins>" in markdown and "\\underline{17.5}" in tex  # PPL 17, 17.5, 18.5: lower is better
    assert "Underlined: the second best." in tex
