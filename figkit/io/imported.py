"""What a reader hands back, and the names it gives what it read: series, method ids, keys."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from figkit.results.checks import KEY

LAYER_TAG = re.compile(r"\A(?P<name>.+?)[/_.-]+layer[_-]?(?P<layer>\d+)\Z", re.IGNORECASE)


@dataclass
class Imported:
    """What a reader read: ``series`` entries, ``metrics`` with their ``metric_info``, other ``sections``
    whole (the routing of saved logits), the method ids they name (``method_info``: a method's label,
    family and params where the reader knows them) and notes on what it took and left."""

    series: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    metric_info: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)
    methods: list = field(default_factory=list)
    method_info: dict = field(default_factory=dict)
    took: list = field(default_factory=list)
    left: list = field(default_factory=list)

    def add(self, other):
        self.series += other.series
        for method, row in other.metrics.items():
            self.metrics.setdefault(method, {}).update(row)
        self.metric_info |= other.metric_info
        clashing = set(self.sections) & set(other.sections)
        if clashing:
            raise ValueError(f"two sources give the section {sorted(clashing)[0]!r}: import them one at a time")
        self.sections |= other.sections
        self.method_info |= other.method_info
        self.methods += [m for m in other.methods if m not in self.methods]
        self.took += other.took
        self.left += other.left
        return self


def series_name(tag):
    """A logged tag or column as a series name and layer: "train/lbl" -> ("train.lbl", None),
    "balance/cv/layer_3" -> ("balance.cv", 3). Characters a name may not hold become "_"."""
    match = LAYER_TAG.match(tag)
    name, layer = (match["name"], int(match["layer"])) if match else (tag, None)
    return a_key(name.replace("/", ".")), layer


def method_id(text, what):
    """``text`` as a method id, or an error naming ``what`` it came from."""
    if not KEY.match(str(text)):
        raise ValueError(f"{what}: {text!r} cannot be a method id: use letters, digits and _ . : + -")
    return str(text)


def a_key(text):
    """``text`` with every character a results-file key may not hold as "_"."""
    return re.sub(r"[^A-Za-z0-9_.:+-]", "_", str(text)).strip(".") or "value"


def add_points(imported, method, tag, points, step_unit, source):
    """One series from (step, value) points: the last value of a step logged twice (a resumed run) kept,
    non-finite values left out and counted."""
    by_step = {}
    for step, value in points:
        by_step[int(step)] = float(value)
    finite = {step: value for step, value in sorted(by_step.items()) if math.isfinite(value)}
    if len(finite) < len(by_step):
        imported.left.append(f"{source}: {len(by_step) - len(finite)} values that are NaN or infinite")
    if not finite:
        return
    name, layer = series_name(tag)
    entry = {"name": name, "method": method, "steps": list(finite), "values": list(finite.values())}
    entry |= ({"layer": layer} if layer is not None else {}) | {"step_unit": step_unit, "source": str(source)}
    imported.series.append(entry)
    imported.took.append(f"{source} -> series {name!r}{'' if layer is None else f' layer {layer}'} of {method!r}")


def add_metric(imported, method, key, value, where):
    """A value logged once (a final evaluation) as a metric of ``method``, labelled by its key."""
    name, layer = series_name(key)
    name = name if layer is None else f"{name}.layer{layer}"
    imported.metrics.setdefault(method, {})[name] = float(value)
    imported.metric_info.setdefault(name, {"label": key})
    imported.took.append(f"{where}: {key} -> metric {name!r} of {method!r}")
