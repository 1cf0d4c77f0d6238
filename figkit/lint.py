"""A figure linter: text that collides, lies over the data, leaves the page, is too small to read, or mixes
font families.

The same checks run on two sources of text:

- ``check_figure`` reads a matplotlib figure: it lays the figure out once and takes every
  drawn text's extent and font from matplotlib itself (tick labels only of ticks in view);
- ``check_pdf_text`` reads any PDF with pdfminer.six (``pip install figkit[check]``): each
  text-showing operation is one word, its box the union of its glyphs' boxes as the PDF
  places them (text matrix, current transformation, form XObjects), its size the font size
  times the text's vertical scale, so rotated and scaled text are measured as printed.

What counts as data is read from the drawing itself, the same way for both (a figure is printed to a PDF
in memory): a filled shape that is neither white nor faint (bars, markers, cells, images), or a stroke
darker than a grid line (curves, error bars, reference lines). Text that crosses one covers the data,
unless the shape is a rectangle hugging the text: the box a label is set on.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

MIN_TEXT_POINTS = 6.0  # the README's promise: nothing under 6 pt in print
# Boxes overlapping by less than this only touch: glyph boxes include side bearings, and the lines of
# a text set tighter than 1 em apart (0.91 em in Computer Modern) overlap by a little.
TOUCH = 0.5  # points
TOUCH_EM = 0.15  # of the smaller text's size, where that is more
# A text run starting this close (in ems) to where the last one stopped continues the same string.
JOIN = 0.15
# Marks that are data: fills darker than near-white and strokes darker than grid lines, not faint.
WHITE_FILL = 0.95  # lightness 0-1 at or above which a fill is background (axes, legend frames, boxes)
LIGHT_STROKE = 0.75  # lightness at or above which a stroke is a grid line
LABEL_BOX_EM = 0.6  # a filled rectangle this close around a text (in ems) is the box it is set on
FAINT = 0.3  # opacity below which a shade (a band, an area between curves) lets text over it read
_SUBSET_TAG = re.compile(r"^[A-Z]{6}\+")
_STYLE = re.compile(r"[-,].*$")  # Times-Bold, Arial,Italic
_FOUNDRY_OR_SIZE = re.compile(r"(MT|PS|\d)+$")  # ArialMT, TimesNewRomanPSMT, CMR10
_COMPUTER_MODERN = re.compile(r"(?i)^(cm[a-z]{1,4}|lm[a-z]*|figkit(cmr)?)$")


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple  # x0, y0, x1, y1: display pixels in a figure, points in a PDF
    size: float  # points: of the smallest glyph (a superscript is smaller than its base)
    families: frozenset  # the design families of its glyphs' fonts, fallback fonts included


def check_figure(fig, *, min_size=MIN_TEXT_POINTS, families=1, data=True):
    """Problems of a matplotlib figure's text, as sentences; empty when there are none.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    min_size : float
        Smallest text size in points that counts as readable in print.
    families : int or None
        How many font families the text may use (``None``: any number).
    data : bool
        Also report text that lies over the data (the figure's marks as it prints them).

    Returns
    -------
    list of str
    """
    import io

    from matplotlib.text import Text

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    words = []
    for text in _drawn_texts(fig, Text):
        box = text.get_window_extent(renderer)
        size, fonts = _glyph_fonts(text)
        words.append(Word(text.get_text(), (box.x0, box.y0, box.x1, box.y1), size, fonts))
    page = fig.bbox
    scale = fig.dpi / 72
    marks = []
    if data:
        printed = io.BytesIO()
        fig.savefig(printed, format="pdf")
        ((_, _, marks),) = _read_pdf(io.BytesIO(printed.getvalue()))
        marks = [mark.scaled(scale) for mark in marks]
    return _problems(words, marks, (page.x0, page.y0, page.x1, page.y1), scale, min_size, families, "figure")


def _glyph_fonts(text):
    """The smallest glyph size of a matplotlib Text and the families of the fonts its glyphs come from.

    Maths is parsed as matplotlib draws it (superscripts shrink, symbols come from the maths
    fonts); plain text takes each character from the first font of its family list that has it.
    """
    from matplotlib import cbook, font_manager
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    from figkit.fonts import font_characters

    prop = text.get_fontproperties()
    string = text.get_text()
    if text.get_usetex():
        return text.get_fontsize(), frozenset({"TeX"})
    if cbook.is_math_text(string):
        glyphs = MathTextParser("path").parse(string, 72, prop).glyphs
        if glyphs:
            return min(g[1] for g in glyphs), frozenset(design_family(g[0].family_name) for g in glyphs)
    paths = []
    for family in prop.get_family():
        candidate = FontProperties(family=family, style=prop.get_style(), weight=prop.get_weight())
        try:
            paths.append(font_manager.findfont(candidate, fallback_to_default=False))
        except ValueError:
            continue
    paths = paths or [font_manager.findfont(prop)]
    used = set()
    for character in set(string) - set(" \n\t"):
        path = next((p for p in paths if ord(character) in font_characters(p)), paths[0])
        used.add(design_family(_family(path)))
    return text.get_fontsize(), frozenset(used)


def check_pdf_text(path, *, min_size=MIN_TEXT_POINTS, families=1, data=True):
    """The checks of ``check_figure`` on the text and drawing of every page of a PDF (figkit's or not).

    Problems on a page after the first start with its number ("page 2: ...").

    Raises
    ------
    ImportError
        When pdfminer.six is not installed, saying how to install it.
    ValueError
        When ``path`` is not a PDF pdfminer can read.
    """
    problems = []
    for number, (page, words, marks) in enumerate(_read_pdf(path), start=1):
        found = _problems(words, marks if data else [], page, 1.0, min_size, families, "page")
        problems += [f"page {number}: {p}" if number > 1 else p for p in found]
    return problems


POINTS_PER_INCH = 72


@dataclass(frozen=True)
class Font:
    name: str
    kind: str  # the PDF Subtype: Type3, TrueType, CIDFontType2, Type1, ...
    embedded: bool


@dataclass
class PdfFonts:
    """A PDF's first page size and every font it holds (in its pages and in included figures)."""

    path: Path
    width: float  # inches
    height: float
    fonts: list

    @property
    def problems(self):
        """Fonts a journal rejects: Type 3, or not embedded."""
        found = []
        for font in self.fonts:
            if font.kind == "Type3":
                found.append(f"Type 3 font {font.name}")
            elif not font.embedded:
                found.append(f"font {font.name} ({font.kind}) is not embedded")
        return found


def check_pdf_fonts(path):
    """Fonts and page size of the PDF at ``path``; ``ValueError`` if it is no PDF."""
    PDFDocument, PDFPage, PDFParser, resolve1 = _pdfminer_document()
    path = Path(path)
    with open_regular(path) as file:
        if file.read(4) != b"%PDF":
            raise ValueError(f"{path}: not a PDF file")
        file.seek(0)
        with unreadable_pdf(path):
            document = PDFDocument(PDFParser(file))
            page = next(PDFPage.create_pages(document), None)
            fonts = {_font(resolve1(o), resolve1) for o in _objects(document)} - {None}
    if page is None:
        raise ValueError(f"{path}: no page size (MediaBox) found")
    x0, y0, x1, y1 = page.mediabox
    return PdfFonts(path, (x1 - x0) / POINTS_PER_INCH, (y1 - y0) / POINTS_PER_INCH, sorted(fonts, key=str))


def _objects(document):
    """Every object of ``document``, those packed in object streams included."""
    seen = set()
    for xref in document.xrefs:
        for number in xref.get_objids():
            if number not in seen:
                seen.add(number)
                try:
                    yield document.getobj(number)
                except Exception:  # noqa: BLE001 - a free or broken entry is no font
                    continue


def _font(value, resolve1):
    """The Font a PDF object is, or None (not a font, or a Type 0 wrapper whose descendant is listed itself)."""
    if not isinstance(value, dict) or _pdf_name(value.get("Type")) != "Font":
        return None
    kind = _pdf_name(value.get("Subtype")) or "?"
    if kind == "Type0":
        return None
    descriptor = resolve1(value.get("FontDescriptor")) or {}
    embedded = any(key in descriptor for key in ("FontFile", "FontFile2", "FontFile3"))
    return Font(_pdf_name(value.get("BaseFont")) or "?", kind, embedded)


def _pdf_name(value):
    """A PDF name object's text (pdfminer's PSLiteral), or None."""
    return getattr(value, "name", None)


def _pdfminer_document():
    try:
        from pdfminer.pdfdocument import PDFDocument
        from pdfminer.pdfpage import PDFPage
        from pdfminer.pdfparser import PDFParser
        from pdfminer.pdftypes import resolve1
    except ImportError:
        raise ImportError("reading a PDF needs pdfminer.six: pip install 'figkit[check]'") from None
    return PDFDocument, PDFPage, PDFParser, resolve1


def open_regular(path):
    """``path`` opened for reading in binary; ``ValueError`` unless it is a regular file (a pipe would block,
    a device such as /dev/zero never end)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ValueError(f"{path}: not a regular file")
    return os.fdopen(descriptor, "rb")


@contextlib.contextmanager
def unreadable_pdf(path):
    """Any error pdfminer meets in a malformed PDF (its own, or zlib's, arithmetic and index errors from deep
    inside it) as ``ValueError`` naming the file; running out of memory stays ``MemoryError``."""
    try:
        yield
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - a malformed file can break any of pdfminer's steps
        raise ValueError(f"{path}: not a readable PDF ({error or type(error).__name__})") from None


def pdf_words(path):
    """``(page box, words)`` for each page of a PDF: one word per text-showing operation."""
    return [(page, words) for page, words, _ in _read_pdf(path)]


def _read_pdf(path):
    """``(page box, words, data marks)`` for each page of a PDF (a path or a binary file)."""
    try:
        from pdfminer.converter import PDFPageAggregator
        from pdfminer.layout import LTChar
        from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
        from pdfminer.pdfpage import PDFPage
        from pdfminer.pdftypes import resolve1
        from pdfminer.utils import apply_matrix_pt, mult_matrix
    except ImportError:
        raise ImportError("reading text from a PDF needs pdfminer.six: pip install 'figkit[check]'") from None

    class Words(PDFPageAggregator):
        """Collects each Tj/TJ's glyphs as one run, with the size the text is printed at, and the marks
        that are data."""

        alpha = (1.0, 1.0)  # (stroke, fill) opacity, set by the interpreter's graphics state

        def begin_page(self, page, ctm):
            super().begin_page(page, ctm)
            self.runs, self.marks = [], []

        def paint_path(self, gstate, stroke, fill, evenodd, path):
            start = 0
            for i in range(1, len(path) + 1):  # one mark per subpath
                if i == len(path) or path[i][0] == "m":
                    points = [apply_matrix_pt(self.ctm, segment[-2:]) for segment in path[start:i] if len(segment) > 2]
                    closed = path[i - 1][0] == "h"
                    mark = _mark(points, closed, stroke, fill, gstate, self.alpha)
                    if mark is not None:
                        self.marks.append(mark)
                    start = i

        def render_image(self, name, stream):
            corners = [apply_matrix_pt(self.ctm, corner) for corner in ((0, 0), (1, 0), (1, 1), (0, 1))]
            self.marks.append(_Mark(tuple(corners), True, "an image"))

        def render_string(self, textstate, seq, ncs, graphicstate):
            container = self.cur_item
            start = len(container)
            super().render_string(textstate, seq, ncs, graphicstate)
            glyphs = [g for g in list(container)[start:] if isinstance(g, LTChar)]
            if glyphs and textstate.render != 3:  # mode 3 is invisible text (a searchable layer)
                a, b, c, d, _, _ = mult_matrix(textstate.matrix, self.ctm)
                self.runs.append(_Run(glyphs, textstate.fontsize * math.hypot(c, d), (a, b)))

    class Interpreter(PDFPageInterpreter):
        """pdfminer's interpreter with the opacity of ExtGState (``gs``), which it leaves out."""

        def init_state(self, ctm):
            super().init_state(ctm)
            self.device.alpha, self.alphas = (1.0, 1.0), []

        def do_q(self):
            self.alphas.append(self.device.alpha)
            super().do_q()

        def do_Q(self):
            if self.alphas:
                self.device.alpha = self.alphas.pop()
            super().do_Q()

        def do_gs(self, name):
            states = resolve1((self.resources or {}).get("ExtGState")) or {}
            state = resolve1(states.get(getattr(name, "name", name))) or {}
            stroke, fill = self.device.alpha
            self.device.alpha = (float(state.get("CA", stroke)), float(state.get("ca", fill)))

    manager = PDFResourceManager()
    device = Words(manager, laparams=None)
    interpreter = Interpreter(manager, device)
    pages = []
    file = open_regular(path) if isinstance(path, (str, os.PathLike)) else contextlib.nullcontext(path)
    with file as pdf, unreadable_pdf(path):
        for page in PDFPage.get_pages(pdf):
            interpreter.process_page(page)
            pages.append((tuple(page.mediabox), _joined(device.runs), device.marks))
    return pages


@dataclass(frozen=True)
class _Mark:
    """A drawn shape that is data: its outline (a polygon when filled, a polyline when stroked)."""

    points: tuple
    filled: bool
    kind: str  # for the message: "a filled shape", "a line", "an image"

    def scaled(self, scale):
        return _Mark(tuple((x * scale, y * scale) for x, y in self.points), self.filled, self.kind)

    def covers(self, box):
        """Whether the mark crosses the rectangle ``box`` (x0, y0, x1, y1)."""
        xs, ys = [x for x, _ in self.points], [y for _, y in self.points]
        if max(xs) < box[0] or min(xs) > box[2] or max(ys) < box[1] or min(ys) > box[3]:
            return False
        segments = list(zip(self.points, self.points[1:] + (self.points[:1] if self.filled else ())))
        if any(_segment_meets_box(a, b, box) for a, b in segments):
            return True
        return self.filled and _inside(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), self.points)

    def holds(self, box, margin):
        """Whether the mark is a filled rectangle a text ``box`` is set on: its top and bottom within ``margin``
        of the text's, and lying within the text's width (``margin`` either side). A token on its
        colour, or one of the boxes under a word made of several: not data the text covers."""
        if not self.filled:
            return False
        xs, ys = [x for x, _ in self.points], [y for _, y in self.points]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        if any(x not in (x0, x1) or y not in (y0, y1) for x, y in self.points):
            return False  # not an upright rectangle
        level = abs(y0 - box[1]) <= margin and abs(y1 - box[3]) <= margin
        return level and box[0] - margin <= x0 and x1 <= box[2] + margin


def _mark(points, closed, stroke, fill, gstate, alpha):
    """The data mark a painted subpath makes, or None for background, grid lines, faint shades and dots."""
    if len(points) < 2 and not fill:
        return None
    if fill and alpha[1] >= FAINT and _lightness(gstate.ncolor) < WHITE_FILL and len(points) >= 3:
        return _Mark(tuple(points), True, "a filled shape")
    if stroke and alpha[0] >= FAINT and _lightness(gstate.scolor) < LIGHT_STROKE and len(points) >= 2:
        return _Mark(tuple(points + points[:1] if closed else points), False, "a line")
    return None


def _lightness(colour):
    """0 (black) to 1 (white) for a PDF colour: grey, RGB or CMYK; a pattern counts as dark."""
    if isinstance(colour, (int, float)):
        return float(colour)
    if isinstance(colour, tuple) and len(colour) == 3 and all(isinstance(c, (int, float)) for c in colour):
        return 0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2]
    if isinstance(colour, tuple) and len(colour) == 4 and all(isinstance(c, (int, float)) for c in colour):
        return (1 - colour[3]) * (1 - sum(colour[:3]) / 3)
    return 0.0


def _segment_meets_box(a, b, box):
    """Whether the segment a-b passes through the rectangle ``box`` (Liang-Barsky clipping)."""
    low, high = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0] - box[0]), (dx, box[2] - a[0]), (-dy, a[1] - box[1]), (dy, box[3] - a[1])):
        if p == 0:
            if q < 0:
                return False
        elif p < 0:
            low = max(low, q / p)
        else:
            high = min(high, q / p)
        if low > high:
            return False
    return True


def _inside(point, polygon):
    """Whether ``point`` lies inside ``polygon`` (even-odd ray casting)."""
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


class _Run:
    """The glyphs of one text-showing operation: their boxes (pdfminer's: the advance times 1 em from
    the font's descent, as the PDF places them), where the pen starts and ends, the printed size and
    the direction."""

    def __init__(self, glyphs, size, direction):
        scale = math.hypot(*direction)
        self.size, self.direction = size, (direction[0] / scale, direction[1] / scale)
        self.text = "".join(g.get_text() for g in glyphs)
        self.boxes = [g.bbox for g in glyphs if g.get_text().strip()]
        self.families = {design_family(g.fontname) for g in glyphs if g.get_text().strip()}
        self.start = glyphs[0].matrix[4:]
        last = glyphs[-1]
        self.end = (last.matrix[4] + last.adv * direction[0], last.matrix[5] + last.adv * direction[1])

    def continues(self, other):
        """Whether this run goes on where ``other`` stopped, as one string split around a ligature does."""
        return (
            abs(self.size - other.size) < 1e-3 * self.size
            and math.dist(self.direction, other.direction) < 1e-3
            and math.dist(self.start, other.end) < JOIN * self.size
        )


def _joined(runs):
    """Words from runs: a run that continues the one before it belongs to the same word."""
    groups = []
    for run in runs:
        if groups and run.continues(groups[-1][-1]):
            groups[-1].append(run)
        else:
            groups.append([run])
    words = []
    for group in groups:
        boxes = [box for run in group for box in run.boxes]
        if boxes:
            box = tuple(f(corner[i] for corner in boxes) for i, f in enumerate((min, min, max, max)))
            families = frozenset().union(*(run.families for run in group))
            words.append(Word("".join(run.text for run in group), box, group[0].size, families))
    return words


def _problems(words, marks, page, scale, min_size, families, where):
    """The sentences for ``words`` over data ``marks`` on ``page`` (x0, y0, x1, y1), in units of ``scale``
    per point."""
    touch = TOUCH * scale
    problems, used = [], {}
    for word in words:
        name = _name(word.text)
        if word.size < min_size - 1e-9:
            problems.append(f"{name} is {word.size:.1f} pt, smaller than {min_size:g} pt")
        x0, y0, x1, y1 = word.box
        if x0 < page[0] - touch or y0 < page[1] - touch or x1 > page[2] + touch or y1 > page[3] + touch:
            problems.append(f"{name} runs outside the {where}")
        inner = (x0 + touch, y0 + touch, x1 - touch, y1 - touch)
        margin = LABEL_BOX_EM * word.size * scale + touch
        covered = (
            next((mark for mark in marks if mark.covers(inner) and not mark.holds(word.box, margin)), None)
            if inner[0] < inner[2]
            else None
        )
        if covered is not None:
            problems.append(f"{name} lies over the data ({covered.kind})")
        for family in word.families:
            used.setdefault(family, name)
    problems += [f"{_name(a.text)} overlaps {_name(b.text)}" for a, b in _overlaps(words, scale)]
    if families is not None and len(used) > families:
        problems.append(f"text uses {len(used)} font families: {', '.join(sorted(used))}")
    return problems


def _drawn_texts(fig, text_type):
    """The texts a draw shows: tick labels only of ticks in view (matplotlib keeps others, undrawn)."""
    from matplotlib.axis import Tick

    ticks = {id(t) for tick in fig.findobj(lambda a: isinstance(a, Tick)) for t in (tick.label1, tick.label2)}
    shown = []
    for ax in fig.axes:
        for along, axis in enumerate((ax.xaxis, ax.yaxis)) if ax.get_visible() else ():
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * max(abs(low), abs(high), 1.0)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):  # a label sits at its tick's place along the axis
                    if low - slack <= label.get_position()[along] <= high + slack:
                        shown.append(label)
    others = [t for t in fig.findobj(lambda a: isinstance(a, text_type)) if id(t) not in ticks]
    return [t for t in others + shown if t.get_visible() and t.get_text().strip()]


def _overlaps(words, scale):
    """Each word that overlaps a word to its right by more than they may touch, with the first such word
    (sorted by x: O(n log n) typically, and O(n) for a pile of words in one place)."""
    order = sorted(words, key=lambda w: w.box[0])
    pairs = []
    for i, a in enumerate(order):
        for b in itertools.islice(order, i + 1, None):
            if b.box[0] >= a.box[2] - TOUCH * scale:
                break
            touch = max(TOUCH, TOUCH_EM * min(a.size, b.size)) * scale
            if (
                min(a.box[3], b.box[3]) - max(a.box[1], b.box[1]) > touch
                and min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]) > touch
            ):
                pairs.append((a, b))
                break
    return pairs


def _name(text):
    shown = " ".join(str(text).split())
    return repr(shown if len(shown) <= 30 else shown[:27] + "...")


@functools.cache
def _family(path):
    from matplotlib.ft2font import FT2Font

    return FT2Font(path).family_name


def design_family(name):
    """The typeface a font belongs to, from a family name ("DejaVu Sans") or a PDF font name
    ("ABCDEF+DejaVuSans-Oblique"): spaces, styles, foundry and size suffixes go; Computer Modern's
    text, maths and figkit's own fonts (cmr10, CMMI10, figkit CMR10, LMRoman10) are one typeface,
    and so are STIX's (STIXGeneral, STIXNonUnicode, STIXSizeOneSym)."""
    bare = _FOUNDRY_OR_SIZE.sub("", _STYLE.sub("", _SUBSET_TAG.sub("", name).replace(" ", "")))
    if _COMPUTER_MODERN.match(bare):
        return "Computer Modern"
    return "STIX" if bare.startswith("STIX") else bare or name
