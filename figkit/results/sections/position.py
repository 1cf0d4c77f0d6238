"""``position_effects`` and ``routing_locality``: routing against a token's position in its sequence, and how
often consecutive tokens keep the same top-1 expert."""

from figkit.results.checks import an_integer, an_object, declared, entries, fail, fields, method_and_layer, numbers
from figkit.results.section import Section, listed

POSITION_ENTRY = {
    "type": "object",
    "required": ["method", "layer", "positions", "num_tokens", "mean_experts"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"type": "integer", "minimum": 0},
        "positions": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "minimum": 0},
            "description": "Positions in the sequence (0: its first token) that tokens were seen at, ascending.",
        },
        "num_tokens": {"$ref": "#/$defs/counts", "description": "Tokens seen at each position."},
        "mean_experts": {"type": "array", "items": {"type": "number", "minimum": 0}},
        "std_experts": {
            "type": "array",
            "items": {"type": "number", "minimum": 0},
            "description": "The standard deviation of experts per token at each position.",
        },
        "mean_top1": {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
            "description": "The mean of the router's top-1 softmax probability at each position.",
        },
        "std_top1": {"type": "array", "items": {"type": "number", "minimum": 0}},
        "pooled_from": {
            "type": "integer",
            "minimum": 0,
            "description": "The last position stands for this one and every later one.",
        },
    },
}

LOCALITY_ENTRY = {
    "type": "object",
    "required": ["method", "layers", "same_top1", "chance"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layers": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "integer", "minimum": 0}},
        "same_top1": {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
            "description": "Per layer, the share of consecutive token pairs of a sequence with the same top-1 expert.",
        },
        "chance": {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
            "description": "Per layer, the same share if top-1 experts were drawn independently at the layer's "
            "top-1 loads: the sum of each expert's squared share.",
        },
        "num_pairs": {"type": "integer", "minimum": 1},
    },
}


def check_positions(value, context):
    seen = {}
    for path, entry in entries(value, "position_effects"):
        an_object(entry, path, **fields(POSITION_ENTRY))
        if entry["layer"] is None:
            fail(f"{path}.layer", "positions are counted per layer: give the layer's id")
        method_and_layer(entry, path, context, seen)
        positions = numbers(entry["positions"], f"{path}.positions", integer=True)
        if any(b <= a for a, b in zip(positions, positions[1:])):
            fail(f"{path}.positions", "must be ascending, each once")
        size, other = len(positions), f"{path}.positions"
        numbers(entry["num_tokens"], f"{path}.num_tokens", size, other, integer=True, minimum=1)
        most = context.model.get("num_experts")
        numbers(entry["mean_experts"], f"{path}.mean_experts", size, other, minimum=0, maximum=most)
        for name in ("std_experts", "std_top1"):
            if name in entry:
                numbers(entry[name], f"{path}.{name}", size, other, minimum=0)
        if "mean_top1" in entry:
            numbers(entry["mean_top1"], f"{path}.mean_top1", size, other, minimum=0, maximum=1)
        if "pooled_from" in entry:
            an_integer(entry["pooled_from"], f"{path}.pooled_from")
            if entry["pooled_from"] != positions[-1]:
                fail(f"{path}.pooled_from", f"is {entry['pooled_from']}, not the last position ({positions[-1]})")


def check_locality(value, context):
    seen = {}
    last = context.model["num_layers"] - 1 if "num_layers" in context.model else None
    for path, entry in entries(value, "routing_locality"):
        an_object(entry, path, **fields(LOCALITY_ENTRY))
        method = declared(entry["method"], f"{path}.method", context.methods)
        if method in seen:
            fail(path, f"a second entry for method {method!r}; the first is {seen[method]}")
        seen[method] = path
        layers = numbers(entry["layers"], f"{path}.layers", integer=True, maximum=last)
        if len(set(layers)) != len(layers):
            fail(f"{path}.layers", "must be distinct")
        for name in ("same_top1", "chance"):
            numbers(entry[name], f"{path}.{name}", len(layers), f"{path}.layers", minimum=0, maximum=1)
        if "num_pairs" in entry:
            an_integer(entry["num_pairs"], f"{path}.num_pairs", minimum=1)


POSITIONS = Section(
    "position_effects",
    listed(POSITION_ENTRY, "Per method and layer, routing against each token's position in its sequence."),
    check_positions,
)
LOCALITY = Section(
    "routing_locality",
    listed(
        LOCALITY_ENTRY,
        "Per method, how often consecutive tokens of a sequence keep the same top-1 expert in each layer, and "
        "how often they would by chance.",
    ),
    check_locality,
)
