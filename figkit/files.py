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
