"""Deprecated: moved to :mod:`figkit.results.reading` (removed in figkit 0.3)."""

import warnings

from figkit.results.reading import CountList, read_json  # noqa: F401

warnings.warn(
    "figkit.reading moved to figkit.results.reading; the old name goes in figkit 0.3",
    DeprecationWarning,
    stacklevel=2,
)
