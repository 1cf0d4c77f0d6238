"""figkit's style names and the sheet files behind them, found without importing matplotlib."""

from importlib.util import find_spec
from pathlib import Path

DEFAULT_STYLE = "notebook"
BASE_STYLES = ("notebook", "paper", "slide")  # complete looks; the others are overlays
OVERLAYS = ("colourblind", "cm")
ALIASES = {"colorblind": ("colourblind",), "paper-cm": ("paper", "cm")}


def available_styles() -> list[str]:
    """The style names ``use_style`` accepts.

    Returns
    -------
    list of str
        Base looks (``notebook``, ``paper``, ``slide``), overlays (``colourblind``,
        ``cm``) and aliases (``colorblind``, ``paper-cm``), sorted.
    """
    return sorted(BASE_STYLES + OVERLAYS + tuple(ALIASES))


def style_sheets(*names):
    """The sheet files to apply, in order, for ``names``; the default base comes first if none is named."""
    sheets = []
    for name in names:
        if not isinstance(name, str) or name not in available_styles():
            raise ValueError(f"unknown figkit style {name!r}; available: {', '.join(available_styles())}")
        sheets += ALIASES.get(name, (name,))
    if not any(sheet in BASE_STYLES for sheet in sheets):
        sheets.insert(0, DEFAULT_STYLE)
    folder = Path(find_spec("figkit.styles").submodule_search_locations[0])
    return [str(folder / f"{sheet}.mplstyle") for sheet in sheets]
