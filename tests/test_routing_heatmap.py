import numpy as np
import pytest

from figkit import plot_routing_heatmap
from tests.helpers import pdf_text, rounded_up

HOSTILE_TOKENS = ["$", "50%", "a_b", "\\", "{", "\u2581the", "$x^2$", "#&~"]


def image(fig):
    return fig.axes[0].images[0].get_array()


def test_small_input_is_shown_whole(as_input, rng):
    weights = rng.random((6, 8))
    fig = plot_routing_heatmap(as_input(weights), [f"t{i}" for i in range(6)])
    np.testing.assert_allclose(image(fig), weights)
    ax = fig.axes[0]
    assert ax.get_title() == "Routing weights"
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"t{i}" for i in range(6)]
    assert fig.axes[1].get_ylabel() == "Routing weight"


def test_large_input_is_cut_and_says_so(rng):
    weights = rng.random((2048, 64)) * (rng.random((2048, 64)) < 0.1)
    weights[:50, 40] += 5  # the most used expert among the shown tokens must be kept
    fig = plot_routing_heatmap(weights, [f"t{i}" for i in range(2048)])
    shown = image(fig)
    assert shown.shape == (50, 32)
    experts = np.sort(np.argsort(-weights[:50].sum(axis=0), kind="stable")[:32])
    np.testing.assert_allclose(shown, weights[:50][:, experts])
    assert 40 in experts
    ax = fig.axes[0]
    assert ax.get_title() == "Routing weights\nshowing 50 of 2048 tokens, 32 of 64 experts by weight"
    assert [int(t.get_text()) for t in ax.get_xticklabels()] == experts.tolist()


def test_expert_indices_choose_and_label_the_columns(rng):
    weights = rng.random((10, 64))
    chosen = [63, 0, 17]
    fig = plot_routing_heatmap(weights, list("abcdefghij"), expert_indices=chosen, max_tokens=4)
    np.testing.assert_allclose(image(fig), weights[:4][:, chosen])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["63", "0", "17"]
    assert fig.axes[0].get_title().splitlines()[1] == "showing 4 of 10 tokens, 3 of 64 experts"


@pytest.mark.slow
def test_tokens_are_drawn_literally(tmp_path, rng):
    path = tmp_path / "heat.pdf"
    fig = plot_routing_heatmap(rng.random((len(HOSTILE_TOKENS) + 1, 4)), HOSTILE_TOKENS + ["a\nb"], save_path=path)
    shown = [token.replace("\u2581", "\N{OPEN BOX}") for token in HOSTILE_TOKENS] + [
        "a\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}b"
    ]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == shown
    text = pdf_text(path)
    for token in shown:
        assert token in text, token


def test_invisible_characters_of_real_tokens_are_written_as_escapes(tmp_path, rng):
    """A byte-order mark (common in corpora) crashed matplotlib's PDF backend; a lone byte of a
    byte-level tokenizer or a control character has no glyph in any font."""
    tokens = ["\ufeffThe", "\x96", "\u200b", "caf\u00e9", "\ud800"]
    fig = plot_routing_heatmap(rng.random((5, 4)), tokens, save_path=tmp_path / "heat.pdf")
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert shown == ["\\ufeffThe", "\\x96", "\\u200b", "caf\u00e9", "\\ud800"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"token_strs": ["a"]}, r"token_strs \(1\) and routing_weights \(3 rows\) must have same length"),
        ({"expert_indices": [0, 4]}, r"expert_indices\[1\] = 4 is not among 4 experts"),
        ({"expert_indices": [-1]}, "expert_indices must be non-negative"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer, got 0"),
        ({"max_experts": 2.5}, "max_experts must be a positive integer"),
        ({"routing_weights": np.ones(4)}, r"routing_weights must be 2-D, got shape \(4,\)"),
        ({"routing_weights": np.full((3, 4), np.nan)}, r"routing_weights contains NaN at index \(0, 0\)"),
    ],
)
def test_errors(kwargs, message):
    arguments = {"routing_weights": np.ones((3, 4)), "token_strs": ["a", "b", "c"]} | kwargs
    with pytest.raises(ValueError, match=message):
        plot_routing_heatmap(**arguments)


def test_token_strs_must_be_a_sequence():
    with pytest.raises(TypeError, match="token_strs must be a sequence of strings"):
        plot_routing_heatmap(np.ones((3, 4)), "abc")


def test_rows_too_dense_to_label_are_labelled_every_nth(rng):
    from figkit import use_style

    with use_style("paper"):
        ax = plot_routing_heatmap(rng.random((50, 8)), [f"t{i}" for i in range(50)], figsize=(3.25, 2.0)).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    step = int(labels[1][1:]) - int(labels[0][1:])
    assert step > 1 and labels == [f"t{i}" for i in range(0, 50, step)]
    assert ax.get_yticklabels()[0].get_fontsize() >= 6
    assert f"every {step}" in ax.get_title()


def test_a_figure_figkit_sizes_labels_every_token_at_six_points_or_more(rng):
    from figkit import use_style

    with use_style("paper", venue="icml"):
        fig = plot_routing_heatmap(rng.random((20, 8)), [f"t{i}" for i in range(20)])
        fig.canvas.draw()
    ax = fig.axes[0]
    labels = ax.get_yticklabels()
    assert [t.get_text() for t in labels] == [f"t{i}" for i in range(20)]
    assert min(t.get_fontsize() for t in labels) >= 6
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))


def test_a_results_file_with_a_subset_of_experts_labels_their_ids(study):
    from figkit.plots import figure_spec

    sample = dict(study["routing_samples"][0])
    sample["weights"] = [row[:3] for row in sample["weights"]]
    sample["expert_indices"] = [5, 17, 40]
    (job,) = figure_spec("routing_heatmap").jobs({**study, "routing_samples": [sample]})
    ax = figure_spec("routing_heatmap").plot(figure_spec("routing_heatmap").prepare(**job.arguments)).axes[0]
    shown = [int(t.get_text()) for t in ax.get_xticklabels()]
    used = [e for e, column in zip([5, 17, 40], np.array(sample["weights"]).T) if column.any()]
    assert shown == used


def test_expert_indices_are_ids_also_of_a_subset_of_columns(rng):
    """One meaning everywhere: the ids the results file and expert_ids name, never column positions."""
    weights = rng.random((4, 3))
    fig = plot_routing_heatmap(weights, list("abcd"), expert_indices=[40, 5], expert_ids=[5, 17, 40])
    np.testing.assert_allclose(image(fig), weights[:, [2, 0]])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["40", "5"]
    with pytest.raises(ValueError, match=r"expert_indices\[0\] = 2 is not among the ids of its 3 columns"):
        plot_routing_heatmap(weights, list("abcd"), expert_indices=[2], expert_ids=[5, 17, 40])


def test_samples_normalised_alike_share_one_colour_scale(study):
    """Two methods whose weights a token sums alike share one scale, up to the largest weight shown."""
    from figkit.plots import figure_spec

    spec = figure_spec("routing_heatmap")
    first = dict(study["routing_samples"][0])
    rows = np.asarray(first["weights"], dtype=float)
    second = {**first, "method": first["method"], "weights": (rows[:, ::-1] * 0.9).tolist()}
    jobs = list(spec.jobs({**study, "routing_samples": [first, second]}))
    top = max(rows[:20].max(), 0.9 * rows[:20].max())
    for job in jobs:
        assert job.arguments["weight_max"] == pytest.approx(top)
        assert "is that of the other heatmap too." in job.caption[-1]
        assert spec.plot(spec.prepare(**job.arguments)).axes[0].images[0].get_clim() == (0.0, rounded_up(top))


def test_every_expert_is_a_column_when_they_fit_so_no_selection_is_hidden():
    weights = np.zeros((3, 16))
    weights[0, [1, 9]] = 0.5
    weights[1, [2, 3]] = 0.5
    weights[2, 15] = 1.0
    ax = plot_routing_heatmap(weights, ["a", "b", "c"]).axes[0]
    np.testing.assert_allclose(np.ma.filled(ax.images[0].get_array(), 0.0), weights)  # unused experts stay, white
    ticks = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert ticks == list(range(0, 16, ticks[1] if len(ticks) > 1 else 16))
    few = plot_routing_heatmap(weights, ["a", "b", "c"], max_experts=4).axes[0]  # more than fit: the heaviest
    np.testing.assert_allclose(np.ma.filled(few.images[0].get_array(), 0.0), weights[:, [1, 2, 3, 15]])
