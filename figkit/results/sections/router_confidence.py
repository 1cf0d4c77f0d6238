"""``router_confidence``: per method and layer, how many tokens had each top-1 routing probability, each
routing entropy and (for rules that test experts, as BH does) each smallest p-value, counted in even bins."""

from figkit.results.checks import an_object, entries, fail, fields, method_and_layer, numbers, one_of
from figkit.results.section import Section, listed

MEASURES = ("top1_probability", "entropy", "smallest_p_value")
P_VALUE_DECADES = 40  # smallest p-values are binned as -log10(p) / 40: from p = 1 down to 1e-40 and below

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
            "its softmax over log(experts), 1 for a uniform router; smallest_p_value: for a rule that tests "
            f"experts (BH), the p-value of the token's top expert, binned as -log10(p) / {P_VALUE_DECADES}.",
        },
        "counts": {
            "$ref": "#/$defs/counts",
            "description": "Tokens in each of len(counts) even bins over [0, 1] (1 itself in the last; for "
            f"smallest_p_value, p = 1e-{P_VALUE_DECADES} and below).",
        },
    },
}


_NAMED = ", ".join(f'"{m}"' for m in MEASURES[:-1]) + f' or "{MEASURES[-1]}"'


def check(value, context):
    seen = {}
    experts = context.model.get("num_experts")
    for path, entry in entries(value, "router_confidence"):
        an_object(entry, path, **fields(ENTRY))
        measure = one_of(entry["measure"], f"{path}.measure", MEASURES, _NAMED)
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
    listed(
        ENTRY,
        "How sure the router is, per method and layer: tokens by top-1 probability, by entropy and by smallest "
        "p-value.",
    ),
    check,
)
