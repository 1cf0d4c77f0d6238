"""``methods``: the routing methods compared, each with a unique id and label."""

from figkit.results.checks import (
    a_boolean,
    a_key,
    a_list,
    a_number,
    a_string,
    an_object,
    fail,
    fields,
    is_number,
    shown,
)
from figkit.results.reading import Huge, NonFinite
from figkit.results.section import Section

METHOD = {
    "type": "object",
    "required": ["id"],
    "additionalProperties": False,
    "properties": {
        "id": {"$ref": "#/$defs/key", "description": "Unique; used in file names and in \\figkitvalue{id}{metric}."},
        "label": {"type": "string", "description": "Shown in figures and tables; may contain $...$ maths. Unique."},
        "family": {"type": "string", "description": "For example topk or bh."},
        "params": {"type": "object", "additionalProperties": {"type": ["number", "string", "boolean", "null"]}},
        "baseline": {"type": "boolean"},
    },
}


def check(methods, context):
    a_list(methods, "methods")
    ids, labels = {}, {}
    for i, method in enumerate(methods):
        path = f"methods[{i}]"
        an_object(method, path, **fields(METHOD))
        method_id = a_key(method["id"], f"{path}.id", "a method id")
        if method_id in ids:
            fail(f"{path}.id", f"{shown(method_id)} is already the id of methods[{ids[method_id]}]")
        ids[method_id] = i
        label = a_string(method.get("label", method_id), f"{path}.label")
        if label in labels:
            fail(f"{path}.label", f"{shown(label)} is already the label of methods[{labels[label]}]")
        labels[label] = i
        if "family" in method:
            a_string(method["family"], f"{path}.family")
        if "baseline" in method:
            a_boolean(method["baseline"], f"{path}.baseline")
        for name, value in an_object(method.get("params", {}), f"{path}.params").items():
            if isinstance(value, (NonFinite, Huge)):  # kept as text by the reader so as to be named here
                a_number(value, f"{path}.params.{name}")
            if not (value is None or isinstance(value, (str, bool)) or is_number(value)):
                fail(f"{path}.params.{name}", f"expected a number, string, true/false or null, got {shown(value)}")


SECTION = Section("methods", {"type": "array", "minItems": 1, "items": METHOD}, check, required=True)
