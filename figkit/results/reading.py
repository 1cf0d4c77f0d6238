"""Reading a results file into JSON values, in bounded memory and time.

A results file may hold raw per-token counts: hundreds of millions of small whole numbers. ``json``
makes each a Python object (8 bytes of list and more), so a 1 GB file took 4.7 GB. Here every long
list of whole numbers under an ``expert_counts`` entry's ``values`` key is read straight into its
histogram with numpy, and only the rest of the file goes through ``json``: a file costs its own
bytes and little more. Files over ``MAX_BYTES``, endless streams and text that cannot be JSON (such
as ``/dev/zero``) are refused before they are read whole.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import stat
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass

from figkit.files import file_digest

MAX_BYTES = 4 * 2**30  # the most a results file may hold, after decompression
LONG_LIST = 4096  # bytes: a count list longer than this is read by numpy
_CHUNK = 1 << 22  # bytes of a count list read by numpy at a time
_HEAD = 1 << 16  # bytes read before deciding whether the file can be JSON at all
_LONG_INTEGER = re.compile(r"\d{20}")  # more digits than an int64: parse integers with _parse_int
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON's escape of half a UTF-16 pair
_COUNT_LIST = re.compile(rb'"values"\s*:\s*\[')
_COUNT_BYTES = b"0123456789, \t\n\r"
LARGEST_INTEGER = 2**63 - 1  # counts and ids become int64 arrays


@dataclass(frozen=True)
class CountList:
    """A long list of whole numbers from a results file, kept as what is needed of it."""

    histogram: dict  # {value: occurrences}, ascending
    first: dict  # {value: index of its first occurrence}

    def __len__(self):
        return sum(self.histogram.values())


class NonFinite(str):
    """NaN or Infinity in the file, kept so that validation can name its field."""


class Huge(str):
    """An integer too long for any number figkit draws (Python refuses 4,301 digits), kept to be named."""


class JsonObject(dict):
    """A JSON object that remembers a key given twice."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self.duplicate = next((k for k, n in Counter(k for k, _ in pairs).items() if n > 1), None)


def digest(path):
    """SHA-256 of a results file's bytes (``None`` if it cannot be read); ``ValueError`` for a file past
    ``MAX_BYTES``, from its size alone, before a byte is hashed (a 5 GiB file takes seconds to hash and
    an instant to refuse)."""
    try:
        _refuse_size(os.stat(path))
    except OSError:
        return None  # the reader says why it cannot open it
    return file_digest(path)


def _refuse_size(info):
    """``ValueError`` for a regular file (by its ``os.stat``) past ``MAX_BYTES``."""
    if stat.S_ISREG(info.st_mode) and info.st_size > MAX_BYTES:
        raise ValueError(_too_large(f"is {info.st_size / 2**30:.1f} GiB,"))


def read_json(path):
    """``(value, may_hold_surrogates)`` of a JSON file (gzip recognised by its bytes); ``ValueError``
    says in one line why a file is not JSON, too large or not UTF-8."""
    try:
        with open(path, "rb") as file:
            data = _bounded_bytes(file)
        return _parse(data)
    except MemoryError:
        raise MemoryError("out of memory reading it: a results file needs about its own size in memory") from None


def _parse(data):
    """``read_json`` of the file's bytes."""
    lists = _count_lists(data)
    skeleton, placeholders = _skeleton(data, lists)
    text = _utf8(skeleton, lambda at: _original_offset(at, lists, placeholders))
    hook = _parse_int if _LONG_INTEGER.search(text) else None
    try:
        value = json.loads(text, parse_constant=NonFinite, parse_int=hook, object_pairs_hook=JsonObject)
    except RecursionError:
        raise ValueError("not a results file: lists or objects nested too deeply") from None
    except json.JSONDecodeError as error:
        line, column = error.lineno, error.colno
        if lists:  # where the error is in the file, not in its skeleton
            at = _original_offset(len(text[: error.pos].encode()), lists, placeholders)
            line, column = _line_and_column(data, at)
        raise ValueError(f"not valid JSON: {error.msg} at line {line}, column {column}") from None
    if lists:
        value = _put_back(value, data, lists, placeholders)
    return value, bool(_SURROGATE_ESCAPE.search(text))


def _parse_int(text):
    return int(text) if len(text.lstrip("-")) <= len(str(LARGEST_INTEGER)) else Huge(text)


# --- bytes -----------------------------------------------------------------------------------


def _bounded_bytes(file):
    """The file's bytes (decompressed if gzip), refused past ``MAX_BYTES`` or if they cannot be a results file."""
    info = os.fstat(file.fileno())
    _refuse_size(info)  # the gate for every reader; a build also runs it before hashing (refuse_oversized)
    regular = stat.S_ISREG(info.st_mode)
    compressed = file.peek(2)[:2] == b"\x1f\x8b"
    stream = gzip.GzipFile(fileobj=file, mode="rb") if compressed else file
    try:
        head = stream.read(_HEAD)
        _could_be_results(head)
        if regular and not compressed:
            file.seek(0)
            return file.read()
        data = bytearray(head)
        while block := stream.read(_CHUNK):
            data += block
            if len(data) > MAX_BYTES:
                raise ValueError(_too_large("holds"))
    except (OSError, EOFError, zlib.error) as error:
        if not compressed:
            raise
        raise ValueError(f"not a readable gzip file ({error})") from None
    return data


def _too_large(what):
    return (
        f"{what} more than figkit reads ({MAX_BYTES // 2**30} GiB): "
        "write expert_counts as histograms (write_results does unless raw_counts=True)"
    )


def _could_be_results(head):
    """Refuse at once what cannot be a results file: NUL bytes (``/dev/zero``), encodings other than UTF-8,
    a byte-order mark, anything but a JSON object."""
    if head[:4] == b"\0\0\0\0" or head[:1] == b"\0" and len(head) < 4:
        raise ValueError("not a results file: it starts with NUL bytes")
    encoding = json.detect_encoding(head)
    if encoding == "utf-8-sig":
        raise ValueError("starts with a byte-order mark (U+FEFF): save it as UTF-8 without one")
    if encoding != "utf-8":
        raise ValueError(f"is {encoding.upper().replace('-BE', '').replace('-LE', '')} text: save it as UTF-8")
    text = head.lstrip(b" \t\n\r")
    if text and text[:1] != b"{":
        first = f'"{chr(text[0])}"' if 32 < text[0] < 127 else f"byte {text[0]:#04x}"
        raise ValueError(f'not a results file: it starts with {first}, and a results file is a JSON object, "{{...}}"')


def _utf8(data, original):
    """The text of UTF-8 bytes (``original`` maps an offset in them to one in the file)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        at = original(error.start)
        raise ValueError(f"not UTF-8 text (byte {at} is {data[error.start]:#04x})") from None


def _line_and_column(data, at):
    start = data.rfind(b"\n", 0, at) + 1
    return data.count(b"\n", 0, at) + 1, len(data[start:at].decode("utf-8", "replace")) + 1


# --- long count lists ------------------------------------------------------------------------


def _count_lists(data):
    """``[(start, end, CountList)]``: each long ``"values": [...]`` list of whole numbers, ``data[start:end]``
    being its brackets; a list that is anything else (floats, nested, malformed) is left to ``json``."""
    found = []
    for match in _COUNT_LIST.finditer(data):
        start = match.end() - 1
        end = data.find(b"]", start) + 1
        if end - start > LONG_LIST and _outside_strings(data, match.start()):
            counts = _histogram(data, start + 1, end - 1)
            if counts is not None:
                found.append((start, end, counts))
    return found


def _outside_strings(data, quote):
    """True if the ``"`` at ``quote`` opens a key: it follows ``{`` or ``,`` (a quote in a string is escaped)."""
    before = data[max(0, quote - 256) : quote].rstrip()
    return before.endswith((b"{", b","))


def _histogram(data, start, end):
    """The CountList of ``data[start:end]``, comma-separated whole numbers, or None if it is not exactly that."""
    import numpy as np

    occurrences, first, seen = None, {}, 0
    while start < end:
        stop = end if end - start <= _CHUNK else data.rfind(b",", start, start + _CHUNK)
        if stop <= start:
            return None
        chunk = bytes(data[start:stop])  # a copy only of a bytearray (a stream), which numpy does not read
        if chunk.translate(None, _COUNT_BYTES) or _leading_zero(chunk):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(chunk, dtype=np.int64, sep=",")
            except (DeprecationWarning, ValueError):
                return None
        if len(values) != chunk.count(b",") + 1 or values.max() >= 2**20:
            return None  # an empty or doubled entry; or numbers no count reaches, left for validation to name
        counted = np.bincount(values)
        occurrences = counted if occurrences is None else _add(occurrences, counted)
        for value in [v for v in np.flatnonzero(counted).tolist() if v not in first]:
            first[value] = seen + int(np.argmax(values == value))
        seen += len(values)
        start = stop + 1
    if occurrences is None:
        return None
    histogram = {int(v): int(occurrences[v]) for v in np.flatnonzero(occurrences)}
    return CountList(histogram, {v: first[v] for v in histogram})


def _leading_zero(chunk):
    """True if a number is written with a leading zero (``07``), which JSON does not allow."""
    import numpy as np

    b = np.frombuffer(chunk, np.uint8)
    digit = (b - 48) < 10
    starts = np.empty_like(digit)
    starts[0] = digit[0]
    starts[1:] = digit[1:] & ~digit[:-1]
    return bool((starts[:-1] & (b[:-1] == 48) & digit[1:]).any())


def _add(a, b):
    if len(a) < len(b):
        a, b = b, a
    a[: len(b)] += b
    return a


def _skeleton(data, lists):
    """``data`` with each count list replaced by a string no file holds, and those strings."""
    if not lists:
        return data, []
    nonce = secrets.token_hex(16)
    placeholders = [f'"{nonce}:{i}"'.encode() for i in range(len(lists))]
    pieces, at = [], 0
    for (start, end, _), placeholder in zip(lists, placeholders):
        pieces += [data[at:start], placeholder]
        at = end
    pieces.append(data[at:])
    return b"".join(pieces), placeholders


def _original_offset(at, lists, placeholders):
    """The offset in the file of byte ``at`` of its skeleton."""
    for (start, end, _), placeholder in zip(lists, placeholders):
        if at < start:
            break
        at += (end - start) - len(placeholder)
    return at


def _put_back(value, data, lists, placeholders):
    """Each placeholder becomes its CountList in ``expert_counts[i].values``, its list anywhere else."""
    found = {p[1:-1].decode(): (start, end, counts) for p, (start, end, counts) in zip(placeholders, lists)}
    if isinstance(value, dict) and isinstance(value.get("expert_counts"), list):
        for entry in value["expert_counts"]:
            if isinstance(entry, dict) and isinstance(entry.get("values"), str) and entry["values"] in found:
                entry["values"] = found.pop(entry["values"])[2]
    if found:  # a long list of whole numbers elsewhere: parse it as json would have
        stack = [value]
        while stack:
            item = stack.pop()
            children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
            for key, child in list(children):
                if isinstance(child, str) and child in found:
                    start, end, _ = found.pop(child)
                    item[key] = json.loads(data[start:end])
                else:
                    stack.append(child)
    return value
