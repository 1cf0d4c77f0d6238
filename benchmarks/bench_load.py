"""Loading a results file of raw per-token counts, and building from it: time and peak memory.

    python benchmarks/bench_load.py [MEGABYTES]   # default 1000: a 1 GB file

The file is what ``write_results(raw_counts=True)`` writes: 4 methods × 16 layers of per-token
counts, each a list of numbers on one line. Each case is a fresh Python process; its peak memory is
its maximum resident set size. The direct way is what a script does by hand: ``json.load`` and a
``Counter`` per list.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "load"
METHODS = ("topk8", "bh01", "bh05", "bh10")
LAYERS = 16

CASES = {
    "direct: json.load + Counter": (
        "import json, sys; from collections import Counter\n"
        "results = json.load(open(sys.argv[1]))\n"
        "[Counter(entry['values']) for entry in results['expert_counts']]"
    ),
    "figkit load_results": "import sys; from figkit import load_results; load_results(sys.argv[1])",
}
PEAK = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def write_raw_counts(path, megabytes):
    """Counts 1-9 as ``"3, "``: three bytes a token, written without making a Python int per token."""
    tokens = int(megabytes * 1e6 / 3 / (len(METHODS) * LAYERS))
    rng = np.random.default_rng(0)
    with open(path, "wb") as file:
        head = {"schema_version": 1, "model": {"num_layers": LAYERS, "num_experts": 64, "top_k": 8}}
        file.write(json.dumps(head | {"methods": [{"id": m} for m in METHODS]})[:-1].encode())
        file.write(b', "expert_counts": [\n')
        for i, (method, layer) in enumerate((m, layer) for m in METHODS for layer in range(LAYERS)):
            counts = np.full(tokens, 8) if method == "topk8" else rng.integers(1, 10, tokens)
            text = np.empty((tokens, 3), np.uint8)
            text[:, 0], text[:, 1], text[:, 2] = counts + ord("0"), ord(","), ord(" ")
            separator = ",\n" if i else ""
            file.write(f'{separator}  {{"method": "{method}", "layer": {layer}, "values": ['.encode())
            file.write(text.tobytes()[:-2] + b"]}")
        file.write(b"\n]}\n")
    return tokens * len(METHODS) * LAYERS


def run(code, *args):
    """(seconds, peak resident GB) of a fresh Python process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + PEAK, *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - start, int(done.stdout.split()[-1]) / 2**20


def build(results, out):
    code = "import sys; from figkit.cli import main\nassert main(['build', *sys.argv[1:], '-q', '--no-compile']) == 0"
    return run(code, str(results), "-o", str(out))


def main():
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 1000
    OUT.mkdir(parents=True, exist_ok=True)
    results = OUT / "raw_counts.json"
    tokens = write_raw_counts(results, megabytes)
    size = results.stat().st_size / 1e9
    print(f"{size:.2f} GB, {tokens:,} per-token counts\n")
    print("| case | seconds | peak memory (GB) | peak / file |\n|---|---:|---:|---:|")
    rows = {name: run(code, str(results)) for name, code in CASES.items()}
    shutil.rmtree(OUT / "build", ignore_errors=True)
    rows["figkit build, cold (--no-compile)"] = build(results, OUT / "build")
    rows["figkit build, no-op"] = build(results, OUT / "build")
    for name, (seconds, peak) in rows.items():
        print(f"| {name} | {seconds:.2f} | {peak:.2f} | {peak / size:.2f}× |")
    direct, loaded = rows["direct: json.load + Counter"], rows["figkit load_results"]
    print(f"\nload: {direct[0] / loaded[0]:.1f}× faster, {direct[1] / loaded[1]:.1f}× less memory than the direct way")
    results.unlink()


if __name__ == "__main__":
    main()
