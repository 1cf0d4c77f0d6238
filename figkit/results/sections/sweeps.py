"""``sweeps``: mean experts per token as one routing parameter (alpha, k, p, ...) varies."""

from figkit.results.checks import (
    a_key,
    a_number,
    a_string,
    an_object,
    entries,
    fail,
    fields,
    numbers,
    one_of,
    shown,
)
from figkit.results.section import Section, listed

SCALES = ("linear", "log")

ENTRY = {
    "type": "object",
    "required": ["param", "values", "avg_experts"],
    "additionalProperties": False,
    "description": "Experts per token as one routing parameter varies: alpha, k, top-p's p, a threshold, max_k, ...",
    "properties": {
        "method_family": {"type": "string"},
        "param": {"$ref": "#/$defs/key"},
        "param_label": {
            "type": "string",
            "description": "The axis label; $...$ maths allowed. Default: the name (alpha: 'Significance level α').",
        },
        "scale": {
            "enum": list(SCALES),
            "description": "Default: log when the values are positive and span a factor of ten.",
        },
        "values": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "number"}},
        "avg_experts": {"$ref": "#/$defs/non_negative_numbers"},
        "std_experts": {"$ref": "#/$defs/non_negative_numbers"},
        "baseline_k": {"type": "number", "exclusiveMinimum": 0},
    },
    "if": {"properties": {"param": {"const": "alpha"}}},
    "then": {"properties": {"values": {"items": {"exclusiveMinimum": 0, "exclusiveMaximum": 1}}}},
}


def check(value, context):
    for path, sweep in entries(value, "sweeps"):
        an_object(sweep, path, **fields(ENTRY))
        param = a_key(sweep["param"], f"{path}.param", "a parameter name")
        for key in ("method_family", "param_label"):
            if key in sweep:
                a_string(sweep[key], f"{path}.{key}")
        if "scale" in sweep:
            one_of(sweep["scale"], f"{path}.scale", SCALES, '"linear" or "log"')
        values = numbers(sweep["values"], f"{path}.values")
        for j, value in enumerate(values):
            if param == "alpha":  # a significance level
                a_number(value, f"{path}.values[{j}]", above=0, below=1)
            elif sweep.get("scale") == "log" and not value > 0:
                fail(f"{path}.values[{j}]", f"must be positive on a log scale, got {shown(value)}")
        if len(set(values)) != len(values):
            fail(f"{path}.values", f"has a value of {param} twice")
        numbers(sweep["avg_experts"], f"{path}.avg_experts", len(values), f"{path}.values", minimum=0)
        if "std_experts" in sweep:
            numbers(sweep["std_experts"], f"{path}.std_experts", len(values), f"{path}.values", minimum=0)
        if "baseline_k" in sweep:
            a_number(sweep["baseline_k"], f"{path}.baseline_k", above=0)


SECTION = Section("sweeps", listed(ENTRY), check)
