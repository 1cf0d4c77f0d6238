"""Child processes that cannot outlive the build: the one way figkit runs TeX, and its workers' guard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

TEX_TIMEOUT = 120  # seconds, for any TeX run: a preamble probe or the appendix compile
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run_tex(command, cwd, env, *, output_limit, timeout=TEX_TIMEOUT):
    """Run a TeX ``command`` and return its exit code: stdin closed and output discarded, in its own
    process group that dies with this process, each file it writes capped at ``output_limit`` bytes.

    On a timeout (``subprocess.TimeoutExpired``) or an interrupt the whole group (latexmk and its
    pdflatex) is killed before the exception goes on. ``FileNotFoundError`` if the engine is missing.
    """

    def prepare_child():
        die_with_parent()
        if os.name == "posix":
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (output_limit, output_limit))

    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=prepare_child,
    )
    try:
        return process.wait(timeout=timeout)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _wait_until_gone(process.pid)
        raise


def die_with_parent():
    """In a child process: be killed when the process that started it dies (Linux; elsewhere nothing),
    so a killed build leaves no worker or TeX behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_until_gone(group, seconds=5.0):
    """Wait (briefly) until no process of ``group`` is left: the killed engine has released its folder."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
