"""``figkit import``: results from where they live into a results file.

Each reader returns an ``Imported``: the sections it read (``series`` entries over training, ``metrics``
with their ``metric_info``, and the methods they name), what it took and what it left (tags, columns or
keys it could not use, listed rather than dropped). ``merge`` adds an ``Imported`` to a results file, new
or existing, without losing what is there: a value it would change is an error naming it unless
``replace``. Readers of other tools' files import those
tools only when called, and a missing one is one line naming the extra to install.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from figkit.results.checks import KEY

LAYER_TAG = re.compile(r"\A(?P<name>.+?)[/_.-]+layer[_-]?(?P<layer>\d+)\Z", re.IGNORECASE)
MAX_CSV_BYTES = 1 << 28  # a CSV of a few million logged values
MAX_JSON_BYTES = 1 << 26  # an lm-evaluation-harness results file of every task it has is a few MB
# What an lm-evaluation-harness results file holds besides its scores: read for metric_info or left on purpose.
LM_EVAL_KEYS = {"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better"}
LM_EVAL_KEYS |= {"n-samples", "config", "git_hash", "date", "pretty_env_info", "transformers_version"}
LM_EVAL_KEYS |= {"lm_eval_version", "upper_git_hash", "task_hashes", "model_source", "model_name"}
LM_EVAL_KEYS |= {"model_name_sanitized", "system_instruction", "system_instruction_sha", "fewshot_as_multiturn"}
LM_EVAL_KEYS |= {"chat_template", "chat_template_sha", "start_time", "end_time", "total_evaluation_time_seconds"}
LM_EVAL_KEYS |= {"tokenizer_pad_token", "tokenizer_eos_token", "tokenizer_bos_token", "eot_token_id", "max_length"}
LM_EVAL_TASK_KEYS = {"alias", "name", "sample_len", "sample_count", "samples"}  # describe a task, are no scores


@dataclass
class Imported:
    """What a reader read: ``series`` entries, the method ids they name, and notes on what it took and left."""

    series: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    metric_info: dict = field(default_factory=dict)
    methods: list = field(default_factory=list)
    took: list = field(default_factory=list)
    left: list = field(default_factory=list)

    def add(self, other):
        self.series += other.series
        for method, row in other.metrics.items():
            self.metrics.setdefault(method, {}).update(row)
        self.metric_info |= other.metric_info
        self.methods += [m for m in other.methods if m not in self.methods]
        self.took += other.took
        self.left += other.left
        return self


def series_name(tag):
    """A logged tag or column as a series name and layer: "train/lbl" -> ("train.lbl", None),
    "balance/cv/layer_3" -> ("balance.cv", 3). Characters a name may not hold become "_"."""
    match = LAYER_TAG.match(tag)
    name, layer = (match["name"], int(match["layer"])) if match else (tag, None)
    return a_key(name.replace("/", ".")), layer


def method_id(text, what):
    """``text`` as a method id, or an error naming ``what`` it came from."""
    if not KEY.match(str(text)):
        raise ValueError(f"{what}: {text!r} cannot be a method id: use letters, digits and _ . : + -")
    return str(text)


def a_key(text):
    """``text`` with every character a results-file key may not hold as "_"."""
    return re.sub(r"[^A-Za-z0-9_.:+-]", "_", str(text)).strip(".") or "value"


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


def read(source, *, method=None, mapping=None, step_unit="steps"):
    """What ``source`` holds, by its kind: a folder of TensorBoard event files, an lm-evaluation-harness
    results file or folder of them, or a CSV file (``mapping`` names its columns)."""
    source = Path(source)
    if source.is_dir():
        if any(source.rglob("events.out.tfevents.*")):
            return read_tensorboard(source, method=method, step_unit=step_unit)
        if any(source.rglob("results*.json")):
            return read_lm_eval(source, method=method)
    elif source.suffix.lower() == ".csv":
        return read_csv(source, mapping=mapping, method=method, step_unit=step_unit)
    elif source.suffix.lower() == ".json":
        return read_lm_eval(source, method=method)
    if not source.exists():
        raise ValueError(f"{source}: no such file or folder")
    raise ValueError(
        f"{source}: figkit import reads a folder of TensorBoard event files, lm-evaluation-harness results "
        "(results_<date>.json or their folder) or a .csv file"
    )


def read_tensorboard(logdir, *, method=None, step_unit="steps"):
    """Every scalar tag of the TensorBoard event files under ``logdir``, as series.

    A folder of runs (subfolders with event files) gives one method per run, named after the run;
    a single run is ``method`` (default: the folder's name). Tags ending in a layer number
    ("balance/cv/layer_3") are that layer's. Read with TensorBoard's own event reader
    (``pip install 'figkit[tensorboard]'``).
    """
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        raise ImportError("reading TensorBoard files needs tensorboard: pip install 'figkit[tensorboard]'") from None
    root = Path(logdir)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder of TensorBoard event files")
    runs = sorted({path.parent for path in root.rglob("events.out.tfevents.*") if path.is_file()})
    if not runs:
        raise ValueError(f"{root}: no TensorBoard event files (events.out.tfevents.*) in it")
    if method and len(runs) > 1:
        raise ValueError(f"{root}: {len(runs)} runs, each a method named after it; --method names a single run")
    imported = Imported()
    for run in runs:
        where = run.relative_to(root).as_posix()
        shown = root.name if where == "." else f"{root.name}/{where}"  # the run, as sources and notes name it
        name = method or (root.name if where == "." else where.replace("/", "."))
        run_method = method_id(name, f"{root}: run {where}")
        events = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
        events.Reload()
        tags = events.Tags()
        for tag in tags.get("scalars", []):
            points = [(p.step, _float32(p.value)) for p in events.Scalars(tag)]
            _add_points(imported, run_method, tag, points, step_unit, f"{shown}:{tag}")
        for kind in ("images", "audio", "histograms", "tensors", "distributions"):
            left = [f"{shown}: {kind} tag {tag!r} (figkit reads scalars)" for tag in tags.get(kind, [])]
            imported.left += left
        if run_method not in imported.methods:
            imported.methods.append(run_method)
    return imported


def _float32(value):
    """A float32 TensorBoard value as its shortest decimal (0.065, not 0.06499999761581421)."""
    import numpy as np

    return float(str(np.float32(value)))


def read_csv(path, *, mapping=None, method=None, step_unit="steps"):
    """Each numeric column of a CSV as a series over its ``step`` column.

    ``mapping`` names the columns figkit needs (``{"step": "global_step", "method": "run", "layer": "l"}``);
    by default ``step``, ``method`` and ``layer``. Without a method column, every row is ``method``
    (default: the file's stem). Columns with text, and empty cells, are listed as left.
    """
    path = Path(path)
    roles = {"step": "step", "method": "method", "layer": "layer"} | dict(mapping or {})
    if os.stat(path).st_size > MAX_CSV_BYTES:
        raise ValueError(f"{path}: larger than {MAX_CSV_BYTES >> 20} MiB")
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        raise ValueError(f"{path}: no rows under a header line")
    columns = list(rows[0])
    if roles["step"] not in columns:
        raise ValueError(f"{path}: no step column {roles['step']!r}; its columns: {', '.join(columns)} (use --map)")
    fixed = {roles[r] for r in ("step", "method", "layer") if roles[r] in columns}
    imported = Imported()
    groups = {}
    for number, row in enumerate(rows, start=2):
        name = row.get(roles["method"]) if roles["method"] in columns else (method or path.stem)
        run = method_id(name, f"{path}:{number}: {roles['method']}")
        layer = _whole(row[roles["layer"]], f"{path}:{number}: {roles['layer']}") if roles["layer"] in columns else None
        step = _whole(row[roles["step"]], f"{path}:{number}: {roles['step']}")
        groups.setdefault((run, layer), []).append((step, row))
    for column in (c for c in columns if c not in fixed):
        for (run, layer), points in groups.items():
            values = [(step, row[column]) for step, row in points if row[column] not in ("", None)]
            try:
                numbers = [(step, float(value)) for step, value in values]
            except ValueError:
                imported.left.append(f"{path}: column {column!r} (not numbers)")
                break
            tag = column if layer is None else f"{column}/layer_{layer}"
            _add_points(imported, run, tag, numbers, step_unit, f"{path}:{column}")
            if run not in imported.methods:
                imported.methods.append(run)
    return imported


def _whole(text, where):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a whole number, got {text!r}") from None
    if not value.is_integer() or value < 0:
        raise ValueError(f"{where}: expected a whole number of at least 0, got {text!r}")
    return int(value)


def _add_points(imported, method, tag, points, step_unit, source):
    """One series from (step, value) points: the last value of a step logged twice (a resumed run) kept,
    non-finite values left out and counted."""
    by_step = {}
    for step, value in points:
        by_step[int(step)] = float(value)
    finite = {step: value for step, value in sorted(by_step.items()) if math.isfinite(value)}
    if len(finite) < len(by_step):
        imported.left.append(f"{source}: {len(by_step) - len(finite)} values that are NaN or infinite")
    if not finite:
        return
    name, layer = series_name(tag)
    entry = {"name": name, "method": method, "steps": list(finite), "values": list(finite.values())}
    entry |= ({"layer": layer} if layer is not None else {}) | {"step_unit": step_unit, "source": str(source)}
    imported.series.append(entry)
    imported.took.append(f"{source} -> series {name!r}{'' if layer is None else f' layer {layer}'} of {method!r}")


def merge(results_path, imported, *, replace=False, title=None):
    """Write ``imported`` into the results file at ``results_path`` (made if missing): its methods declared
    if new, its series and metrics added, its metric_info added where the file describes the metric not
    yet (an author's own label stays). A series or metric already there with another value is an error
    naming it, unless ``replace``. Returns the path."""
    from figkit.results import load_results, write_results

    path = Path(results_path)
    results = dict(load_results(path)) if path.exists() else {"title": title or "Imported results"}
    results.pop("schema_version", None)
    methods = list(results.get("methods", []))
    known = {m["id"] for m in methods}
    methods += [{"id": m, "label": m} for m in imported.methods if m not in known]
    changed = {"methods": methods}

    def clash(where):
        if not replace:
            raise ValueError(f"{path}: {where} already holds another value; pass --replace to overwrite it")

    if imported.series:
        series = list(results.get("series", []))
        index = {(e["name"], e["method"], e.get("layer")): i for i, e in enumerate(series)}
        for entry in imported.series:
            key = (entry["name"], entry["method"], entry.get("layer"))
            if key not in index:
                index[key] = len(series)
                series.append(entry)
            elif series[index[key]] != entry:
                layer = "" if key[2] is None else f", layer {key[2]}"
                clash(f"series[{index[key]}] ({key[0]!r} of method {key[1]!r}{layer})")
                series[index[key]] = entry
        changed["series"] = series
    if imported.metrics:
        metrics = {method: dict(row) for method, row in results.get("metrics", {}).items()}
        for method, row in imported.metrics.items():
            held = metrics.setdefault(method, {})
            for name, value in row.items():
                if name in held and held[name] != value:
                    clash(f"metrics.{method}.{name}")
                held[name] = value
        changed["metrics"] = metrics
        described = results.get("metric_info", {})
        changed["metric_info"] = described | {k: v for k, v in imported.metric_info.items() if k not in described}
    return write_results(path, **(results | changed))
