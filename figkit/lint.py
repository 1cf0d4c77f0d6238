"""A figure linter: text that collides, leaves the figure, is too small to read, or mixes font families.

``check_figure`` reads a matplotlib figure: it lays the figure out once and takes every
drawn text's extent and font from matplotlib itself (tick labels only of ticks in view).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_TEXT_POINTS = 5.0
# Boxes overlapping by less than this (points) only touch: glyph boxes include side bearings.
TOUCH = 0.5


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple  # x0, y0, x1, y1 in display pixels


def check_figure(fig, *, min_size=MIN_TEXT_POINTS, families=1):
    """Problems of a matplotlib figure's text, as sentences; empty when there are none.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    min_size : float
        Smallest text size in points that counts as readable in print.
    families : int or None
        How many font families the text may use (``None``: any number).

    Returns
    -------
    list of str
    """
    from matplotlib import font_manager
    from matplotlib.text import Text

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    problems, words, used = [], [], {}
    for text in _drawn_texts(fig, Text):
        box = text.get_window_extent(renderer)
        name = _name(text.get_text())
        if text.get_fontsize() < min_size - 1e-9:
            problems.append(f"{name} is {text.get_fontsize():.1f} pt, smaller than {min_size:g} pt")
        if box.x0 < page.x0 - TOUCH or box.y0 < page.y0 - TOUCH or box.x1 > page.x1 + TOUCH or box.y1 > page.y1 + TOUCH:
            problems.append(f"{name} runs outside the figure")
        words.append(Word(text.get_text(), (box.x0, box.y0, box.x1, box.y1)))
        path = font_manager.findfont(text.get_fontproperties())
        used.setdefault(_family(path), name)
    touch = TOUCH * fig.dpi / 72
    problems += [f"{_name(a.text)} overlaps {_name(b.text)}" for a, b in _overlaps(words, touch)]
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


def _overlaps(words, touch):
    """Pairs of words whose boxes overlap by more than ``touch`` both ways (sorted by x: O(n log n) typically)."""
    order = sorted(words, key=lambda w: w.box[0])
    pairs = []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            if b.box[0] >= a.box[2] - touch:
                break
            if (
                min(a.box[3], b.box[3]) - max(a.box[1], b.box[1]) > touch
                and min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]) > touch
            ):
                pairs.append((a, b))
    return pairs


def _name(text):
    shown = " ".join(str(text).split())
    return repr(shown if len(shown) <= 30 else shown[:27] + "...")


def _family(path):
    from matplotlib.ft2font import FT2Font

    return FT2Font(path).family_name
