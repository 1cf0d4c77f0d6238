"""Writing files whole or not at all, and leaving unchanged files untouched."""

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` through a temporary file and a rename; parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_if_changed(path, data):
    """Write ``data`` atomically unless ``path`` already holds exactly it (its timestamp then stays)."""
    with contextlib.suppress(OSError):
        if Path(path).read_bytes() == data:
            return False
    write_atomic(path, data)
    return True


def digest(data):
    """SHA-256 of bytes, as hex."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path):
    """SHA-256 of a regular file's bytes, read in blocks; None if it cannot be read or is not a regular
    file (a pipe or ``/dev/zero`` might never end)."""
    sha = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as file:
            while block := file.read(1 << 20):
                sha.update(block)
    except OSError:
        return None
    return sha.hexdigest()


MAX_TEX_BYTES = 16 << 20  # one LaTeX source; the largest arXiv sources are far smaller


def read_tex(path):
    """The text of the LaTeX source at ``path`` (UTF-8, else Latin-1). Only a regular file of at most
    ``MAX_TEX_BYTES`` is read: a pipe could block forever, ``/dev/zero`` never ends. ``ValueError`` names it."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError(f"{path}: not a regular file (a pipe, device or folder); give a .tex file")
        with open(path, "rb") as file:
            data = file.read(MAX_TEX_BYTES + 1)
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror})") from None
    if len(data) > MAX_TEX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_TEX_BYTES >> 20} MiB; that is no LaTeX source")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def is_plain_relative(path):
    """True for a relative path of letters, digits and ``_ . -`` that stays in its folder (no ``..``, ``/x``)."""
    text = str(path)
    return bool(_PLAIN.fullmatch(text)) and ".." not in text.split("/")


def symbolic_link_on(root, relative):
    """The first symbolic link on the way from ``root`` to ``root/relative`` (``relative`` included), or None."""
    path = Path(root)
    for part in Path(relative).parts:
        path = path / part
        if path.is_symlink():
            return path
    return None
