"""``expert_counts``: experts selected per token, per method and layer, as counts or a histogram."""

import re

from figkit.results.checks import (
    an_integer,
    an_object,
    count_list,
    entries,
    fail,
    fields,
    join,
    method_and_layer,
    numbers,
    shown,
)
from figkit.results.reading import CountList
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["method"],
    "additionalProperties": False,
    "oneOf": [{"required": ["values"]}, {"required": ["histogram"]}],
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "values": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
        "histogram": {
            "type": "object",
            "minProperties": 1,
            "description": "number of experts -> number of tokens",
            "propertyNames": {"pattern": "^(0|[1-9][0-9]*)$"},
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
    },
}


def check(value, context):
    seen = {}
    most = context.model.get("num_experts")
    for path, entry in entries(value, "expert_counts"):
        an_object(entry, path, **fields(ENTRY))
        method_and_layer(entry, path, context, seen)
        if ("values" in entry) == ("histogram" in entry):
            fail(path, "give either values (one count per token) or histogram ({experts: tokens}), not both")
        if isinstance(entry.get("values"), CountList):
            count_list(entry["values"], f"{path}.values", most)
        elif "values" in entry:
            numbers(entry["values"], f"{path}.values", integer=True, maximum=most)
        else:
            _histogram(entry["histogram"], f"{path}.histogram", most)


def _histogram(histogram, path, most):
    if not an_object(histogram, path):
        fail(path, "must not be empty")
    for experts, tokens in histogram.items():
        where = join(path, experts)
        if not re.fullmatch(r"0|[1-9][0-9]{0,17}", experts):  # ASCII digits ("²" is a digit to isdigit)
            fail(where, f'keys are numbers of experts written as integers ("3"), got {shown(experts)}')
        if most is not None and int(experts) > most:
            fail(where, f"{experts} experts is more than model.num_experts ({most})")
        an_integer(tokens, where)
    if not any(histogram.values()):
        fail(path, "counts no tokens")


def convert(value, raw_counts):
    """Entries whose per-token ``values`` are converted as the plot functions convert them: to whole
    numbers (``raw_counts``), else to a ``{experts: tokens}`` histogram."""
    import numpy as np

    from figkit.arrays import count_vector

    if not isinstance(value, (list, tuple)):
        return value  # the check names it
    converted = []
    for i, entry in enumerate(value):
        if isinstance(entry, dict) and "values" in entry:
            counts = count_vector(entry["values"], f"expert_counts[{i}].values")
            entry = {key: item for key, item in entry.items() if key != "values"}
            if raw_counts:
                entry["values"] = counts.tolist()
            else:
                experts, tokens = np.unique(counts, return_counts=True)
                entry["histogram"] = {str(k): int(n) for k, n in zip(experts.tolist(), tokens.tolist())}
        converted.append(entry)
    return converted


SECTION = Section(
    "expert_counts",
    listed(ENTRY, "Experts selected per token; layer null pools all layers."),
    check,
    convert=convert,
)
