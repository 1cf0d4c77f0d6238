"""Style sheets, composed and applied, and the one place that writes a figure to disk."""

import contextlib
import io
import logging
from pathlib import Path

import matplotlib as mpl
import matplotlib.style

from figkit import __version__
from figkit.files import write_atomic
from figkit.stylesheets import DEFAULT_STYLE, style_sheets

# Every base style sets this salt; seeing it in rcParams means a figkit style is active.
STYLE_MARK = ("svg.hashsalt", "figkit")
SAVE_DPI = 300
FORMATS = {".pdf": "pdf", ".svg": "svg", ".png": "png"}

# Dates removed and a fixed SVG salt: the same figure gives the same bytes.
_METADATA = {
    "pdf": {"CreationDate": None, "Creator": f"figkit {__version__}", "Producer": None},
    "svg": {"Date": None, "Creator": f"figkit {__version__}"},
    "png": {"Software": f"figkit {__version__}"},
}
_SAVE_RC = {"svg.hashsalt": "figkit", "pdf.fonttype": 42, "ps.fonttype": 42}
# rcParams matplotlib reads when it draws rather than when a figure is made: a figure saved
# after its style has ended must still be drawn with them (maths fonts, minus signs, ...).
DRAW_TIME_KEYS = ("font.", "mathtext.", "text.", "axes.unicode_minus", "axes.formatter.", "image.")


class use_style(contextlib.ContextDecorator):
    """Apply figkit styles left to right, as a context manager or a decorator.

    ``use_style("paper", "colourblind")``; overlays alone sit on the default
    "notebook" look. On exit the previous rcParams are restored exactly.
    """

    def __init__(self, *names):
        self.names = names
        self.sheets = style_sheets(*names)

    def _recreate_cm(self):  # a fresh instance per decorated call, so recursion is safe
        return type(self)(*self.names)

    def __enter__(self):
        self._saved = dict(mpl.rcParams)
        mpl.style.use(self.sheets)
        return self

    def __exit__(self, *exc):
        dict.update(mpl.rcParams, self._saved)
        return False


def style_active():
    """Whether a figkit base style (through use_style or plt.style.use) sets the rcParams now."""
    key, value = STYLE_MARK
    return mpl.rcParams[key] == value


def plotting_style():
    """Context in which the plot functions draw: the active figkit style, else the default look."""
    return contextlib.nullcontext() if style_active() else use_style(DEFAULT_STYLE)


def remember_style(fig):
    """Keep the draw-time rcParams of the active style on ``fig`` for ``save_figure``."""
    fig._figkit_rc = {key: value for key, value in mpl.rcParams.items() if key.startswith(DRAW_TIME_KEYS)}
    return fig


def save_figure(fig, path, *, dpi=None):
    """Write ``fig`` to ``path`` atomically and deterministically; return the path.

    The format follows the suffix (``.pdf`` when there is none; ``.svg``, ``.png``),
    parent folders are created, fonts are embedded as TrueType, and raster output
    uses 300 dpi unless ``dpi`` says otherwise. A figkit figure is drawn with the
    style it was made in, even after that style has ended. The file appears complete
    or not at all.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".pdf")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot save {path.name}: use one of {', '.join(FORMATS)}")
    write_atomic(path, figure_bytes(fig, fmt, dpi=dpi))
    return path


def figure_bytes(fig, fmt="pdf", *, dpi=None):
    """``fig`` drawn as ``fmt`` ("pdf", "svg" or "png"), deterministically, in the style it was made in."""
    out = io.BytesIO()
    with mpl.rc_context(getattr(fig, "_figkit_rc", None)), mpl.rc_context(_SAVE_RC), _quiet_fonttools():
        fig.savefig(out, format=fmt, dpi=dpi or SAVE_DPI, metadata=_METADATA[fmt])
    return out.getvalue()


@contextlib.contextmanager
def _quiet_fonttools():
    """fontTools logs every subset it makes, and the odd dates of the BaKoMa fonts; keep it to errors."""
    logger = logging.getLogger("fontTools")
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)
