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
from figkit.files import file_digest, is_plain_relative, write_atomic

TEX_POINTS_PER_INCH = 72.27
TEX_TIMEOUT = 60  # seconds
MEASURES = ("textwidth", "columnwidth", "fontsize")
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
\makeatother
\end{document}
"""

GOLDEN = 2 / (1 + 5**0.5)  # height / width of a golden rectangle


@dataclass(frozen=True)
class Venue:
    text_width: float  # inches
    column_width: float  # inches
    font_size: float  # points, of the body text
    font: str  # "times" or "cm"
    source: str  # the file and the lines the numbers come from


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
}
ALIASES = {"emnlp": "acl", "naacl": "acl", "eccv": "lncs", "iccv": "cvpr"}


def figsize(
    venue: str = "icml", width: str = "column", aspect: float = GOLDEN, *, fraction: float = 1.0
) -> tuple[float, float]:
    """The size of a figure for a venue's column or full text width.

    Parameters
    ----------
    venue : str
        A venue of ``VENUES`` (neurips, icml, iclr, acl, cvpr, aaai, ieee, jmlr, tmlr,
        lncs) or an alias (emnlp, naacl, eccv, iccv).
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
    key = str(venue).lower()
    key = ALIASES.get(key, key)
    if key not in VENUES:
        known = ", ".join(sorted(VENUES) + sorted(ALIASES))
        raise ValueError(f"unknown venue {venue!r}; known: {known}")
    if width not in ("column", "text"):
        raise ValueError(f"width must be 'column' or 'text', got {width!r}")
    if not aspect > 0 or not 0 < fraction <= 1:
        raise ValueError(f"aspect must be positive and fraction in (0, 1], got {aspect!r}, {fraction!r}")
    row = VENUES[key]
    inches = (row.column_width if width == "column" else row.text_width) * fraction
    return inches, inches * aspect


def measure_tex(path: str | os.PathLike, *, timeout: float = TEX_TIMEOUT) -> dict[str, float]:
    """The text width, column width and font size of a LaTeX paper, measured by LaTeX itself.

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
        ``{"textwidth": in, "columnwidth": in, "fontsize": pt}``. Cached until the preamble or
        a file LaTeX read for it (class, style files, ``\\input`` files) changes.

    Raises
    ------
    ValueError
        If the file has no ``\\begin{document}``.
    RuntimeError
        If pdflatex is missing, times out or cannot compile the preamble (its error quoted).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    start = text.find("\\begin{document}")
    if start < 0:
        raise ValueError(f"{path}: no \\begin{{document}}, so no preamble to measure")
    preamble, paper_dir = text[:start], path.resolve().parent
    key = hashlib.sha256(f"{paper_dir}\n{preamble}".encode()).hexdigest()[:32]
    cache = cache_dir("measure_tex") / f"{key}.json"
    cached = _cached_measure(cache)
    if cached is not None:
        return cached
    measured, inputs = _run_probe(_SKIP_MISSING_INPUTS + preamble + _PROBE, paper_dir, timeout)
    write_atomic(cache, json.dumps({"measured": measured, "inputs": inputs}).encode())
    return measured


def _cached_measure(cache):
    """The cached measure if its entry is well formed and every file it was read from is unchanged."""
    try:
        entry = json.loads(cache.read_text())
        measured, inputs = entry["measured"], entry["inputs"]
        well_formed = set(measured) == set(MEASURES) and all(type(v) is float for v in measured.values())
        unchanged = all(file_digest(name) == sha for name, sha in inputs.items())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return measured if well_formed and unchanged else None


def _run_probe(source, paper_dir, timeout):
    """Compile ``source``; return the measures and {file LaTeX read or looked for: sha256, None if missing}."""
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
        (work / "probe.tex").write_text(source, encoding="utf-8")
        try:
            run = subprocess.run(
                [*command, "probe.tex"],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                preexec_fn=_cap_file_size if os.name == "posix" else None,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"pdflatex did not finish measuring the preamble within {timeout} s") from None
        log = _read_capped(work / "probe.log")
        inputs = _files_read(work, paper_dir, log)
    found = dict(re.findall(r"^FIGKIT (\w+)=([\d.]+)(?:pt)?$", log, re.M))
    if run.returncode != 0 or not set(MEASURES) <= set(found):
        error = next((line for line in log.splitlines() if line.startswith("!")), "no measurement in the log")
        raise RuntimeError(f"pdflatex could not compile the preamble: {error[:200]}")
    points = {name: float(found[name]) for name in MEASURES}
    measured = {
        "textwidth": points["textwidth"] / TEX_POINTS_PER_INCH,
        "columnwidth": points["columnwidth"] / TEX_POINTS_PER_INCH,
        "fontsize": points["fontsize"],
    }
    return measured, inputs


def _cap_file_size():
    """In the child: pdflatex may write at most PROBE_OUTPUT_LIMIT bytes to any one file."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (PROBE_OUTPUT_LIMIT, PROBE_OUTPUT_LIMIT))


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
