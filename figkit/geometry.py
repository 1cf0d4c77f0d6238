"""Page geometry: a table of venues read from their style files, and measuring your own paper.

Widths are in inches (1 in = 72.27 TeX pt). A one-column venue's column is its text
width. Prefer ``measure_tex`` on your own paper when you have it: a template can
change from one year to the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from figkit.cache import cache_dir
from figkit.files import file_digest, is_plain_relative, read_tex, write_atomic
from figkit.processes import TEX_TIMEOUT, run_tex

TEX_POINTS_PER_INCH = 72.27
MEASURES = ("textwidth", "columnwidth", "fontsize", "small", "footnotesize")  # numbers; "fontfamily" is text
SENSIBLE_INCHES = (1.0, 60.0)  # text widths from a narrow column to an A0 poster's
SENSIBLE_POINTS = (4.0, 72.0)  # body and small type from a dense table's to a poster's
MIN_FONT_SIZE = 6.0  # points: no figure text is smaller
# The \small and \footnotesize of LaTeX's standard size files (size10.clo, size11.clo, size12.clo).
_SMALLER_SIZES = {10: (9.0, 8.0), 11: (10.0, 9.0), 12: (10.95, 10.0)}
# Font families (\f@family) drawn like Times, and like Computer Modern.
_TIMES_FAMILIES = ("ptm", "txr", "ntx", "qtm", "utm", "TeXGyreTermes", "nimbus", "stix", "STIX")
_CM_FAMILIES = ("cmr", "lmr")
# acmart's formats that turn two columns on only in \maketitle, after the probe has measured.
_ACM_TWO_COLUMN_FORMATS = {"3", "4", "5", "6", "7", "9"}  # acmtog, sigconf, siggraph, sigplan, sigchi, acmengage
PROBE_OUTPUT_LIMIT = 16 * 2**20  # bytes pdflatex may write to one file while measuring
# \input{file} of a file that does not exist yet (a build's macros.tex) says so instead of stopping.
_SKIP_MISSING_INPUTS = r"""\makeatletter
\def\@iinput#1{\InputIfFileExists{#1}{}{\typeout{FIGKIT missing=#1}}}
\makeatother
"""
_PROBE = r"""
\begin{document}
\makeatletter
\typeout{FIGKIT textwidth=\the\textwidth}
\typeout{FIGKIT columnwidth=\the\columnwidth}
\typeout{FIGKIT fontsize=\f@size}
{\small\typeout{FIGKIT small=\f@size}}
{\footnotesize\typeout{FIGKIT footnotesize=\f@size}}
\typeout{FIGKIT fontfamily=\f@family}
\typeout{FIGKIT columnsep=\the\columnsep}
\ifdefined\ACM@format@nr\typeout{FIGKIT acmformat=\ACM@format@nr}\fi
\makeatother
\end{document}
"""

GOLDEN = 2 / (1 + 5**0.5)  # height / width of a golden rectangle
BEAMER_ASPECT = 0.42  # a figure under a frame title: 2.3 in of a 16:9 frame's 3.5, with room for a legend
WIDTHS = ("column", "text")


@dataclass(frozen=True)
class Venue:
    text_width: float  # inches
    column_width: float  # inches
    font_size: float  # points, of the body text
    font: str | None  # "times" or "cm"; None keeps the style's typeface
    source: str  # the file and the lines the numbers come from
    aspect: float = GOLDEN  # a figure's height over its width, before legends and notes


VENUES = {
    "neurips": Venue(5.5, 5.5, 10, "times", "neurips_2024.sty: \\newgeometry{textwidth=5.5in}"),
    "icml": Venue(
        6.75, 3.25, 10, "times", "icml2024.sty: \\textwidth 6.75in, \\columnsep 0.25in; column (6.75 - 0.25) / 2"
    ),
    "iclr": Venue(5.5, 5.5, 10, "times", "iclr2025_conference.sty: \\textwidth 5.5 true in"),
    "acl": Venue(
        6.2992,
        3.0315,
        11,
        "times",
        "acl.sty (acl-org/acl-style-files): A4, margin 2.5cm, \\columnsep 0.6cm; text 16.0 cm, "
        "column 7.7 cm; 11pt in acl_latex.tex",
    ),
    "cvpr": Venue(
        6.875, 3.28125, 10, "times", "cvpr.sty (cvpr-org/author-kit): \\textwidth 6.875in, \\columnsep 0.3125in"
    ),
    "aaai": Venue(7.0, 3.3125, 10, "times", "aaai24.sty: \\textwidth 7.0in, \\columnsep 0.375in"),
    "ieee": Venue(
        7.1399, 3.4869, 10, "times", "IEEEtran.cls v1.8b: \\textwidth 43pc, \\columnsep 1pc; column 21pc = 252pt"
    ),
    "jmlr": Venue(6.0, 6.0, 11, "cm", "jmlr2e.sty: \\textwidth 6.0 true in; 11pt in sample.tex"),
    "tmlr": Venue(6.5, 6.5, 10, "cm", "tmlr.sty: \\textwidth 6.5 true in (body font CM Bright)"),
    "lncs": Venue(4.8031, 4.8031, 10, "cm", "llncs.cls v2.20: \\textwidth 12.2cm"),
    "beamer": Venue(
        5.5118,
        5.5118,
        11,
        None,
        "beamer with aspectratio=169: a 160 mm x 90 mm frame, text margins 1 cm (beamerbaseframesize.sty); "
        "11pt; figures short enough to leave room for the frame title",
        aspect=BEAMER_ASPECT,
    ),
}
ALIASES = {"emnlp": "acl", "naacl": "acl", "eccv": "lncs", "iccv": "cvpr"}


class FitWarning(UserWarning):
    """An output that does not fit the page it is made for (a table wider than the text)."""


@dataclass(frozen=True)
class Page:
    """What a paper's figures are made for: its widths (inches), its font sizes (points) and typeface.

    ``small`` (the size of captions) is a figure's base text size and ``footnote`` that of its
    ticks and legends; ``font`` is "times", "cm" or None (a typeface figkit does not draw with).
    """

    text_width: float
    column_width: float
    body_size: float
    small: float
    footnote: float
    font: str | None
    name: str  # the venue or the paper's file, for messages
    tex: str | None = None  # the paper's main .tex, when measured from it: tables are measured in it too
    aspect: float = GOLDEN  # a figure's height over its width, before legends and notes

    @property
    def two_column(self):
        return self.column_width < self.text_width - 0.01

    def width(self, width="column"):
        """Inches of ``width``: "column" (one column; the text in a one-column paper), "text", or a number."""
        if width in WIDTHS:
            return self.column_width if width == "column" else self.text_width
        return as_inches(width)


def venue_page(venue: str) -> Page:
    """The ``Page`` of a venue of ``VENUES`` (or an alias), font sizes from LaTeX's size files."""
    key = str(venue).lower()
    key = ALIASES.get(key, key)
    if key not in VENUES:
        known = ", ".join(sorted(VENUES) + sorted(ALIASES))
        raise ValueError(f"unknown venue {venue!r}; known: {known}")
    row = VENUES[key]
    small, footnote = _SMALLER_SIZES.get(round(row.font_size), (0.9 * row.font_size, 0.8 * row.font_size))
    return Page(row.text_width, row.column_width, row.font_size, small, footnote, row.font, key, aspect=row.aspect)


def tex_page(path: str | os.PathLike, *, timeout: float = TEX_TIMEOUT) -> Page:
    """The ``Page`` of a LaTeX paper, measured with its own preamble (``measure_tex``)."""
    measured = measure_tex(path, timeout=timeout)
    family = str(measured["fontfamily"])
    font = "times" if family.startswith(_TIMES_FAMILIES) else "cm" if family.startswith(_CM_FAMILIES) else None
    return Page(
        float(measured["textwidth"]),
        float(measured["columnwidth"]),
        float(measured["fontsize"]),
        float(measured["small"]),
        float(measured["footnotesize"]),
        font,
        Path(path).name,
        str(path),
    )


def as_inches(width):
    """A width given as a number of inches (a string such as "4.5" too), checked."""
    try:
        inches = float(width)
    except (TypeError, ValueError):
        raise ValueError(f"width must be 'column', 'text' or a number of inches, got {width!r}") from None
    if not 0.5 <= inches <= 50:
        raise ValueError(f"width must be between 0.5 and 50 inches, got {width!r}")
    return inches


def figsize(
    venue: str = "icml", width: str = "column", aspect: float = GOLDEN, *, fraction: float = 1.0
) -> tuple[float, float]:
    """The size of a figure for a venue's column or full text width.

    Parameters
    ----------
    venue : str
        A venue of ``VENUES`` (neurips, icml, iclr, acl, cvpr, aaai, ieee, jmlr, tmlr,
        lncs; beamer, a 16:9 slide) or an alias (emnlp, naacl, eccv, iccv).
    width : {"column", "text"}
        One column, or the full text width (``figure*``).
    aspect : float
        Height / width; golden by default.
    fraction : float
        Scales the width, for figures set side by side.

    Returns
    -------
    tuple of float
        ``(width, height)`` in inches.

    Raises
    ------
    ValueError
        For an unknown venue or width, or an aspect or fraction out of range.
    """
    page = venue_page(venue)
    if width not in WIDTHS:
        raise ValueError(f"width must be 'column' or 'text', got {width!r}")
    if not aspect > 0 or not 0 < fraction <= 1:
        raise ValueError(f"aspect must be positive and fraction in (0, 1], got {aspect!r}, {fraction!r}")
    inches = page.width(width) * fraction
    return inches, inches * aspect


def measure_tex(path: str | os.PathLike, *, timeout: float = TEX_TIMEOUT) -> dict[str, float | str]:
    """The text width, column width, font sizes and typeface of a LaTeX paper, measured by LaTeX itself.

    Compiles a probe made of the paper's own preamble with pdflatex, so class options,
    packages and geometry all count. Files beside the paper (a venue's .sty or .cls) are
    found; a file the preamble ``\\input``s that does not exist yet (a build's
    ``macros.tex``) is skipped. pdflatex runs confined: no shell escape, no file named by
    an absolute path or ``..`` (``openin_any=p``), stdin closed, a timeout and a cap on
    what it writes.

    Parameters
    ----------
    path : str or os.PathLike
        The paper's main ``.tex`` file.
    timeout : float
        Seconds pdflatex may take.

    Returns
    -------
    dict
        ``{"textwidth": in, "columnwidth": in, "fontsize": pt, "small": pt, "footnotesize": pt,
        "fontfamily": the body's NFSS family, e.g. "ptm" for Times}``. Cached until the preamble
        or a file LaTeX read for it (class, style files, ``\\input`` files) changes.

    Raises
    ------
    ValueError
        If the file has no ``\\begin{document}``.
    RuntimeError
        If pdflatex is missing, times out or cannot compile the preamble (its error quoted).
    """
    preamble, paper_dir = _preamble(path)
    key = hashlib.sha256(f"{paper_dir}\n{preamble}\n{_PROBE}".encode()).hexdigest()[:32]  # a new probe measures anew
    cache = cache_dir("measure_tex") / f"{key}.json"
    cached = _cached_measure(cache)
    if cached is not None:
        return cached
    log, inputs = _run_probe(preamble + _PROBE, paper_dir, timeout)
    found = dict(re.findall(r"^FIGKIT (\w+)=([\d.]+)(?:pt)?$", log, re.M))
    family = re.search(r"^FIGKIT fontfamily=(\S+)$", log, re.M)
    if not set(MEASURES) <= set(found) or family is None:
        raise RuntimeError("pdflatex could not compile the preamble: no measurement in the log")
    points = {name: float(found[name]) for name in MEASURES}
    acm = re.search(r"^FIGKIT acmformat=(\d+)$", log, re.M)
    if acm is not None and acm.group(1) in _ACM_TWO_COLUMN_FORMATS:
        points["columnwidth"] = (points["textwidth"] - float(found["columnsep"])) / 2
    measured = {
        "textwidth": points["textwidth"] / TEX_POINTS_PER_INCH,
        "columnwidth": points["columnwidth"] / TEX_POINTS_PER_INCH,
        "fontsize": points["fontsize"],
        "small": points["small"],
        "footnotesize": points["footnotesize"],
        "fontfamily": family.group(1),
    }
    _sensible(measured)
    write_atomic(cache, json.dumps({"measured": measured, "inputs": inputs}).encode())
    return measured


def _sensible(measured):
    """Refuse measurements no page has (a text width of 0 pt or of 221 in, 500 pt type): the figures would
    be drawn at that size without a word."""
    inches, points = SENSIBLE_INCHES, SENSIBLE_POINTS
    for name in ("textwidth", "columnwidth"):
        if not inches[0] <= measured[name] <= inches[1]:
            raise RuntimeError(
                f"the preamble sets a {name} of {measured[name]:.2f} in; figkit sizes figures for "
                f"{inches[0]:g} to {inches[1]:g} in"
            )
    if measured["columnwidth"] > measured["textwidth"] + 1e-6:
        raise RuntimeError(
            f"the preamble sets a columnwidth ({measured['columnwidth']:.2f} in) wider than its textwidth "
            f"({measured['textwidth']:.2f} in)"
        )
    for name in ("fontsize", "small", "footnotesize"):
        if not points[0] <= measured[name] <= points[1]:
            raise RuntimeError(
                f"the preamble sets a {name} of {measured[name]:g} pt; figkit sizes text of {points[0]:g} to "
                f"{points[1]:g} pt"
            )


def measure_tabular(path: str | os.PathLike, tabular: str, *, timeout: float = TEX_TIMEOUT) -> float:
    """The natural width in inches of a LaTeX ``tabular`` set in the paper ``path`` (its own preamble:
    class, fonts, ``\\tabcolsep``), by pdflatex confined as in ``measure_tex``."""
    preamble, paper_dir = _preamble(path)
    probe = "\\begin{document}\n\\sbox0{\\input{figkit-table}\\unskip}\n"  # no space after the tabular
    probe += "\\typeout{FIGKIT tablewidth=\\the\\wd0}\n\\end{document}\n"
    log, _ = _run_probe(preamble + probe, paper_dir, timeout, {"figkit-table.tex": tabular})
    found = re.search(r"^FIGKIT tablewidth=([\d.]+)pt$", log, re.M)
    if found is None:
        raise RuntimeError("pdflatex could not set the table: no measurement in the log")
    return float(found.group(1)) / TEX_POINTS_PER_INCH


def _preamble(path):
    """The paper's preamble and its folder (read by ``read_tex``, bounded)."""
    path = Path(path)
    text = read_tex(path)
    start = text.find("\\begin{document}")
    if start < 0:
        raise ValueError(f"{path}: no \\begin{{document}}, so no preamble to measure")
    return text[:start], path.resolve().parent


def _cached_measure(cache):
    """The cached measure if its entry is well formed and every file it was read from is unchanged."""
    try:
        entry = json.loads(cache.read_text())
        measured, inputs = entry["measured"], entry["inputs"]
        well_formed = set(measured) == {*MEASURES, "fontfamily"} and type(measured["fontfamily"]) is str
        well_formed &= all(type(measured[name]) is float for name in MEASURES)
        unchanged = all(file_digest(name) == sha for name, sha in inputs.items())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return measured if well_formed and unchanged else None


def _run_probe(source, paper_dir, timeout, files=None):
    """Compile ``source`` (``files``, {name: text}, beside it) with the preamble's missing ``\\input`` files
    skipped; return its log and {file LaTeX read or looked for: sha256, None if missing}."""
    engine = shutil.which("pdflatex")
    if engine is None:
        raise RuntimeError(
            "measure_tex needs pdflatex: install TeX Live (Debian/Ubuntu: apt-get install "
            "texlive-latex-base texlive-latex-recommended) or use figkit.figsize(venue)"
        )
    env = os.environ | {
        "TEXINPUTS": f"{paper_dir}{os.pathsep}",
        "openin_any": "p",
        "openout_any": "p",
        "max_print_line": "10000",
    }
    command = [engine, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "-draftmode", "-recorder"]
    with tempfile.TemporaryDirectory(prefix="figkit-probe-") as work:
        work = Path(work).resolve()
        for name, text in {"probe.tex": _SKIP_MISSING_INPUTS + source, **(files or {})}.items():
            (work / name).write_text(text, encoding="utf-8")
        try:
            returncode = run_tex([*command, "probe.tex"], work, env, output_limit=PROBE_OUTPUT_LIMIT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"pdflatex did not finish measuring the preamble within {timeout} s") from None
        log = _read_capped(work / "probe.log")
        inputs = _files_read(work, paper_dir, log)
    if returncode != 0:  # the log's folder is gone: quote its error, else the lines it ends with
        lines = [line.strip() for line in log.splitlines() if line.strip()]
        said = next((line for line in lines if line.startswith("!")), None)
        if said is None:
            said = f"exit {returncode}; its log ends: " + " / ".join(lines[-3:]) if lines else f"exit {returncode}"
        raise RuntimeError(f"pdflatex could not compile the preamble: {said[:200]}")
    return log, inputs


def _read_capped(path):
    try:
        with open(path, encoding="latin-1") as log:
            return log.read(PROBE_OUTPUT_LIMIT)
    except OSError:
        return ""


def _files_read(work, paper_dir, log):
    """{file: sha256} of every file LaTeX read (its ``-recorder`` list) outside ``work``; None for one it missed."""
    try:
        lines = (work / "probe.fls").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    read = {(work / line[len("INPUT ") :]).resolve() for line in lines if line.startswith("INPUT ")}
    missing = {paper_dir / name for name in re.findall(r"^FIGKIT missing=(.+)$", log, re.M) if is_plain_relative(name)}
    files = sorted(str(name) for name in read | missing if name.parent != work)
    return {name: file_digest(name) for name in files}
