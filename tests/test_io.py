"""figkit import: TensorBoard event files written by torch's own SummaryWriter, CSV tables, and merging into
a results file without losing what it holds."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from figkit import load_results, write_results
from figkit.io import WHAT_IS_READ, merge, read, read_csv, read_lm_eval, read_tensorboard, series_name
from figkit.plots import figure_spec
from tests.helpers import sections

STEPS = list(range(0, 200, 10))


def logged(base, step):
    return base + 0.05 * math.exp(-step / 50)


def write_runs(logdir):
    """Two runs as a training script logs them: a loss, a balance statistic per layer, a histogram, a NaN,
    and a resumed run that logs step 100 twice (the second value stands)."""
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    for run, base in (("topk8", 0.02), ("bh05", 0.015)):
        writer = SummaryWriter(logdir / run)
        for step in STEPS:
            writer.add_scalar("train/lbl", logged(base, step), step)
            for layer in range(2):
                writer.add_scalar(f"balance/cv/layer_{layer}", 0.5 + layer + step / 1000, step)
        writer.add_scalar("train/lbl", 0.5, 100)  # resumed from a checkpoint at step 100
        writer.add_scalar("train/zloss", float("nan"), 0)
        writer.add_scalar("train/zloss", 0.25, 10)
        writer.add_histogram("router/weights", torch.randn(100), 0)
        writer.close()


def test_tensorboard_scalars_become_series_with_what_was_left_said(tmp_path):
    write_runs(tmp_path / "logs")
    imported = read_tensorboard(tmp_path / "logs")
    assert imported.methods == ["bh05", "topk8"]
    by_key = {(e["method"], e["name"], e.get("layer")): e for e in imported.series}
    assert sorted(by_key) == sorted(
        (m, name, layer)
        for m in ("bh05", "topk8")
        for name, layer in (("train.lbl", None), ("train.zloss", None), ("balance.cv", 0), ("balance.cv", 1))
    )
    lbl = by_key[("topk8", "train.lbl", None)]
    assert lbl["steps"] == STEPS and lbl["step_unit"] == "steps" and lbl["source"] == "logs/topk8:train/lbl"
    expected = [0.5 if step == 100 else logged(0.02, step) for step in STEPS]
    np.testing.assert_allclose(lbl["values"], np.float32(expected), rtol=1e-7)
    assert by_key[("bh05", "balance.cv", 1)]["values"][-1] == pytest.approx(1.5 + 190 / 1000, rel=1e-6)
    assert (
        by_key[("bh05", "train.zloss", None)] | {"steps": [10], "values": [0.25]}
        == by_key[("bh05", "train.zloss", None)]
    )
    assert "logs/bh05:train/zloss: 1 values that are NaN or infinite" in imported.left
    assert "logs/topk8: histograms tag 'router/weights' (figkit reads scalars)" in imported.left
    with pytest.raises(ValueError, match="2 runs, each a method named after it; --method names a single run"):
        read_tensorboard(tmp_path / "logs", method="bh05")
    assert read_tensorboard(tmp_path / "logs" / "bh05", method="bh:05").methods == ["bh:05"]


def test_an_import_builds_a_training_figure(tmp_path):
    write_runs(tmp_path / "logs")
    path = merge(tmp_path / "results.json", read_tensorboard(tmp_path / "logs"), title="Training")
    results = load_results(path)
    assert [m["id"] for m in results["methods"]] == ["bh05", "topk8"]
    jobs = list(figure_spec("training_curves").jobs(results))
    assert [job.suffix for job in jobs] == ["_train.lbl", "_train.zloss"]  # per-layer series are not curves
    caption = "".join(jobs[0].caption)
    assert "the 20 values each run logged, not smoothed." in caption  # 20 values: an average would only lag
    assert "topk8 starts at 0.0700 and last logs 0.0211 (step 190)." in caption  # 0.02 + 0.05 exp(-190/50)
    spec = figure_spec("training_curves")
    fig = spec.plot(spec.prepare(**jobs[0].arguments | {"smoothing": 0.9}))
    raw, smooth = fig.axes[0].lines[:2]  # the first method's values as logged, then smoothed
    np.testing.assert_allclose(raw.get_ydata(), results["series"][0]["values"])
    weight, average, norm, expected = 0.9, 0.0, 0.0, []
    for value in raw.get_ydata():  # TensorBoard's debiased moving average, by hand
        average, norm = weight * average + (1 - weight) * value, weight * norm + (1 - weight)
        expected.append(average / norm)
    np.testing.assert_allclose(smooth.get_ydata(), expected)
    methods = [{"id": "bh05", "label": "BH"}, {"id": "topk8", "label": "Top-8", "baseline": True}]
    curves = {"BH": jobs[0].arguments["curves"]["bh05"], "Top-8": jobs[0].arguments["curves"]["topk8"]}
    both = spec.plot(spec.prepare(curves, methods=methods)).axes[0].lines
    alone = spec.plot(spec.prepare({"Top-8": curves["Top-8"]}, methods=methods)).axes[0].lines
    assert [line.get_linestyle() for line in both] == ["-", "--"]  # 20 values, not smoothed: a line each
    assert [line.get_linestyle() for line in alone] == ["-"]  # alone, the baseline is the curve, not dashed


def test_merging_keeps_what_the_file_holds_and_refuses_to_overwrite(tmp_path):
    path = write_results(tmp_path / "study.json", **sections())
    before = load_results(path)
    write_runs(tmp_path / "logs")
    merge(path, read_tensorboard(tmp_path / "logs"))
    after = load_results(path)
    assert after["methods"][: len(before["methods"])] == before["methods"]
    assert [m["id"] for m in after["methods"][len(before["methods"]) :]] == ["bh05", "topk8"]
    assert {k: v for k, v in after.items() if k not in ("methods", "series")} == {
        k: v for k, v in before.items() if k not in ("methods", "series")
    }
    assert after["series"][: len(before["series"])] == before["series"]
    merge(path, read_tensorboard(tmp_path / "logs"))  # the same values again: nothing changes
    assert load_results(path) == after
    changed = read_tensorboard(tmp_path / "logs")
    first = changed.series[0]
    first["values"][0] += 1
    layer = "" if first.get("layer") is None else f", layer {first['layer']}"
    said = rf"series\[\d+\] \('{first['name']}' of method '{first['method']}'{layer}\) already holds another value"
    with pytest.raises(ValueError, match=said):
        merge(path, changed)
    assert load_results(path) == after
    merge(path, changed, replace=True)
    assert load_results(path)["series"][len(before["series"])]["values"][0] == changed.series[0]["values"][0]


def test_a_csv_maps_its_columns(tmp_path):
    path = tmp_path / "history.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["global_step", "run", "loss", "note", "experts_per_token"])
        for step in (0, 50, 100):
            writer.writerow([step, "bh05", 3 - step / 100, "warmup" if step == 0 else "", 2.5])
            writer.writerow([step, "topk8", 3.1 - step / 100, "", ""])
    imported = read_csv(path, mapping={"step": "global_step", "method": "run"})
    by_key = {(e["method"], e["name"]): e for e in imported.series}
    assert sorted(by_key) == [("bh05", "experts_per_token"), ("bh05", "loss"), ("topk8", "loss")]
    assert by_key[("topk8", "loss")]["steps"] == [0, 50, 100] and by_key[("topk8", "loss")]["values"] == [3.1, 2.6, 2.1]
    assert f"{path}: column 'note' (not numbers)" in imported.left
    with pytest.raises(ValueError, match=r"no step column 'step'; its columns: global_step, run, loss"):
        read_csv(path)
    with pytest.raises(ValueError, match=r"history.csv:2: global_step: expected a whole number"):
        path.write_text("global_step,loss\n1.5,2\n")
        read_csv(path, mapping={"step": "global_step"})


def test_a_history_exported_to_parquet_reads_as_its_csv(tmp_path):
    import pandas as pd

    steps = [0, 10, 20]
    history = pd.DataFrame(  # as W&B's run.history() gives a run's history
        {"_step": steps, "_runtime": [0.1, 0.2, 0.3], "train/lbl": [0.03, None, 0.01], "note": ["a", "b", "c"]}
    )
    history.to_parquet(tmp_path / "bh05.parquet")
    history.to_csv(tmp_path / "bh05.csv", index=False)
    parquet = read(tmp_path / "bh05.parquet", mapping={"step": "_step"})
    (entry,) = parquet.series
    assert entry["method"] == "bh05" and entry["steps"] == [0, 20] and entry["values"] == [0.03, 0.01]
    csv_read = read(tmp_path / "bh05.csv", mapping={"step": "_step"})
    assert [e | {"source": None} for e in csv_read.series] == [entry | {"source": None}]
    assert [note.split(": ", 1)[1] for note in parquet.left] == [
        "column '_runtime' (a tracker's own bookkeeping)",
        "column 'note' (not numbers)",
    ]
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="junk.parquet: not a Parquet file"):
        read(tmp_path / "junk.parquet")


def test_series_names_and_layers_from_tags():
    assert series_name("train/lbl") == ("train.lbl", None)
    assert series_name("balance/cv/layer_3") == ("balance.cv", 3)
    assert series_name("lbl_layer12") == ("lbl", 12)
    assert series_name("loss (smoothed)") == ("loss__smoothed_", None)


def test_a_missing_reader_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    (tmp_path / "logs").mkdir()
    for name in ("tensorboard", "tensorboard.backend.event_processing.event_accumulator"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(
        ImportError, match=r"^reading TensorBoard files needs tensorboard: pip install 'figkit\[tensorboard\]'$"
    ):
        read_tensorboard(tmp_path / "logs")


@pytest.mark.slow
def test_the_command_line_imports_and_says_what_it_left(tmp_path):
    write_runs(tmp_path / "logs")
    command = [sys.executable, "-m", "figkit", "import", str(tmp_path / "logs"), "-o", str(tmp_path / "r.json")]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == f"figkit import: 8 series of bh05, topk8 -> {tmp_path / 'r.json'}"
    assert "figkit import: left logs/bh05: histograms tag 'router/weights' (figkit reads scalars)" in run.stdout
    write_results(tmp_path / "r.json", **{**load_results(tmp_path / "r.json"), "title": "Changed"})
    again = subprocess.run([*command, "--map", "oops"], capture_output=True, text=True)
    assert again.returncode == 2 and "--map 'oops': expected step=COLUMN" in again.stderr


def test_a_series_without_a_label_reads_as_words_and_is_smoothed_by_its_length():
    from figkit.plots._draw import readable
    from figkit.plots.training_curves import smoothing_for

    assert [smoothing_for(n) for n in (10, 20, 40, 60, 200, 10_000)] == [0.0, 0.0, 0.5, 0.67, 0.9, 0.95]
    assert readable("train.load_balancing_loss") == "Load balancing loss"
    assert readable("train.lm_loss") == "LM loss" and readable("balance.load_cv") == "Load CV"


def test_a_per_layer_series_is_a_strip_of_its_logged_values():
    results = load_results(Path(__file__).parent / "data" / "model_example_training.json")
    spec = figure_spec("training_layers")
    (job,) = spec.jobs(results)  # the load CV of four layers, logged by the model example's training
    assert job.suffix == "_balance.load_cv_topk8"
    entries = sorted((e for e in results["series"] if e["name"] == "balance.load_cv"), key=lambda e: e["layer"])
    fig = spec.plot(spec.prepare(**job.arguments))
    mesh = fig.axes[0].collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(4, -1), [e["values"] for e in entries])
    assert mesh.norm.vmin == 0  # a non-negative value's zero is the lightest colour
    last = np.array([e["values"][-1] for e in entries])
    caption = "".join(job.caption)
    high, low = int(np.argmax(last)), int(np.argmin(last))
    assert f"at step 60, layer {high} is highest ({last[high]:.3g}) and layer {low} lowest ({last[low]:.3g})" in caption


LM_EVAL = Path(__file__).parent / "data" / "lm_eval"  # written by lm-evaluation-harness itself: make_lm_eval.py


def harness_files():
    return {
        folder.name: json.loads(next(folder.glob("results_*.json")).read_text()) for folder in LM_EVAL.glob("topk*")
    }


def test_lm_eval_scores_become_metrics_with_standard_errors_and_directions():
    imported = read_lm_eval(LM_EVAL)
    assert imported.methods == ["topk2", "topk8"] and imported.series == [] and imported.left == []
    for model, data in harness_files().items():
        scores = dict(imported.metrics[model])
        for task, entry in data["results"].items():
            for key, value in entry.items():
                metric, _, filter_ = key.partition(",")
                if not filter_ or metric.endswith("_stderr"):
                    continue
                name = f"{task}.{metric}" + ("" if filter_ == "none" else f".{filter_}")
                stderr = entry[f"{metric}_stderr,{filter_}"]
                expected = {"mean": value} | ({} if stderr == "N/A" else {"stderr": stderr})
                n = data["n-samples"][task]["effective"] if task in data["n-samples"] else entry["sample_len"]
                assert scores.pop(name) == expected | {"n": n}
                better = "higher" if data["higher_is_better"][task][metric] else "lower"
                assert imported.metric_info[name]["better"] == better
        assert scores == {}  # nothing but the harness's scores
    info = imported.metric_info
    assert info["toy_copy.exact_match.strict-match"]["label"] == "toy_copy exact_match (strict-match)"
    assert info["toy_suite.acc"]["description"] == (
        "lm-evaluation-harness group toy_suite (toy_arith, toy_plural): acc, 0-shot, 64 documents."
    )
    assert info["toy_text.bits_per_byte"]["better"] == "lower"
    assert "stderr" not in imported.metrics["topk8"]["toy_text.bits_per_byte"]  # the harness wrote "N/A"


def test_lm_eval_scores_merge_beside_what_a_results_file_holds_and_print_as_intervals(tmp_path):
    from scipy.stats import norm

    from figkit.pipeline.outputs import _table_data
    from figkit.tables import create_comparison_table

    path = tmp_path / "results.json"
    write_results(
        path,
        title="Routing",
        methods=[{"id": "topk8", "label": "Top-8"}],
        metric_info={"ppl": {"label": "PPL", "better": "lower"}, "toy_arith.acc": {"label": "Arithmetic"}},
        metrics={"topk8": {"ppl": 17.2}},
    )
    merge(path, read_lm_eval(LM_EVAL))
    results = load_results(path)
    assert [m["id"] for m in results["methods"]] == ["topk8", "topk2"]
    assert results["metrics"]["topk8"]["ppl"] == 17.2 and len(results["metrics"]["topk8"]) == 10
    assert results["metric_info"]["toy_arith.acc"] == {"label": "Arithmetic"}  # the author's own stays
    merge(path, read_lm_eval(LM_EVAL))  # the same values again: nothing changes
    assert load_results(path) == results
    changed = read_lm_eval(LM_EVAL)
    changed.metrics["topk8"]["toy_arith.acc"]["mean"] = 0.5
    with pytest.raises(ValueError, match=r"metrics\.topk8\.toy_arith\.acc already holds another value; pass --replace"):
        merge(path, changed)
    assert load_results(path) == results
    merge(path, changed, replace=True)
    assert load_results(path)["metrics"]["topk8"]["toy_arith.acc"]["mean"] == 0.5
    data = _table_data(load_results(path))
    assert " ± gives a 95 % interval of the mean from the standard error (1.96 standard errors). " in data["caption"]
    assert data["caption"].endswith("; a z-test of the standard errors).")  # topk2 ties top-8 within the noise
    row = {"acc": data["values"]["topk2"]["toy_arith.acc"]}
    half = norm.ppf(0.975) * harness_files()["topk2"]["results"]["toy_arith"]["acc_stderr,none"]
    assert create_comparison_table({"topk2": row}, output_format="markdown").splitlines()[-1] == (
        f"| topk2 | {0.325:.3f} ± {half:.3f} |"
    )


def test_lm_eval_files_that_are_not_the_harness_are_refused_by_name(tmp_path):
    (tmp_path / "results_1.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"results_1\.json: not a JSON file"):
        read_lm_eval(tmp_path / "results_1.json")
    (tmp_path / "results_1.json").write_text('{"scores": {}}')
    with pytest.raises(ValueError, match=r'not an lm-evaluation-harness results file \(no "results" object\)'):
        read_lm_eval(tmp_path)
    with pytest.raises(ValueError, match="2 models, each a method named after it; --method names a single run"):
        read_lm_eval(LM_EVAL, method="mine")
    with pytest.raises(ValueError, match=r"empty: no such file or folder"):
        read(tmp_path / "empty")
    data = harness_files()["topk2"] | {"extra": 1}
    data["results"]["toy_arith"]["acc,none"] = "N/A"
    (tmp_path / "results_1.json").write_text(json.dumps(data))
    imported = read(tmp_path / "results_1.json", method="mine")
    assert imported.methods == ["mine"] and "toy_arith.acc" not in imported.metrics["mine"]
    assert imported.left == [
        f"{tmp_path / 'results_1.json'}: key 'extra'",
        f"{tmp_path / 'results_1.json'}: results.toy_arith.acc,none = 'N/A' (not a score)",
    ]


def test_the_command_line_reads_harness_output_and_counts_what_it_took(tmp_path, capsys):
    from figkit.cli import main

    assert main(["import", str(LM_EVAL), "-o", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().out == f"figkit import: 18 metric values of topk2, topk8 -> {tmp_path / 'r.json'}\n"
    assert main(["import", str(tmp_path), "-o", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err == f"figkit import: {tmp_path}: {WHAT_IS_READ}\n"
