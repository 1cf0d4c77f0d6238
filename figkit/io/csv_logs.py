"""Tables of logged values, CSV or Parquet (an export of a run's history): each numeric column a series
over the step column."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from figkit.io.imported import Imported, add_points, method_id

MAX_CSV_BYTES = 1 << 28  # a CSV of a few million logged values


def read_csv(path, *, mapping=None, method=None, step_unit="steps"):
    """Each numeric column of a CSV or Parquet file as a series over its ``step`` column.

    ``mapping`` names the columns figkit needs (``{"step": "global_step", "method": "run", "layer": "l"}``);
    by default ``step``, ``method`` and ``layer``. Without a method column, every row is ``method``
    (default: the file's stem). Columns with text, and those named with a leading underscore (W&B's
    ``_runtime``, ``_timestamp``), are listed as left. Parquet is read with pandas (and pyarrow): a run's
    history as W&B's ``run.history()`` exports it reads with ``--map step=_step``.
    """
    path = Path(path)
    roles = {"step": "step", "method": "method", "layer": "layer"} | dict(mapping or {})
    if os.stat(path).st_size > MAX_CSV_BYTES:
        raise ValueError(f"{path}: larger than {MAX_CSV_BYTES >> 20} MiB")
    rows = _parquet_rows(path) if path.suffix.lower() == ".parquet" else _csv_rows(path)
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
    bookkeeping = [c for c in columns if c.startswith("_") and c not in fixed]  # W&B's _runtime, a saved index
    imported.left += [f"{path}: column {column!r} (a tracker's own bookkeeping)" for column in bookkeeping]
    for column in (c for c in columns if c not in fixed and c not in bookkeeping):
        for (run, layer), points in groups.items():
            values = [(step, row[column]) for step, row in points if row[column] not in ("", None)]
            try:
                numbers = [(step, float(value)) for step, value in values]
            except (TypeError, ValueError):
                imported.left.append(f"{path}: column {column!r} (not numbers)")
                break
            tag = column if layer is None else f"{column}/layer_{layer}"
            add_points(imported, run, tag, numbers, step_unit, f"{path}:{column}")
            if run not in imported.methods:
                imported.methods.append(run)
    return imported


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


def _parquet_rows(path):
    """A Parquet file's rows as a CSV reader gives them: a missing value is an empty cell."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise ImportError("reading Parquet needs pyarrow: pip install 'figkit[parquet]'") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a Parquet file ({error})") from None
    frame.columns = [str(column) for column in frame.columns]
    return frame.astype(object).where(frame.notna(), "").to_dict("records")


def _whole(text, where):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a whole number, got {text!r}") from None
    if not value.is_integer() or value < 0:
        raise ValueError(f"{where}: expected a whole number of at least 0, got {text!r}")
    return int(value)
