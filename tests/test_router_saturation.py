"""Router saturation: top-k overlap of checkpoints with the final one, by hand, with numpy and in the figure."""

import numpy as np
import pytest
import torch

from figkit import load_results, plot_router_saturation, write_results
from figkit.plots import figure_spec
from figkit.routing import RouterSaturation
from tests import real_routing
from tests.helpers import sections

SPEC = figure_spec("router_saturation")


def test_a_hand_made_case():
    # one layer, two tokens, top-2 of 4 experts; the final checkpoint picks {0, 1} and {2, 3}
    final = torch.tensor([[[4.0, 3, 0, 0], [0, 0, 3, 4]]])
    early = torch.tensor([[[4.0, 0, 3, 0], [4, 3, 0, 0]]])  # {0, 2}: one shared; {0, 1}: none
    saturation = RouterSaturation([5], 2)
    saturation.add(100, early, final)
    saturation.add(200, final, final)
    (entry,) = saturation.results()["router_saturation"]
    assert entry["progress"] == [100, 200] and entry["layers"] == [5]
    assert entry["values"] == [[0.25], [1.0]] and entry["num_tokens"] == 2
    at_once = RouterSaturation.of_checkpoints({300: final, 100: early}, 2, layers=[5])  # the last one: the final
    assert at_once.results()["router_saturation"][0]["values"] == [[0.25]]
    with pytest.raises(ValueError, match="at least two checkpoints, got 1"):
        RouterSaturation.of_checkpoints({300: final}, 2)


def test_real_logits_against_numpy_and_batches_add_up():
    logits, _, _ = real_routing.load()
    rng = np.random.default_rng(0)
    logits = logits.astype(np.float64) + rng.normal(0, 1e-4, logits.shape)  # float16 ties broken: one top-8 set
    final = torch.from_numpy(logits)
    noisy = final + torch.from_numpy(rng.normal(0, 0.5, logits.shape))  # an earlier checkpoint
    whole, batched = RouterSaturation(list(range(16)), 8), RouterSaturation(list(range(16)), 8)
    whole.add(1, noisy, final)
    for part in torch.arange(final.shape[1]).chunk(3):
        batched.add(1, noisy[:, part], final[:, part])
    top = np.argsort(-logits, axis=-1)[..., :8]
    near = np.argsort(-noisy.numpy(), axis=-1)[..., :8]
    overlap = np.array(
        [np.mean([len(set(a) & set(b)) / 8 for a, b in zip(near[layer], top[layer])]) for layer in range(16)]
    )
    (entry,) = whole.results()["router_saturation"]
    np.testing.assert_allclose(entry["values"][0], overlap)
    np.testing.assert_allclose(batched.results()["router_saturation"][0]["values"][0], overlap)


def test_past_six_layers_the_first_middle_and_last_are_drawn_over_the_range_of_all():
    values = np.linspace(0.2, 0.9, 3 * 16).reshape(3, 16)
    fig = plot_router_saturation(values, progress=[1, 10, 40], layers=range(16))
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["Layer 0", "Layer 8", "Layer 15"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 100 * values[:, 8])
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [1, 10, 40])
    (band,) = ax.collections
    edges = band.get_paths()[0].vertices[:, 1]
    assert edges.min() == pytest.approx(100 * values.min()) and edges.max() == pytest.approx(100 * values.max())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Layer 0", "Layer 8", "Layer 15", "Range of all 16 layers"] and len(fig.axes) == 1
    assert ax.get_ylabel() == "Overlap with final top-8 (%)" and ax.get_ylim() == (0, 100)
    few = plot_router_saturation(values[:, :4], progress=[1, 10, 40], k=1)
    assert [t.get_text() for t in few.axes[0].get_legend().get_texts()] == [f"Layer {i}" for i in range(4)]
    assert few.axes[0].get_ylabel() == "Same top-1 as final (%)"


def test_the_build_writes_a_caption_from_the_data(study):
    (job,) = SPEC.jobs(study)
    assert job.suffix == "_top2"
    caption = "".join(job.caption)
    assert "At the last checkpoint shown, the layers reach 85.0% to 95.0%." in caption
    assert "the final checkpoint itself, 100% by definition, is not drawn" in caption
    assert "(points: the checkpoints)" in caption


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"values": [[0.5, 1.2]], "progress": [1]}, "between 0 and 1"),
        ({"values": [[0.5], [0.6]], "progress": [2, 1]}, "progress must increase"),
        ({"values": [[0.5], [0.6]], "progress": [1]}, "progress has 1 checkpoints for 2 rows"),
        ({"values": [[0.5, 0.6]], "progress": [1], "layers": [0]}, "layers has 1 ids for 2 columns"),
        ({"values": [[0.5]], "progress": [1], "k": 0}, "k must be a positive integer"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_router_saturation(**kwargs)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"progress": [10, 10, 40]}, r"router_saturation\[0\]\.progress: must increase"),
        ({"values": [[0.4, 0.5, 1.5], [0.7, 0.75, 0.6], [0.9, 0.95, 0.85]]}, r"values\[0\]\[2\]: must be at most 1"),
        ({"layers": [0, 1]}, r"router_saturation\[0\]\.values\[0\]: has 3 entries but router_saturation\[0\]\.layers"),
        ({"layers": [0, 0, 1]}, r"router_saturation\[0\]\.layers: must be distinct"),
        ({"k": 9}, r"router_saturation\[0\]\.k: must be at most 8"),
    ],
)
def test_the_results_file_checks_router_saturation(tmp_path, change, message):
    bad = sections()
    bad["router_saturation"][0].update(change)
    with pytest.raises(ValueError, match=message):
        write_results(tmp_path / "r.json", **bad)
    assert load_results(write_results(tmp_path / "ok.json", **sections()))["router_saturation"][0]["k"] == 2
