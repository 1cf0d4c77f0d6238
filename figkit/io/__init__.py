"""``figkit import``: results from where they live into a results file.

Each reader returns an ``Imported``: the sections it read (``series`` entries over training, ``metrics``
with their ``metric_info``, the routing sections of saved router logits, and the methods they name), what
it took and what it left (tags, columns or keys it could not use, listed rather than dropped). ``merge``
adds an ``Imported`` to a results file, new or existing, without losing what is there: a value it would
change is an error naming it unless ``replace``. ``read`` picks the reader by what a source is. One
reader per module; those of other tools' files import those tools only when called, and a missing one
is one line naming the extra to install.
"""

from __future__ import annotations

from pathlib import Path

from figkit.io.csv_logs import read_csv
from figkit.io.imported import Imported, series_name
from figkit.io.lm_eval import read_lm_eval
from figkit.io.mlflow_runs import read_mlflow
from figkit.io.router_logits import parse_route, read_router_logits
from figkit.io.tensorboard import read_tensorboard
from figkit.io.wandb_runs import read_wandb

WHAT_IS_READ = (
    "figkit import reads TensorBoard event files, W&B runs (a wandb folder or run-<id>.wandb), an MLflow "
    "store (mlruns or mlflow.db), lm-evaluation-harness results (results_<date>.json or their folder), "
    "a .csv or .parquet table or router logits (.npz, .pt)"
)

__all__ = ["WHAT_IS_READ", "Imported", "merge", "parse_route", "read", "read_csv", "read_lm_eval", "read_mlflow"]
__all__ += ["read_router_logits", "read_tensorboard", "read_wandb", "series_name"]


def read(source, *, method=None, mapping=None, step_unit="steps", routes=None, experiment=None):
    """What ``source`` holds, by its kind: TensorBoard event files, W&B run logs or an MLflow store
    (``experiment``: one of its experiments, by name), lm-evaluation-harness results, a CSV file
    (``mapping`` names its columns) or saved router logits (routed by each of ``routes``, id -> rule)."""
    source = Path(source)
    suffix = source.suffix.lower()
    if source.is_dir():
        if any(source.rglob("events.out.tfevents.*")):
            return read_tensorboard(source, method=method, step_unit=step_unit)
        if any(source.rglob("run-*.wandb")):
            return read_wandb(source, method=method, step_unit=step_unit)
        if any(source.glob("*/meta.yaml")):
            return read_mlflow(source, experiment=experiment, method=method, step_unit=step_unit)
        if any(source.rglob("results*.json")):
            return read_lm_eval(source, method=method)
    elif suffix in (".csv", ".parquet"):
        return read_csv(source, mapping=mapping, method=method, step_unit=step_unit)
    elif suffix == ".json":
        return read_lm_eval(source, method=method)
    elif suffix == ".wandb":
        return read_wandb(source, method=method, step_unit=step_unit)
    elif suffix == ".db":
        return read_mlflow(source, experiment=experiment, method=method, step_unit=step_unit)
    elif suffix in (".npz", ".pt", ".pth"):
        return read_router_logits(source, routes or {})
    if not source.exists():
        raise ValueError(f"{source}: no such file or folder")
    raise ValueError(f"{source}: {WHAT_IS_READ}")


def merge(results_path, imported, *, replace=False, title=None):
    """Write ``imported`` into the results file at ``results_path`` (made if missing): its methods declared
    if new, its series and metrics added, its metric_info added where the file describes the metric not
    yet (an author's own label stays), its other sections added whole. A series, metric or section already
    there with another value is an error naming it, unless ``replace``. Returns the path."""
    from figkit.results import load_results, write_results

    path = Path(results_path)
    results = dict(load_results(path)) if path.exists() else {"title": title or "Imported results"}
    results.pop("schema_version", None)
    methods = list(results.get("methods", []))
    known = {m["id"] for m in methods}
    new = [m for m in imported.methods if m not in known]
    methods += [{"id": m, "label": m} | imported.method_info.get(m, {}) for m in new]
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
    for name, section in imported.sections.items():
        if name in results and results[name] != section:
            clash(f"the section {name}")
        changed[name] = section
    return write_results(path, **(results | changed))
