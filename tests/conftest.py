"""Shared fixtures: input kinds (list, numpy, torch, a CUDA stand-in) and PDF read-back."""

import shutil
import subprocess
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402  (a test dependency: these tests must run, not skip, in CI)


class CudaStandIn:
    """Behaves like a tensor on a GPU: numpy refuses it until it is copied to the CPU."""

    def __init__(self, tensor):
        self._tensor = tensor
        self.device = SimpleNamespace(type="cuda")
        self.copied_to_cpu = False

    def detach(self):
        return self

    def cpu(self):
        self.copied_to_cpu = True
        return self._tensor

    def numpy(self):
        raise TypeError("can't convert cuda:0 device type tensor to numpy; use Tensor.cpu() first")


INPUT_KINDS = ("list", "numpy", "torch", "cuda")


def convert(array, kind):
    """``array`` as the given kind of input."""
    array = np.asarray(array)
    if kind == "list":
        return array.tolist()
    if kind == "numpy":
        return array
    tensor = torch.from_numpy(array.copy())
    return tensor if kind == "torch" else CudaStandIn(tensor)


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


@pytest.fixture
def rng():
    return np.random.default_rng(20261128)


def _tool(name):
    path = shutil.which(name)
    assert path, f"{name} is missing: install poppler-utils (.ci/run does)"
    return path


def pdf_text(path):
    """The text of a PDF as pdftotext extracts it."""
    return subprocess.run([_tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdf_fonts(path):
    """Rows of ``pdffonts``: (name, type, embedded)."""
    out = subprocess.run([_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        # name, then a type of one or two words, encoding, emb, sub, uni, object ID (2 fields)
        rows.append((parts[0], " ".join(parts[1:-6]), parts[-5]))
    return rows


def box_text(ax):
    """The text of the statistics box (the framed text) of an axes."""
    boxes = [t.get_text() for t in ax.texts if t.get_bbox_patch() is not None]
    assert len(boxes) == 1, boxes
    return boxes[0]
