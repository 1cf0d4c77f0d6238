"""Weights & Biases runs kept on disk (``wandb offline``, or any run's ``run-<id>.wandb`` log), read through
the reader wandb ships (``wandb leet inspect --json``): each run a method, each logged key a series over
the steps, each key only in the summary (set at the end) a metric."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

from figkit.io.imported import Imported, a_key, add_metric, add_points, method_id

TIMEOUT = 300  # seconds for wandb to print one run's log
MAX_OUTPUT = 1 << 30  # bytes of records one run may print


def read_wandb(path, *, method=None, step_unit="steps"):
    """The runs under ``path``: a ``wandb`` folder, a run folder or a ``.wandb`` file.

    A run is the method of its name (``method`` names a single run); runs of one name (a resumed run)
    are read in the order they started, a step logged twice keeping its last value. Keys wandb adds
    itself (``_step``, ``_runtime``, ...) are not read; media and other values that are not numbers are
    listed as left. Numeric config values become the method's params.
    """
    if importlib.util.find_spec("wandb") is None:
        raise ImportError("reading W&B runs needs wandb: pip install 'figkit[wandb]'")
    root = Path(path)
    logs = [root] if root.is_file() else sorted({p.resolve() for p in root.rglob("run-*.wandb")})
    if not logs:
        raise ValueError(f"{root}: no W&B run logs (run-<id>.wandb) in it")
    runs = [_records(log) for log in logs]
    names = {method or run["name"] for run in runs}
    if method and len(runs) > 1:
        raise ValueError(f"{root}: {len(runs)} runs, each a method named after it; --method names a single run")
    imported = Imported()
    for name in sorted(names, key=lambda n: min(r["started"] for r in runs if (method or r["name"]) == n)):
        own = sorted((r for r in runs if (method or r["name"]) == name), key=lambda r: r["started"])
        run_method = method_id(a_key(name), f"{root}: run {own[0]['id']}")
        _read_runs(own, run_method, step_unit, imported)
    return imported


def _records(log):
    """A run's log as wandb prints it: its name, id, start, config, history rows and last summary."""
    command = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(log)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{log}: wandb took over {TIMEOUT} s to read it") from None
    if done.returncode != 0 or len(done.stdout) > MAX_OUTPUT:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"{log}: wandb could not read it ({said[-1] if said else f'exit {done.returncode}'})")
    run = {"name": None, "id": log.stem.removeprefix("run-"), "started": "", "config": {}, "history": []}
    run["summary"] = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        kind = record.get("type")
        if kind == "run":
            body = record["run"]
            run |= {"name": body.get("display_name"), "id": body.get("run_id", run["id"])}
            run |= {"started": body.get("start_time", ""), "config": body.get("config", {}).get("update", {})}
        elif kind == "config":
            run["config"] |= record["config"].get("update", {})
        elif kind == "history":
            body = record["history"]
            run["history"].append((int(body.get("step", {}).get("num", 0)), body.get("item", {})))
        elif kind == "summary":
            run["summary"] |= record["summary"].get("update", {})
    run["name"] = run["name"] or run["id"]
    return run


def _read_runs(runs, method, step_unit, imported):
    """One method from its runs (one, or a run and its resumptions)."""
    where = f"run {runs[0]['name']} ({', '.join(r['id'] for r in runs)})"
    points, left, media = {}, set(), {}
    for run in runs:
        for step, item in run["history"]:
            media |= _media(item)
            for key, value in item.items():
                if key.startswith("_") or key.rpartition(".")[0] in media:
                    continue
                if _number(value):
                    points.setdefault(key, []).append((step, float(value)))
                else:
                    left.add(key)
    for key, logged in points.items():
        add_points(imported, method, key, logged, step_unit, f"{where}:{key}")
    imported.left += [f"{where}: {key!r} ({kind}: figkit reads numbers)" for key, kind in sorted(media.items())]
    imported.left += [f"{where}: {key!r} (not numbers)" for key in sorted(left - set(points))]
    summary = runs[-1]["summary"]
    media |= _media(summary)
    for key, value in summary.items():
        if key.startswith("_") or key in points or key in left or key.rpartition(".")[0] in media:
            continue
        if not _number(value):
            imported.left.append(f"{where}: summary {key!r} (not a number)")
            continue
        add_metric(imported, method, key, value, where)
    params = {a_key(k): v for k, v in runs[-1]["config"].items() if not k.startswith("_") and _number(v)}
    imported.methods.append(method)
    imported.method_info[method] = {"label": runs[0]["name"]} | ({"params": params} if params else {})


def _media(item):
    """Keys of logged media (an image, a table), which wandb writes as ``<key>._type`` and other fields."""
    return {key.removesuffix("._type"): value for key, value in item.items() if key.endswith("._type")}


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
