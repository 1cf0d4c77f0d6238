"""Writing a results file from Python objects: converted, checked, in a stable order, atomically."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from figkit.files import write_atomic
from figkit.results.checks import join, no_lone_surrogates
from figkit.results.json_schema import VERSIONS, ordered
from figkit.results.loading import validate
from figkit.results.sections import SECTIONS

# A list of more rows than this (per-token-id histograms) goes on one line: one line per row costs a third more.
MAX_LINES_PER_LIST = 100


def write_results(path: str | os.PathLike, *, raw_counts: bool = False, **sections: Any) -> Path:
    """Write a results file from Python objects: validated first, atomically, keys in a stable order.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write; a ``.gz`` suffix writes gzip (byte-stable).
    raw_counts : bool
        Keep one count per token as given, in ``expert_counts[].values`` and in
        ``token_stats[].expert_counts``, instead of storing ``{experts: tokens}``
        histograms and one experts histogram per token id (lossless for every figure;
        a million tokens over a 50k vocabulary then take under a megabyte, not 16).
    **sections
        The file's fields (``title``, ``model``, ``methods``, ``metrics``, ...). Tensors
        on any device, numpy arrays and numpy scalars become JSON numbers.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError, TypeError
        Naming the first bad field; nothing is written then.
    """
    for name, value in sections.items():
        convert = SECTIONS[name].convert if name in SECTIONS else None
        if convert is not None:  # as the plot functions convert: whole floats, bfloat16, tensors
            sections[name] = convert(value, raw_counts)
    results = {"schema_version": VERSIONS[-1]} | {name: _plain(value, name) for name, value in sections.items()}
    no_lone_surrogates(results)
    validate(results)
    if not raw_counts:
        for name, value in results.items():
            compact = SECTIONS[name].compact if name in SECTIONS else None
            if compact is not None:
                results[name] = compact(value)
    text = (dump(ordered(results)) + "\n").encode()
    path = Path(path)
    if path.suffix == ".gz":
        text = gzip.compress(text, mtime=0)
    write_atomic(path, text)
    return path


def _plain(value, path):
    """``value`` with tensors, arrays and numpy scalars turned into JSON's types."""
    if isinstance(value, dict):
        return {str(k): _plain(v, join(path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if value is None or type(value) in (str, bool, int, float):
        return value
    if isinstance(value, str):
        return str(value)
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy scalars, 0-d tensors
        return _plain(value.item(), path)
    if hasattr(value, "detach") or hasattr(value, "__array__") or hasattr(value, "to_numpy"):
        from figkit.arrays import to_numpy

        return to_numpy(value, path).tolist()
    raise TypeError(f"{path}: cannot write a {type(value).__name__} to a results file")


def dump(value, indent=0):
    """JSON with one field per line and lists of numbers (and small objects of numbers) on one line."""
    nested = isinstance(value, (dict, list)) and any(isinstance(v, (dict, list)) for v in _items(value))
    if isinstance(value, list) and len(value) > MAX_LINES_PER_LIST and all(isinstance(v, list) for v in value):
        nested = False
    if nested or isinstance(value, dict) and len(value) > 8:
        pad = "  " * (indent + 1)
        if isinstance(value, dict):
            lines = [f"{pad}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(lines) + "\n" + "  " * indent + "}"
        return "[\n" + ",\n".join(pad + dump(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _items(value):
    return value.values() if isinstance(value, dict) else value
