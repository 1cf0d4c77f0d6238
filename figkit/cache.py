"""The user's cache folder for figkit (built fonts, measured papers)."""

import os
import tempfile
from pathlib import Path


def cache_dir(name):
    """``$XDG_CACHE_HOME/figkit/<name>`` (``~/.cache`` by default), created; a temporary folder if unwritable."""
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "figkit" / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir()) / f"figkit-{name}"
        folder.mkdir(exist_ok=True)
    return folder
