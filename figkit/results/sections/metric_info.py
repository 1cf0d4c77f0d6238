"""``metric_info``: how each metric is labelled, which direction is better and what it measures."""

from figkit.results.checks import a_key, a_number, a_string, an_integer, an_object, fail, fields, one_of, shown
from figkit.results.section import Section

DIRECTIONS = ("lower", "higher")

INFO = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "label": {"type": "string"},
        "better": {"enum": list(DIRECTIONS), "description": "Marks the best value of the column in bold."},
        "aggregation": {"type": "string"},
        "description": {
            "type": "string",
            "description": "What the metric measures, in a sentence figure captions quote.",
        },
        "digits": {
            "type": "integer",
            "minimum": 0,
            "maximum": 12,
            "description": "Decimals tables print (default: three significant figures of the column's largest value).",
        },
        "percent": {"type": "boolean", "description": "A fraction tables print times 100, with % in the header."},
        "scale": {"type": "number", "exclusiveMinimum": 0, "description": "A factor tables print the values times."},
        "unit": {"type": "string", "description": "The unit the table header names after the label."},
    },
}


def check(info, context):
    an_object(info, "metric_info")
    labels = {}
    for metric, entry in info.items():
        path = f"metric_info.{metric}"
        a_key(metric, path, "a metric name")
        an_object(entry, path, **fields(INFO))
        label = a_string(entry.get("label", metric), f"{path}.label")
        if label in labels:
            fail(f"{path}.label", f"{shown(label)} is already the label of metric_info.{labels[label]}")
        labels[label] = metric
        if "better" in entry:
            one_of(entry["better"], f"{path}.better", DIRECTIONS, '"lower" or "higher"')
        for text in ("aggregation", "description", "unit"):
            if text in entry:
                a_string(entry[text], f"{path}.{text}")
        if "digits" in entry:
            an_integer(entry["digits"], f"{path}.digits", minimum=0, maximum=12)
        if "percent" in entry and not isinstance(entry["percent"], bool):
            fail(f"{path}.percent", f"expected true or false, got {shown(entry['percent'])}")
        if "scale" in entry:
            a_number(entry["scale"], f"{path}.scale", above=0, below=1e300)


SECTION = Section(
    "metric_info",
    {"type": "object", "propertyNames": {"$ref": "#/$defs/key"}, "additionalProperties": INFO},
    check,
)
