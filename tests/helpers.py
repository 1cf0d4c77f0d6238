"""Helpers the tests share: input kinds (list, numpy, torch, a CUDA stand-in), PDF read-back, the small
study's sections and what figures draw. Fixtures live in conftest.py."""

import math
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch  # a test dependency: these tests must run, not skip, in CI
from matplotlib.collections import QuadMesh

from figkit.stats import confidence_counts


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


STYLE_COMBINATIONS = [
    ("notebook",),
    ("paper",),
    ("paper-cm",),
    ("slide",),
    ("colourblind",),
    ("paper", "colourblind"),
    ("slide", "colorblind"),
]


def convert(array, kind):
    """``array`` as the given kind of input."""
    array = np.asarray(array)
    if kind == "list":
        return array.tolist()
    if kind == "numpy":
        return array
    tensor = torch.from_numpy(array.copy())
    return tensor if kind == "torch" else CudaStandIn(tensor)


def _tool(name):
    path = shutil.which(name)
    assert path, f"{name} is missing: install poppler-utils (.ci/run does)"
    return path


def pdf_text(path):
    """The text of a PDF as pdftotext extracts it."""
    return subprocess.run([_tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdf_columns_text(path, width=612, height=792):
    """The text of the left halves of a PDF's pages, then of the right halves: captions of figures set
    side by side read whole (pdftotext alone interleaves their lines). Letter pages by default."""
    halves = [["-x", "0"], ["-x", str(width // 2)]]
    crop = ["-y", "0", "-W", str(width // 2), "-H", str(height)]
    return "".join(
        subprocess.run(
            [_tool("pdftotext"), *half, *crop, str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        for half in halves
    )


def pdf_fonts(path):
    """Rows of ``pdffonts``: (name, type, embedded)."""
    out = subprocess.run([_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        # name, then a type of one or two words, encoding, emb, sub, uni, object ID (2 fields)
        rows.append((parts[0], " ".join(parts[1:-6]), parts[-5]))
    return rows


def named_tokens(ax):
    """(name, frequency) of each token the rarity figure names on its top axis."""
    (top,) = ax.child_axes
    return [(label.get_text(), tick) for label, tick in zip(top.get_xticklabels(), top.get_xticks())]


def bin_means(ax):
    """The rarity figure's bin means (the dots) and the bins' frequency edges (the density's columns)."""
    (means,) = (container for container in ax.containers if container.get_label() == "Bin means")
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    return means.lines[0].get_ydata(), mesh.get_coordinates()[0, :, 0]


def box_text(ax):
    """The text of the statistics box (the one framed text) of an axes."""
    boxes = [t.get_text() for t in ax.texts if t.get_bbox_patch() is not None]
    assert len(boxes) == 1, boxes
    return boxes[0]


def coactivation(mask):
    """Pair counts of a [tokens, experts] selection mask: tokens routed to both experts of each pair."""
    chosen = mask.astype(np.int64)
    return chosen.T @ chosen


def counts(rng, mean, n=400):
    """Experts per token: Poisson around ``mean``, clipped to 1..8."""
    return np.clip(rng.poisson(mean, n), 1, 8)


def sections(seed=0, title="Routing study", label="BH ($\\alpha$=0.05)"):
    """A small study with every section; layer counts differ by method."""
    rng = np.random.default_rng(seed)
    per_layer = {"topk2": [np.full(400, 2)] * 3, "bh:05": [counts(rng, 2 + layer) for layer in range(3)]}
    pooled = {m: np.concatenate(c) for m, c in per_layer.items()}
    weights = rng.random((6, 8)) * (rng.random((6, 8)) < 0.4)
    return {
        "title": title,
        "model": {"num_layers": 3, "num_experts": 8, "top_k": 2},
        "methods": [
            {"id": "topk2", "label": "Top-2", "baseline": True},
            {"id": "bh:05", "label": label, "family": "bh", "params": {"alpha": 0.05}},
        ],
        "metric_info": {"ppl": {"label": "PPL", "better": "lower"}, "experts": {"label": "Experts", "better": "lower"}},
        "metrics": {
            m: {"ppl": 17.0 + i * 0.456, "experts": {"mean": c.mean(), "std": c.std()}}
            for i, (m, c) in enumerate(pooled.items())
        },
        "expert_counts": [
            {"method": m, "layer": layer, "values": c}
            for m, layers in per_layer.items()
            for layer, c in enumerate(layers)
        ],
        "sweeps": [
            {
                "method_family": "bh",
                "param": "alpha",
                "values": [0.01, 0.05, 0.1],
                "avg_experts": [2.1, 3.0, 3.9],
                "std_experts": [0.5, 0.7, 0.9],
                "baseline_k": 2,
            }
        ],
        "expert_load": [
            {"method": "topk2", "layer": 1, "counts": rng.integers(0, 300, 8)},
            {"method": "topk2", "layer": 0, "counts": [120, 80, 95, 130, 60, 110, 101, 104], "num_tokens": 400},
        ],
        "coactivation": [{"method": "bh:05", "layer": 1, "counts": coactivation(rng.random((1200, 8)) < 0.35)}],
        "domain_load": [
            {"method": "topk2", "domain": d, "layer": layer, "counts": c[layer:] + c[:layer], "num_tokens": 100}
            for d, c in (("arXiv", [90, 40, 20, 10, 10, 10, 10, 10]), ("GitHub", [5, 5, 60, 70, 20, 20, 10, 10]))
            for layer in (1, 2)
        ],
        "vocabulary": [
            {
                "method": "bh:05",
                "layer": layer,
                "occurrences": [1, 12, 40],
                "top_expert_routings": [1, 6 + layer, 30 - layer],
                "id_count": [300, 20, 2],
                **({"expert_tokens": [[7, 3]] * 8, "expert_token_routings": [[9, 4]] * 8} if layer == 1 else {}),
            }
            for layer in range(3)
        ],
        "token_strings": {"3": " cat", "7": "$"},
        "router_saturation": [
            {
                "k": 2,
                "progress": [10, 20, 40],
                "progress_label": "Training step",
                "layers": [0, 1, 2],
                "values": [[0.4, 0.5, 0.45], [0.7, 0.75, 0.6], [0.9, 0.95, 0.85]],
                "num_tokens": 1200,
            }
        ],
        "cross_layer": [
            {"method": "bh:05", "layer": 0, "next_layer": 1, "counts": (np.arange(64).reshape(8, 8) * 37) % 11}
        ],
        "routing_samples": [
            {
                "method": "bh:05",
                "layer": 0,
                "tokens": ["The", " cat", "$", "50%", "{", "\\"],
                "weights": weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9),
            }
        ],
        "token_stats": {
            "method": "bh:05",
            "token_ids": rng.integers(0, 500, 1200),
            "expert_counts": counts(rng, 3, 1200),
        },
        "series": [  # a loss falling over 40 logged steps, noisily
            {
                "name": "lm_loss",
                "method": m,
                "steps": list(range(0, 400, 10)),
                "values": (start * np.exp(-np.arange(40) / 15) + 2 + rng.normal(0, 0.05, 40)).tolist(),
            }
            for m, start in (("topk2", 3.0), ("bh:05", 2.5))
        ]
        + [  # and a balance statistic per layer
            {
                "name": "load_cv",
                "method": "topk2",
                "layer": layer,
                "steps": [0, 100, 200],
                "values": [1.2, 0.9, 0.5 + layer / 10],
            }
            for layer in range(3)
        ],
        "router_confidence": [  # the two methods route different logits here
            {"method": m, "layer": layer, "measure": measure, "counts": confidence_counts(p)[measure]}
            for m, p in (("topk2", router_probabilities(rng, 8)), ("bh:05", router_probabilities(rng, 3)))
            for layer in range(3)
            for measure in ("top1_probability", "entropy")
        ],
        "method_agreement": [  # and so their experts and top-1 experts differ
            {
                "method": "bh:05",
                "reference": "topk2",
                "layers": [0, 1, 2],
                "jaccard": [0.42, 0.55, 0.61],
                "shared": [0.8, 0.85, 0.9],
                "top1": [0.7, 0.75, 0.8],
                "num_tokens": 400,
            }
        ],
        "position_effects": [
            {
                "method": "bh:05",
                "layer": layer,
                "positions": list(range(40)),
                "num_tokens": [10] * 40,
                "mean_experts": (3 - 1.5 * np.exp(-np.arange(40) / 4) + 0.1 * layer).tolist(),
                "std_experts": [0.8] * 40,
                "mean_top1": (0.4 + 0.1 * np.exp(-np.arange(40) / 6)).tolist(),
            }
            for layer in range(3)
        ],
        "routing_locality": [
            {"method": m, "layers": [0, 1, 2], "same_top1": same, "chance": [0.13, 0.14, 0.16], "num_pairs": 390}
            for m, same in (("topk2", [0.2, 0.3, 0.25]), ("bh:05", [0.2, 0.3, 0.25]))
        ],
        "routing_text": [
            {
                "label": "prose",
                "tokens": PASSAGE,
                "layers": [0, 1, 2],
                "routing": [
                    {"method": "bh:05", "num_experts": [c[: len(PASSAGE)] for c in per_layer["bh:05"]]},
                    {"method": "topk2", "num_experts": [[2] * len(PASSAGE)] * 3, "top_expert": passage_tops(rng)},
                ],
            }
        ],
    }


PASSAGE = ["The", " router", " sends", " each", " token", " to", " a", " few", " experts", ".", "\n", "Rare"]
PASSAGE += [" words", ",", " such", " as", " ant", "idis", "establish", "ment", ",", " get", " more", "."]


def passage_tops(rng):
    """Each passage token's top-1 expert in each of the study's three layers."""
    return rng.integers(0, 8, (3, len(PASSAGE))).tolist()


def router_probabilities(rng, sharpness, tokens=400, experts=8):
    """Softmax probabilities of random router logits; the larger ``sharpness``, the surer the router."""
    logits = sharpness * rng.standard_normal((tokens, experts)) / 4
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def registered_figures(results):
    """(spec, prepared data) of the first figure each registered family makes of ``results``."""
    from figkit.plots import figure_specs

    made = []
    for spec in figure_specs():
        job = next(iter(spec.jobs(results)), None)
        assert job is not None, f"{spec.name} makes no figure of the test study"
        made.append((spec, spec.prepare(**job.arguments)))
    return made


def rounded_up(top):
    """Where a colour bar from zero ends for data up to ``top``: the first of 1, 2, 2.5, 5 times a power of ten
    at or above it that a five-step scale reaches (a step of 1, 2, 2.5 or 5 times a power of ten)."""
    best = None
    for exponent in range(-6, 7):
        for mantissa in (1, 2, 2.5, 5):
            step = mantissa * 10.0**exponent
            steps = math.ceil(top / step - 1e-9)
            if steps <= 5 and (best is None or steps * step < best):
                best = steps * step
    return pytest.approx(best)
