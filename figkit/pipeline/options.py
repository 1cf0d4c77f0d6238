"""What a build is asked to do (``BuildOptions``), and what that resolves to once (``Target``)."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, fields

from figkit.plots import FIGURES
from figkit.stylesheets import FRAME_MARK, style_sheets

APPENDIX_TEXT_WIDTH = 6.75  # inches: two 3.25 in figures side by side, as in a two-column paper
TABLE_FITS = ("auto", "scale")  # figkit.tables.fit.FITS, without importing the tables before a build needs them


def _names(value):
    """A tuple of names from a sequence or one comma-separated string."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(name.strip() for item in items for name in str(item).split(",") if name.strip())


@dataclass(frozen=True)
class BuildOptions:
    """The options of :func:`figkit.build` (each described there), as one object: the build, its workers
    and the ``figkit build`` command share it. Names given as one comma-separated string are split."""

    style: tuple = ("paper",)
    venue: str | None = None
    tex: str | os.PathLike | None = None
    width: str | float | None = None
    wide: tuple = ()
    slides: tuple = ()
    table_fit: str = "auto"
    allow_overfull: bool = False
    underline_second: bool = False
    jobs: int | None = None
    only: tuple = ()
    force: bool = False
    compile: bool = True
    require_pdf: bool = False
    verbose: bool = False
    quiet: bool = True
    debug: bool = False

    def __post_init__(self):
        for name in ("style", "wide", "slides", "only"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        if self.jobs is not None and (type(self.jobs) is not int or self.jobs < 1):
            raise ValueError(f"--jobs must be at least 1, got {self.jobs!r}")
        if self.venue is not None and self.tex is not None:
            raise ValueError("give --venue or --tex, not both")
        if self.table_fit not in TABLE_FITS:
            raise ValueError(f"--table-fit must be one of {', '.join(TABLE_FITS)}, got {self.table_fit!r}")

    @classmethod
    def names(cls):
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Target:
    """The options resolved: style sheets found, the page measured (once, in the parent), figure sizes."""

    styles: tuple
    sheets: tuple  # the style sheet files, for keys and the depfile
    page: object  # a figkit.geometry.Page, or None for the style's own sizes
    sizes: dict  # {"column": rcParams, "text": rcParams}, or {}
    wide: frozenset  # figure families made at the text width
    deck: tuple | None  # a talk's figure families, in order; None for a paper
    allow_overfull: bool = False  # a table wider than its page is a warning, not a failed job

    @classmethod
    def of(cls, options):
        deck = _deck(options.style, options.slides)
        sized = options.venue or options.tex or options.width
        page = _page("beamer" if deck and not sized else options.venue, options.tex)
        sizes = _figure_sizes(page, options.width, options.wide)
        if deck:  # drawn for a deck's frames, whose titles say what the figure's own would
            sizes = {width: rc | {"svg.hashsalt": FRAME_MARK} for width, rc in sizes.items()}
        sheets = tuple(style_sheets(*options.style))
        wide = _wide_families(options.wide)
        return cls(options.style, sheets, page, sizes, wide, deck, options.allow_overfull)

    def table_page(self):
        """The page tables are made to fit: the paper's, else the appendix's (one column of its text width)."""
        from figkit.geometry import Page

        if self.page is not None:
            return self.page
        layout = self.appendix_layout()
        font = layout["font"] if layout["font"] in ("times", "cm") else None
        width = layout["text_width"]
        return Page(width, width, 10.0, 9.0, 8.0, font, "the appendix")  # article at 10 pt: \small 9, \footnotesize 8

    def figure_size(self, width):
        """The rcParams of a figure of ``width`` ("column" or "text")."""
        return self.sizes.get(width, self.sizes.get("column", {}))

    def appendix_layout(self):
        """How the appendix sets the figures: the typeface they are drawn in, its text width (the paper's),
        and two figures to a row when two fit."""
        from figkit.stylesheets import figure_width, typeface

        column = self.sizes.get("column")
        text_width = APPENDIX_TEXT_WIDTH if self.page is None else self.page.text_width
        columns = 2 if 2 * figure_width(self.styles, column) <= text_width else 1
        return {"font": typeface(self.styles, column), "text_width": round(text_width, 4), "columns": columns}


def _page(venue, tex):
    """The Page the build makes figures and tables for, or None (the style's own sizes)."""
    from figkit.geometry import tex_page, venue_page

    try:
        return venue_page(venue) if venue is not None else tex_page(tex) if tex is not None else None
    except RuntimeError as error:  # pdflatex missing or failing on the paper's preamble
        raise ValueError(f"--tex {tex}: {error}") from None


def _figure_sizes(page, width, wide):
    """rcParams for figures at each width a build makes ({"column": ..., "text": ...}); {} for the style's own."""
    from figkit.stylesheets import page_rc

    if page is None:
        if wide:
            raise ValueError("--wide needs the paper's text width: give --venue or --tex")
        if width in ("column", "text"):
            raise ValueError(f"--width {width} needs the paper's widths: give --venue or --tex, or inches")
        return {} if width is None else {"column": page_rc(None, width)}
    return {"column": page_rc(page, "column" if width is None else width), "text": page_rc(page, "text")}


def _deck(styles, families):
    """The figure families of a talk's deck: in a build of the slide style, ``families`` or the default
    story; None for a paper."""
    from figkit.pipeline.outputs import DECK

    if "slide" not in styles:
        if families:
            raise ValueError("--slides makes a talk's deck: it needs --style slide")
        return None
    unknown = [name for name in families if name not in FIGURES]
    if unknown:
        raise ValueError(f"--slides {unknown[0]!r} is no figure family; families: {', '.join(FIGURES)}")
    return tuple(families) or DECK


def _wide_families(patterns):
    """The figure families ``patterns`` name (shell patterns); a pattern that names none is an error."""
    families = set()
    for pattern in patterns:
        matched = fnmatch.filter(FIGURES, pattern)
        if not matched:
            raise ValueError(f"--wide {pattern!r} names no figure family; families: {', '.join(FIGURES)}")
        families.update(matched)
    return frozenset(families)
