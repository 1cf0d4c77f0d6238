"""Computer Modern for text, built once from the Computer Modern fonts matplotlib ships.

matplotlib's BaKoMa cmr10 keeps TeX's OT1 layout: typing ``<`` draws ``¡``, ``|`` an en dash,
``{`` an em dash, and it has no minus sign. This module writes a copy whose character map
follows the glyphs' names (Adobe Glyph List) and which borrows what TeX also takes from other
fonts: ``< >`` and the lowercase Greek letters (italic, as in TeX's maths) from cmmi10; braces,
bar, backslash, minus and the symbols a figure prints (± × ÷ ∞ · • → ≤ ≥ ≈ ∼ ∈ † ‡) from cmsy10;
``_``, ``"`` and the visible space ``␣`` (tokens' spaces) from cmtt10. A label such as
"Significance level α" then needs no second font. The copy lives in the user's cache and is registered with matplotlib.
"""

import functools
import logging
import os
from pathlib import Path

from figkit.cache import cache_dir

FAMILY = "figkit CMR10"
VERSION = 6  # bump when the way the copy is made changes
GREEK = (
    *"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma".split(),
    *"tau upsilon phi chi psi omega".split(),
)
BORROWED = {
    "cmmi10": ("less", "greater", *GREEK),
    "cmsy10": (
        *("braceleft", "braceright", "bar", "backslash", "minus", "plusminus", "multiply", "divide"),
        *("infinity", "periodcentered", "bullet", "arrowright", "lessequal", "greaterequal"),
        *("approxequal", "similar", "element", "dagger", "daggerdbl"),
    ),
    "cmtt10": ("underscore", "quotedbl", "visiblespace"),
}
# The BaKoMa file names its dashes the wrong way round: "endash" is 1 em wide, "emdash" half that;
# the glyph list reads "mu" as the micro sign.
RENAMED = {
    "endash": "\N{EM DASH}",
    "emdash": "\N{EN DASH}",
    "mu": "\N{GREEK SMALL LETTER MU}",
    "visiblespace": "\N{OPEN BOX}",
}
# Characters drawn with another's glyph, as TeX does: the typewriter apostrophe is the closing quote.
SAME_GLYPH = {"'": "\N{RIGHT SINGLE QUOTATION MARK}"}
TIMESTAMP = 3_600_000_000  # seconds since 1904 (the TrueType epoch): a fixed date in 2018


@functools.cache
def font_characters(path):
    """The characters the font file at ``path`` has glyphs for."""
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


def computer_modern():
    """Path of the corrected Computer Modern font, built on first use and registered."""
    from matplotlib import font_manager

    path = cache_dir("fonts") / f"figkit-cmr10-v{VERSION}.ttf"
    if not path.is_file():
        _build(path)
    if FAMILY not in {font.name for font in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    return path


def _build(path):
    import matplotlib
    from fontTools.agl import toUnicode
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.tables._c_m_a_p import CmapSubtable

    folder = Path(matplotlib.get_data_path(), "fonts", "ttf")
    logging.getLogger("fontTools").setLevel(logging.ERROR)  # the BaKoMa files have odd dates
    font = TTFont(folder / "cmr10.ttf")
    for donor_name, glyphs in BORROWED.items():
        donor = TTFont(folder / f"{donor_name}.ttf")
        font.setGlyphOrder(font.getGlyphOrder() + list(glyphs))
        for glyph in glyphs:
            font["glyf"].glyphs[glyph] = donor["glyf"][glyph]
            font["hmtx"].metrics[glyph] = donor["hmtx"].metrics[glyph]
    font["head"].created = font["head"].modified = TIMESTAMP
    by_name = {}
    for glyph in font.getGlyphOrder():
        text = RENAMED.get(glyph) or toUnicode(glyph)
        if len(text) == 1 and ord(text) >= 0x20:
            by_name.setdefault(ord(text), glyph)
    for char, like in SAME_GLYPH.items():
        by_name.setdefault(ord(char), by_name[ord(like)])
    table = CmapSubtable.newSubtable(4)
    table.platformID, table.platEncID, table.language, table.cmap = 3, 1, 0, by_name
    font["cmap"].tables = [table]
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "-")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    font.save(tmp)
    os.replace(tmp, path)
