"""Running jobs: each in a worker process, the heaviest first; a failure is reported, not raised."""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from figkit.files import digest, write_if_changed
from figkit.pipeline.outputs import output_spec
from figkit.processes import die_with_parent


def run(stale, out_dir, target, debug, jobs):
    """Yield (job, {"outputs", "notes"}) or (job, error message) as the jobs finish, the heaviest started first."""
    import matplotlib.pyplot  # noqa: F401 - the drawing libraries, imported once and inherited by the workers

    stale = sorted(stale, key=lambda job: -job.cost)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(stale)))
    if workers == 1:
        for job in stale:
            yield job, run_job(job, str(out_dir), target, debug)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_start)
    try:
        futures = {pool.submit(run_job, job, str(out_dir), target, debug): job for job in stale}
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:  # an interrupt: stop the workers now instead of waiting for every queued job
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in multiprocessing.active_children():
            worker.kill()
        raise
    pool.shutdown()


def _start():
    """A worker dies with the build, and leaves an interrupt to it: Ctrl-C reaches every process of the
    terminal's group, and a worker interrupted while it waits for a job printed a traceback."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_job(job, out_dir, target, debug=False):
    """Make one job's outputs (unchanged files are left alone); return {"outputs": {output: sha256},
    "notes": what did not fit the page}, or the error as one line of text (a traceback with ``debug``)."""
    from figkit.geometry import FitWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FitWarning)
            made = output_spec(job.kind).render(job, target)
        notes = [f"{job.outputs[0]}: {w.message}" for w in caught if issubclass(w.category, FitWarning)]
        if notes and not target.allow_overfull:  # the paper would overflow: said on every build, nothing written
            return f"{'; '.join(notes)} (--allow-overfull makes this a note)"
        for path, data in made.items():
            write_if_changed(Path(out_dir) / path, data)
        return {"outputs": {path: digest(data) for path, data in made.items()}, "notes": notes}
    except Exception as error:  # noqa: BLE001 - a job's failure is reported, the other jobs go on
        if debug:
            return traceback.format_exc()
        return str(error) if isinstance(error, (ValueError, TypeError)) else f"{type(error).__name__}: {error}"
