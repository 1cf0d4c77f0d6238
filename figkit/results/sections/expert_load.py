"""``expert_load``: tokens routed to each expert, per method and layer."""

from figkit.results.checks import a_layer, an_object, declared, entries, fields, loads, numbers
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["method", "counts"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "counts": {"$ref": "#/$defs/non_negative_numbers"},
        "num_tokens": {
            "type": "integer",
            "minimum": 1,
            "description": "Tokens the layer routed: with a fixed number of experts per token, the load across "
            "layers is a share of these.",
        },
    },
}


def check(value, context):
    for path, entry in entries(value, "expert_load"):
        an_object(entry, path, **fields(ENTRY))
        declared(entry["method"], f"{path}.method", context.methods)
        a_layer(entry, path, context.model)
        loads(entry, path, context.model)
        experts = len(value[0]["counts"])  # every entry counts the experts of one model
        numbers(entry["counts"], f"{path}.counts", experts, "expert_load[0].counts")


SECTION = Section("expert_load", listed(ENTRY, "Tokens routed to each expert."), check)
