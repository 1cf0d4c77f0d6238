"""``domain_load``: tokens of each domain (arXiv, code, ...) routed to each expert."""

from figkit.results.checks import a_string, an_object, entries, fail, fields, loads, method_and_layer
from figkit.results.section import Section, listed

ENTRY = {
    "type": "object",
    "required": ["method", "domain", "counts", "num_tokens"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "domain": {"type": "string", "minLength": 1},
        "layer": {"$ref": "#/$defs/layer"},
        "counts": {"$ref": "#/$defs/non_negative_numbers"},
        "num_tokens": {"type": "integer", "minimum": 1},
    },
}


def check(value, context):
    seen = {}
    for path, entry in entries(value, "domain_load"):
        an_object(entry, path, **fields(ENTRY))
        domain = a_string(entry["domain"], f"{path}.domain")
        if not domain.strip():
            fail(f"{path}.domain", "is empty")
        method_and_layer(entry, path, context, seen, domain=domain)
        loads(entry, path, context.model)


SECTION = Section(
    "domain_load",
    listed(ENTRY, "Tokens of one domain (arXiv, code, ...) routed to each expert: counts[e] of num_tokens tokens."),
    check,
)
