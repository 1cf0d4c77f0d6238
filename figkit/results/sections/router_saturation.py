"""``router_saturation``: how much of the final checkpoint's top-k each earlier checkpoint already picks."""

from figkit.results.checks import a_list, a_string, an_integer, an_object, entries, fail, fields, numbers
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["k", "progress", "layers", "values"],
    "additionalProperties": False,
    "properties": {
        "k": {"type": "integer", "minimum": 1},
        "progress": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "number"},
            "description": "Each checkpoint's training progress (steps, tokens, %), increasing.",
        },
        "progress_label": {"type": "string"},
        "layers": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
        "values": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0, "maximum": 1}},
        },
        "num_tokens": {"type": "integer", "minimum": 1},
    },
}


def check(value, context):
    seen = {}
    model = context.model
    for path, entry in entries(value, "router_saturation"):
        an_object(entry, path, **fields(ENTRY))
        k = an_integer(entry["k"], f"{path}.k", minimum=1, maximum=model.get("num_experts"))
        if k in seen:
            fail(path, f"a second entry for k = {k}; the first is {seen[k]}")
        seen[k] = path
        progress = numbers(entry["progress"], f"{path}.progress")
        if any(b <= a for a, b in zip(progress, progress[1:])):
            fail(f"{path}.progress", "must increase from one checkpoint to the next")
        last = model["num_layers"] - 1 if "num_layers" in model else None
        layers = numbers(entry["layers"], f"{path}.layers", integer=True, maximum=last)
        if len(set(layers)) != len(layers):
            fail(f"{path}.layers", "must be distinct")
        rows = a_list(entry["values"], f"{path}.values", len(progress), f"{path}.progress")
        for i, row in enumerate(rows):
            numbers(row, f"{path}.values[{i}]", len(layers), f"{path}.layers", minimum=0, maximum=1)
        if "progress_label" in entry:
            a_string(entry["progress_label"], f"{path}.progress_label")
        if "num_tokens" in entry:
            an_integer(entry["num_tokens"], f"{path}.num_tokens", minimum=1)


SECTION = Section(
    "router_saturation",
    listed(
        ENTRY,
        "Checkpoints of one model on identical inputs: values[c][l], the mean over tokens of |top-k at "
        "checkpoint c ∩ top-k at the final checkpoint| / k in layer layers[l].",
    ),
    check,
)
