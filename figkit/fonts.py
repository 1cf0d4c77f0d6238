"""Computer Modern for text, built once from the Computer Modern fonts matplotlib ships.

matplotlib's BaKoMa cmr10 keeps TeX's OT1 layout: typing ``<`` draws ``¡``, ``|`` an en dash,
``{`` an em dash, and it has no minus sign. This module writes a copy whose character map
follows the glyphs' names (Adobe Glyph List) and which borrows what TeX also takes from other
fonts: ``< >`` from cmmi10, braces, bar, backslash, minus, ± and × from cmsy10, ``_`` and ``"``
from cmtt10. The copy lives in the user's cache and is registered with matplotlib.
"""

import logging
import os
from pathlib import Path

from figkit.cache import cache_dir

FAMILY = "figkit CMR10"
VERSION = 3  # bump when the way the copy is made changes
BORROWED = {
    "cmmi10": ("less", "greater"),
    "cmsy10": ("braceleft", "braceright", "bar", "backslash", "minus", "plusminus", "multiply"),
    "cmtt10": ("underscore", "quotedbl"),
}
# The BaKoMa file names its dashes the wrong way round: "endash" is 1 em wide, "emdash" half that.
RENAMED = {"endash": "\N{EM DASH}", "emdash": "\N{EN DASH}"}
TIMESTAMP = 3_600_000_000  # seconds since 1904 (the TrueType epoch): a fixed date in 2018


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
