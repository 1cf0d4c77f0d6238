"""figkit import of experiment trackers' runs, written by the trackers themselves: MLflow's client into a
SQLite store and into an mlruns folder, wandb in offline mode."""

import math
import re
import subprocess
import sys
import textwrap

import pytest

from figkit import load_results
from figkit.io import WHAT_IS_READ, merge, read, read_mlflow, read_wandb

STEPS = list(range(0, 50, 10))


def lbl(base, step):
    return base + 0.01 * math.exp(-step / 20)


def log_mlflow(uri):
    """Two runs of one experiment as a training script logs them, a third in another experiment."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    routing, other = client.create_experiment("routing"), client.create_experiment("other")
    for experiment, name, base in ((routing, "topk8", 0.02), (routing, "bh05", 0.015), (other, "dense", 0.0)):
        run = client.create_run(experiment, run_name=name).info.run_id
        client.log_param(run, "alpha", 0.05)
        client.log_param(run, "optimizer", "adamw")
        for step in STEPS:
            client.log_metric(run, "train/lbl", lbl(base, step), step=step)
            client.log_metric(run, "balance/cv/layer_1", 0.5 + step / 100, step=step)
        client.log_metric(run, "eval/ppl", 17.0 + base * 100)  # once, at the end
        client.set_terminated(run)


MLFLOW_SQL = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # MLflow's own


@MLFLOW_SQL
@pytest.mark.parametrize("store", ["sqlite", "mlruns"])
def test_mlflow_runs_become_series_and_final_metrics(tmp_path, store, monkeypatch):
    pytest.importorskip("mlflow")
    if store == "sqlite":
        path = tmp_path / "mlflow.db"
        log_mlflow(f"sqlite:///{path}")
    else:
        path = tmp_path / "mlruns"
        with monkeypatch.context() as patch:
            patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
            log_mlflow(path.as_uri())
    imported = read(path, experiment="routing")
    assert imported.methods == ["topk8", "bh05"]
    series = {(e["method"], e["name"], e.get("layer")): e for e in imported.series}
    assert sorted(series) == sorted(
        (method, name, layer)
        for method in ("topk8", "bh05")
        for name, layer in (("train.lbl", None), ("balance.cv", 1))
    )
    assert series[("bh05", "train.lbl", None)]["steps"] == STEPS
    assert series[("bh05", "train.lbl", None)]["values"] == pytest.approx([lbl(0.015, s) for s in STEPS], rel=1e-12)
    assert imported.metrics == {"topk8": {"eval.ppl": pytest.approx(19.0)}, "bh05": {"eval.ppl": pytest.approx(18.5)}}
    assert imported.metric_info == {"eval.ppl": {"label": "eval/ppl"}}
    assert imported.method_info["bh05"] == {"label": "bh05", "params": {"alpha": 0.05}}
    assert imported.left[0].endswith(": param optimizer='adamw' (not a number)")
    assert read_mlflow(path).methods == ["topk8", "bh05", "dense"]  # every experiment
    with pytest.raises(ValueError, match="no experiment named 'nope'"):
        read_mlflow(path, experiment="nope")
    with pytest.raises(ValueError, match="2 runs, each a method named after it; --method names a single run"):
        read_mlflow(path, experiment="routing", method="mine")
    results = load_results(merge(tmp_path / "r.json", imported))
    assert results["metrics"]["bh05"]["eval.ppl"] == pytest.approx(18.5)


@MLFLOW_SQL
def test_mlflow_runs_of_one_name_are_refused_and_a_missing_mlflow_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("routing")
    ids = [client.create_run(experiment, run_name="topk8").info.run_id for _ in range(2)]
    for run in ids:
        client.log_metric(run, "loss", 1.0, step=0)
    with pytest.raises(ValueError, match=r"runs \w+ and \w+ are both named 'topk8'; give each run its own name"):
        read_mlflow(tmp_path / "mlflow.db")
    with pytest.raises(ValueError, match="not an MLflow store"):
        read_mlflow(tmp_path / "nothing")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(ImportError, match=r"^reading MLflow runs needs mlflow: pip install 'figkit\[mlflow\]'$"):
        read_mlflow(tmp_path / "mlflow.db")


WANDB_RUNS = textwrap.dedent(
    """
    import math, sys
    import numpy as np
    import wandb

    def lbl(base, step):
        return base + 0.01 * math.exp(-step / 20)

    for name, base, steps in (("topk8", 0.02, range(0, 30, 10)), ("bh05", 0.015, range(0, 50, 10)),
                              ("topk8", 0.02, range(20, 50, 10))):  # topk8 resumed from step 20
        run = wandb.init(project="routing", name=name, config={"alpha": 0.05, "opt": "adamw"}, dir=sys.argv[1])
        for step in steps:
            resumed = name == "topk8" and step == 20 and steps.start == 20
            run.log({"train/lbl": lbl(base, step) + (1.0 if resumed else 0.0), "balance/cv/layer_1": 0.5}, step=step)
        run.log({"router/weights": wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8))}, step=steps[-1])
        run.summary["eval/ppl"] = 17.0 + base * 100
        run.finish()
    """
)


@pytest.mark.slow  # wandb runs in its own process
def test_wandb_offline_runs_become_series_and_summary_metrics(tmp_path):
    pytest.importorskip("wandb")
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_CODE": "true", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", WANDB_RUNS, str(tmp_path)], check=True, env=env | _path(), timeout=300)
    imported = read(tmp_path / "wandb")
    assert imported.methods == ["topk8", "bh05"]
    series = {(e["method"], e["name"], e.get("layer")): e for e in imported.series}
    topk8 = series[("topk8", "train.lbl", None)]
    assert topk8["steps"] == STEPS
    expected = [lbl(0.02, s) + (1.0 if s == 20 else 0.0) for s in STEPS]  # the resumed run's step 20 stands
    assert topk8["values"] == pytest.approx(expected, rel=1e-12)
    assert series[("bh05", "balance.cv", 1)]["values"] == [0.5] * 5
    assert imported.metrics == {"topk8": {"eval.ppl": pytest.approx(19.0)}, "bh05": {"eval.ppl": pytest.approx(18.5)}}
    assert imported.method_info["bh05"] == {"label": "bh05", "params": {"alpha": 0.05}}
    said = r"run (topk8 \(\w+, \w+\)|bh05 \(\w+\)): 'router/weights' \(image-file: figkit reads numbers\)"
    assert len(imported.left) == 2 and all(re.fullmatch(said, note) for note in imported.left), imported.left
    run_log = next((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert read_wandb(run_log, method="mine").methods == ["mine"]


def _path():
    import os

    return {"PATH": os.environ.get("PATH", "")}


def test_a_source_figkit_cannot_read_says_what_it_reads(tmp_path):
    (tmp_path / "notes.txt").write_text("loss 0.5")
    with pytest.raises(ValueError) as error:
        read(tmp_path / "notes.txt")
    assert str(error.value) == f"{tmp_path / 'notes.txt'}: {WHAT_IS_READ}"
