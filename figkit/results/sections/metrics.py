"""``metrics``: one value per method and metric, for tables and macros: a number, or a mean with its
standard deviation over seeds or its standard error (as lm-evaluation-harness reports it) and sample count."""

from figkit.results.checks import a_key, a_number, an_integer, an_object, declared, fail, fields, shown
from figkit.results.section import Section

SPREAD = {
    "type": "object",
    "required": ["mean"],
    "additionalProperties": False,
    "properties": {
        "mean": {"type": "number"},
        "std": {"type": "number", "minimum": 0, "description": "Standard deviation, e.g. over seeds."},
        "stderr": {"type": "number", "minimum": 0, "description": "Standard error of the mean."},
        "n": {"type": "integer", "minimum": 1, "description": "Samples the mean is over (documents, seeds)."},
    },
}


def check(metrics, context):
    an_object(metrics, "metrics")
    for method, row in metrics.items():
        path = f"metrics.{method}"
        declared(method, path, context.methods)
        for metric, value in an_object(row, path).items():
            where = f"{path}.{metric}"
            a_key(metric, where, "a metric name")
            if metric not in context.metric_info and context.metric_info:
                fail(where, f"metric {shown(metric)} is not described in metric_info")
            if isinstance(value, dict):
                an_object(value, where, **fields(SPREAD))
                a_number(value["mean"], f"{where}.mean")
                for spread in ("std", "stderr"):
                    if spread in value:
                        a_number(value[spread], f"{where}.{spread}", minimum=0)
                if "n" in value:
                    an_integer(value["n"], f"{where}.n", minimum=1)
            elif value is not None:
                a_number(value, where)


SECTION = Section(
    "metrics",
    {
        "type": "object",
        "description": "method id -> metric name -> value.",
        "additionalProperties": {
            "type": "object",
            "propertyNames": {"$ref": "#/$defs/key"},
            "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "null"}, SPREAD]},
        },
    },
    check,
)
