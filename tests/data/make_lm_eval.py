"""Run lm-evaluation-harness offline on two small OLMoE models and keep the results files it writes.

    python tests/data/make_lm_eval.py      # needs lm_eval, transformers and torch (a few minutes on CPU)

The models are transformers' OlmoeForCausalLM built from a config (2 layers, 16 experts, byte-level
tokenizer, untrained), routing with top-2 and with top-8; their scores are near chance, which is all the
tests need: the files are the harness's own, with its groups, filters, standard errors and "N/A". The
tasks are local (tests/data/lm_eval/tasks: YAML and the JSONL this script writes): multiple choice
(toy_arith, toy_plural, grouped as toy_suite), generation with two filters (toy_copy) and rolling
log-likelihood (toy_text, whose perplexities the harness gives no standard error).
The results land in tests/data/lm_eval/<model>/results_<date>.json, one folder per model.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).with_name("lm_eval")
TASKS = HERE / "tasks"
MODELS = {"topk2": 2, "topk8": 8}
WORDS = ["cat", "dog", "tree", "house", "river", "stone", "cloud", "light", "paper", "music", "field", "glass"]


def write_tasks():
    rng = random.Random(0)
    rows = {"arith": [], "plural": [], "copy": [], "text": []}
    for _ in range(40):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        choices = [str(a + b), *map(str, rng.sample([x for x in range(2, 19) if x != a + b], 3))]
        rng.shuffle(choices)
        rows["arith"].append({"question": f"{a} + {b} =", "choices": choices, "answer": choices.index(str(a + b))})
    for word in WORDS * 2:
        choices = [word + "s", word + "es", word + "ies", word]
        rng.shuffle(choices)
        rows["plural"].append({"question": f"One {word}, two", "choices": choices, "answer": choices.index(word + "s")})
    rows["copy"] = [{"word": word} for word in WORDS]
    sentences = Path(__file__).resolve().parents[2].joinpath("README.md").read_text().split(". ")
    rows["text"] = [{"text": s.strip()} for s in sentences[:16] if s.strip()]
    for name, items in rows.items():
        (TASKS / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in items))


def build_model(folder, top_k):
    import torch
    import transformers

    tokenizer = transformers.ByT5Tokenizer()
    config = transformers.OlmoeConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        num_experts=16,
        num_experts_per_tok=top_k,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    transformers.OlmoeForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def main():
    write_tasks()
    offline = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as work:
        for data in TASKS.glob("*.jsonl"):  # the tasks' data_files are relative to where the harness runs
            shutil.copy(data, work)
        for name, top_k in MODELS.items():
            build_model(Path(work) / name, top_k)
            shutil.rmtree(HERE / name, ignore_errors=True)
            command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--device", "cpu", "--batch_size", "8"]
            command += ["--model_args", f"pretrained={name},dtype=float32", "--include_path", str(TASKS)]
            command += ["--tasks", "toy_suite,toy_copy,toy_text", "--output_path", str(HERE)]
            subprocess.run(command, cwd=work, env=offline, check=True)
    for result in sorted(HERE.glob("*/results_*.json")):
        print(f"{result.relative_to(HERE.parent)}: {result.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
