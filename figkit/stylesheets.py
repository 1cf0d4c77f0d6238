"""figkit's style names and the sheet files behind them, found without importing matplotlib."""

import functools
from importlib.util import find_spec
from pathlib import Path

from figkit.geometry import GOLDEN, MIN_FONT_SIZE, Page, as_inches

DEFAULT_STYLE = "notebook"
BASE_STYLES = ("notebook", "paper", "slide")  # complete looks; the others are overlays
OVERLAYS = ("colourblind", "cm")
ALIASES = {"colorblind": ("colourblind",), "paper-cm": ("paper", "cm")}
FONT_SHEETS = {"times": "paper", "cm": "cm"}  # the sheet whose typeface a Page's font names
FONT_KEYS = ("font.family", "mathtext.fontset")
LAYOUT_PAD = 0.25  # ems of the base font between the figure's edge and its outermost text
FRAME_MARK = "figkit-slide-frame"  # the slide look, drawn for a deck's frame: the frame has the title


def available_styles() -> list[str]:
    """The style names ``use_style`` accepts.

    Returns
    -------
    list of str
        Base looks (``notebook``, ``paper``, ``slide``), overlays (``colourblind``,
        ``cm``) and aliases (``colorblind``, ``paper-cm``), sorted.
    """
    return sorted(BASE_STYLES + OVERLAYS + tuple(ALIASES))


def style_sheets(*names):
    """The sheet files to apply, in order, for ``names``; the default base comes first if none is named."""
    sheets = [sheet for name in names for sheet in named_sheets(name)]
    return with_base(sheets)


def named_sheets(name):
    """The sheet files of one figkit style name (two for an alias such as "paper-cm"), without a base."""
    if not isinstance(name, str) or name not in available_styles():
        raise ValueError(f"unknown figkit style {name!r}; available: {', '.join(available_styles())}")
    folder = Path(find_spec("figkit.styles").submodule_search_locations[0])
    return [str(folder / f"{sheet}.mplstyle") for sheet in ALIASES.get(name, (name,))]


def with_base(sheets):
    """``sheets`` (files, and anything else matplotlib applies) after figkit's default base, unless one of
    them is a figkit base."""
    bases = {sheet for base in BASE_STYLES for sheet in named_sheets(base)}
    if any(isinstance(sheet, str) and sheet in bases for sheet in sheets):
        return list(sheets)
    return [*named_sheets(DEFAULT_STYLE), *sheets]


def page_rc(page: Page | None, width: str | float = "column") -> dict:
    """rcParams that make figures for ``page`` at ``width`` (see ``Page.width``): its size, text at the
    caption size, ticks and legends at the footnote size (at least 6 pt), its typeface. Without a page,
    ``width`` is inches and only the size is set."""
    inches = as_inches(width) if page is None else page.width(width)
    aspect = GOLDEN if page is None else page.aspect
    rc: dict[str, object] = {"figure.figsize": (inches, round(inches * aspect, 4))}
    if page is None:
        return rc
    base, smaller = max(MIN_FONT_SIZE, page.small), max(MIN_FONT_SIZE, page.footnote)
    rc |= {"font.size": base, "axes.labelsize": base, "axes.titlesize": base}
    rc |= {"xtick.labelsize": smaller, "ytick.labelsize": smaller, "legend.fontsize": smaller}
    pad = round(LAYOUT_PAD * base / 72, 4)  # inches: room for the descenders of larger text at the edges
    rc |= {"figure.constrained_layout.h_pad": pad, "figure.constrained_layout.w_pad": pad}
    if page.font is not None:
        rc |= {key: sheet_value([FONT_SHEETS[page.font]], key) for key in FONT_KEYS}
    return rc


def sheet_value(names, key, rc=None):
    """The value (as written) ``key`` has once the styles ``names``, then ``rc``, are applied."""
    if rc and key in rc:
        return rc[key]
    values = [_sheet_values(path).get(key) for path in style_sheets(*names)]
    return next((value for value in reversed(values) if value is not None), None)


def typeface(names, rc=None):
    """What figures drawn with ``names`` and ``rc`` are set in, for a document to match: "times", "cm", "sans"."""
    family = str(sheet_value(names, "font.family", rc))
    return "times" if family.startswith("STIX") else "cm" if family.startswith("figkit CMR") else "sans"


def figure_width(names, rc=None):
    """The width in inches of a figure drawn with ``names`` and ``rc``."""
    size = sheet_value(names, "figure.figsize", rc)
    return float(size[0] if isinstance(size, tuple) else size.split(",")[0])


@functools.cache
def _sheet_values(path):
    """{key: value as written} of a style sheet: a typeface, a size is described once, in its sheet."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("#")[0].partition(":")
        if value.strip():
            values[key.strip()] = value.strip()
    return values
