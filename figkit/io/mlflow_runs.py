"""MLflow runs of a local store (an ``mlruns`` folder or an ``mlflow.db`` SQLite file), read through MLflow's
own client: each run a method, each metric logged at several steps a series, each logged once a metric."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path

from figkit.io.imported import Imported, a_key, add_metric, add_points, method_id

PAGE = 1000  # runs asked for at a time


def read_mlflow(store, *, experiment=None, method=None, step_unit="steps"):
    """The runs of an MLflow store: every run of every experiment, or of ``experiment`` (a name).

    A run is the method named after it (``method`` names a single run). A metric logged at several steps
    is a series over them; one logged once (a final evaluation) is a metric. Numeric params become the
    method's params; the others, and MLflow's own tags, are not read (the params are listed as left).
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError("reading MLflow runs needs mlflow: pip install 'figkit[mlflow]'") from None
    store = Path(store)
    imported = Imported()
    with _tracking(store) as uri:
        client = MlflowClient(tracking_uri=uri)
        experiments = [e for e in client.search_experiments() if experiment in (None, e.name)]
        if experiment is not None and not experiments:
            raise ValueError(f"{store}: no experiment named {experiment!r}")
        runs = [run for e in experiments for run in _runs(client, e.experiment_id)]
        if not runs:
            raise ValueError(f"{store}: no MLflow runs in it")
        if method and len(runs) > 1:
            raise ValueError(f"{store}: {len(runs)} runs, each a method named after it; --method names a single run")
        named = {}
        for run in sorted(runs, key=lambda r: r.info.start_time or 0):
            name = method or run.info.run_name or run.info.run_id
            run_method = method_id(a_key(name), f"{store}: run {run.info.run_id}")
            if run_method in named:
                raise ValueError(
                    f"{store}: runs {named[run_method]} and {run.info.run_id} are both named {name!r}; "
                    "give each run its own name, or import one experiment at a time (--experiment)"
                )
            named[run_method] = run.info.run_id
            _read_run(client, run, run_method, step_unit, imported)
    return imported


@contextmanager
def _tracking(store):
    """The tracking URI of a local store. MLflow 3 refuses a file store unless told it may read one."""
    if store.is_file():
        yield f"sqlite:///{store.resolve()}"
        return
    if not (store.is_dir() and any(store.glob("*/meta.yaml"))):
        raise ValueError(f"{store}: not an MLflow store (an mlruns folder of experiments or an mlflow.db file)")
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield store.resolve().as_uri()
    finally:
        if before is None:
            del os.environ["MLFLOW_ALLOW_FILE_STORE"]
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before


def _runs(client, experiment_id):
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=PAGE, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _read_run(client, run, method, step_unit, imported):
    where = f"run {run.info.run_name or run.info.run_id} ({run.info.run_id})"
    params = {}
    for key, text in run.data.params.items():
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            params[a_key(key)] = int(number) if number.is_integer() and "." not in text else number
        else:
            imported.left.append(f"{where}: param {key}={text!r} (not a number)")
    for key in sorted(run.data.metrics):
        history = client.get_metric_history(run.info.run_id, key)
        points = [(m.step, m.value) for m in sorted(history, key=lambda m: (m.step, m.timestamp))]
        if len({step for step, _ in points}) > 1:
            add_points(imported, method, key, points, step_unit, f"{where}:{key}")
            continue
        value = points[-1][1]
        if not math.isfinite(value):
            imported.left.append(f"{where}: metric {key} = {value} (not finite)")
            continue
        add_metric(imported, method, key, value, where)
    imported.methods.append(method)
    imported.method_info[method] = {"label": run.info.run_name or method} | ({"params": params} if params else {})
