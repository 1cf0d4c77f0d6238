"""TensorBoard event files: each run a method, each scalar tag a series."""

from __future__ import annotations

from pathlib import Path

from figkit.io.imported import Imported, add_points, method_id


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
            add_points(imported, run_method, tag, points, step_unit, f"{shown}:{tag}")
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
