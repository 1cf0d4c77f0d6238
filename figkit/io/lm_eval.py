"""lm-evaluation-harness results: each model a method, each task's score a metric with its standard error."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from figkit.io.imported import Imported, a_key, method_id

MAX_JSON_BYTES = 1 << 26  # an lm-evaluation-harness results file of every task it has is a few MB
# What an lm-evaluation-harness results file holds besides its scores: read for metric_info or left on purpose.
LM_EVAL_KEYS = {"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better"}
LM_EVAL_KEYS |= {"n-samples", "config", "git_hash", "date", "pretty_env_info", "transformers_version"}
LM_EVAL_KEYS |= {"lm_eval_version", "upper_git_hash", "task_hashes", "model_source", "model_name"}
LM_EVAL_KEYS |= {"model_name_sanitized", "system_instruction", "system_instruction_sha", "fewshot_as_multiturn"}
LM_EVAL_KEYS |= {"chat_template", "chat_template_sha", "start_time", "end_time", "total_evaluation_time_seconds"}
LM_EVAL_KEYS |= {"tokenizer_pad_token", "tokenizer_eos_token", "tokenizer_bos_token", "eot_token_id", "max_length"}
PROPORTIONS = {"acc", "acc_norm", "exact_match", "em", "f1"}  # fractions papers print as percentages
LM_EVAL_TASK_KEYS = {"alias", "name", "sample_len", "sample_count", "samples"}  # describe a task, are no scores


def read_lm_eval(path, *, method=None):
    """The scores of an lm-evaluation-harness run, as metrics with their metric_info.

    ``path`` is a results file (``results_<date>.json``) or a folder of them as ``--output_path`` writes
    it: one method per model folder, named after the model (its newest file is read). Each score
    ``"<metric>,<filter>"`` of a task or group becomes the metric ``<task>.<metric>`` (``.<filter>`` after
    it unless the filter is ``none``) with its standard error (``<metric>_stderr,<filter>``) and sample
    count; ``higher_is_better`` gives the direction. Keys the harness writes beside scores are read or
    left on purpose; any other key is listed as left.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(root.rglob("results*.json")) if root.is_dir() else []
    if not files:
        raise ValueError(f"{root}: no lm-evaluation-harness results file (results_<date>.json) there")
    newest = {}
    for file in files:  # the harness names each run's file by its date: the last name sorts newest
        newest[file.parent] = file
    if method and len(newest) > 1:
        raise ValueError(f"{root}: {len(newest)} models, each a method named after it; --method names a single run")
    imported = Imported()
    for file in newest.values():
        imported.add(_lm_eval_file(file, method))
    return imported


def _lm_eval_file(path, method):
    if os.stat(path).st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(f'{path}: not an lm-evaluation-harness results file (no "results" object)')
    run = method_id(method or _lm_eval_model(data, path), f"{path}: model name")
    imported = Imported(methods=[run])
    imported.left += [f"{path}: key {key!r}" for key in data if key not in LM_EVAL_KEYS]
    higher = data.get("higher_is_better") if isinstance(data.get("higher_is_better"), dict) else {}
    samples = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}
    shots = data.get("n-shot") if isinstance(data.get("n-shot"), dict) else {}
    groups = data.get("group_subtasks") if isinstance(data.get("group_subtasks"), dict) else {}
    for task, scores in data["results"].items():
        if not isinstance(scores, dict):
            imported.left.append(f"{path}: results.{task} (not an object of scores)")
            continue
        alias = str(scores.get("alias", task)).strip().removeprefix("- ").strip() or task
        n = _lm_eval_samples(samples.get(task), scores)
        for key, value in scores.items():
            metric, comma, filter_ = key.partition(",")
            if key in LM_EVAL_TASK_KEYS or (comma and metric.endswith("_stderr")):
                continue
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if not comma or number is None or not math.isfinite(number):
                imported.left.append(f"{path}: results.{task}.{key} = {value!r} (not a score)")
                continue
            name = a_key(f"{task}.{metric}" + ("" if filter_ == "none" else f".{filter_}"))
            entry = {"mean": float(number)} | _lm_eval_stderr(scores.get(f"{metric}_stderr,{filter_}"))
            imported.metrics.setdefault(run, {})[name] = entry | ({"n": n} if n else {})
            info = {"label": f"{alias} {metric}" + ("" if filter_ == "none" else f" ({filter_})")}
            info |= {"percent": True} if metric in PROPORTIONS and 0 <= number <= 1 else {}
            direction = (higher.get(task) or {}).get(metric) if isinstance(higher.get(task), dict) else None
            if isinstance(direction, bool):
                info["better"] = "higher" if direction else "lower"
            info["description"] = _lm_eval_description(task, metric, filter_, shots.get(task), n, groups.get(task))
            imported.metric_info[name] = info
            imported.took.append(f"{path.name}: results.{task}.{key} -> metric {name!r} of {run!r}")
    return imported


def _lm_eval_model(data, path):
    """The model an lm-evaluation-harness run evaluated, as a method id: its folder's or repository's name."""
    arguments = (data.get("config") or {}).get("model_args") if isinstance(data.get("config"), dict) else None
    if isinstance(arguments, str):  # older harness versions write "pretrained=...,dtype=..."
        arguments = dict(part.partition("=")[::2] for part in arguments.split(","))
    model = (arguments or {}).get("pretrained") if isinstance(arguments, dict) else None
    model = model or data.get("model_name") or path.parent.name
    return a_key(Path(str(model).rstrip("/")).name)


def _lm_eval_samples(counts, scores):
    """Documents a task's score averages over: the harness's effective count, else its sample length."""
    number = counts.get("effective") if isinstance(counts, dict) else scores.get("sample_len")
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None


def _lm_eval_stderr(value):
    """``{"stderr": s}``, or nothing where the harness wrote none ("N/A" when it did not bootstrap one)."""
    finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return {"stderr": float(value)} if finite else {}


def _lm_eval_description(task, metric, filter_, shots, n, subtasks):
    what = f"group {task} ({', '.join(map(str, subtasks))})" if isinstance(subtasks, list) else f"task {task}"
    parts = [f"lm-evaluation-harness {what}: {metric}"]
    parts += [f"filter {filter_}"] if filter_ != "none" else []
    parts += [f"{shots}-shot"] if isinstance(shots, int) and not isinstance(shots, bool) else []
    parts += [f"{n:,} documents"] if n else []
    return ", ".join(parts) + "."
