"""``method_agreement``: per layer, how far the expert sets two methods select for the same tokens agree."""

from figkit.results.checks import an_integer, an_object, declared, entries, fail, fields, numbers
from figkit.results.section import Section, listed

MEASURES = ("jaccard", "shared", "top1")
SHARE = {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0, "maximum": 1}}

ENTRY = {
    "type": "object",
    "required": ["method", "reference", "layers", "jaccard", "shared"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "reference": {"type": "string", "description": "The method compared with, on the same tokens."},
        "layers": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
        "jaccard": SHARE
        | {"description": "Per layer: the mean over tokens of |A ∩ B| / |A ∪ B| (1 where both select none)."},
        "shared": SHARE
        | {"description": "Per layer: the share of the method's selections the reference also makes, Σ|A ∩ B| / Σ|A|."},
        "top1": SHARE
        | {"description": "Per layer: the share of tokens whose expert of largest router logit is the same."},
        "num_tokens": {"type": "integer", "minimum": 1},
    },
}


def check(value, context):
    seen = {}
    for path, entry in entries(value, "method_agreement"):
        an_object(entry, path, **fields(ENTRY))
        method = declared(entry["method"], f"{path}.method", context.methods)
        reference = declared(entry["reference"], f"{path}.reference", context.methods)
        if method == reference:
            fail(f"{path}.reference", f"is the method itself ({method!r}); compare two methods")
        if (method, reference) in seen:
            fail(path, f"a second entry for {method!r} against {reference!r}; the first is {seen[method, reference]}")
        seen[method, reference] = path
        last = context.model["num_layers"] - 1 if "num_layers" in context.model else None
        layers = numbers(entry["layers"], f"{path}.layers", integer=True, maximum=last)
        if len(set(layers)) != len(layers):
            fail(f"{path}.layers", "must be distinct")
        for measure in MEASURES:
            if measure in entry:
                numbers(entry[measure], f"{path}.{measure}", len(layers), f"{path}.layers", minimum=0, maximum=1)
        if "num_tokens" in entry:
            an_integer(entry["num_tokens"], f"{path}.num_tokens", minimum=1)


SECTION = Section(
    "method_agreement",
    listed(
        ENTRY,
        "Two methods on the same tokens, per layer: the overlap of the expert sets they select (A: the "
        "method's, B: the reference's) and how often their top-1 expert is the same.",
    ),
    check,
)
