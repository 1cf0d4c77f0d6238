"""``router_confidence``: per method and layer, how many tokens had each top-1 routing probability and
each routing entropy, counted in even bins over [0, 1]."""

from figkit.results.checks import an_object, entries, fail, fields, method_and_layer, numbers, one_of
from figkit.results.section import Section, listed

MEASURES = ("top1_probability", "entropy")

ENTRY = {
    "type": "object",
    "required": ["method", "measure", "counts"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "measure": {
            "enum": list(MEASURES),
            "description": "top1_probability: the router's largest softmax probability; entropy: the entropy of "
            "its softmax over log(experts), 1 for a uniform router.",
        },
        "counts": {
            "$ref": "#/$defs/counts",
            "description": "Tokens in each of len(counts) even bins over [0, 1] (1 itself in the last).",
        },
    },
}


def check(value, context):
    seen = {}
    experts = context.model.get("num_experts")
    for path, entry in entries(value, "router_confidence"):
        an_object(entry, path, **fields(ENTRY))
        measure = one_of(entry["measure"], f"{path}.measure", MEASURES, '"top1_probability" or "entropy"')
        method_and_layer(entry, path, context, seen, measure=measure)
        counts = numbers(entry["counts"], f"{path}.counts", integer=True)
        if not any(counts):
            fail(f"{path}.counts", "all zero: no token was counted")
        if measure == "top1_probability" and experts:  # the largest of E probabilities is at least 1/E
            below = next((i for i, n in enumerate(counts) if n and (i + 1) / len(counts) < 1 / experts), None)
            if below is not None:
                fail(
                    f"{path}.counts[{below}]",
                    f"counts tokens whose top-1 probability is under {(below + 1) / len(counts):g}, "
                    f"below 1/{experts} (model.num_experts): no router gives that",
                )


SECTION = Section(
    "router_confidence",
    listed(ENTRY, "How sure the router is, per method and layer: tokens by top-1 probability and by entropy."),
    check,
)
