"""``metric_info``: how each metric is labelled, which direction is better and what it measures."""

from figkit.results.checks import a_key, a_string, an_object, fail, fields, one_of, shown
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
        for text in ("aggregation", "description"):
            if text in entry:
                a_string(entry[text], f"{path}.{text}")


SECTION = Section(
    "metric_info",
    {"type": "object", "propertyNames": {"$ref": "#/$defs/key"}, "additionalProperties": INFO},
    check,
)
