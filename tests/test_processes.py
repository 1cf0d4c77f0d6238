"""The one TeX runner: its process group dies on a timeout, and no file it writes passes the cap; a bounded
child: its time and memory are capped, and it leaves nothing behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

from figkit import geometry, latex
from figkit.processes import TEX_TIMEOUT, run_bounded, run_tex


def test_a_timeout_kills_the_whole_group(tmp_path):
    """latexmk's pdflatex is a grandchild: it must not outlive the timeout."""
    pid_file = tmp_path / "grandchild.pid"
    command = ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"]
    with pytest.raises(subprocess.TimeoutExpired):
        run_tex(command, tmp_path, os.environ, output_limit=2**20, timeout=0.5)
    grandchild = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(grandchild, 0)


def test_no_file_grows_past_the_cap(tmp_path):
    code = run_tex(
        ["sh", "-c", "head -c 3000000 /dev/zero > big"], tmp_path, os.environ, output_limit=2**20, timeout=30
    )
    assert code != 0
    assert (tmp_path / "big").stat().st_size <= 2**20


def test_probe_and_compile_share_one_timeout():
    for function in (latex.compile_pdf, geometry.measure_tex, geometry.measure_tabular, geometry.tex_page):
        assert function.__kwdefaults__["timeout"] == TEX_TIMEOUT


def test_an_unmarked_test_may_not_start_python():
    """The slow marker is enforced: this test is not marked, so starting Python is refused."""
    with pytest.raises(AssertionError, match="runs python.*: mark it @pytest.mark.slow"):
        subprocess.run([sys.executable, "-c", "pass"])


def _sleep():
    time.sleep(60)


def _allocate():
    return bytearray(1 << 30)


def _die():
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel kills a process out of memory


def _refuse():
    raise KeyError("a missing key")


@pytest.mark.slow  # forks
@pytest.mark.parametrize(
    "function, error, message",
    [
        (_sleep, ValueError, "not done within 0.5 s"),
        (_allocate, ValueError, "needs more than 256 MiB of memory"),
        (_die, ValueError, "its process died (signal SIGKILL)"),
        (_refuse, KeyError, "'a missing key'"),
    ],
)
def test_a_bounded_child_ends_within_its_bounds_and_says_why(function, error, message):
    started = time.monotonic()
    with pytest.raises(error) as raised:
        run_bounded(function, seconds=0.5, memory=256 << 20)
    assert str(raised.value) == message
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, not even a zombie


@pytest.mark.slow  # forks
def test_a_bounded_child_returns_its_result():
    assert run_bounded(sorted, [3, 1, 2], seconds=10, memory=256 << 20) == [1, 2, 3]


@pytest.mark.slow  # forks
def test_an_interrupt_as_tex_ends_is_still_an_interrupt(tmp_path, monkeypatch):
    """Ctrl-C just after latexmk's group ended: killing the group found no process, and figkit said
    "[Errno 3] No such process" (exit 2) instead of stopping as interrupted."""
    wait = subprocess.Popen.wait

    def interrupted(self, timeout=None):
        wait(self)  # the group has ended
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess.Popen, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_tex(["true"], tmp_path, os.environ, output_limit=2**20)
