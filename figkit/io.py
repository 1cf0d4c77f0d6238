"""``figkit import``: results from where they live into a results file.

Each reader returns an ``Imported``: the sections it read (``series`` entries, and the methods they
name), what it took and what it left (tags or columns it could not use, listed rather than dropped).
``merge`` adds an ``Imported`` to a results file, new or existing, without losing what is there: a value
it would change is an error naming it unless ``replace``. Readers of other tools' files import those
tools only when called, and a missing one is one line naming the extra to install.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from figkit.results.checks import KEY

LAYER_TAG = re.compile(r"\A(?P<name>.+?)[/_.-]+layer[_-]?(?P<layer>\d+)\Z", re.IGNORECASE)
MAX_CSV_BYTES = 1 << 28  # a CSV of a few million logged values


@dataclass
class Imported:
    """What a reader read: ``series`` entries, the method ids they name, and notes on what it took and left."""

    series: list = field(default_factory=list)
    methods: list = field(default_factory=list)
    took: list = field(default_factory=list)
    left: list = field(default_factory=list)

    def add(self, other):
        self.series += other.series
        self.methods += [m for m in other.methods if m not in self.methods]
        self.took += other.took
        self.left += other.left
        return self


def series_name(tag):
    """A logged tag or column as a series name and layer: "train/lbl" -> ("train.lbl", None),
    "balance/cv/layer_3" -> ("balance.cv", 3). Characters a name may not hold become "_"."""
    match = LAYER_TAG.match(tag)
    name, layer = (match["name"], int(match["layer"])) if match else (tag, None)
    name = re.sub(r"[^A-Za-z0-9_.:+-]", "_", name.replace("/", ".")).strip(".") or "value"
    return name, layer


def method_id(text, what):
    """``text`` as a method id, or an error naming ``what`` it came from."""
    if not KEY.match(str(text)):
        raise ValueError(f"{what}: {text!r} cannot be a method id: use letters, digits and _ . : + -")
    return str(text)


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
    if new, its series added. A series already there with other values is an error naming it, unless
    ``replace``. Returns the path."""
    from figkit.results import load_results, write_results

    path = Path(results_path)
    results = dict(load_results(path)) if path.exists() else {"title": title or "Imported results"}
    results.pop("schema_version", None)
    methods = list(results.get("methods", []))
    known = {m["id"] for m in methods}
    methods += [{"id": m, "label": m} for m in imported.methods if m not in known]
    series = list(results.get("series", []))
    where = {(e["name"], e["method"], e.get("layer")): i for i, e in enumerate(series)}
    for entry in imported.series:
        key = (entry["name"], entry["method"], entry.get("layer"))
        if key not in where:
            where[key] = len(series)
            series.append(entry)
        elif series[where[key]] != entry:
            if not replace:
                layer = "" if key[2] is None else f", layer {key[2]}"
                raise ValueError(
                    f"{path}: series[{where[key]}] ({key[0]!r} of method {key[1]!r}{layer}) already holds other "
                    "values; pass --replace to overwrite it"
                )
            series[where[key]] = entry
    return write_results(path, **(results | {"methods": methods, "series": series}))
