"""The JSON Schema of results files, made from the sections; and the order their fields are written in.

The shipped ``results-v1.schema.json`` is this module's output (``make schema``
rewrites it; a test checks it is current), so editors check a file against the rules the loader applies.
"""

from __future__ import annotations

from importlib import resources

from figkit.results.checks import LONGEST_TEXT
from figkit.results.sections import SECTIONS

VERSIONS = (1,)
FILE = "results-v1.schema.json"

DEFS = {
    "key": {"type": "string", "pattern": "^[A-Za-z0-9_.:+-]+$"},
    "positive_integer": {"type": "integer", "minimum": 1},
    "layer": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
    "non_negative_numbers": {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0}},
    "counts": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
}


def generated():
    """The JSON Schema, as a dict."""
    sections = {s.name: s.schema for s in SECTIONS.values()}
    properties = {"$schema": sections.pop("$schema"), "schema_version": {"const": VERSIONS[-1]}} | sections
    defs = dict(DEFS)
    for section in SECTIONS.values():
        defs |= section.defs
    return _texts_capped(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://figkit.dev/schema/{FILE}",
            "title": f"figkit results file, schema version {VERSIONS[-1]}",
            "description": "One file of Mixture-of-Experts routing results. Every section but methods is optional; "
            "figkit builds the figures and tables whose data is present. Checked by figkit beyond this schema: every "
            "method referenced is declared in methods, arrays that belong together have equal lengths, layers are "
            "below model.num_layers, counts are at most model.num_experts.",
            "type": "object",
            "required": ["schema_version", *(s.name for s in SECTIONS.values() if s.required)],
            "additionalProperties": False,
            "properties": properties,
            "$defs": defs,
        }
    )


def _texts_capped(node):
    """``node`` with the loader's longest text on every string but constants."""
    if isinstance(node, list):
        return [_texts_capped(item) for item in node]
    if not isinstance(node, dict):
        return node
    capped = {key: _texts_capped(value) for key, value in node.items()}
    if capped.get("type") == "string" and not {"enum", "const"} & capped.keys():
        capped["maxLength"] = LONGEST_TEXT
    return capped


def text():
    """The shipped JSON Schema, as text."""
    return (resources.files("figkit") / FILE).read_text(encoding="utf-8")


def generated_text():
    """``generated()`` as the shipped file holds it."""
    from figkit.results.writing import dump

    return dump(generated()) + "\n"


def ordered(value, node=None):
    """``value`` with each object's fields in the order its schema lists them (other keys after, as given)."""
    node = _resolved(generated() if node is None else node)
    if isinstance(value, dict):
        known = _properties(node)
        rest = node.get("additionalProperties")
        keys = [k for k in known if k in value] + [k for k in value if k not in known]
        return {k: ordered(value[k], known.get(k, rest if isinstance(rest, dict) else {})) for k in keys}
    if isinstance(value, list):
        branches = map(_resolved, (node, *node.get("oneOf", ())))
        items = next((branch["items"] for branch in branches if "items" in branch), {})
        return [ordered(v, items) for v in value]
    return value


def _properties(node):
    """An object node's properties, in order, including those of its ``oneOf`` object branches."""
    properties = dict(node.get("properties", {}))
    for branch in map(_resolved, node.get("oneOf", ())):
        properties |= {k: v for k, v in branch.get("properties", {}).items() if k not in properties}
    return properties


def _resolved(node):
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        return DEFS.get(name) or next(s.defs[name] for s in SECTIONS.values() if name in s.defs)
    return node
