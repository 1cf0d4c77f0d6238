"""``model``: the routed model's name and sizes, which bound layers, experts and counts elsewhere."""

from figkit.results.checks import a_string, an_integer, an_object, fields
from figkit.results.section import Section

SIZES = ("num_layers", "num_experts", "top_k")

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"name": {"type": "string"}} | {size: {"$ref": "#/$defs/positive_integer"} for size in SIZES},
}


def check(model, context):
    an_object(model, "model", **fields(SCHEMA))
    if "name" in model:
        a_string(model["name"], "model.name")
    for key in SIZES:
        if key in model:
            an_integer(model[key], f"model.{key}", minimum=1)


SECTION = Section("model", SCHEMA, check)
