"""Style sheets and the one place that writes a figure to disk."""

import contextlib
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path

import matplotlib as mpl

from figkit import __version__

DEFAULT_STYLE = "notebook"
SAVE_DPI = 300
FORMATS = {".pdf": "pdf", ".svg": "svg", ".png": "png"}

# Dates removed and a fixed SVG salt: the same figure gives the same bytes.
_METADATA = {
    "pdf": {"CreationDate": None, "Creator": f"figkit {__version__}", "Producer": None},
    "svg": {"Date": None, "Creator": f"figkit {__version__}"},
    "png": {"Software": f"figkit {__version__}"},
}
_SAVE_RC = {"svg.hashsalt": "figkit", "pdf.fonttype": 42, "ps.fonttype": 42}


def style_path(name):
    """Path of a bundled style sheet."""
    path = resources.files("figkit.styles") / f"{name}.mplstyle"
    if not path.is_file():
        raise ValueError(f"unknown figkit style {name!r}")
    return path


def plotting_style():
    """Context in which the plot functions draw: figkit's default look."""
    return mpl.style.context(str(style_path(DEFAULT_STYLE)))


def save_figure(fig, path, *, dpi=None):
    """Write ``fig`` to ``path`` atomically and deterministically; return the path.

    The format follows the suffix (``.pdf`` when there is none; ``.svg``, ``.png``),
    parent folders are created, fonts are embedded as TrueType, and raster output
    uses 300 dpi unless ``dpi`` says otherwise. The file appears complete or not at all.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".pdf")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot save {path.name}: use one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, mpl.rc_context(_SAVE_RC), _quiet_fonttools():
            fig.savefig(out, format=fmt, dpi=dpi or SAVE_DPI, metadata=_METADATA[fmt])
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def _quiet_fonttools():
    """fontTools logs every subset it makes at INFO; keep it to warnings."""
    logger = logging.getLogger("fontTools")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
