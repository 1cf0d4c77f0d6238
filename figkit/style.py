"""Style sheets, composed and applied, and the one place that writes a figure to disk."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
from pathlib import Path

import matplotlib as mpl
import matplotlib.style

import figkit.styles  # noqa: F401 - registers the Computer Modern font the "cm" sheet names
from figkit import __version__
from figkit.files import write_atomic
from figkit.geometry import tex_page, venue_page
from figkit.stylesheets import (
    DEFAULT_STYLE,
    FRAME_MARK,
    available_styles,
    named_sheets,
    page_rc,
    style_sheets,
    with_base,
)

# Every base style sets this salt; seeing it in rcParams means a figkit style is active, and the paper and
# slide styles' own salts mean their looks: no titles inside paper figures (the caption has them), and the
# spec's extras (a KDE over counts) in the notebook look only. A talk's build marks its slide figures as drawn
# for a deck's frames (FRAME_MARK): the frame's title is theirs.
STYLE_MARK = ("svg.hashsalt", "figkit")
PAPER_MARK = "figkit-paper"
SLIDE_MARK = "figkit-slide"
SAVE_FORMATS = {".pdf": "pdf", ".svg": "svg", ".png": "png"}

# Dates removed and a fixed SVG salt: the same figure gives the same bytes.
_METADATA = {
    "pdf": {"CreationDate": None, "Creator": f"figkit {__version__}", "Producer": None},
    "svg": {"Date": None, "Creator": f"figkit {__version__}"},
    "png": {"Software": f"figkit {__version__}"},
}
_SAVE_RC = {"svg.hashsalt": "figkit", "pdf.fonttype": 42, "ps.fonttype": 42}
# rcParams matplotlib reads when it draws rather than when a figure is made: a figure saved
# after its style has ended must still be drawn with them (maths fonts, minus signs, ...).
DRAW_TIME_KEYS = ("font.", "mathtext.", "text.", "axes.unicode_minus", "axes.formatter.", "image.", "savefig.dpi")


def use_style(
    *styles: str | dict | os.PathLike,
    venue: str | None = None,
    tex: str | os.PathLike | None = None,
    width: str | float = "column",
) -> contextlib.AbstractContextManager:
    """Apply styles left to right, as a context manager or a decorator.

    Parameters
    ----------
    *styles
        figkit style names (see ``available_styles``), e.g. ``"paper", "colourblind"``, composed
        as ``matplotlib.style.use`` composes with dicts of rcParams, style files and
        matplotlib's own style names: ``use_style("paper", tueplots.bundles.icml2024())``.
        Without a figkit base style the default "notebook" look comes first.
    venue : str, optional
        Size figures for a venue of ``figkit.geometry.VENUES`` ("icml", "neurips", ...):
        its column (or text) width, text at its caption size, ticks and legends at its
        footnote size (at least 6 pt), and its typeface (Times or Computer Modern).
    tex : str or os.PathLike, optional
        The same, measured from your paper's ``main.tex`` (``measure_tex``).
    width : {"column", "text"} or float
        With ``venue`` or ``tex``: one column (the text in one-column papers), the full
        text width (``figure*``), or inches.

    Returns
    -------
    contextlib.AbstractContextManager
        ``matplotlib.style.context`` of the sheets: on exit the previous rcParams
        are restored exactly; as a decorator, each call gets a fresh context.

    Raises
    ------
    ValueError
        If a name is not a figkit style, or for an unknown venue or a bad width (checked at
        once, not on entry).
    """
    sheets = with_base([part for style in styles for part in _sheets_of(style)])
    if venue is not None and tex is not None:
        raise ValueError("give venue or tex, not both")
    page = venue_page(venue) if venue is not None else tex_page(tex) if tex is not None else None
    return mpl.style.context(sheets if page is None else [*sheets, page_rc(page, width)])


def _sheets_of(style):
    """What ``matplotlib.style.use`` applies for one argument of ``use_style``."""
    if isinstance(style, str) and style.removeprefix("figkit.styles.") in available_styles():
        return named_sheets(style.removeprefix("figkit.styles."))  # plt.style.use's name for it, too
    if isinstance(style, dict) or isinstance(style, os.PathLike) and Path(style).is_file():
        return [style]
    if isinstance(style, str) and (style in mpl.style.available or Path(style).is_file() or "." in style):
        return [style]  # a matplotlib style, a file, or a style of another package ("tueplots.x")
    raise ValueError(
        f"unknown figkit style {style!r}; available: {', '.join(available_styles())} (or a matplotlib style "
        "name, a style file, or a dict of rcParams)"
    )


def style_active():
    """Whether a figkit base style (through use_style or plt.style.use) sets the rcParams now."""
    key, value = STYLE_MARK
    return mpl.rcParams[key] in (value, PAPER_MARK, SLIDE_MARK, FRAME_MARK)


def paper_look():
    """Whether the active style is figkit's paper style, whose figures carry no title."""
    return mpl.rcParams[STYLE_MARK[0]] == PAPER_MARK


def notebook_look():
    """Whether neither the paper nor the slide style is active: the spec's look, with its extras."""
    return mpl.rcParams[STYLE_MARK[0]] not in (PAPER_MARK, SLIDE_MARK, FRAME_MARK)


def titled_look():
    """Whether figures carry their title: not in a paper (its caption says it), nor on a deck's frame (its
    title does)."""
    return mpl.rcParams[STYLE_MARK[0]] not in (PAPER_MARK, FRAME_MARK)


@functools.cache
def _default_sheet():
    return mpl.rc_params_from_file(style_sheets(DEFAULT_STYLE)[0], use_default_template=False)


def default_look():
    """Context for drawing a new figure: the active figkit style as it is, else figkit's default look
    for every rcParam the user left at matplotlib's default (theirs win: tueplots, a matplotlibrc)."""
    if style_active():
        return contextlib.nullcontext()
    untouched = {key: value for key, value in _default_sheet().items() if mpl.rcParams[key] == mpl.rcParamsDefault[key]}
    return mpl.rc_context(untouched)


def remember_style(fig):
    """Keep the draw-time rcParams of the active style on ``fig`` for ``save_figure``."""
    fig._figkit_rc = {key: value for key, value in mpl.rcParams.items() if key.startswith(DRAW_TIME_KEYS)}
    return fig


def save_figure(fig, path, *, dpi: float | None = None) -> Path:
    """Write ``fig`` to ``path`` atomically and deterministically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Any figure; a figkit figure is drawn with the style it was made in, even
        after that style has ended.
    path : str or os.PathLike
        The format follows the suffix: ``.pdf`` (also when there is none), ``.svg``,
        ``.png``. Parent folders are created.
    dpi : float, optional
        Resolution of raster output; ``None`` uses ``savefig.dpi`` of the figure's
        style (300 in figkit's styles).

    Returns
    -------
    pathlib.Path
        The file written: complete, with TrueType fonts, the same bytes every time.

    Raises
    ------
    ValueError
        For a suffix that is not one of the formats.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".pdf")
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot save {path.name}: use one of {', '.join(SAVE_FORMATS)}")
    write_atomic(path, figure_bytes(fig, fmt, dpi=dpi))
    return path


def figure_bytes(fig, fmt="pdf", *, dpi=None, keywords=None):
    """``fig`` drawn as ``fmt`` ("pdf", "svg" or "png"), deterministically, in the style it was made in;
    ``keywords``: the PDF's Keywords (where the figure came from, ``figkit.provenance``)."""
    out = io.BytesIO()
    metadata = _METADATA[fmt] | ({"Keywords": keywords} if keywords else {})
    with mpl.rc_context(getattr(fig, "_figkit_rc", None)), mpl.rc_context(_SAVE_RC), _quiet_fonttools():
        fig.savefig(out, format=fmt, dpi=dpi, metadata=metadata)
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
