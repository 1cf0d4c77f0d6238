"""``routing_samples``: the routing weights of a few tokens, one row per token and one column per expert."""

from figkit.results.checks import a_layer, a_list, a_string, an_object, declared, entries, fail, fields, numbers
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["method", "tokens", "weights"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "tokens": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "token_ids": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "expert_indices": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "weights": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/non_negative_numbers"}},
    },
}


def check(value, context):
    model = context.model
    for path, sample in entries(value, "routing_samples"):
        an_object(sample, path, **fields(ENTRY))
        declared(sample["method"], f"{path}.method", context.methods)
        a_layer(sample, path, model)
        tokens = a_list(sample["tokens"], f"{path}.tokens")
        for j, token in enumerate(tokens):
            a_string(token, f"{path}.tokens[{j}]")
        if "token_ids" in sample:
            numbers(sample["token_ids"], f"{path}.token_ids", len(tokens), f"{path}.tokens", integer=True)
        weights = a_list(sample["weights"], f"{path}.weights", len(tokens), f"{path}.tokens")
        width = len(weights[0]) if isinstance(weights[0], list) else None
        for j, row in enumerate(weights):
            numbers(row, f"{path}.weights[{j}]", width, f"{path}.weights[0]", minimum=0)
        if "expert_indices" in sample:
            numbers(
                sample["expert_indices"], f"{path}.expert_indices", width, f"each row of {path}.weights", integer=True
            )
        elif "num_experts" in model and width != model["num_experts"]:
            fail(
                f"{path}.weights[0]",
                f"has {width} experts but model.num_experts is {model['num_experts']}; "
                "give expert_indices for a subset",
            )


SECTION = Section(
    "routing_samples",
    listed(ENTRY, "Routing weights of a few tokens: one row per token, one column per expert."),
    check,
)
