"""What sizing for the paper costs: measuring a paper, measuring a table in it, and builds with --tex.

    python benchmarks/bench_page.py

The example paper's ``main.tex`` is the paper. measure_tex is timed cold (a fresh cache: one pdflatex
probe of the preamble) and cached (its inputs' digests checked); measure_tabular is one probe per
table. The direct way for a build is the same build without --tex (the figures at the style's own
size): a no-op with --tex must stay a no-op.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "paper_example"
OUT = ROOT / "benchmarks" / "out" / "page"
REPEATS = 5

from figkit.geometry import measure_tabular, measure_tex  # noqa: E402
from figkit.tables import create_comparison_table  # noqa: E402


def seconds(call, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build(out, *args):
    command = [sys.executable, "-m", "figkit", "build", str(EXAMPLE / "results.json"), "-o", str(out), "-q", *args]
    subprocess.run(command, check=True, cwd=EXAMPLE)


def main():
    if not (EXAMPLE / "results.json").is_file():
        subprocess.run([sys.executable, "make_results.py", "results.json"], cwd=EXAMPLE, check=True)
    paper = EXAMPLE / "main.tex"

    def cold_measure():
        with tempfile.TemporaryDirectory() as cache:
            os.environ["XDG_CACHE_HOME"] = cache
            measure_tex(paper)

    cold = seconds(cold_measure)
    os.environ.pop("XDG_CACHE_HOME", None)
    measure_tex(paper)
    cached = seconds(lambda: measure_tex(paper), 20)
    table = create_comparison_table({"Top-8": {"PPL": 16.98, "Experts": 8.0}}, output_format="latex")
    tabular = seconds(lambda: measure_tabular(paper, table))
    print(f"measure_tex cold (one pdflatex probe): {cold:.3f} s; cached: {1000 * cached:.1f} ms")
    print(f"measure_tabular (one probe per table): {tabular:.3f} s")

    rows = []
    for name, args in (("style's size", ["--no-compile"]), ("--tex main.tex", ["--no-compile", "--tex", "main.tex"])):
        out = OUT / name.replace(" ", "_").replace("'", "")

        def cold_build(out=out, args=args):
            shutil.rmtree(out, ignore_errors=True)
            build(out, *args)

        cold_seconds = seconds(cold_build, 3)
        noop = seconds(lambda out=out, args=args: build(out, *args))
        rows.append((name, cold_seconds, noop))
    print("| example build, no LaTeX | cold (s) | no-op (s) |\n|---|---:|---:|")
    for name, cold_build, noop in rows:
        print(f"| {name} | {cold_build:.2f} | {noop:.2f} |")
    print(f"no-op with --tex / without: {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
