"""Read back a PDF: its fonts (Type 3 or not embedded fail) and its page size. Standard library only.

Handles what matplotlib and pdfTeX write: plain objects and compressed object streams.
"""

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

_OBJECT = re.compile(rb"(\d+)\s+\d+\s+obj\b(.*?)\bendobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_NAME = r"/{}\s*/([^\s/\[\]<>()]+)"
_REF = r"/{}\s+(\d+)\s+\d+\s+R"
_EMBEDDED = re.compile(rb"/FontFile[23]?\s")
_MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]")
POINTS_PER_INCH = 72


@dataclass(frozen=True)
class Font:
    name: str
    kind: str  # the PDF Subtype: Type3, TrueType, CIDFontType2, Type1, ...
    embedded: bool


@dataclass
class PdfReport:
    path: Path
    width: float  # inches
    height: float
    fonts: list = field(default_factory=list)

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


def objects(data):
    """Object number -> body, including the objects packed in compressed object streams."""
    found = {int(num): body for num, body in _OBJECT.findall(data)}
    for body in list(found.values()):
        if re.search(rb"/Type\s*/ObjStm", body):
            found.update(_unpack_object_stream(body))
    return found


def _unpack_object_stream(body):
    stream = _STREAM.search(body)
    first = re.search(rb"/First\s+(\d+)", body)
    if not stream or not first:
        return {}
    content = stream.group(1)
    if re.search(rb"/Filter\s*/FlateDecode", body):
        content = zlib.decompress(content)
    header = content[: int(first.group(1))].split()
    numbers, offsets = header[0::2], [int(o) + int(first.group(1)) for o in header[1::2]]
    ends = offsets[1:] + [len(content)]
    return {int(n): content[start:end] for n, start, end in zip(numbers, offsets, ends)}


def check_pdf(path):
    """Fonts and page size of the PDF at ``path``; raises ValueError if it is no PDF."""
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(b"%PDF"):
        raise ValueError(f"{path}: not a PDF file")
    bodies = objects(data)
    fonts = []
    for body in bodies.values():
        if not re.search(rb"/Type\s*/Font\b", body):
            continue
        kind = _match(_NAME.format("Subtype"), body)
        if kind == "Type0":  # a wrapper: its descendant font is listed on its own
            continue
        descriptor = _match(_REF.format("FontDescriptor"), body)
        embedded = bool(descriptor and _EMBEDDED.search(bodies.get(int(descriptor), b"")))
        fonts.append(Font(_match(_NAME.format("BaseFont"), body) or "?", kind or "?", embedded))
    page = next(
        (b for b in bodies.values() if re.search(rb"/Type\s*/Page\b", b) and _MEDIA_BOX.search(b)), None
    ) or next((b for b in bodies.values() if _MEDIA_BOX.search(b)), None)
    if page is None:
        raise ValueError(f"{path}: no page size (MediaBox) found")
    x0, y0, x1, y1 = (float(v) for v in _MEDIA_BOX.search(page).groups())
    return PdfReport(path, (x1 - x0) / POINTS_PER_INCH, (y1 - y0) / POINTS_PER_INCH, sorted(set(fonts), key=str))


def _match(pattern, body):
    found = re.search(pattern.encode(), body)
    return found.group(1).decode("latin-1") if found else None
