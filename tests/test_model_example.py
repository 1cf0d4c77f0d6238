"""model_example/route_olmoe.py: from a small OLMoE (built offline) to a results file figkit builds."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from figkit import load_results

SCRIPT = Path(__file__).resolve().parent.parent / "model_example" / "route_olmoe.py"


@pytest.mark.slow
def test_the_model_example_writes_a_results_file_with_perplexity_under_each_rule(tmp_path):
    runs = tmp_path / "runs" / "topk8"
    subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "r.json"), "--steps", "2", "--log-dir", runs], check=True
    )
    results = load_results(tmp_path / "r.json")
    metrics = results["metrics"]
    assert metrics["topk8"]["avg_experts"] == 8
    means = [metrics[f"bh{a:02d}"]["avg_experts"] for a in (1, 5, 10, 20)]
    assert means == sorted(means) and 1 <= means[0] < 8  # a larger alpha keeps more experts
    assert all(math.isfinite(m["perplexity"]) and m["perplexity"] > 1 for m in metrics.values())
    assert [e["layer"] for e in results["expert_counts"] if e["method"] == "topk8"] == [0, 1, 2, 3]
    assert {e["method"] for e in results["token_stats"]} == set(metrics)
    assert results["token_strings"]["101"] == "e"  # byte-level: the text's own characters
    domains = {(e["domain"], e["num_tokens"]) for e in results["domain_load"] if e["method"] == "topk8"}
    assert {d for d, _ in domains} == {"Markdown", "Python", "LaTeX"}  # held-out text of each, labelled
    layer0 = next(e for e in results["expert_counts"] if e["method"] == "topk8" and e["layer"] == 0)
    assert sum(n for _, n in domains) == sum(layer0["histogram"].values())  # every held-out token, once
    following = [e for e in results["vocabulary"] if e["method"] == "topk8" and e.get("token") == "next"]
    assert [e["layer"] for e in following] == [0, 1, 2, 3]
    (saturation,) = results["router_saturation"]
    assert saturation["k"] == 8 and saturation["layers"] == [0, 1, 2, 3] and len(saturation["values"]) >= 1

    # Its training, logged to TensorBoard as a training script does, read back by figkit import.
    imported = subprocess.run(
        [sys.executable, "-m", "figkit", "import", str(runs), "--method", "topk8", "-o", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    series = {(e["name"], e.get("layer")): e for e in load_results(tmp_path / "r.json")["series"]}
    assert sorted(series) == sorted(
        [("train.lm_loss", None), ("train.load_balancing_loss", None), ("routing.bh05_experts_per_token", None)]
        + [("balance.load_cv", layer) for layer in range(4)]
    )
    assert all(e["steps"] == [1, 2] and e["method"] == "topk8" for e in series.values())
    assert all(4 < loss < 7 for loss in series[("train.lm_loss", None)]["values"])  # about ln 256 at the start
    assert all(1 <= n <= 8 for n in series[("routing.bh05_experts_per_token", None)]["values"])
    assert all(value >= 0 for layer in range(4) for value in series[("balance.load_cv", layer)]["values"])
