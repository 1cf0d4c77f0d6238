"""`figkit build` on the example paper and on large results files, each case a fresh `figkit` process.

    python benchmarks/bench_build.py

Cases: cold (nothing built), no-op (nothing changed), one method changed, with --jobs 1 and 2,
without LaTeX (--no-compile) and with it. The direct way it is compared with is a hand-made
Makefile rule re-running a plotting script: every figure, one after another, on every `make` —
the cold --jobs 1 build. The goal for a cold build is 3 × (sum of the figures' render floors) /
cores, the floor being the same empty styled figure saved to PDF.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "build"
sys.path.insert(0, str(ROOT / "paper_example"))

import make_results  # noqa: E402

import figkit  # noqa: E402
from figkit.pipeline import plan  # noqa: E402

REPEATS = 3


def figkit_build(results, out, *args):
    """Seconds for one `figkit build` process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "figkit", "build", str(results), "-o", str(out), "-q", *args], check=True)
    return time.perf_counter() - start


def cold(results, out, *args):
    times = []
    for _ in range(REPEATS):
        shutil.rmtree(out, ignore_errors=True)
        times.append(figkit_build(results, out, *args))
    return statistics.median(times)


def noop(results, out, *args):
    figkit_build(results, out, *args)
    return statistics.median(figkit_build(results, out, *args) for _ in range(5))


def one_method_changed(results, out, sections, *args):
    """bh05's metrics and its layer-0 histogram change; everything else stays."""
    times = []
    for i in range(REPEATS):
        write(results, sections)
        figkit_build(results, out, *args)
        changed = json.loads(json.dumps(sections, default=lambda a: a.tolist()))
        changed["metrics"]["bh05"]["recall"] += 0.01 * (i + 1)
        entry = next(e for e in changed["expert_counts"] if e["method"] == "bh05" and e["layer"] == 0)
        entry["values"][0] = 1 + entry["values"][0] % 8
        write(results, changed)
        times.append(figkit_build(results, out, *args))
    write(results, sections)
    return statistics.median(times)


def write(path, sections):
    figkit.write_results(path, **sections)


def render_floor(results):
    """Seconds to save, in the paper style, one empty figure per figure job of the build."""
    import matplotlib.pyplot as plt

    from figkit.style import figure_bytes, use_style

    jobs = [job for job in plan(figkit.load_results(results)) if job.outputs[0].startswith("figures/")]
    with use_style("paper"):
        figure_bytes(plt.figure())  # warm: fonts loaded once, as in a worker
        start = time.perf_counter()
        for _ in jobs:
            fig = plt.figure()
            fig.add_subplot()
            figure_bytes(fig)
            plt.close(fig)
    return time.perf_counter() - start, len(jobs)


def large_files():
    """10M tokens as histograms (2 methods × 16 layers) and 1M raw counts plus 1M token statistics."""
    rng = np.random.default_rng(0)
    methods = [{"id": "topk8", "label": "Top-8"}, {"id": "bh05", "label": "BH ($\\alpha$ = 0.05)"}]
    per_layer = 10_000_000 // 32
    histograms = {
        "methods": methods,
        "expert_counts": [
            {"method": m["id"], "layer": layer, "values": np.clip(rng.poisson(3 + layer / 8, per_layer), 1, 8)}
            for m in methods
            for layer in range(16)
        ],
    }
    ids = np.minimum(rng.zipf(1.2, 1_000_000), 50_000) - 1
    raw = {
        "methods": methods,
        "expert_counts": [
            {"method": "bh05", "layer": layer, "values": np.clip(rng.poisson(3, 250_000), 1, 8)} for layer in range(4)
        ],
        "token_stats": {"method": "bh05", "token_ids": ids, "expert_counts": np.clip(rng.poisson(3, ids.size), 1, 8)},
    }
    return {"10M tokens, histograms": (histograms, False), "1M raw counts + 1M token stats": (raw, True)}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    results = OUT / "results.json"
    sections = make_results.results()
    write(results, sections)
    out = OUT / "example"
    floor, figures = render_floor(results)
    cores = os.cpu_count()
    rows = []
    for jobs in ("1", "2"):
        rows.append((f"cold, --jobs {jobs}, no LaTeX", cold(results, out, "--no-compile", "-j", jobs)))
    rows.append(("cold, --jobs 2, with the appendix PDF", cold(results, out, "-j", "2")))
    rows.append(("no-op, with the appendix PDF", noop(results, out)))
    for jobs in ("1", "2"):
        rows.append(
            (
                f"one method changed, --jobs {jobs}, with the appendix PDF",
                one_method_changed(results, out, sections, "-j", jobs),
            )
        )
    direct = rows[0][1]
    print(f"Example: {figures} figures, 2 tables, macros, appendix; {cores} cores.")
    print(
        f"Sum of the figures' render floors: {floor:.2f} s; goal for a cold build without LaTeX: "
        f"3 × {floor:.2f} / {cores} = {3 * floor / cores:.2f} s.\n"
    )
    print("| example build | seconds (median) | direct (re-run script) / this |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {direct / seconds:.1f}× |")

    print(
        "\n| large results file | file (MB) | json.load (s) | load_results (s) | cold build, no LaTeX (s) | no-op (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, (data, raw) in large_files().items():
        path = OUT / f"{name.split(',')[0].replace(' ', '_')}.json"
        figkit.write_results(path, raw_counts=raw, **data)
        start = time.perf_counter()
        with open(path) as file:
            json.load(file)
        parse = time.perf_counter() - start
        start = time.perf_counter()
        figkit.load_results(path)
        load = time.perf_counter() - start
        folder = OUT / f"large-{path.stem}"
        build_time = cold(path, folder, "--no-compile")
        print(
            f"| {name} | {path.stat().st_size / 1e6:.1f} | {parse:.2f} | {load:.2f} | {build_time:.2f} | "
            f"{noop(path, folder, '--no-compile'):.2f} |"
        )


if __name__ == "__main__":
    main()
