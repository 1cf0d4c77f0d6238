"""The user's private cache folder for figkit (built fonts, measured papers)."""

import getpass
import os
import stat
import tempfile
from pathlib import Path


def cache_dir(name):
    """A folder for cache ``name`` that only this user can write, created if need be.

    ``$XDG_CACHE_HOME/figkit/<name>`` (``~/.cache`` by default); where that cannot be had,
    ``<tmp>/figkit-<uid>/<name>``; where a folder of that name belongs to someone else or
    others may write to it, a new temporary folder (the cache then lasts one process).
    """
    for base in (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "figkit",
        Path(tempfile.gettempdir()) / f"figkit-{getpass.getuser()}",
    ):
        if _private(base) and _private(base / name):
            return base / name
    return Path(tempfile.mkdtemp(prefix=f"figkit-{name}-"))


def _private(folder):
    """Make ``folder`` (user-only) unless it exists; true if it is a real folder of ours that others cannot write."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return False
    ours = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return stat.S_ISDIR(info.st_mode) and ours and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
