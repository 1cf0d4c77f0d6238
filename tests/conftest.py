"""Fixtures: input kinds, the small study and real routing as results files, a seeded generator, closing
figures, and the guard that keeps the slow marker honest. Shared helpers live in tests/helpers.py."""

import os
import subprocess

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import INPUT_KINDS, CudaStandIn, convert, sections  # noqa: E402


@pytest.fixture(params=INPUT_KINDS)
def as_input(request):
    """Call with a numpy array; get the same data as a list, array, tensor or GPU stand-in."""
    made = []

    def make(array):
        value = convert(array, request.param)
        made.append(value)
        return value

    yield make
    for value in made:
        if isinstance(value, CudaStandIn):
            assert value.copied_to_cpu, "the GPU input was not copied to the CPU"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


SLOW_PROGRAMS = ("latexmk", "pdflatex", "python", "pip")  # what `make test-fast` leaves out, by the marker


@pytest.fixture(autouse=True)
def slow_marker_is_honest(request, monkeypatch):
    """A test not marked slow may not compile LaTeX, run Python (figkit's CLI, pip) in a new process or fork
    workers: the marker means what it says, so `make test-fast` stays fast. Session fixtures are exempt."""
    if request.node.get_closest_marker("slow"):
        return
    start = subprocess.Popen._execute_child

    def refuse_slow(self, args, *rest, **kwargs):
        program = os.path.basename(str(args[0] if isinstance(args, (list, tuple)) else args).split()[0])
        if program.startswith(SLOW_PROGRAMS):
            raise AssertionError(f"{request.node.nodeid} runs {program}: mark it @pytest.mark.slow")
        return start(self, args, *rest, **kwargs)

    def refuse_fork():
        raise AssertionError(f"{request.node.nodeid} forks worker processes: mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse_slow)
    monkeypatch.setattr(os, "fork", refuse_fork)


@pytest.fixture
def rng():
    return np.random.default_rng(20261128)


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """The small study of ``sections()``, written and loaded back as a validated results file."""
    from figkit import load_results, write_results

    return load_results(write_results(tmp_path_factory.mktemp("study") / "results.json", **sections()))


@pytest.fixture(scope="session")
def real_study(tmp_path_factory):
    """Real routing (tests/real_routing.py) as a validated results file."""
    from figkit import load_results, write_results
    from tests import real_routing

    return load_results(write_results(tmp_path_factory.mktemp("real") / "results.json", **real_routing.sections()))
