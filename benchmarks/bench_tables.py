"""A 10,000-row comparison table in LaTeX and Markdown: figkit against pandas and tabulate.

python benchmarks/bench_tables.py
"""

import statistics
import time

import numpy as np
import pandas as pd
from tabulate import tabulate

from figkit import create_comparison_table

ROWS = 10_000
REPEATS = 5


def timed(call):
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    rng = np.random.default_rng(0)
    results = {
        f"method {i}": {
            "perplexity": float(rng.normal(17, 1)),
            "avg_experts": float(rng.uniform(1, 8)),
            "accuracy": {"mean": float(rng.uniform(0.3, 0.4)), "std": float(rng.uniform(0, 0.02))},
        }
        for i in range(ROWS)
    }
    best = {"perplexity": "min", "accuracy": "max"}
    frame = pd.DataFrame(
        {m: {k: (v if isinstance(v, float) else v["mean"]) for k, v in row.items()} for m, row in results.items()}
    ).T

    def styled():
        return (
            frame.style.format(precision=2)
            .highlight_min(subset=["perplexity"], props="textbf:--rwrap;")
            .highlight_max(subset=["accuracy"], props="textbf:--rwrap;")
            .to_latex(hrules=True)
        )

    rows = [
        (
            "figkit LaTeX (bold best, mean ± std, escaping)",
            lambda: create_comparison_table(results, output_format="latex", best=best),
        ),
        ("figkit Markdown", lambda: create_comparison_table(results, output_format="markdown", best=best)),
        ("pandas Styler.to_latex (bold best, no escaping)", styled),
        ("pandas DataFrame.to_latex", lambda: frame.to_latex(float_format="%.2f")),
        ("tabulate latex_booktabs", lambda: tabulate(frame, headers="keys", tablefmt="latex_booktabs", floatfmt=".2f")),
        ("tabulate github", lambda: tabulate(frame, headers="keys", tablefmt="github", floatfmt=".2f")),
    ]
    print(f"| {ROWS:,} rows × 3 metrics | median of {REPEATS} (s) |")
    print("|---|---:|")
    for name, call in rows:
        print(f"| {name} | {timed(call):.3f} |")


if __name__ == "__main__":
    main()
