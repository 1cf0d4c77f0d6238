"""``coactivation``: tokens routed to both experts of each pair, per method and layer."""

from figkit.results.checks import an_object, count_matrix, entries, fail, fields, method_and_layer
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["method", "counts"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "counts": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/counts"}},
    },
}


def check(value, context):
    seen = {}
    for path, entry in entries(value, "coactivation"):
        an_object(entry, path, **fields(ENTRY))
        method_and_layer(entry, path, context, seen)
        rows = count_matrix(entry, path, context.model)
        for a, row in enumerate(rows):
            if max(row) > row[a]:
                b = row.index(max(row))
                fail(
                    f"{path}.counts[{a}][{b}]",
                    f"{row[b]} tokens routed to experts {a} and {b}, but only {row[a]} to expert {a} (the diagonal)",
                )
        if not any(row[a] for a, row in enumerate(rows)):
            fail(f"{path}.counts", "no token was routed (the diagonal is all zero)")


SECTION = Section(
    "coactivation",
    listed(
        ENTRY,
        "Expert pairs: counts[a][b] tokens routed to both experts a and b (all pairs of a token's selected "
        "experts), the diagonal the tokens routed to each.",
    ),
    check,
)
