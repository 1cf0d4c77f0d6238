"""``series``: values over training, per method and (where it applies) per layer: losses, balance statistics,
experts per token, anything numeric a run logs."""

from figkit.results.checks import a_key, a_string, an_object, entries, fail, fields, method_and_layer, numbers, one_of
from figkit.results.section import Section, listed

STEP_UNITS = ("steps", "tokens")

ENTRY = {
    "type": "object",
    "required": ["name", "method", "steps", "values"],
    "additionalProperties": False,
    "properties": {
        "name": {"$ref": "#/$defs/key", "description": "What is logged: a metric_info key names its label."},
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "minimum": 0},
            "description": "Where each value was logged, ascending, in step_unit.",
        },
        "values": {"type": "array", "items": {"type": "number"}},
        "step_unit": {
            "enum": list(STEP_UNITS),
            "description": "What steps count: optimiser steps (the default) or tokens seen.",
        },
        "source": {"type": "string", "description": "Where the values were read: a file and its tag or column."},
    },
}


def check(value, context):
    seen = {}
    for path, entry in entries(value, "series"):
        an_object(entry, path, **fields(ENTRY))
        name = a_key(entry["name"], f"{path}.name", "a series name")
        method_and_layer(entry, path, context, seen, name=name)
        steps = numbers(entry["steps"], f"{path}.steps", integer=True)
        if any(b <= a for a, b in zip(steps, steps[1:])):
            fail(f"{path}.steps", "must be ascending, each once")
        numbers(entry["values"], f"{path}.values", len(steps), f"{path}.steps")
        if "step_unit" in entry:
            one_of(entry["step_unit"], f"{path}.step_unit", STEP_UNITS, '"steps" or "tokens"')
        if "source" in entry:
            a_string(entry["source"], f"{path}.source")


SECTION = Section(
    "series",
    listed(ENTRY, "Values over training per method (and layer): losses, balance, experts per token."),
    check,
)
