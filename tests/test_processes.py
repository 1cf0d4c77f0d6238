"""The one TeX runner: its process group dies on a timeout, and no file it writes passes the cap."""

import os
import subprocess
import sys

import pytest

from figkit import geometry, latex
from figkit.processes import TEX_TIMEOUT, run_tex


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
