"""The results file: loading and strict validation with field paths, and writing.

Reading is :mod:`figkit.reading` (the standard library, and numpy for long lists of counts), so a
build that finds nothing to do never imports matplotlib. Every check names the path of the field
it rejects, ``metrics.bh05.perplexity: expected a number, got "17.4"``. The same rules are
published as a JSON Schema (``figkit schema``) for editors; the cross-field rules
(declared methods, equal lengths, layer and expert ranges) are checked here only.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from figkit.files import write_atomic
from figkit.reading import LARGEST_INTEGER, CountList, Huge, NonFinite, read_json

SCHEMA_VERSIONS = (1,)
SCHEMA_FILE = "results-v1.schema.json"
KEY = re.compile(r"\A[A-Za-z0-9_.:+-]+\Z")  # method ids and metric names: safe in labels, macros and file names
LARGEST_NUMBER = 1.7976931348623157e308  # numbers become float64
DIRECTIONS = ("lower", "higher")


def schema():
    """The JSON Schema of results files, as text."""
    return (resources.files("figkit") / SCHEMA_FILE).read_text(encoding="utf-8")


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.json`` file, or gzip-compressed JSON (recognised by its bytes, any suffix).

    Returns
    -------
    dict
        The file's contents, checked against schema version 1 (``figkit schema``).

    Raises
    ------
    ValueError
        Naming the first bad field, e.g. ``metrics.bh05.perplexity: expected a number``; or saying
        why the file is not a results file (not UTF-8 JSON, over 4 GiB, endless).
    OSError
        If the file cannot be read.

    Notes
    -----
    Per-token ``expert_counts`` ``values`` longer than 4 KiB of text are read with numpy straight into
    their histogram and come back as a :class:`figkit.reading.CountList`, so that a file of raw counts
    costs little more memory than its bytes.
    """
    results, may_hold_surrogates = read_json(path)
    if may_hold_surrogates:
        _refuse_lone_surrogates(results)
    validate(results)
    return results


def _refuse_lone_surrogates(value, path=""):
    """Refuse a string (or key) holding half of a UTF-16 pair, which no font, PDF or UTF-8 file can hold."""
    stack = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                code = ord(value[error.start])
                _fail(path, f"holds a lone surrogate \\u{code:04x} at character {error.start}: not a character")
        elif isinstance(value, dict):
            for key, item in value.items():
                stack += [(key, _join(path, "<key>")), (item, _join(path, key))]
        elif isinstance(value, list):
            stack += [(item, f"{path}[{i}]") for i, item in enumerate(value) if isinstance(item, (str, dict, list))]


def write_results(path: str | os.PathLike, *, raw_counts: bool = False, **sections: Any) -> Path:
    """Write a results file from Python objects: validated first, atomically, keys in a stable order.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write; a ``.gz`` suffix writes gzip (byte-stable).
    raw_counts : bool
        Keep one count per token as given, in ``expert_counts[].values`` and in
        ``token_stats[].expert_counts``, instead of storing ``{experts: tokens}``
        histograms and one experts histogram per token id (lossless for every figure;
        a million tokens over a 50k vocabulary then take under a megabyte, not 16).
    **sections
        The file's fields (``title``, ``model``, ``methods``, ``metrics``, ...). Tensors
        on any device, numpy arrays and numpy scalars become JSON numbers.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError, TypeError
        Naming the first bad field; nothing is written then.
    """
    if "expert_counts" in sections:  # the plot functions' conversion: whole floats, bfloat16, tensors
        sections = sections | {"expert_counts": _counted(sections["expert_counts"], raw_counts)}
    results = {"schema_version": SCHEMA_VERSIONS[-1]} | {name: _plain(value, name) for name, value in sections.items()}
    _refuse_lone_surrogates(results)
    validate(results)
    if not raw_counts:
        if "token_stats" in results:
            results["token_stats"] = [
                _by_token_id(e) if "expert_counts" in e else e for e in token_stats_entries(results)
            ]
    text = (_dump(_ordered(results)) + "\n").encode()
    path = Path(path)
    if path.suffix == ".gz":
        text = gzip.compress(text, mtime=0)
    write_atomic(path, text)
    return path


def _counted(entries, raw_counts):
    """``expert_counts`` entries whose per-token ``values`` are converted as the plot functions convert
    them: to whole numbers (``raw_counts``), else to a ``{experts: tokens}`` histogram."""
    import numpy as np

    from figkit.arrays import count_vector

    if not isinstance(entries, (list, tuple)):
        return entries  # validation names it
    converted = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "values" in entry:
            counts = count_vector(entry["values"], f"expert_counts[{i}].values")
            entry = {key: value for key, value in entry.items() if key != "values"}
            if raw_counts:
                entry["values"] = counts.tolist()
            else:
                experts, tokens = np.unique(counts, return_counts=True)
                entry["histogram"] = {str(k): int(n) for k, n in zip(experts.tolist(), tokens.tolist())}
        converted.append(entry)
    return converted


def entry_histogram(entry):
    """``{experts: tokens}`` (int keys, ascending) of a validated ``expert_counts`` entry."""
    if "histogram" in entry:
        return {int(k): n for k, n in sorted(entry["histogram"].items(), key=lambda item: int(item[0]))}
    if isinstance(entry["values"], CountList):
        return dict(entry["values"].histogram)
    return dict(sorted(Counter(entry["values"]).items()))


@dataclass(frozen=True)
class MethodCounts:
    """A method's ``expert_counts``: all tokens (``pooled``, and what was pooled) and each layer's."""

    pooled: dict  # {experts: tokens}
    scope: str  # "all layers pooled", "16 layers pooled" or "layer 3"
    layers: dict  # {layer: {experts: tokens}}, ascending

    @property
    def tokens(self):
        return sum(self.pooled.values())

    @property
    def mean(self):
        """Mean experts per token over all pooled tokens."""
        return sum(k * n for k, n in self.pooled.items()) / self.tokens

    def counted(self):
        """What the pooled counts count, for a caption: "20,000 tokens × 16 layers" when every layer routed
        the same tokens, else the routing decisions and where they come from."""
        per_layer = {sum(hist.values()) for hist in self.layers.values()}
        if len(self.layers) == 1:
            return f"{self.tokens:,} tokens, {self.scope}"
        if self.layers and len(per_layer) == 1 and self.tokens == sum(per_layer) * len(self.layers):
            return f"{next(iter(per_layer)):,} tokens \N{MULTIPLICATION SIGN} {len(self.layers)} layers, pooled"
        return f"{self.tokens:,} routing decisions, {self.scope}"


def method_counts(results):
    """``{method id: MethodCounts}`` of a validated results file, in the order methods are declared."""
    entries = {}
    for entry in results.get("expert_counts", []):
        entries.setdefault(entry["method"], []).append(entry)
    counts = {}
    for method in (m["id"] for m in results["methods"]):
        if method not in entries:
            continue
        pooled = [e for e in entries[method] if e.get("layer") is None]
        layers = {
            e["layer"]: entry_histogram(e)
            for e in sorted((e for e in entries[method] if e.get("layer") is not None), key=lambda e: e["layer"])
        }
        if pooled:
            counts[method] = MethodCounts(entry_histogram(pooled[0]), "all layers pooled", layers)
        else:
            total = Counter()
            for hist in layers.values():
                total.update(hist)
            scope = f"layer {next(iter(layers))}" if len(layers) == 1 else f"{len(layers)} layers pooled"
            counts[method] = MethodCounts(dict(sorted(total.items())), scope, layers)
    return counts


def method_labels(results):
    """``{method id: label}`` (the id where no label is given)."""
    return {m["id"]: m.get("label", m["id"]) for m in results["methods"]}


# --- validation ------------------------------------------------------------------------------


def _fail(path, message):
    raise ValueError(f"{path}: {message}" if path else message)


def _shown(value):
    if isinstance(value, NonFinite):
        return str(value)
    if isinstance(value, Huge):
        return f"an integer of {len(value.lstrip('-'))} digits"
    if type(value) is int and abs(value) > LARGEST_INTEGER:  # str() of 4,301 digits or more raises
        return f"an integer of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:36] + '..."'


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def _object(value, path, required=(), optional=()):
    if not isinstance(value, dict):
        _fail(path, f"expected an object, got {_shown(value)}")
    if getattr(value, "duplicate", None) is not None:
        _fail(_join(path, value.duplicate), "given twice")
    for key in required:
        if key not in value:
            _fail(_join(path, key), "missing")
    allowed = set(required) | set(optional)
    if required or optional:
        for key in value:
            if key not in allowed:
                _fail(_join(path, key), f"unknown field; expected one of {', '.join(sorted(allowed))}")
    return value


def _is_number(value):
    return type(value) in (int, float) and -LARGEST_NUMBER <= value <= LARGEST_NUMBER


def _number(value, path, minimum=None, above=None, below=None):
    if isinstance(value, Huge):
        _fail(path, f"{_shown(value)} is too long for a number figkit can draw; write it as a float (1.5e30)")
    if isinstance(value, NonFinite) or type(value) in (int, float) and not _is_number(value):
        _fail(path, f"expected a finite number, got {_shown(value)}")
    if not _is_number(value):
        _fail(path, f"expected a number, got {_shown(value)}")
    if minimum is not None and value < minimum:
        _fail(path, f"must be at least {minimum}, got {_shown(value)}")
    if above is not None and not value > above or below is not None and not value < below:
        _fail(path, f"must be between {above} and {below} (exclusive), got {_shown(value)}")
    return value


def _integer(value, path, minimum=0, maximum=None):
    if isinstance(value, Huge) or type(value) is int and abs(value) > LARGEST_INTEGER:
        _fail(path, f"must be at most {LARGEST_INTEGER}, got {_shown(value)}")
    if type(value) is not int:
        _fail(path, f"expected an integer, got {_shown(value)}")
    if value < minimum:
        _fail(path, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        _fail(path, f"must be at most {maximum}, got {value}")
    return value


def _string(value, path):
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {_shown(value)}")
    return value


def _key(value, path, what):
    _string(value, path)
    if not KEY.match(value):
        _fail(path, f"{what} {_shown(value)} may use only letters, digits and _ . : + -")
    return value


def _list(value, path, length=None, other=None):
    """A non-empty list; with ``length``, exactly that long (``other`` names what sets the length)."""
    if not isinstance(value, list):
        _fail(path, f"expected a list, got {_shown(value)}")
    if not value:
        _fail(path, "must not be empty")
    if length is not None and len(value) != length:
        _fail(path, f"has {len(value)} entries but {other} has {length}")
    return value


def _numbers(values, path, length=None, other=None, *, integer=False, minimum=None, maximum=None):
    """A list of numbers; checked with one fast pass, the slow per-item pass only to name a bad one."""
    _list(values, path, length, other)
    if integer and minimum is None:
        minimum = 0  # integers here count tokens, experts or ids
    if integer and maximum is None:
        maximum = LARGEST_INTEGER
    if (
        all(type(v) is int for v in values)
        if integer
        else all(type(v) in (int, float) for v in values) and all(map(_is_number, values))
    ):
        low, high = min(values), max(values)
        if (minimum is None or low >= minimum) and (maximum is None or high <= maximum):
            return values
    for i, v in enumerate(values):
        if integer:
            _integer(v, f"{path}[{i}]", minimum=minimum, maximum=maximum)
        else:
            _number(v, f"{path}[{i}]", minimum=minimum)
            if maximum is not None and v > maximum:
                _fail(f"{path}[{i}]", f"must be at most {maximum}, got {_shown(v)}")
    return values


def _count_list(counts, path, most):
    """A long list of counts read as its histogram: a count over ``most`` is named at its first position."""
    over = [value for value in counts.histogram if most is not None and value > most]
    if over:
        value = min(over, key=counts.first.get)
        _integer(value, f"{path}[{counts.first[value]}]", maximum=most)


def _boolean(value, path):
    if type(value) is not bool:
        _fail(path, f"expected true or false, got {_shown(value)}")


def validate(results):
    """Check a parsed results file; raise ``ValueError`` naming the first bad field."""
    _object(results, "")
    if "schema_version" not in results:
        _fail("schema_version", "missing; this figkit reads schema_version 1")
    version = results["schema_version"]
    if type(version) is not int or version not in SCHEMA_VERSIONS:
        supported = ", ".join(map(str, SCHEMA_VERSIONS))
        _fail("schema_version", f"{_shown(version)} is not supported; this figkit reads version {supported}")
    _object(results, "", required=("schema_version", "methods"), optional=("$schema", "title", "model", *SECTIONS))
    for key in ("$schema", "title"):
        if key in results:
            _string(results[key], key)
    model = _model(results.get("model", {}))
    methods = _methods(results["methods"])
    metric_info = _metric_info(results.get("metric_info", {}))
    _metrics(results.get("metrics", {}), methods, metric_info)
    for name, check in SECTIONS.items():
        if name in results and check is not None:
            check(results[name], methods, model)


def _model(model):
    _object(model, "model", optional=("name", "num_layers", "num_experts", "top_k"))
    if "name" in model:
        _string(model["name"], "model.name")
    for key in ("num_layers", "num_experts", "top_k"):
        if key in model:
            _integer(model[key], f"model.{key}", minimum=1)
    return model


def _methods(methods):
    _list(methods, "methods")
    ids, labels = {}, {}
    for i, method in enumerate(methods):
        path = f"methods[{i}]"
        _object(method, path, required=("id",), optional=("label", "family", "params", "baseline"))
        method_id = _key(method["id"], f"{path}.id", "a method id")
        if method_id in ids:
            _fail(f"{path}.id", f"{_shown(method_id)} is already the id of methods[{ids[method_id]}]")
        ids[method_id] = i
        label = _string(method.get("label", method_id), f"{path}.label")
        if label in labels:
            _fail(f"{path}.label", f"{_shown(label)} is already the label of methods[{labels[label]}]")
        labels[label] = i
        if "family" in method:
            _string(method["family"], f"{path}.family")
        if "baseline" in method:
            _boolean(method["baseline"], f"{path}.baseline")
        for name, value in _object(method.get("params", {}), f"{path}.params").items():
            if not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
                _fail(f"{path}.params.{name}", f"expected a number, string, true/false or null, got {_shown(value)}")
    return ids


def _metric_info(info):
    _object(info, "metric_info")
    labels = {}
    for metric, entry in info.items():
        path = f"metric_info.{metric}"
        _key(metric, path, "a metric name")
        _object(entry, path, optional=("label", "better", "aggregation", "description"))
        label = _string(entry.get("label", metric), f"{path}.label")
        if label in labels:
            _fail(f"{path}.label", f"{_shown(label)} is already the label of metric_info.{labels[label]}")
        labels[label] = metric
        if "better" in entry and entry["better"] not in DIRECTIONS:
            _fail(f"{path}.better", f'expected "lower" or "higher", got {_shown(entry["better"])}')
        for text in ("aggregation", "description"):
            if text in entry:
                _string(entry[text], f"{path}.{text}")
    return info


def _declared(method, path, methods):
    _string(method, path)
    if method not in methods:
        _fail(path, f"unknown method {_shown(method)}; declared methods: {', '.join(methods)}")
    return method


def _metrics(metrics, methods, metric_info):
    _object(metrics, "metrics")
    for method, row in metrics.items():
        path = f"metrics.{method}"
        _declared(method, path, methods)
        for metric, value in _object(row, path).items():
            where = f"{path}.{metric}"
            _key(metric, where, "a metric name")
            if metric not in metric_info and metric_info:
                _fail(where, f"metric {_shown(metric)} is not described in metric_info")
            if isinstance(value, dict):
                _object(value, where, required=("mean",), optional=("std",))
                _number(value["mean"], f"{where}.mean")
                if "std" in value:
                    _number(value["std"], f"{where}.std", minimum=0)
            elif value is not None:
                _number(value, where)


def _layer(entry, path, model):
    layer = entry.get("layer")
    if layer is not None:
        maximum = model["num_layers"] - 1 if "num_layers" in model else None
        _integer(layer, f"{path}.layer", maximum=maximum)
    return layer


def _method_and_layer(entry, path, methods, model, seen, **also):
    """An entry's declared method and valid layer, the only entry for that pair and the values ``also``
    (a domain, a kind of token); ``seen`` holds those so far."""
    method = _declared(entry["method"], f"{path}.method", methods)
    layer = _layer(entry, path, model)
    key = (method, layer, *also.values())
    if key in seen:
        which = "".join(f", {name} {value!r}" for name, value in also.items())
        _fail(path, f"a second entry for method {method!r}, layer {layer}{which}; the first is {seen[key]}")
    seen[key] = path
    return method, layer


def _loads(entry, path, model):
    """An entry's tokens routed to each expert (not all zero) and its ``num_tokens``, if given, which no
    expert can have more than."""
    counts = _numbers(entry["counts"], f"{path}.counts", model.get("num_experts"), "model.num_experts", minimum=0)
    if not any(counts):
        _fail(f"{path}.counts", "all zero: no token was routed")
    if "num_tokens" in entry:
        tokens = _integer(entry["num_tokens"], f"{path}.num_tokens", minimum=1)
        if max(counts) > tokens:
            expert = counts.index(max(counts))
            _fail(f"{path}.num_tokens", f"{tokens} tokens, but expert {expert} was routed {max(counts)} of them")


def _count_matrix(entry, path, model):
    """An entry's ``counts``: experts × experts whole numbers."""
    rows = _list(entry["counts"], f"{path}.counts", model.get("num_experts"), "model.num_experts")
    for i, row in enumerate(rows):
        _numbers(row, f"{path}.counts[{i}]", len(rows), f"{path}.counts", integer=True)
    return rows


def _entries(entries, name):
    """(path, entry) for each entry of a list section, which must not be empty."""
    return [(f"{name}[{i}]", entry) for i, entry in enumerate(_list(entries, name))]


def _expert_counts(entries, methods, model):
    seen = {}
    for path, entry in _entries(entries, "expert_counts"):
        _object(entry, path, required=("method",), optional=("layer", "values", "histogram"))
        _method_and_layer(entry, path, methods, model, seen)
        if ("values" in entry) == ("histogram" in entry):
            _fail(path, "give either values (one count per token) or histogram ({experts: tokens}), not both")
        most = model.get("num_experts")
        if isinstance(entry.get("values"), CountList):
            _count_list(entry["values"], f"{path}.values", most)
            continue
        if "values" in entry:
            _numbers(entry["values"], f"{path}.values", integer=True, maximum=most)
            continue
        histogram = _object(entry["histogram"], f"{path}.histogram")
        if not histogram:
            _fail(f"{path}.histogram", "must not be empty")
        for experts, tokens in histogram.items():
            where = f"{path}.histogram.{experts}"
            if not experts.isdigit() or str(int(experts)) != experts:
                _fail(where, f'keys are numbers of experts written as integers ("3"), got {_shown(experts)}')
            if most is not None and int(experts) > most:
                _fail(where, f"{experts} experts is more than model.num_experts ({most})")
            _integer(tokens, where)
        if not any(histogram.values()):
            _fail(f"{path}.histogram", "counts no tokens")


SCALES = ("linear", "log")


def _sweeps(sweeps, methods, model):
    for path, sweep in _entries(sweeps, "sweeps"):
        _object(
            sweep,
            path,
            required=("param", "values", "avg_experts"),
            optional=("method_family", "param_label", "scale", "std_experts", "baseline_k"),
        )
        param = _key(sweep["param"], f"{path}.param", "a parameter name")
        for key in ("method_family", "param_label"):
            if key in sweep:
                _string(sweep[key], f"{path}.{key}")
        if "scale" in sweep and sweep["scale"] not in SCALES:
            _fail(f"{path}.scale", f'expected "linear" or "log", got {_shown(sweep["scale"])}')
        values = _numbers(sweep["values"], f"{path}.values")
        for j, value in enumerate(values):
            if param == "alpha":  # a significance level
                _number(value, f"{path}.values[{j}]", above=0, below=1)
            elif sweep.get("scale") == "log" and not value > 0:
                _fail(f"{path}.values[{j}]", f"must be positive on a log scale, got {_shown(value)}")
        if len(set(values)) != len(values):
            _fail(f"{path}.values", f"has a value of {param} twice")
        _numbers(sweep["avg_experts"], f"{path}.avg_experts", len(values), f"{path}.values", minimum=0)
        if "std_experts" in sweep:
            _numbers(sweep["std_experts"], f"{path}.std_experts", len(values), f"{path}.values", minimum=0)
        if "baseline_k" in sweep:
            _number(sweep["baseline_k"], f"{path}.baseline_k", above=0)


def _expert_load(entries, methods, model):
    for path, entry in _entries(entries, "expert_load"):
        _object(entry, path, required=("method", "counts"), optional=("layer", "num_tokens"))
        _declared(entry["method"], f"{path}.method", methods)
        _layer(entry, path, model)
        _loads(entry, path, model)


def _coactivation(entries, methods, model):
    seen = {}
    for path, entry in _entries(entries, "coactivation"):
        _object(entry, path, required=("method", "counts"), optional=("layer",))
        _method_and_layer(entry, path, methods, model, seen)
        rows = _count_matrix(entry, path, model)
        for a, row in enumerate(rows):
            if max(row) > row[a]:
                b = row.index(max(row))
                _fail(
                    f"{path}.counts[{a}][{b}]",
                    f"{row[b]} tokens routed to experts {a} and {b}, but only {row[a]} to expert {a} (the diagonal)",
                )
        if not any(row[a] for a, row in enumerate(rows)):
            _fail(f"{path}.counts", "no token was routed (the diagonal is all zero)")


def _domain_load(entries, methods, model):
    seen = {}
    for path, entry in _entries(entries, "domain_load"):
        _object(entry, path, required=("method", "domain", "counts", "num_tokens"), optional=("layer",))
        domain = _string(entry["domain"], f"{path}.domain")
        if not domain.strip():
            _fail(f"{path}.domain", "is empty")
        _method_and_layer(entry, path, methods, model, seen, domain=domain)
        _loads(entry, path, model)


def _cross_layer(entries, methods, model):
    seen = {}
    for path, entry in _entries(entries, "cross_layer"):
        _object(entry, path, required=("method", "layer", "next_layer", "counts"))
        _integer(entry["layer"], f"{path}.layer")
        _method_and_layer(entry, path, methods, model, seen)
        last = model["num_layers"] - 1 if "num_layers" in model else None
        _integer(entry["next_layer"], f"{path}.next_layer", minimum=entry["layer"] + 1, maximum=last)
        rows = _count_matrix(entry, path, model)
        if not any(map(any, rows)):
            _fail(f"{path}.counts", "all zero: no token was counted")


def _router_saturation(entries, methods, model):
    seen = {}
    for path, entry in _entries(entries, "router_saturation"):
        _object(entry, path, required=("k", "progress", "layers", "values"), optional=("progress_label", "num_tokens"))
        experts = model.get("num_experts")
        k = _integer(entry["k"], f"{path}.k", minimum=1, maximum=experts)
        if k in seen:
            _fail(path, f"a second entry for k = {k}; the first is {seen[k]}")
        seen[k] = path
        progress = _numbers(entry["progress"], f"{path}.progress")
        if any(b <= a for a, b in zip(progress, progress[1:])):
            _fail(f"{path}.progress", "must increase from one checkpoint to the next")
        last = model["num_layers"] - 1 if "num_layers" in model else None
        layers = _numbers(entry["layers"], f"{path}.layers", integer=True, maximum=last)
        if len(set(layers)) != len(layers):
            _fail(f"{path}.layers", "must be distinct")
        rows = _list(entry["values"], f"{path}.values", len(progress), f"{path}.progress")
        for i, row in enumerate(rows):
            _numbers(row, f"{path}.values[{i}]", len(layers), f"{path}.layers", minimum=0, maximum=1)
        if "progress_label" in entry:
            _string(entry["progress_label"], f"{path}.progress_label")
        if "num_tokens" in entry:
            _integer(entry["num_tokens"], f"{path}.num_tokens", minimum=1)


def _vocabulary(entries, methods, model):
    seen = {}
    optional = ("layer", "token", "expert_tokens", "expert_token_routings", "expert_token_occurrences")
    for path, entry in _entries(entries, "vocabulary"):
        _object(entry, path, required=("method", "occurrences", "top_expert_routings", "id_count"), optional=optional)
        token = entry.get("token", "input")
        if token not in ("input", "next"):
            _fail(
                f"{path}.token", f'must be "input" (the token routed) or "next" (the one after it), got {_shown(token)}'
            )
        _method_and_layer(entry, path, methods, model, seen, token=token)
        occurrences = _numbers(entry["occurrences"], f"{path}.occurrences", integer=True, minimum=1)
        n = len(occurrences)
        top = _numbers(
            entry["top_expert_routings"], f"{path}.top_expert_routings", n, f"{path}.occurrences", integer=True
        )
        _numbers(entry["id_count"], f"{path}.id_count", n, f"{path}.occurrences", integer=True, minimum=1)
        over = next((i for i, (t, o) in enumerate(zip(top, occurrences)) if t > o), None)
        if over is not None:
            _fail(
                f"{path}.top_expert_routings[{over}]",
                f"{top[over]} routings to one expert of a token seen {occurrences[over]} times",
            )
        if ("expert_tokens" in entry) != ("expert_token_routings" in entry):
            _fail(path, "give expert_tokens and expert_token_routings together")
        if "expert_tokens" in entry:
            tokens = _list(
                entry["expert_tokens"], f"{path}.expert_tokens", model.get("num_experts"), "model.num_experts"
            )
            counts = _list(
                entry["expert_token_routings"], f"{path}.expert_token_routings", len(tokens), f"{path}.expert_tokens"
            )
            for e, (ids, routings) in enumerate(zip(tokens, counts)):
                if ids:
                    _numbers(ids, f"{path}.expert_tokens[{e}]", integer=True)
                    _numbers(
                        routings,
                        f"{path}.expert_token_routings[{e}]",
                        len(ids),
                        f"{path}.expert_tokens[{e}]",
                        integer=True,
                    )
                elif routings:
                    _fail(f"{path}.expert_token_routings[{e}]", f"has entries but expert_tokens[{e}] has none")
        if "expert_token_occurrences" in entry:
            _token_occurrences(entry, path)


def _token_occurrences(entry, path):
    """Each listed token's occurrences: as long as its routings and at least as many."""
    if "expert_tokens" not in entry:
        _fail(path, "give expert_token_occurrences with expert_tokens")
    name = f"{path}.expert_token_occurrences"
    lists = _list(entry["expert_token_occurrences"], name, len(entry["expert_tokens"]), f"{path}.expert_tokens")
    for e, (seen, routings) in enumerate(zip(lists, entry["expert_token_routings"])):
        if seen or routings:
            _numbers(seen, f"{name}[{e}]", len(routings), f"{path}.expert_token_routings[{e}]", integer=True)
            over = next((j for j, (n, r) in enumerate(zip(seen, routings)) if r > n), None)
            if over is not None:
                _fail(f"{name}[{e}][{over}]", f"{seen[over]} occurrences of a token routed {routings[over]} times")


def _routing_samples(samples, methods, model):
    for path, sample in _entries(samples, "routing_samples"):
        _object(
            sample, path, required=("method", "tokens", "weights"), optional=("layer", "token_ids", "expert_indices")
        )
        _declared(sample["method"], f"{path}.method", methods)
        _layer(sample, path, model)
        tokens = _list(sample["tokens"], f"{path}.tokens")
        for j, token in enumerate(tokens):
            _string(token, f"{path}.tokens[{j}]")
        if "token_ids" in sample:
            _numbers(sample["token_ids"], f"{path}.token_ids", len(tokens), f"{path}.tokens", integer=True)
        weights = _list(sample["weights"], f"{path}.weights", len(tokens), f"{path}.tokens")
        width = len(weights[0]) if isinstance(weights[0], list) else None
        for j, row in enumerate(weights):
            _numbers(row, f"{path}.weights[{j}]", width, f"{path}.weights[0]", minimum=0)
        if "expert_indices" in sample:
            _numbers(
                sample["expert_indices"], f"{path}.expert_indices", width, f"each row of {path}.weights", integer=True
            )
        elif "num_experts" in model and width != model["num_experts"]:
            _fail(
                f"{path}.weights[0]",
                f"has {width} experts but model.num_experts is {model['num_experts']}; "
                "give expert_indices for a subset",
            )


def _token_stats(entries, methods, model):
    """One entry (an object) or a list of entries, one per method and layer."""
    listed = _entries(entries, "token_stats") if isinstance(entries, list) else [("token_stats", entries)]
    seen = {}
    for path, entry in listed:
        _object(
            entry,
            path,
            required=("method", "token_ids"),
            optional=("layer", "expert_counts", "expert_histograms", "token_frequency"),
        )
        _method_and_layer(entry, path, methods, model, seen)
        if ("expert_counts" in entry) == ("expert_histograms" in entry):
            _fail(path, "give either expert_counts (one per token) or expert_histograms (one per token id), not both")
        ids = _numbers(entry["token_ids"], f"{path}.token_ids", integer=True)
        if "expert_counts" in entry:
            _numbers(
                entry["expert_counts"],
                f"{path}.expert_counts",
                len(ids),
                f"{path}.token_ids",
                integer=True,
                maximum=model.get("num_experts"),
            )
        else:
            _expert_histograms(entry["expert_histograms"], ids, path, model)
        if "token_frequency" in entry:
            _token_frequency(entry["token_frequency"], ids, path)


def _expert_histograms(histograms, ids, path, model):
    for i in range(1, len(ids)):
        if ids[i] <= ids[i - 1]:
            _fail(f"{path}.token_ids[{i}]", "with expert_histograms, token ids are distinct and ascending")
    _list(histograms, f"{path}.expert_histograms", len(ids), f"{path}.token_ids")
    longest = model["num_experts"] + 1 if "num_experts" in model else None
    for i, histogram in enumerate(histograms):
        where = f"{path}.expert_histograms[{i}]"
        _numbers(histogram, where, integer=True)
        if longest is not None and len(histogram) > longest:
            _fail(where, f"counts tokens selecting up to {len(histogram) - 1} experts, more than model.num_experts")
        if not any(histogram):
            _fail(where, "counts no tokens")


def _token_frequency(frequency, ids, path):
    """A corpus frequency in (0, 1] for each token id given, the same wherever an id recurs."""
    _numbers(frequency, f"{path}.token_frequency", len(ids), f"{path}.token_ids")
    first = {}
    for j, (token, value) in enumerate(zip(ids, frequency)):
        if not 0 < value <= 1:
            _fail(f"{path}.token_frequency[{j}]", f"must be in (0, 1], got {_shown(value)}")
        if first.setdefault(token, (j, value))[1] != value:
            _fail(
                f"{path}.token_frequency[{j}]",
                f"token id {token} has frequency {_shown(value)} here and {_shown(first[token][1])} "
                f"at [{first[token][0]}]",
            )


def _token_strings(strings, methods, model):
    _object(strings, "token_strings")
    for key, text in strings.items():
        where = f"token_strings.{key}"
        if not key.isdigit() or str(int(key)) != key:
            _fail(where, f'keys are token ids written as integers ("262"), got {_shown(key)}')
        _string(text, where)


def token_stats_entries(results):
    """The ``token_stats`` entries of a validated results file, as a list."""
    stats = results.get("token_stats", [])
    return [stats] if isinstance(stats, dict) else stats


def token_cells(entry):
    """``(token_ids, experts, tokens, frequency)`` per distinct (token id, experts) pair of an entry.

    ``frequency`` is ``None`` when the entry gives none.
    """
    if "expert_histograms" in entry:
        by_id = zip(entry["token_ids"], entry["expert_histograms"])
        cells = {(token, k): n for token, histogram in by_id for k, n in enumerate(histogram) if n}
    else:
        cells = Counter(zip(entry["token_ids"], entry["expert_counts"]))
    ids = [token for token, _ in cells]
    return ids, [k for _, k in cells], list(cells.values()), _frequency_of(entry, ids)


def _frequency_of(entry, ids):
    """The entry's corpus frequency of each of ``ids`` (one value per id), or ``None`` without one."""
    if "token_frequency" not in entry:
        return None
    by_token = dict(zip(entry["token_ids"], entry["token_frequency"]))
    return [by_token[token] for token in ids]


def _by_token_id(entry):
    """A per-token entry aggregated into one experts histogram per token id (lossless for the figures)."""
    histograms = {}
    for token, experts in zip(entry["token_ids"], entry["expert_counts"]):
        histogram = histograms.setdefault(token, [])
        if len(histogram) <= experts:
            histogram.extend([0] * (experts + 1 - len(histogram)))
        histogram[experts] += 1
    ids = sorted(histograms)
    aggregated = {k: v for k, v in entry.items() if k not in ("token_ids", "expert_counts", "token_frequency")}
    aggregated |= {"token_ids": ids, "expert_histograms": [histograms[token] for token in ids]}
    if "token_frequency" in entry:
        aggregated["token_frequency"] = _frequency_of(entry, ids)
    return aggregated


# The sections of a results file after the model and the methods, in the order they are written, each
# with its checker (metric_info and metrics are checked together, above). Figures name what they read
# in their FigureSpec.sections; a new section is a checker here and its entry in the JSON Schema.
SECTIONS = {
    "metric_info": None,
    "metrics": None,
    "expert_counts": _expert_counts,
    "sweeps": _sweeps,
    "expert_load": _expert_load,
    "coactivation": _coactivation,
    "domain_load": _domain_load,
    "cross_layer": _cross_layer,
    "router_saturation": _router_saturation,
    "routing_samples": _routing_samples,
    "token_stats": _token_stats,
    "token_strings": _token_strings,
    "vocabulary": _vocabulary,
}


# --- writing ---------------------------------------------------------------------------------

# The order fields are written in, so files diff well; other keys keep their order (histograms are sorted).
FIELD_ORDER = (
    "$schema",
    "schema_version",
    "title",
    "model",
    "methods",
    *SECTIONS,
    "id",
    "label",
    "family",
    "params",
    "baseline",
    "name",
    "num_layers",
    "num_experts",
    "top_k",
    "better",
    "aggregation",
    "method",
    "method_family",
    "domain",
    "param",
    "layer",
    "next_layer",
    "values",
    "histogram",
    "avg_experts",
    "std_experts",
    "baseline_k",
    "counts",
    "tokens",
    "token_ids",
    "expert_histograms",
    "expert_indices",
    "weights",
    "token_frequency",
    "mean",
    "std",
)


def _plain(value, path):
    """``value`` with tensors, arrays and numpy scalars turned into JSON's types."""
    if isinstance(value, dict):
        return {str(k): _plain(v, _join(path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if value is None or type(value) in (str, bool, int, float):
        return value
    if isinstance(value, str):
        return str(value)
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy scalars, 0-d tensors
        return _plain(value.item(), path)
    if hasattr(value, "detach") or hasattr(value, "__array__") or hasattr(value, "to_numpy"):
        from figkit.arrays import to_numpy

        return to_numpy(value, path).tolist()
    raise TypeError(f"{path}: cannot write a {type(value).__name__} to a results file")


def _ordered(value):
    if isinstance(value, dict):
        known = [k for k in FIELD_ORDER if k in value]
        return {k: _ordered(value[k]) for k in known + [k for k in value if k not in FIELD_ORDER]}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


# A list of more rows than this (per-token-id histograms) goes on one line: one line per row costs a third more.
MAX_LINES_PER_LIST = 100


def _dump(value, indent=0):
    """JSON with one field per line and lists of numbers (and small objects of numbers) on one line."""
    nested = isinstance(value, (dict, list)) and any(isinstance(v, (dict, list)) for v in _items(value))
    if isinstance(value, list) and len(value) > MAX_LINES_PER_LIST and all(isinstance(v, list) for v in value):
        nested = False
    if nested or isinstance(value, dict) and len(value) > 8:
        pad = "  " * (indent + 1)
        if isinstance(value, dict):
            lines = [f"{pad}{json.dumps(k)}: {_dump(v, indent + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(lines) + "\n" + "  " * indent + "}"
        return "[\n" + ",\n".join(pad + _dump(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _items(value):
    return value.values() if isinstance(value, dict) else value
