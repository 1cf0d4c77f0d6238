"""The results file: one :class:`~figkit.results.section.Section` per top-level field in
:mod:`figkit.results.sections` (its JSON Schema fragment, checker and writing), from which the shipped
JSON Schema and the written field order are generated.

``reading`` turns bytes into JSON values in bounded memory (the size and encoding gate, the digest);
``loading`` checks them; ``writing`` writes a file from Python objects; ``views`` are the queries
figures make of a checked file. Reading needs only the standard library (and numpy for long count
lists), so a build that finds nothing to do never imports matplotlib.
"""

from figkit.results.checks import KEY
from figkit.results.json_schema import text as schema
from figkit.results.loading import load_results, validate
from figkit.results.sections import SECTIONS
from figkit.results.views import (
    MethodCounts,
    entry_histogram,
    method_counts,
    method_labels,
    metric_mean,
    token_cells,
    token_stats_entries,
)
from figkit.results.writing import write_results

__all__ = [
    "KEY",
    "SECTIONS",
    "MethodCounts",
    "entry_histogram",
    "load_results",
    "method_counts",
    "method_labels",
    "metric_mean",
    "schema",
    "token_cells",
    "token_stats_entries",
    "validate",
    "write_results",
]
