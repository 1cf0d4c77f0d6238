"""What a results section is: its JSON Schema fragment, its checker and how it is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Section:
    """One top-level field of a results file.

    ``schema`` is the JSON Schema of its value (the shipped schema is made of these); ``check`` raises
    ``ValueError`` naming the first bad field, with the rules a schema cannot say (declared methods,
    equal lengths, layer and expert ranges). ``convert`` turns what ``write_results`` is given into
    file values before checking (``raw_counts`` says whether per-token counts stay per token);
    ``compact`` rewrites the checked value as it is stored, unless ``raw_counts``.
    """

    name: str
    schema: dict
    check: Callable[[Any, Context], None]
    required: bool = False
    defs: dict = field(default_factory=dict)  # $defs the schema fragment refers to, beyond the shared ones
    convert: Callable[[Any, bool], Any] | None = None
    compact: Callable[[Any], Any] | None = None


class Context:
    """What a section's checker may ask of the rest of the file, all checked before the sections that ask."""

    def __init__(self, results):
        self._results = results

    @property
    def model(self):
        return self._results.get("model", {})

    @cached_property
    def methods(self):
        """``{method id: index}`` in the order declared."""
        return {method["id"]: i for i, method in enumerate(self._results["methods"])}

    @property
    def metric_info(self):
        return self._results.get("metric_info", {})


def listed(entry, description=None):
    """The schema of a section that is a non-empty list of ``entry`` objects."""
    return {"type": "array", "minItems": 1} | ({"description": description} if description else {}) | {"items": entry}
