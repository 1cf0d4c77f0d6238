"""Child processes that cannot outlive figkit: the one way figkit runs TeX, its workers' guard, and a child
that reads an untrusted file within bounds of time and memory."""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import select
import signal
import subprocess
import sys
import time

TEX_TIMEOUT = 120  # seconds, for any TeX run: a preamble probe or the appendix compile
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run_tex(command, cwd, env, *, output_limit, timeout=TEX_TIMEOUT):
    """Run a TeX ``command`` and return its exit code: stdin closed and output discarded, in its own
    process group, each file it writes capped at ``output_limit`` bytes and each process at ``timeout``
    seconds of CPU.

    On a timeout (``subprocess.TimeoutExpired``) or an interrupt the whole group (latexmk and its
    pdflatex) is killed before the exception goes on; if this process is killed outright, a watchdog
    kills the group. ``FileNotFoundError`` if the engine is missing.
    """
    cpu = math.ceil(timeout) + 1  # a bound the wall-clock timeout reaches first; it holds for orphans too

    def prepare_child():
        die_with_parent()
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (output_limit, output_limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

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
    watchdog = _watchdog(process.pid)
    try:
        return process.wait(timeout=timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # the group may have ended as the interrupt came
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _wait_until_gone(process.pid)
        raise
    finally:
        watchdog.stdin.close()  # the group is done with: the watchdog kills what is left of it, and ends
        watchdog.wait()


def _watchdog(group):
    """A process that kills process ``group`` once its stdin closes: when this process closes it, or dies
    (``kill -9`` leaves no chance to clean up, and pdflatex, latexmk's child, outlives latexmk)."""
    script = 'cat >/dev/null; kill -s KILL -- "-$0" 2>/dev/null; exit 0'
    return subprocess.Popen(["sh", "-c", script, str(group)], stdin=subprocess.PIPE, start_new_session=True)


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


def run_bounded(function, *args, seconds, memory):
    """``function(*args)`` in a forked child given ``seconds`` of wall-clock time and ``memory`` bytes beyond
    what this process already has; its result, or its exception raised again here. A child that runs out
    of time or memory, or dies, is a ``ValueError`` saying so. Where there is no fork (not Linux), a call."""
    if not sys.platform.startswith("linux"):
        return function(*args)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        try:
            os.close(reader)
            die_with_parent()
            _limit_memory(memory)
            try:
                outcome = (True, function(*args))
            except MemoryError:
                outcome = (False, ValueError(f"needs more than {memory >> 20} MiB of memory"))
            except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
                outcome = (False, error)
            try:
                data = pickle.dumps(outcome)
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled goes as its text
                data = pickle.dumps((False, ValueError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
            with os.fdopen(writer, "wb") as pipe:
                pipe.write(data)
        finally:
            os._exit(0)
    os.close(writer)
    data = None
    try:
        data = _read_until(reader, time.monotonic() + seconds)
    finally:
        os.close(reader)
        if data is None:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if data is None:
        raise ValueError(f"not done within {seconds:g} s")
    if not data:
        raise ValueError(f"its process died ({_death(status)})")
    ok, value = pickle.loads(data)
    if not ok:
        raise value
    return value


def _limit_memory(memory):
    """Cap this process's address space at its present size plus ``memory`` bytes."""
    import resource

    try:
        with open("/proc/self/statm") as statm:
            present = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return
    resource.setrlimit(resource.RLIMIT_AS, (present + memory, present + memory))


def _read_until(fd, deadline):
    """Everything the pipe ``fd`` gives until it closes, or None if it is still open at ``deadline``."""
    chunks = []
    while (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    return None


def _death(status):
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
