"""``metrics``: one value per method and metric, for tables and macros: a number, or a mean with its
standard deviation over seeds or its standard error (as lm-evaluation-harness reports it) and sample count."""

import math

from figkit.results.checks import a_key, a_number, an_integer, an_object, declared, fail, fields, numbers, shown
from figkit.results.section import Section

SPREAD = {
    "type": "object",
    "anyOf": [{"required": ["mean"]}, {"required": ["seeds"]}],
    "additionalProperties": False,
    "properties": {
        "seeds": {
            "type": "array",
            "minItems": 2,
            "items": {"type": "number"},
            "description": "One value per seed (run i of every method with the same seed, for paired tests).",
        },
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
                if "mean" not in value and "seeds" not in value:
                    fail(where, "needs a mean or its seeds")
                if "seeds" in value:
                    seeds = numbers(value["seeds"], f"{where}.seeds")
                    if len(seeds) < 2:
                        fail(f"{where}.seeds", f"needs at least two values, got {len(seeds)}")
                    if "mean" in value and not math.isclose(
                        value["mean"], sum(seeds) / len(seeds), rel_tol=1e-9, abs_tol=1e-12
                    ):
                        fail(
                            f"{where}.mean",
                            f"{shown(value['mean'])} is not the mean of its seeds ({sum(seeds) / len(seeds):.6g})",
                        )
                if "mean" in value:
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
