"""``cross_layer``: tokens' top-1 expert in one layer against their top-1 expert in the next."""

from figkit.results.checks import an_integer, an_object, count_matrix, entries, fail, fields, method_and_layer
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["method", "layer", "next_layer", "counts"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"type": "integer", "minimum": 0},
        "next_layer": {"type": "integer", "minimum": 1},
        "counts": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/counts"}},
    },
}


def check(value, context):
    seen = {}
    model = context.model
    for path, entry in entries(value, "cross_layer"):
        an_object(entry, path, **fields(ENTRY))
        an_integer(entry["layer"], f"{path}.layer")
        method_and_layer(entry, path, context, seen)
        last = model["num_layers"] - 1 if "num_layers" in model else None
        an_integer(entry["next_layer"], f"{path}.next_layer", minimum=entry["layer"] + 1, maximum=last)
        rows = count_matrix(entry, path, model)
        if not any(map(any, rows)):
            fail(f"{path}.counts", "all zero: no token was counted")


SECTION = Section(
    "cross_layer",
    listed(
        ENTRY,
        "Paths across consecutive MoE layers: counts[i][j] tokens whose top-1 expert is i in layer and j in "
        "next_layer.",
    ),
    check,
)
