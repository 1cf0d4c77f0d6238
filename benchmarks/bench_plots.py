"""Time each figkit figure (call + PDF save) against the direct seaborn way and the render floor.

    python benchmarks/bench_plots.py [--sizes 1000 100000 1000000 10000000] [--direct-limit N]

All three run in this process, in the same style, saving to PDF with TrueType fonts:
- figkit: the plot function with ``save_path``;
- direct: what a notebook does today (sns.histplot(kde=True), sns.boxplot on a long
  DataFrame, sns.regplot, sns.heatmap) and ``savefig``;
- floor: the same figure with nothing in it, saved to PDF.
The direct way is skipped above ``--direct-limit`` tokens (it takes minutes there).
Memory: peak allocation (tracemalloc, which sees numpy's buffers) during the figkit
call, relative to the size of its input arrays.
"""

import argparse
import gc
import os
import tempfile
import time
import tracemalloc

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

import figkit  # noqa: E402
from figkit.style import default_look  # noqa: E402

LAYERS = 16
EXPERTS = 64
OUT = tempfile.mkdtemp(prefix="figkit-bench-")


def data(n, rng):
    """Synthetic routing results for n tokens."""
    ids = np.minimum(rng.zipf(1.2, n), 50_000) - 1
    counts = np.clip(rng.poisson(4 + 0.3 * np.log1p(ids)), 1, 8)
    return {
        "counts": counts,
        "layers": np.clip(rng.poisson(3 + 0.2 * np.arange(LAYERS)[:, None], (LAYERS, n)), 1, 8),
        "ids": ids,
        "weights": rng.random((min(n, 1_000_000), EXPERTS), dtype=np.float32),
        "tokens": [f"t{i}" for i in range(min(n, 1_000_000))],
    }


def pdf(kind, name):
    return os.path.join(OUT, f"{kind}-{name.replace(' ', '_')}.pdf")


def figkit_calls(d):
    path = {
        name: pdf("figkit", name)
        for name in ("count distribution", "layer-wise box plots", "token complexity", "routing heatmap")
    }
    return {
        "count distribution": (
            lambda: figkit.plot_expert_count_distribution(d["counts"], save_path=path["count distribution"]),
            [d["counts"]],
        ),
        "layer-wise box plots": (
            lambda: figkit.plot_layer_wise_routing(d["layers"], save_path=path["layer-wise box plots"]),
            [d["layers"]],
        ),
        "token complexity": (
            lambda: figkit.plot_token_complexity_vs_experts(d["ids"], d["counts"], save_path=path["token complexity"]),
            [d["ids"], d["counts"]],
        ),
        "routing heatmap": (
            lambda: figkit.plot_routing_heatmap(d["weights"], d["tokens"], save_path=path["routing heatmap"]),
            [d["weights"]],
        ),
    }


def direct_calls(d):
    def histogram(ax):
        sns.histplot(d["counts"], discrete=True, kde=True, stat="proportion", ax=ax)

    def boxes(ax):
        long = pd.DataFrame(
            {"layer": np.repeat(np.arange(LAYERS), d["layers"].shape[1]), "experts": d["layers"].ravel()}
        )
        sns.boxplot(long, x="layer", y="experts", hue="layer", palette="Blues", legend=False, ax=ax)

    def regression(ax):
        sns.regplot(x=1 / (d["ids"] + 1.0), y=d["counts"], logx=True, scatter_kws={"alpha": 0.5}, ax=ax)
        ax.set_xscale("log")

    def heatmap(ax):
        sns.heatmap(d["weights"][:50, :32], cmap="Reds", ax=ax, cbar_kws={"label": "Routing weight"})

    return {
        "count distribution": histogram,
        "layer-wise box plots": boxes,
        "token complexity": regression,
        "routing heatmap": heatmap,
    }


def small_figures(rng):
    """The figures whose input does not grow with the tokens: a sweep and 64 expert loads."""
    alphas, avg, std = [0.01, 0.05, 0.1, 0.2], [3.2, 4.5, 5.8, 6.9], [0.5, 0.8, 0.9, 1.0]
    load = rng.poisson(50_000, EXPERTS)

    def sweep(ax):
        ax.errorbar(alphas, avg, yerr=std, marker="o", capsize=4)
        ax.axhline(8, linestyle="--")
        ax.fill_between(alphas, avg, 8, alpha=0.2)
        ax.set_xscale("log")

    def loads(ax):
        sns.barplot(x=np.arange(EXPERTS), y=load, ax=ax)
        ax.axhline(load.mean(), linestyle="--")

    return {
        "alpha sensitivity": (
            lambda: figkit.plot_alpha_sensitivity(alphas, avg, std, save_path=pdf("figkit", "a")),
            sweep,
        ),
        "expert utilisation": (lambda: figkit.plot_expert_utilization(load, save_path=pdf("figkit", "u")), loads),
    }


def timed(make, repeats):
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fig = make()
        best = min(best, time.perf_counter() - start)
        plt.close(fig)
    return best


def direct(draw, name):
    def make():
        with default_look():
            fig, ax = plt.subplots()
            draw(ax)
            fig.savefig(pdf("direct", name))
        return fig

    return make


def floor():
    with default_look():
        fig, ax = plt.subplots()
        ax.set_title("t", y=1.0)  # as figkit places titles
        fig.savefig(os.path.join(OUT, "floor.pdf"))
    return fig


def peak_memory(make, inputs):
    gc.collect()
    tracemalloc.start()
    plt.close(make())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / sum(a.nbytes for a in inputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000, 10_000_000])
    parser.add_argument("--direct-limit", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    render_floor = timed(floor, 5)
    print(f"render floor (empty styled figure saved to PDF): {render_floor:.3f} s\n")
    print(
        "| figure | tokens | figkit (s) | × floor | figkit PDF (KiB) | direct seaborn (s) | direct / figkit "
        "| direct PDF (KiB) | peak memory / input |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (make, draw) in small_figures(rng).items():
        ours, theirs = timed(make, 3), timed(direct(draw, name), 3)
        print(
            f"| {name} | — | {ours:.3f} | {ours / render_floor:.1f}× | — | {theirs:.2f} | {theirs / ours:.1f}× | — | |",
            flush=True,
        )
    for n in args.sizes:
        d = data(n, rng)
        direct_draws = direct_calls(d)
        for name, (make, inputs) in figkit_calls(d).items():
            ours = timed(make, 3 if n <= 1_000_000 else 1)
            memory = f"{peak_memory(make, inputs):.2f}×" if n >= 1_000_000 else ""
            if n <= args.direct_limit:
                theirs = timed(direct(direct_draws[name], name), 1)
                versus = f"{theirs:.2f} | {theirs / ours:.1f}× | {kib('direct', name)}"
            else:
                versus = "— | — | —"
            shown = min(n, len(d["weights"])) if name == "routing heatmap" else n
            print(
                f"| {name} | {shown:,} | {ours:.3f} | {ours / render_floor:.1f}× | {kib('figkit', name)} "
                f"| {versus} | {memory} |",
                flush=True,
            )
        del d
    print(f"\noutputs in {OUT}")


def kib(kind, name):
    return f"{os.path.getsize(pdf(kind, name)) / 1024:,.0f}"


if __name__ == "__main__":
    main()
