"""The results file: strict loading with field paths, the JSON Schema, writing from Python objects."""

import copy
import gzip
import json
import re
import subprocess
import sys
from collections import Counter

import jsonschema
import numpy as np
import pytest
import torch

from figkit import load_results, write_results
from figkit.results import SECTIONS, entry_histogram, schema, token_cells, token_stats_entries, validate


def minimal():
    """A small valid file with every section, as Python data."""
    return {
        "$schema": "results-v1.schema.json",
        "schema_version": 1,
        "title": "Adaptive routing",
        "model": {"name": "m", "num_layers": 4, "num_experts": 8, "top_k": 2},
        "methods": [
            {"id": "topk2", "label": "Top-2", "family": "topk", "params": {"k": 2}, "baseline": True},
            {"id": "bh05", "label": "BH ($\\alpha$=0.05)", "family": "bh", "params": {"alpha": 0.05}},
        ],
        "metric_info": {"perplexity": {"label": "PPL", "better": "lower"}, "avg_experts": {"label": "Experts"}},
        "metrics": {
            "topk2": {"perplexity": 16.98, "avg_experts": 2.0},
            "bh05": {"perplexity": {"mean": 17.4, "std": 0.2}, "avg_experts": None},
        },
        "expert_counts": [
            {"method": "bh05", "layer": None, "values": [4, 5, 3, 6]},
            {"method": "bh05", "layer": 0, "histogram": {"1": 120, "2": 800, "3": 2210}},
        ],
        "sweeps": [
            {
                "method_family": "bh",
                "param": "alpha",
                "values": [0.01, 0.05],
                "avg_experts": [3.2, 4.5],
                "std_experts": [0.5, 0.8],
                "baseline_k": 2,
            }
        ],
        "expert_load": [{"method": "topk2", "layer": 3, "counts": [5, 0, 3, 1, 1, 2, 2, 2]}],
        "coactivation": [
            {"method": "topk2", "layer": 3, "counts": [[4 if a == b else 1 for b in range(8)] for a in range(8)]}
        ],
        "routing_samples": [
            {
                "method": "bh05",
                "layer": 0,
                "tokens": ["The", " cat"],
                "token_ids": [510, 5347],
                "weights": [[0.0, 0.31], [0.12, 0.0]],
                "expert_indices": [2, 5],
            }
        ],
        "token_stats": {
            "method": "bh05",
            "token_ids": [510, 5347],
            "expert_counts": [3, 6],
            "token_frequency": [0.021, 0.0001],
        },
        "token_strings": {"510": "The", "5347": " cat"},
        "domain_load": [
            {"method": "topk2", "domain": "arXiv", "layer": 3, "counts": [5, 0, 3, 1, 1, 2, 2, 2], "num_tokens": 8}
        ],
        "cross_layer": [
            {
                "method": "topk2",
                "layer": 2,
                "next_layer": 3,
                "counts": [[int(a == b) for b in range(8)] for a in range(8)],
            }
        ],
        "router_saturation": [{"k": 2, "progress": [10, 20], "layers": [0, 3], "values": [[0.5, 0.4], [0.9, 0.8]]}],
        "router_confidence": [{"method": "bh05", "layer": 1, "measure": "entropy", "counts": [0, 3, 9, 2]}],
        "method_agreement": [
            {"method": "bh05", "reference": "topk2", "layers": [0, 1], "jaccard": [0.5, 0.6], "shared": [1, 1]}
        ],
        "vocabulary": [
            {"method": "bh05", "layer": 0, "occurrences": [1, 4], "top_expert_routings": [1, 3], "id_count": [9, 2]}
        ],
        "position_effects": [
            {
                "method": "bh05",
                "layer": 2,
                "positions": [0, 1, 5],
                "num_tokens": [4, 4, 2],
                "mean_experts": [3.5, 2.0, 1.5],
                "mean_top1": [0.5, 0.4, 0.45],
            }
        ],
        "routing_locality": [{"method": "topk2", "layers": [0, 1], "same_top1": [0.3, 0.4], "chance": [0.2, 0.2]}],
        "series": [
            {"name": "lbl", "method": "topk2", "steps": [0, 10], "values": [1.2, 1.05], "step_unit": "steps"},
            {"name": "load_cv", "method": "topk2", "layer": 1, "steps": [10], "values": [0.4], "source": "runs:cv"},
        ],
        "routing_text": [
            {
                "label": "arXiv",
                "tokens": ["The", " cat", "\n"],
                "token_ids": [510, 5347, 187],
                "layers": [0, 3],
                "routing": [
                    {"method": "bh05", "num_experts": [[1, 3, 2], [2, 2, 1]], "top_expert": [[0, 7, 7], [1, 1, 2]]},
                    {"method": "topk2", "num_experts": [[2, 2, 2], [2, 2, 2]]},
                ],
            }
        ],
    }


def load_text(tmp_path, text, name="r.json"):
    path = tmp_path / name
    path.write_text(text)
    return load_results(path)


def test_a_valid_file_loads_as_written(tmp_path):
    data = minimal()
    assert load_text(tmp_path, json.dumps(data)) == data


def test_gzip_files_load(tmp_path):
    path = tmp_path / "r.json.gz"
    path.write_bytes(gzip.compress(json.dumps(minimal()).encode()))
    assert load_results(path) == minimal()


def edit(path, value):
    """A copy of the minimal file with the field at ``path`` (a tuple of keys) set to ``value``."""
    data = copy.deepcopy(minimal())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


BAD = [
    (("metrics", "bh05", "perplexity"), "17.4", 'metrics.bh05.perplexity: expected a number, got "17.4"'),
    (("metrics", "topk2", "perplexity"), float("nan"), "metrics.topk2.perplexity: expected a finite number, got NaN"),
    (("expert_load", 0, "counts", 2), float("inf"), "expert_load[0].counts[2]: expected a finite number, got Infinity"),
    (("metrics", "bh05", "perplexity", "std"), -0.1, "metrics.bh05.perplexity.std: must be at least 0, got -0.1"),
    (
        ("expert_counts", 0, "method"),
        "bh5",
        'expert_counts[0].method: unknown method "bh5"; declared methods: topk2, bh05',
    ),
    (("routing_samples", 0, "method"), "x", 'routing_samples[0].method: unknown method "x"'),
    (("expert_counts", 0, "values", 1), -1, "expert_counts[0].values[1]: must be at least 0, got -1"),
    (("expert_counts", 0, "values", 1), 2.5, "expert_counts[0].values[1]: expected an integer, got 2.5"),
    (("expert_counts", 0, "values", 1), True, "expert_counts[0].values[1]: expected an integer, got true"),
    (("expert_counts", 0, "values", 1), 9, "expert_counts[0].values[1]: must be at most 8, got 9"),
    (("expert_counts", 1, "histogram", "2"), -5, "expert_counts[1].histogram.2: must be at least 0, got -5"),
    (("expert_counts", 1, "histogram"), {"two": 3}, "expert_counts[1].histogram.two: keys are numbers of experts"),
    (("expert_counts", 1, "layer"), 4, "expert_counts[1].layer: must be at most 3, got 4"),
    (("expert_counts", 1, "layer"), None, "expert_counts[1]: a second entry for method 'bh05', layer None"),
    (("sweeps", 0, "avg_experts"), [3.2], "sweeps[0].avg_experts: has 1 entries but sweeps[0].values has 2"),
    (("sweeps", 0, "values", 1), 1.5, "sweeps[0].values[1]: must be between 0 and 1 (exclusive), got 1.5"),
    (("sweeps", 0, "param"), "top p", 'sweeps[0].param: a parameter name "top p" may use only letters'),
    (("sweeps", 0, "scale"), "cubic", 'sweeps[0].scale: expected "linear" or "log", got "cubic"'),
    (("token_stats", "expert_counts"), [3], "token_stats.expert_counts: has 1 entries but token_stats.token_ids has 2"),
    (("token_stats", "token_frequency", 0), 0, "token_stats.token_frequency[0]: must be in (0, 1], got 0"),
    (
        ("token_stats", "token_ids"),
        [510, 510],
        "token_stats.token_frequency[1]: token id 510 has frequency 0.0001 here and 0.021 at [0]",
    ),
    (("token_stats", "expert_histograms"), [[0, 1]], "token_stats: give either expert_counts (one per token)"),
    (("token_stats", "layer"), 9, "token_stats.layer: must be at most 3, got 9"),
    (("token_strings", "the"), "x", 'token_strings.the: keys are token ids written as integers ("262")'),
    (("token_strings", "510"), 510, "token_strings.510: expected a string, got 510"),
    (
        ("routing_samples", 0, "weights", 1),
        [0.1],
        "routing_samples[0].weights[1]: has 1 entries but routing_samples[0].weights[0] has 2",
    ),
    (("routing_samples", 0, "tokens", 1), 7, "routing_samples[0].tokens[1]: expected a string, got 7"),
    (("expert_load", 0, "counts"), [1, 2], "expert_load[0].counts: has 2 entries but model.num_experts has 8"),
    (("expert_load", 0, "counts"), [0] * 8, "expert_load[0].counts: all zero"),
    (
        ("coactivation", 0, "counts", 2, 5),
        9,
        "coactivation[0].counts[2][5]: 9 tokens routed to experts 2 and 5, but only 4 to expert 2",
    ),
    (("coactivation", 0, "counts", 2), [1, 1], "coactivation[0].counts[2]: has 2 entries but coactivation[0].counts"),
    (("coactivation", 0, "counts"), [[0] * 8] * 8, "coactivation[0].counts: no token was routed"),
    (("model", "num_expert"), 8, "model.num_expert: unknown field; expected one of name, num_experts"),
    (("methods", 1, "id"), "topk2", 'methods[1].id: "topk2" is already the id of methods[0]'),
    (("methods", 1, "label"), "Top-2", 'methods[1].label: "Top-2" is already the label of methods[0]'),
    (("methods", 1, "id"), "bh 05", 'methods[1].id: a method id "bh 05" may use only letters'),
    (("metric_info", "perplexity", "better"), "less", 'metric_info.perplexity.better: expected "lower" or "higher"'),
    (("metric_info", "perplexity", "description"), 3, "metric_info.perplexity.description: expected a string"),
    (("metrics", "bh05", "bleu"), 1.0, 'metrics.bh05.bleu: metric "bleu" is not described in metric_info'),
    (("schema_version",), 2, "schema_version: 2 is not supported; this figkit reads version 1"),
    (("methods",), [], "methods: must not be empty"),
    (("methods", 1, "params", "alpha"), float("nan"), "methods[1].params.alpha: expected a finite number, got NaN"),
    (("method_agreement", 0, "reference"), "bh05", "method_agreement[0].reference: is the method itself ('bh05')"),
    (("method_agreement", 0, "reference"), "bh9", 'method_agreement[0].reference: unknown method "bh9"'),
    (
        ("method_agreement", 0, "jaccard"),
        [0.5],
        "method_agreement[0].jaccard: has 1 entries but method_agreement[0].layers has 2",
    ),
    (("method_agreement", 0, "shared", 1), 1.5, "method_agreement[0].shared[1]: must be at most 1, got 1.5"),
    (("method_agreement", 0, "layers"), [0, 4], "method_agreement[0].layers[1]: must be at most 3, got 4"),
    (("routing_text", 0, "routing", 1, "method"), "bh05", "routing_text[0].routing[1]: a second entry for method"),
    (
        ("routing_text", 0, "routing", 0, "num_experts", 1),
        [2, 2],
        "routing_text[0].routing[0].num_experts[1]: has 2 entries but routing_text[0].tokens has 3",
    ),
    (
        ("routing_text", 0, "routing", 0, "top_expert", 0, 1),
        8,
        "routing_text[0].routing[0].top_expert[0][1]: must be at most 7, got 8",
    ),
    (
        ("routing_text", 0, "routing", 0, "top_expert"),
        [[0, 0, 0]],
        "routing_text[0].routing[0].top_expert: has 1 entries but routing_text[0].layers has 2",
    ),
    (("routing_text", 0, "layers"), [0, 0], "routing_text[0].layers: must be distinct"),
    (("position_effects", 0, "positions"), [0, 5, 1], "position_effects[0].positions: must be ascending, each once"),
    (
        ("position_effects", 0, "mean_top1"),
        [0.5, 0.4],
        "position_effects[0].mean_top1: has 2 entries but position_effects[0].positions has 3",
    ),
    (("position_effects", 0, "mean_experts", 0), 9, "position_effects[0].mean_experts[0]: must be at most 8, got 9"),
    (("position_effects", 0, "layer"), None, "position_effects[0].layer: positions are counted per layer"),
    (("position_effects", 0, "pooled_from"), 4, "position_effects[0].pooled_from: is 4, not the last position (5)"),
    (
        ("routing_locality", 0, "chance"),
        [0.2],
        "routing_locality[0].chance: has 1 entries but routing_locality[0].layers",
    ),
    (("routing_locality", 0, "same_top1", 1), 1.2, "routing_locality[0].same_top1[1]: must be at most 1, got 1.2"),
    (("routing_text", 0, "tokens"), ["a"] * 513, "routing_text[0].tokens: 513 tokens; a passage holds at most 512"),
    (("routing_text", 0, "token_ids"), [1], "routing_text[0].token_ids: has 1 entries but routing_text[0].tokens"),
    (("series", 0, "steps"), [10, 0], "series[0].steps: must be ascending, each once"),
    (("series", 0, "values"), [1.0], "series[0].values: has 1 entries but series[0].steps"),
    (("series", 0, "values", 1), float("nan"), "series[0].values[1]: expected a finite number, got NaN"),
    (("series", 0, "name"), "train/lbl", 'series[0].name: a series name "train/lbl" may use only letters'),
    (("series", 1, "step_unit"), "epochs", 'series[1].step_unit: expected "steps" or "tokens", got "epochs"'),
    (("series", 1, "method"), "bh99", 'series[1].method: unknown method "bh99"; declared methods: topk2, bh05'),
    (
        ("methods", 1, "label"),
        "BH " + "x" * 200_000,
        "methods[1].label: a text of 200,003 characters; a label, title or token may have at most 500",
    ),
    (("routing_text", 0, "tokens", 1), " " * 501, "routing_text[0].tokens[1]: a text of 501 characters"),
]


@pytest.mark.parametrize("path, value, message", BAD, ids=[m.split(":")[0] for _, _, m in BAD])
def test_every_bad_field_is_named(tmp_path, path, value, message):
    text = json.dumps(edit(path, value))  # NaN and Infinity are written as JSON's non-standard tokens
    with pytest.raises(ValueError) as error:
        load_text(tmp_path, text)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '"metrics": {"bh05": {"perplexity": 1' + "0" * 400 + "}}",
            "metrics.bh05.perplexity: an integer of 401 digits is too long for a number figkit can draw",
        ),
        (
            '"metrics": {"bh05": {"perplexity": 1' + "0" * 5000 + "}}",
            "metrics.bh05.perplexity: an integer of 5001 digits is too long",
        ),
        (
            '"expert_load": [{"method": "bh05", "counts": [1' + "0" * 30 + "]}]",
            "expert_load[0].counts[0]: an integer of 31 digits is too long",
        ),
        (
            '"expert_counts": [{"method": "bh05", "values": [1' + "0" * 30 + "]}]",
            "expert_counts[0].values[0]: must be at most 9223372036854775807, got an integer of 31 digits",
        ),
        ('"title": ' + "[" * 5000 + "]" * 5000, "not a results file: lists or objects nested too deeply"),
    ],
)
def test_numbers_too_large_and_nesting_too_deep_are_named(tmp_path, text, message):
    head = '{"schema_version": 1, "methods": [{"id": "bh05"}], '
    with pytest.raises(ValueError) as error:
        load_text(tmp_path, head + text + "}")
    assert str(error.value).startswith(message)


def test_ids_end_where_they_end(tmp_path):
    with pytest.raises(ValueError, match='methods\\[0\\].id: a method id "bh05\\\\n" may use only'):
        load_text(tmp_path, json.dumps({"schema_version": 1, "methods": [{"id": "bh05\n"}]}))


@pytest.mark.parametrize(
    "encode, message",
    [
        (lambda text: text.encode("utf-16"), "is UTF-16 text: save it as UTF-8"),
        (lambda text: text.encode("utf-16-be"), "is UTF-16 text: save it as UTF-8"),
        (lambda text: text.encode("utf-32"), "is UTF-32 text: save it as UTF-8"),
        (
            lambda text: b"\xef\xbb\xbf" + text.encode(),
            "starts with a byte-order mark (U+FEFF): save it as UTF-8 without one",
        ),
        (lambda text: text.replace("Study", "\u00c9tude").encode("latin-1"), "not UTF-8 text (byte 32 is 0xc9)"),
    ],
)
def test_other_encodings_and_byte_order_marks_are_named(tmp_path, encode, message):
    path = tmp_path / "results.json"
    path.write_bytes(encode(json.dumps({"schema_version": 1, "title": "Study", "methods": [{"id": "bh05"}]})))
    with pytest.raises(ValueError) as error:
        load_results(path)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "results, message",
    [
        ({"methods": [{"id": "bh05", "label": "x\ud800y"}]}, "methods[0].label: holds a lone surrogate \\ud800 at"),
        ({"methods": [{"id": "bh05"}], "token_strings": {"7": "\udc00"}}, "token_strings.7: holds a lone surrogate"),
        ({"methods": [{"id": "bh05"}], "token_strings": {"\udc00": "x"}}, "token_strings.<key>: holds a lone"),
    ],
)
def test_lone_surrogates_are_named(tmp_path, results, message):
    with pytest.raises(ValueError) as error:
        load_text(tmp_path, json.dumps({"schema_version": 1, **results}))  # JSON escapes them as \\udxxx
    assert str(error.value).startswith(message)
    with pytest.raises(ValueError, match="methods\\[0\\].label: holds a lone surrogate"):
        write_results(tmp_path / "w.json", methods=[{"id": "bh05", "label": "x\ud800y"}])
    assert not (tmp_path / "w.json").exists()
    pair = {"schema_version": 1, "methods": [{"id": "bh05", "label": "x\U0001f600"}]}  # a whole pair is a character
    assert load_text(tmp_path, json.dumps(pair))["methods"][0]["label"] == "x\U0001f600"


def test_missing_and_duplicated_fields(tmp_path):
    data = minimal()
    del data["schema_version"]
    with pytest.raises(ValueError, match="^schema_version: missing; this figkit reads schema_version 1"):
        load_text(tmp_path, json.dumps(data))
    text = json.dumps(minimal()).replace('"perplexity": 16.98', '"perplexity": 16.98, "perplexity": 17')
    with pytest.raises(ValueError, match=r"^metrics\.topk2\.perplexity: given twice"):
        load_text(tmp_path, text)
    with pytest.raises(ValueError, match="not valid JSON: Expecting ',' delimiter at line 1"):
        load_text(tmp_path, '{"schema_version": 1 "methods": []}')


def test_the_json_schema_agrees(tmp_path):
    """The shipped schema accepts the valid file and rejects what it can express of the bad ones."""
    checker = jsonschema.Draft202012Validator(json.loads(schema()))
    jsonschema.Draft202012Validator.check_schema(checker.schema)
    assert not list(checker.iter_errors(minimal()))
    expressible = [
        case
        for case in BAD
        if not any(
            word in case[2]
            for word in (
                "unknown method",
                "ascending",
                "not the last position",
                "has 1 entries",
                "has 2 entries",
                "at most",
                "second entry",
                "is the method itself",
                "already",
                "all zero",
                "described",
                "frequency 0.0001 here",
                "tokens routed to experts",
                "no token was routed",
                "give either",
                "NaN",
                "Infinity",
            )
        )
    ]
    for path, value, message in expressible:
        assert list(checker.iter_errors(edit(path, value))), message


def test_the_checker_and_the_schema_take_the_same_fields():
    """Each section's checker reads its field names from its schema fragment: both refuse a stray one."""
    checker = jsonschema.Draft202012Validator(json.loads(schema()))
    assert set(SECTIONS) <= set(minimal()), "minimal() holds every section"
    for name in SECTIONS:
        results = minimal()
        value = results[name]
        target = value[0] if isinstance(value, list) else value
        if name in ("metric_info", "metrics", "token_strings") or not isinstance(target, dict):
            continue  # their keys are names of metrics, methods and tokens
        where = f"{name}[0]" if isinstance(value, list) else name
        target["stray"] = 1
        with pytest.raises(ValueError, match=rf"^{re.escape(where)}\.stray: unknown field"):
            validate(results)
        assert list(checker.iter_errors(results)), name


@pytest.mark.slow
def test_figkit_schema_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "figkit", "schema"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["properties"]["schema_version"] == {"const": 1}


def test_write_results_converts_arrays_tensors_and_counts(tmp_path):
    counts = np.random.default_rng(0).integers(1, 9, size=1000)
    path = write_results(
        tmp_path / "r.json",
        methods=[{"id": "bh05"}],
        model={"num_experts": 8},
        metrics={"bh05": {"ppl": np.float32(17.5), "k": torch.tensor(4.25)}},
        expert_counts=[{"method": "bh05", "layer": 0, "values": torch.from_numpy(counts)}],
        expert_load=[{"method": "bh05", "counts": np.bincount(counts, minlength=9)[1:]}],
    )
    loaded = load_results(path)
    assert loaded["metrics"]["bh05"] == {"ppl": 17.5, "k": 4.25}
    values, tokens = np.unique(counts, return_counts=True)
    assert loaded["expert_counts"][0]["histogram"] == {str(v): int(n) for v, n in zip(values, tokens)}
    assert entry_histogram(loaded["expert_counts"][0]) == dict(zip(values.tolist(), tokens.tolist()))
    raw = load_results(
        write_results(
            tmp_path / "raw.json",
            raw_counts=True,
            methods=[{"id": "bh05"}],
            expert_counts=[{"method": "bh05", "values": counts}],
        )
    )
    assert raw["expert_counts"][0]["values"] == counts.tolist()
    assert entry_histogram(raw["expert_counts"][0]) == entry_histogram(loaded["expert_counts"][0])


def test_written_files_are_stable_and_diff_well(tmp_path):
    data = minimal()
    del data["schema_version"]
    first = write_results(tmp_path / "a.json", **data).read_bytes()
    shuffled = dict(reversed(list(data.items())))
    assert write_results(tmp_path / "b.json", **shuffled).read_bytes() == first
    text = first.decode()
    assert text.startswith('{\n  "$schema": "results-v1.schema.json",\n  "schema_version": 1,\n  "title"')
    assert text.index('"method": "bh05"') < text.index('"layer": 0') < text.index('"tokens"')  # the schema's order
    assert '"token_ids": [510, 5347],' in text  # numbers stay on one line
    gz = write_results(tmp_path / "a.json.gz", **data)
    assert gz.read_bytes() == write_results(tmp_path / "b.json.gz", **data).read_bytes()
    assert gzip.decompress(gz.read_bytes()) == first


def test_write_results_refuses_bad_data_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"^metrics\.bh05\.ppl: expected a finite number, got nan"):
        write_results(tmp_path / "r.json", methods=[{"id": "bh05"}], metrics={"bh05": {"ppl": np.nan}})
    with pytest.raises(
        ValueError, match=r"^metrics\.bh05\.ppl: expected a finite number, got an integer of about 6001"
    ):
        write_results(tmp_path / "r.json", methods=[{"id": "bh05"}], metrics={"bh05": {"ppl": 10**6000}})
    with pytest.raises(TypeError, match="metrics.bh05.ppl: cannot write a set"):
        write_results(tmp_path / "r.json", methods=[{"id": "bh05"}], metrics={"bh05": {"ppl": {1}}})
    assert list(tmp_path.iterdir()) == []


def per_id(entry, **changes):
    """The minimal file with ``token_stats`` as a list holding ``entry`` (aggregated by token id)."""
    return {**minimal(), "token_stats": [{"method": "bh05", **entry, **changes}]}


AGGREGATED = {"token_ids": [7, 9], "expert_histograms": [[0, 2, 1], [0, 0, 0, 4]]}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"token_ids": [9, 7]}, "token_stats[0].token_ids[1]: with expert_histograms, token ids are distinct and"),
        ({"expert_histograms": [[0, 2]]}, "token_stats[0].expert_histograms: has 1 entries but"),
        ({"expert_histograms": [[0, 2], [0] * 10 + [1]]}, "token_stats[0].expert_histograms[1]: counts tokens"),
        ({"expert_histograms": [[0, 2], [0, 0]]}, "token_stats[0].expert_histograms[1]: counts no tokens"),
        ({"expert_histograms": [[0, 2], [0, -1]]}, "token_stats[0].expert_histograms[1][1]: must be at least 0"),
    ],
)
def test_token_stats_by_token_id_are_checked(tmp_path, changes, message):
    assert load_text(tmp_path, json.dumps(per_id(AGGREGATED))) == per_id(AGGREGATED)
    with pytest.raises(ValueError) as error:
        load_text(tmp_path, json.dumps(per_id(AGGREGATED, **changes)))
    assert str(error.value).startswith(message)
    checker = jsonschema.Draft202012Validator(json.loads(schema()))
    assert not list(checker.iter_errors(per_id(AGGREGATED)))


def test_token_stats_are_written_by_token_id_losslessly_and_small(tmp_path, rng):
    """A million tokens over a 50k vocabulary (Zipf) take well under a megabyte, and every cell is kept."""
    vocabulary, n = 50_304, 1_000_000
    p = 1 / np.arange(1, vocabulary + 1) ** 1.2
    ids = rng.choice(vocabulary, n, p=p / p.sum())
    experts = np.clip(rng.poisson(1 + 0.25 * np.log10(ids + 1)), 1, 8)
    frequency = np.bincount(ids)[ids] / n
    sections = {"methods": [{"id": "bh05"}], "model": {"num_experts": 64}}
    entry = {"method": "bh05", "layer": None, "token_ids": ids, "expert_counts": experts, "token_frequency": frequency}
    path = write_results(tmp_path / "r.json", token_stats=[entry], **sections)
    assert path.stat().st_size < 1_000_000  # 0.97 MB: ids 0.23, histograms 0.49, frequencies 0.25
    loaded = token_stats_entries(load_results(path))[0]
    cell_ids, cell_experts, cell_tokens, cell_frequency = token_cells(loaded)
    expected = Counter(zip(ids.tolist(), experts.tolist()))
    assert dict(zip(zip(cell_ids, cell_experts), cell_tokens)) == expected
    np.testing.assert_allclose(cell_frequency, np.bincount(ids)[cell_ids] / n)
    raw = write_results(tmp_path / "raw.json", raw_counts=True, token_stats=entry, **sections)
    assert raw.stat().st_size > 10 * path.stat().st_size
    raw_cells = token_cells(token_stats_entries(load_results(raw))[0])
    assert Counter(dict(zip(zip(raw_cells[0], raw_cells[1]), raw_cells[2]))) == expected


@pytest.mark.parametrize(
    "key, message",
    [
        ("\u00b2", 'expert_counts[0].histogram.\u00b2: keys are numbers of experts written as integers ("3")'),
        ("1" + "0" * 5000, "expert_counts[0].histogram.1000000000000000000000000000000000000...: keys are numbers"),
    ],
)
def test_histogram_keys_are_ascii_whole_numbers_named_in_one_short_line(tmp_path, key, message):
    """ "²" passed str.isdigit and a 5,001-digit key reached Python's own int() message."""
    results = {"schema_version": 1, "methods": [{"id": "a"}], "expert_counts": [{"method": "a", "histogram": {key: 3}}]}
    with pytest.raises(ValueError) as error:
        load_text(tmp_path, json.dumps(results))
    assert str(error.value).startswith(message) and len(str(error.value)) < 200


def test_what_the_loader_accepts_the_build_plans(tmp_path):
    """A metric_info with "better" but no metrics stopped the build with KeyError: 'metrics'; expert_load rows
    of different lengths loaded without model.num_experts, then stopped the build naming no field."""
    from figkit.plots import figure_specs

    methods = [{"id": "a"}, {"id": "b"}]
    results = {"schema_version": 1, "methods": methods, "metric_info": {"ppl": {"label": "PPL", "better": "lower"}}}
    results["expert_counts"] = [{"method": m["id"], "values": [1, 2, 3]} for m in methods]
    loaded = load_text(tmp_path, json.dumps(results))
    planned = [spec.name for spec in figure_specs() if list(spec.jobs(loaded))]
    assert planned == ["expert_count_distribution", "expert_count_comparison"]  # no metric, no compute-quality figure
    ragged = {"schema_version": 1, "methods": methods}
    ragged["expert_load"] = [{"method": "a", "layer": 0, "counts": [1, 2, 3, 4]}, {"method": "a", "counts": [1, 2]}]
    with pytest.raises(ValueError, match=r"expert_load\[1\].counts: has 2 entries but expert_load\[0\].counts has 4"):
        load_text(tmp_path, json.dumps(ragged))
