import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.patches import Rectangle

from figkit.arrays import (
    count_histogram,
    count_vector,
    layer_histograms,
    matrix,
    probability,
    same_length,
    strings,
    to_numpy,
    vector,
)
from tests.helpers import CudaStandIn


def test_every_input_kind_gives_the_same_array(as_input):
    values = np.array([3, 4, 5, 4])
    assert np.array_equal(to_numpy(as_input(values), "x"), values)


def test_pandas_series_and_tuples():
    assert np.array_equal(to_numpy(pd.Series([1.5, 2.5]), "x"), [1.5, 2.5])
    assert np.array_equal(to_numpy((1, 2), "x"), [1, 2])


def test_gpu_tensor_is_copied_to_the_cpu():
    stand_in = CudaStandIn(torch.tensor([1, 2, 3]))
    assert np.array_equal(to_numpy(stand_in, "x"), [1, 2, 3])
    assert stand_in.copied_to_cpu


def test_tensors_that_need_grad_and_bfloat16():
    assert np.allclose(to_numpy(torch.ones(3, requires_grad=True), "x"), 1)
    assert np.allclose(to_numpy(torch.tensor([1.5, 2.0], dtype=torch.bfloat16), "x"), [1.5, 2.0])


def test_numpy_dtypes_pass_without_copy():
    for dtype in (np.int8, np.uint16, np.int32, np.int64, np.float16, np.float32):
        array = np.arange(4, dtype=dtype)
        assert to_numpy(array, "x") is array


@pytest.mark.parametrize(
    "value, message",
    [
        ({1, 2}, "x must be a torch tensor, numpy array, pandas Series, list or tuple, got set"),
        ("1234", "got str"),
        (5, "got int"),
        (["a", "b"], "x must hold numbers, got strings"),
        ([True, False], "x must hold numbers, got booleans"),
        (np.array([1j]), "x must hold numbers, got complex numbers"),
    ],
)
def test_unsupported_types_are_named(value, message):
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_numpy(value, "x")


def test_ragged_lists():
    with pytest.raises(ValueError, match="x is ragged"):
        to_numpy([[1, 2], [3]], "x")


def test_empty_and_dimensions():
    with pytest.raises(ValueError, match="^expert_counts is empty$"):
        vector([], "expert_counts")
    with pytest.raises(ValueError, match=r"x must be 1-D, got shape \(2, 2\)"):
        vector([[1, 2], [3, 4]], "x")
    with pytest.raises(ValueError, match=r"w must be 2-D, got shape \(3,\)"):
        matrix([1, 2, 3], "w")


def test_nan_and_infinity_say_which_and_where():
    with pytest.raises(ValueError, match=r"x contains NaN at index 2 \(1 non-finite value in all\)"):
        vector([1.0, 2.0, np.nan], "x")
    with pytest.raises(ValueError, match=r"w contains infinity at index \(1, 0\) \(2 non-finite values in all\)"):
        matrix([[1.0, 2.0], [np.inf, -np.inf]], "w")


def test_huge_finite_values_are_not_mistaken_for_infinity():
    assert vector([1e308, 1e308], "x").size == 2


def test_counts_must_be_whole_and_non_negative():
    with pytest.raises(ValueError, match="c must hold whole numbers, got 2.5 at index 1"):
        count_vector([1, 2.5], "c")
    with pytest.raises(ValueError, match="c must be non-negative, got -1 at index 2"):
        count_vector([1, 2, -1], "c")
    assert count_vector(np.array([1.0, 3.0]), "c").dtype == np.int64


def test_histogram_mapping_matches_raw_values():
    raw = count_histogram([1, 2, 2, 5], "c")
    mapped = count_histogram({1: 1, 2: 2, "5": 1, 9: 0}, "c")
    assert (raw.offset, raw.tokens.tolist()) == (mapped.offset, mapped.tokens.tolist()) == (1, [1, 2, 0, 0, 1])


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({}, "c is empty"),
        ({3: 0}, "c is empty"),
        ({-1: 3}, "c key -1 must be a non-negative whole number"),
        ({2: 1.5}, r"c\[2\] must be a non-negative whole number, got 1.5"),
        ({"x": 1}, "c key 'x' must be a whole number, got 'x'"),
        ({2: "7"}, None),
    ],
)
def test_histogram_mapping_errors(mapping, message):
    if message is None:
        assert count_histogram(mapping, "c").n == 7
        return
    with pytest.raises(ValueError, match=message):
        count_histogram(mapping, "c")


def test_layer_inputs():
    assert len(layer_histograms(np.ones((3, 5), int), "l")) == 3
    assert [h.n for h in layer_histograms([[1, 2], [3], {4: 10}], "l")] == [2, 1, 10]
    with pytest.raises(ValueError, match=r"l must be 2-D \[num_layers, num_tokens\] or a list"):
        layer_histograms([1, 2, 3], "l")
    with pytest.raises(ValueError, match=r"l\[1\] is empty"):
        layer_histograms([[1], []], "l")


def test_probability_and_lengths():
    assert probability(0.05, "alpha") == 0.05
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            probability(bad, "alpha")
    with pytest.raises(TypeError, match="alpha must be a number"):
        probability("0.05", "alpha")
    with pytest.raises(ValueError, match=r"^alphas \(1\) and avg_experts \(2\) must have same length$"):
        same_length([0.05], [4.5, 5.5], "alphas", "avg_experts")


def test_strings():
    assert strings(("a", b"b", 3), "t") == ["a", "b", "3"]
    with pytest.raises(TypeError, match="t must be a sequence of strings, got str"):
        strings("abc", "t")


def test_zero_dimensional_tensors_and_numpy_scalars_are_numbers_everywhere(tmp_path):
    import torch

    from figkit import create_comparison_table, plot_expert_utilization, plot_routing_heatmap
    from figkit.plots import expert_count_distribution

    assert expert_count_distribution.prepare([1, 2, 3], "BH", alpha=torch.tensor(0.05)).alpha == pytest.approx(0.05)
    bars = plot_expert_utilization([1, 2, 3], num_experts=torch.tensor(5)).axes[0].patches
    assert len([b for b in bars if isinstance(b, Rectangle) and b.get_width() > 0]) >= 5  # 3.8's axhspan: a Polygon
    heat = plot_routing_heatmap([[0.5]] * 9, list("abcdefghi"), max_tokens=torch.tensor(4), weight_max=np.float32(1))
    assert heat.axes[0].images[0].get_array().shape == (4, 1)
    assert "1.50" in create_comparison_table({"a": {"x": torch.tensor(1.5)}}, output_format="latex")


def test_write_results_takes_the_counts_the_plot_functions_take(tmp_path):
    import torch

    from figkit import load_results, write_results

    counts = torch.tensor([1, 2, 2, 8], dtype=torch.bfloat16)
    for values in (counts, [1.0, 2.0, 2.0, 8.0], np.array([1, 2, 2, 8], dtype=np.float32)):
        path = write_results(
            tmp_path / "r.json", methods=[{"id": "a"}], expert_counts=[{"method": "a", "values": values}]
        )
        assert load_results(path)["expert_counts"][0]["histogram"] == {"1": 1, "2": 2, "8": 1}
    raw = write_results(
        tmp_path / "raw.json", raw_counts=True, methods=[{"id": "a"}], expert_counts=[{"method": "a", "values": counts}]
    )
    assert load_results(raw)["expert_counts"][0]["values"] == [1, 2, 2, 8]
    with pytest.raises(ValueError, match=r"expert_counts\[0\]\.values must hold whole numbers, got 1.5"):
        write_results(tmp_path / "bad.json", methods=[{"id": "a"}], expert_counts=[{"method": "a", "values": [1.5]}])


def test_a_transposed_layers_by_tokens_array_is_refused_saying_which_axis_is_which():
    from figkit import plot_layer_wise_routing

    with pytest.raises(ValueError, match=r"shape \(4096, 16\): 4096 layers of 16 tokens each looks transposed"):
        plot_layer_wise_routing(np.ones((4096, 16), dtype=int))


def test_number_in_takes_the_numbers_of_its_range_and_names_the_field():
    from figkit.arrays import number_in

    assert number_in(np.float32(0.5), "top", 0.25, 1) == 0.5 and number_in(torch.tensor(7), "top", 3) == 7.0
    for value, kwargs, message in [
        (0.1, {"low": 0.25, "high": 1}, r"top must be a number in \[0.25, 1\], got 0.1"),
        (0, {"low": 0, "high": 100, "low_open": True}, r"top must be a number in \(0, 100\], got 0"),
        (2, {"low": 3}, "top must be a number of at least 3, got 2"),
        (True, {"low": 0}, "top must be a number of at least 0, got True"),
        (float("nan"), {"low": 0}, "top must be a number of at least 0, got nan"),
        ("1", {"low": 0}, "top must be a number of at least 0, got '1'"),
    ]:
        with pytest.raises(ValueError, match=message):
            number_in(value, "top", **kwargs)
