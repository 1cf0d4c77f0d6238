"""What embedding TrueType (Type 42) fonts costs per PDF, against Type 3, in each figkit style.

python benchmarks/bench_fonts.py
"""

import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import figkit  # noqa: E402

REPEATS = 9


def save_time(fig, fonttype):
    times = []
    for _ in range(REPEATS):
        with matplotlib.rc_context({"pdf.fonttype": fonttype}):
            start = time.perf_counter()
            fig.savefig(io.BytesIO(), format="pdf")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    counts = np.random.default_rng(0).integers(1, 9, 100_000)
    print("| style | Type 3 (s) | Type 42 (s) | extra per PDF (s) |")
    print("|---|---:|---:|---:|")
    for names in (("notebook",), ("paper",), ("paper-cm",), ("paper", "colourblind"), ("slide",)):
        with figkit.use_style(*names):
            fig = figkit.plot_expert_count_distribution(counts, "BH routing")
            type3, type42 = save_time(fig, 3), save_time(fig, 42)
        plt.close(fig)
        print(f"| {' + '.join(names)} | {type3:.3f} | {type42:.3f} | {type42 - type3:.3f} |")


if __name__ == "__main__":
    main()
