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
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "r.json"), "--steps", "2"], check=True)
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
