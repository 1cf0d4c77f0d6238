"""Builds under faults: the main process killed, and two builds into one folder at once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from figkit import build, write_results
from tests.helpers import sections

pytestmark = pytest.mark.slow  # processes


def few_outputs(**given):
    """The test study cut to a few outputs (counts, the sweep, the table, the appendix): a race with
    another build needs a build that compiles an appendix, not every figure."""
    study = sections(**given)
    return {k: study[k] for k in ("title", "model", "methods", "metric_info", "metrics", "expert_counts", "sweeps")}


def figkit_build(results, out, *options, cache=None):
    """``figkit build`` in a process of its own; ``cache``: the user's cache folder, as another user's is."""
    command = [sys.executable, "-m", "figkit", "build", str(results), "-o", str(out), *options]
    env = os.environ | ({"XDG_CACHE_HOME": str(cache)} if cache else {})
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)


def children(pid):
    """The processes whose parent is ``pid``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with their parent on Linux")
def test_a_killed_build_leaves_no_worker_behind(tmp_path):
    results = write_results(tmp_path / "r.json", **sections())
    process = figkit_build(results, tmp_path / "out", "--jobs", "2", "--no-compile")
    deadline = time.monotonic() + 60
    while len(children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = children(process.pid)
    assert len(workers) >= 2, "the build started no workers"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
    assert alive == [], f"{len(alive)} of {len(workers)} workers outlived the build"


def _state(pid):
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (OSError, StopIteration):
        return "Z"


def test_two_builds_into_one_folder_run_one_after_the_other(tmp_path):
    """Even builds of two users, each with a cache of their own: the lock is in the output folder."""
    # The whole study: builds long enough that the second always starts while the first holds the lock.
    first = write_results(tmp_path / "a.json", **sections(title="Study A"))
    second = write_results(tmp_path / "b.json", **sections(title="Study B", label="BH other"))
    out = tmp_path / "out"
    runs = [figkit_build(first, out, cache=tmp_path / "cache a"), figkit_build(second, out, cache=tmp_path / "cache b")]
    errors = [run.communicate(timeout=600)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    assert any("waiting for another build" in error for error in errors), errors
    last = build(second, out)  # whichever finished last, the folder now holds the second study's outputs
    assert last.ok, last.failed
    assert "Rerun LaTeX" not in (out / ".figkit" / "latex" / "appendix.log").read_text(encoding="latin-1")
    reference = tmp_path / "reference"
    build(second, reference)
    made = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and ".figkit" not in p.parts)
    assert made == sorted(
        p.relative_to(reference) for p in reference.rglob("*") if ".figkit" not in p.parts and p.is_file()
    )
    for path in made:
        if path.name != "figkit.d":  # the depfile names its own folder
            assert (out / path).read_bytes() == (reference / path).read_bytes(), path


def test_a_file_another_build_overwrites_is_never_called_up_to_date(tmp_path, monkeypatch):
    """Whatever else writes into the folder while a build runs (a figkit too old to honour its lock, a
    script): the manifest records the digests of what this build wrote, so the next build makes it again."""
    from figkit.pipeline import compile as pipeline

    results = write_results(tmp_path / "r.json", **few_outputs())
    out = tmp_path / "out"
    assert build(results, out).ok
    compile_fresh = pipeline.compile_fresh_if_need_be
    write = pipeline.write_if_changed

    def other_build_writes_figure(out_dir, name):  # while this build compiles
        made = compile_fresh(out_dir, name)
        figure = sorted((out_dir / "figures").glob("*.pdf"))[0]
        figure.write_bytes(figure.read_bytes() + b"\n% another build's figure")
        return made

    def other_build_writes_pdf(path, data):  # just after this build wrote appendix.pdf
        written = write(path, data)
        if path.name == "appendix.pdf":
            path.write_bytes(b"%PDF-1.5 another build's appendix")
        return written

    races = {"compile_fresh_if_need_be": other_build_writes_figure, "write_if_changed": other_build_writes_pdf}
    for name, race in races.items():
        with monkeypatch.context() as patch:
            patch.setattr(pipeline, name, race)
            raced = build(results, out, force=True)
        said = any("another build wrote while it compiled" in note for note in raced.notes)
        assert said == (name == "compile_fresh_if_need_be"), raced.notes
        after = build(results, out)
        assert after.ok and "appendix.pdf" in after.rendered, name
        assert b"another build" not in (out / "appendix.pdf").read_bytes()
        assert all(b"another build" not in f.read_bytes() for f in (out / "figures").glob("*.pdf"))
        assert build(results, out).rendered == []


NEVER_ENDING = "\\documentclass{article}\n\\begin{document}\n\\def\\again{\\again}\\again\n\\end{document}\n"


def tex_running_in(folder):
    """The pdflatex processes whose working folder is ``folder``."""
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            if b"pdflatex" in (process / "cmdline").read_bytes() and Path(os.readlink(process / "cwd")) == folder:
                found.append(int(process.name))
        except OSError:
            continue
    return found


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
@pytest.mark.parametrize(
    "how, while_",
    [
        ("kill -9", "tex"),
        ("SIGTERM", "tex"),
        ("Ctrl-C", "tex"),  # SIGINT to the terminal's process group: figkit, its workers, latexmk, pdflatex
        ("SIGTERM", "workers"),
        ("Ctrl-C", "workers"),
    ],
)
def test_a_stopped_build_leaves_no_tex_or_worker_and_no_traceback(tmp_path, how, while_):
    results = write_results(tmp_path / "r.json", **(sections() if while_ == "workers" else few_outputs()))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "appendix.tex").write_text(NEVER_ENDING)  # pdflatex runs until it is stopped
    out = (tmp_path / "out").resolve()
    command = [sys.executable, "-m", "figkit", "build", str(results), "-o", str(out), "--jobs", "2"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if while_ == "tex":
        running = wait_for(lambda: tex_running_in(out), 120)
    else:
        running = wait_for(lambda: children(process.pid) if len(children(process.pid)) >= 2 else [], 60)
    assert running, f"no {while_} started"
    if how == "Ctrl-C":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, {"kill -9": signal.SIGKILL, "SIGTERM": signal.SIGTERM}[how])
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == {"kill -9": -9, "SIGTERM": 143, "Ctrl-C": 130}[how], stderr
    assert "Traceback" not in stderr, stderr
    alive = lambda: [pid for pid in running if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]  # noqa: E731
    wait_for(lambda: not alive(), 10)
    assert not alive(), f"{len(alive())} of {len(running)} {while_} processes outlived the build"


INTERRUPTED_IN_A_FINALIZER = """
import os, signal, sys, time
import figkit.cli

class Finalized:
    def __del__(self):  # Ctrl-C while Python runs a finalizer: Python reports the interrupt and goes on
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)

def styles(args):
    Finalized()
    print("the command went on to its end")
    return 0

figkit.cli.styles = styles
sys.argv = ["figkit", "styles"]
raise SystemExit(figkit.cli.main())
"""


def test_an_interrupt_python_swallows_in_a_finalizer_still_stops_figkit_as_interrupted():
    """Once, Ctrl-C printed a traceback and the build went on to exit 0: an interrupt raised while Python
    runs a finalizer (``__del__``, a weak reference's callback) is reported and dropped."""
    run = subprocess.run([sys.executable, "-c", INTERRUPTED_IN_A_FINALIZER], capture_output=True, text=True)
    assert run.stdout == "the command went on to its end\n"
    assert (run.returncode, run.stderr) == (130, "")
