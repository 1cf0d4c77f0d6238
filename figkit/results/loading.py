"""Checking a results file's values, and loading a file checked."""

from __future__ import annotations

import os

from figkit.results.checks import an_object, fail, no_lone_surrogates, shown
from figkit.results.json_schema import VERSIONS
from figkit.results.reading import read_json
from figkit.results.section import Context
from figkit.results.sections import SECTIONS


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.json`` file, or gzip-compressed JSON (recognised by its bytes, any suffix).

    Returns
    -------
    dict
        The file's contents, checked against schema version 1 (``figkit schema``).

    Raises
    ------
    ValueError
        Naming the first bad field, e.g. ``metrics.bh05.perplexity: expected a number``; or saying
        why the file is not a results file (not UTF-8 JSON, over 4 GiB, endless).
    OSError
        If the file cannot be read.

    Notes
    -----
    Per-token ``expert_counts`` ``values`` longer than 4 KiB of text are read with numpy straight into
    their histogram and come back as a :class:`figkit.results.reading.CountList`, so that a file of raw
    counts costs little more memory than its bytes.
    """
    results, may_hold_surrogates = read_json(path)
    if may_hold_surrogates:
        no_lone_surrogates(results)
    validate(results)
    return results


def validate(results):
    """Check parsed results; raise ``ValueError`` naming the first bad field."""
    an_object(results, "")
    if "schema_version" not in results:
        fail("schema_version", "missing; this figkit reads schema_version 1")
    version = results["schema_version"]
    if type(version) is not int or version not in VERSIONS:
        supported = ", ".join(map(str, VERSIONS))
        fail("schema_version", f"{shown(version)} is not supported; this figkit reads version {supported}")
    required = [name for name, section in SECTIONS.items() if section.required]
    an_object(results, "", required=("schema_version", *required), optional=tuple(SECTIONS))
    context = Context(results)
    for name, section in SECTIONS.items():
        if name in results:
            section.check(results[name], context)
