"""Drawing helpers every figure shares: colours, sizes, headroom, statistics boxes, literal text."""

import functools
import math
import re
import warnings

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser
from matplotlib.textpath import text_to_path
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, MaxNLocator
from matplotlib.transforms import ScaledTranslation

from figkit.arrays import visible
from figkit.fonts import font_characters
from figkit.style import notebook_look, paper_look, titled_look

# Strings that come from data (tokens, ids) are drawn as they are: never mathtext, never TeX.
LITERAL = {"parse_math": False, "usetex": False}
NEUTRAL = "0.15"


def palette():
    """The colours of the active style's cycle."""
    return mpl.rcParams["axes.prop_cycle"].by_key()["color"]


def number(value):
    """Two decimals with a thousands separator and a real minus sign."""
    return f"{value:,.2f}".replace("-", "\N{MINUS SIGN}")


def significant(value, figures):
    """``value`` to ``figures`` significant figures, trailing zeros kept: 0.30, 3.10, 16 (not 16.)."""
    return f"{value:#.{figures}g}".rstrip(".")


_SUPERSCRIPT = str.maketrans(
    "-0123456789",
    "\N{SUPERSCRIPT MINUS}\N{SUPERSCRIPT ZERO}\N{SUPERSCRIPT ONE}"
    "\N{SUPERSCRIPT TWO}\N{SUPERSCRIPT THREE}\N{SUPERSCRIPT FOUR}\N{SUPERSCRIPT FIVE}"
    "\N{SUPERSCRIPT SIX}\N{SUPERSCRIPT SEVEN}\N{SUPERSCRIPT EIGHT}\N{SUPERSCRIPT NINE}",
)


def _decade(value, _position=None):
    exponent = round(math.log10(value)) if value > 0 else None
    if exponent is not None and math.isclose(value, 10.0**exponent):
        return f"10{str(exponent).translate(_SUPERSCRIPT)}"
    return f"{value:g}"


# mathtext sets a superscript at 0.7 of its base: exponents of decades too far out to write as decimals
# keep at least the figure linter's smallest readable size.
SCRIPT_SHRINK = 0.7
MIN_SCRIPT_POINTS = 6.0
DECIMAL_DECADES = (-4, 6)  # 0.0001 to 1,000,000 read as plain numbers


def _decimal(value, _position=None):
    exponent = round(math.log10(value)) if value > 0 else 0
    return f"{value:,.{max(0, -exponent)}f}"


def label_decades(axis):
    """Label a log axis 10⁻³, 10⁻² …: in plain text when the text font has superscript digits; else
    as decimals (0.001, 0.01, …, 1,000) while they stay short, and as maths beyond (STIX and Computer
    Modern lack superscript digits; a fallback font would put a second family in the figure)."""
    if text_font_has("-0123456789".translate(_SUPERSCRIPT)):
        axis.set_major_formatter(FuncFormatter(_decade))
        return
    low, high = sorted(axis.get_view_interval())
    decades = (math.floor(math.log10(low)), math.ceil(math.log10(high))) if low > 0 else (0, 0)
    if DECIMAL_DECADES[0] <= decades[0] and decades[1] <= DECIMAL_DECADES[1]:
        axis.set_major_formatter(FuncFormatter(_decimal))
        return
    axis.set_major_formatter(LogFormatterSciNotation())
    size = FontProperties(size=mpl.rcParams[f"{axis.axis_name}tick.labelsize"]).get_size_in_points()
    if size * SCRIPT_SHRINK < MIN_SCRIPT_POINTS:  # 8 pt ticks would have 5.6 pt exponents
        axis.set_tick_params(labelsize=MIN_SCRIPT_POINTS / SCRIPT_SHRINK)


def text_font_has(characters):
    """Whether the active text font (the first of font.family found) has a glyph for every character."""
    path = font_manager.findfont(FontProperties(family=mpl.rcParams["font.family"]))
    return all(ord(character) in font_characters(path) for character in characters)


def line_width(scale=1.0):
    """A line width relative to the active style's, so lines scale from paper to slides."""
    return mpl.rcParams["lines.linewidth"] * scale


def marker_size(scale=1.0):
    """A marker size relative to the active style's."""
    return mpl.rcParams["lines.markersize"] * scale


def marks_above(ax, values, filled, labels, size):
    """Triangles pointing down onto the top of the axes at x ``values`` (in data units): positions such as a
    mean and a median marked on the frame, not drawn through the data. Returns their handles."""
    lift = ax.get_xaxis_transform() + ScaledTranslation(0.0, size / 2 / 72, ax.figure.dpi_scale_trans)
    handles = []
    for value, solid, label in zip(values, filled, labels):
        handles += ax.plot(
            [value],
            [1.0],
            transform=lift,
            linestyle="none",
            marker="v",
            markersize=size,
            markerfacecolor=NEUTRAL if solid else "white",
            markeredgecolor=NEUTRAL,
            markeredgewidth=line_width(0.8),
            clip_on=False,
            label=label,
            zorder=5,
        )
    return handles


def only_up_to(axis, limit):
    """Tick ``axis`` as its locator would for its limits, but not past ``limit``: the headroom above the
    data (for the legend and the box) shows no values the data cannot take."""
    low, high = axis.get_view_interval()
    ticks = axis.get_major_locator().tick_values(low, high)
    top = min(high, limit)
    axis.set_ticks([tick for tick in ticks if low <= tick <= top + 1e-9 * abs(top)])


def text_width(text, size):
    """Inches that one line of ``text`` takes at ``size`` points in the current font ($...$ as maths)."""
    prop = FontProperties(size=size)
    maths = re.search(r"(?<!\\)\$", text) is not None
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=maths)
    return width / 72


LEGEND_COLUMN_GAP = 1.5  # ems between a legend's columns (matplotlib's 2): five methods fit a slide in two


def legend_above(ax, handles=None, labels=None, *, title=None, clear=0.0):
    """The legend above the axes, clear of the data, in as many balanced columns as fit the axes' width
    (under its own ``title``, if given), ``clear`` points higher for marks on the frame; the axes' title,
    set before, moves above it. Returns the legend."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    labels = legend_labels(labels, axes_width(ax))
    columns = legend_columns(labels, axes_width(ax))
    order = reading_order(len(labels), columns)
    gap = (0.3 * points(mpl.rcParams["legend.fontsize"]) + clear) / 72  # inches between the axes and the legend
    # Anchored a fixed distance above the axes (not a share of their height), so the layout settles at once.
    above = ax.transAxes + ScaledTranslation(0.0, gap, ax.figure.dpi_scale_trans)
    legend = ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        bbox_transform=above,
        ncols=columns,
        columnspacing=LEGEND_COLUMN_GAP,
        borderaxespad=0.0,
        frameon=False,
        title=title,
        title_fontsize=mpl.rcParams["legend.fontsize"],
        alignment="left",
    )
    if ax.get_title():
        tall = legend.get_window_extent(ax.figure.canvas.get_renderer()).height * 72 / ax.figure.dpi
        pad = tall + gap * 72 + 0.3 * points(mpl.rcParams["axes.titlesize"])
        ax.set_title(ax.get_title(), y=1.0, pad=pad, wrap=ax.title.get_wrap())
    return legend


def reading_order(count, columns):
    """The order to hand ``count`` entries to a legend of ``columns`` (which fills column by column) so
    that they read left to right, row by row: 1 2 3 / 4 5 6, not 1 3 5 / 2 4 6."""
    rows = -(-count // columns)
    return [
        row * columns + column for column in range(columns) for row in range(rows) if row * columns + column < count
    ]


def legend_labels(labels, width):
    """The labels of a legend ``width`` inches wide, one too long for a line wrapped at its spaces."""
    size = points(mpl.rcParams["legend.fontsize"])
    handle = (mpl.rcParams["legend.handlelength"] + mpl.rcParams["legend.handletextpad"]) * size / 72
    room = 0.95 * width - handle
    return [
        wrap_label(str(label), None, 1.0, length=room) if text_width(str(label), size) > room else label
        for label in labels
    ]


def legend_columns(labels, width):
    """Columns of a legend ``width`` inches wide: as many as fit, each as wide as its own widest entry (as
    matplotlib sets them, the entries read row by row), balanced so that the last row is not nearly empty."""
    size = points(mpl.rcParams["legend.fontsize"])
    handle = (mpl.rcParams["legend.handlelength"] + mpl.rcParams["legend.handletextpad"]) * size / 72
    gap = LEGEND_COLUMN_GAP * size / 72
    room = width - 2 * mpl.rcParams["legend.borderpad"] * size / 72
    widths = [max((text_width(line, size) for line in str(label).split("\n")), default=0) for label in labels]
    for most in range(len(labels), 1, -1):
        columns = -(-len(labels) // -(-len(labels) // most))  # balanced: as few columns as take as many rows
        entries = [widths[column::columns] for column in range(columns)]  # entry i sits in column i % columns
        if sum(max(column) + handle for column in entries) + gap * (columns - 1) <= room:
            return columns
    return 1


def legend_above_height(labels, width, title=False):
    """Inches a ``legend_above`` of ``labels`` (and a title line, if it has one) takes above axes ``width``
    inches wide."""
    if not labels:
        return 0.0
    size = points(mpl.rcParams["legend.fontsize"])
    labels = legend_labels(labels, width)
    rows = -(-len(labels) // legend_columns(labels, width))
    lines = rows * max(str(label).count("\n") + 1 for label in labels) + bool(title)
    return (lines * 1.25 + (rows - 1) * mpl.rcParams["legend.labelspacing"] + 0.5) * size / 72


def height_with_legend_above(labels, width, note="", title=False):
    """The height of a figure ``width`` inches wide whose axes keep the style's height under a
    ``legend_above`` of ``labels`` (with a title line if ``title``) and a ``note``; the notebook look keeps
    the spec's size, which has room for both."""
    legend = 0.0 if notebook_look() else legend_above_height(labels, 0.8 * width, title)
    return style_height(width) + legend + note_height(note)


def note_height(note):
    """Inches that the lines of a note above the axes take ("" for none)."""
    lines = note.count("\n") + 1 if note else 0
    return lines * 1.3 * points(mpl.rcParams["axes.titlesize"]) / 72


def style_height(width):
    """The height the active style gives a figure ``width`` inches wide (its aspect ratio)."""
    style_width, style_height = mpl.rcParams["figure.figsize"]
    return width * style_height / style_width


def set_ylabel(ax, label):
    """The y label, wrapped to the axes' height instead of running off the figure."""
    ax.set_ylabel(_fitted(label, laid_out_height(ax) * 0.75))


def colour_bar(ax, mappable, label):
    """A colour bar beside ``ax`` whose label wraps to the axes' height instead of running off the figure. A
    continuous scale ends at round numbers, as an axis does (0 to 100, not to 93.4), so its top is labelled."""
    norm = mappable.norm
    if type(norm) in (Normalize, PowerNorm) and norm.vmin is not None and norm.vmax is not None:
        mappable.set_clim(*round_limits(norm.vmin, norm.vmax))
    bar = ax.figure.colorbar(mappable, ax=ax, label=_fitted(label, axes_height(ax) * 0.9))
    if type(norm) in (Normalize, PowerNorm):  # 0, 0.5, 1 and 0.075, not 0.000 and 0.50: as a reader writes them
        bar.formatter = FuncFormatter(lambda value, _: f"{value:g}".replace("-", "\N{MINUS SIGN}"))
    if type(norm) is Normalize:  # as many ticks as an axis of its length would have, not one every 0.25
        bar.locator = MaxNLocator(nbins=5)
    if type(norm) is PowerNorm:  # its locator skips the round top; say it, without a tick crowding it
        near = norm.vmax - 0.1 * (norm.vmax - norm.vmin)
        bar.set_ticks(sorted({*(t for t in bar.get_ticks() if t <= near), norm.vmax}))
    return bar


def round_limits(low, high):
    """``(low, high)`` widened to the round numbers an axis of them would end at (0 to 100, not to 93.4); a
    second call leaves them as they are (the locator's step changes with the range, so it is repeated until
    the limits are ticks of their own range)."""
    for _ in range(4):
        ticks = MaxNLocator(nbins=5).tick_values(low, high)
        below, above = ticks[ticks <= low + 1e-12], ticks[ticks >= high - 1e-12 * abs(high)]
        if not (below.size and above.size and above[0] > below[-1]) or (below[-1], above[0]) == (low, high):
            break
        low, high = float(below[-1]), float(above[0])
    return low, high


def _fitted(label, length):
    """An axis label with each line as it is if it fits ``length`` inches, else wrapped to it."""
    size = points(mpl.rcParams["axes.labelsize"])
    return "\n".join(
        line if text_width(line, size) <= length else wrap_label(line, None, 1.0, "axes.labelsize", length=length)
        for line in label.split("\n")
    )


def laid_out_height(ax):
    """The height of the axes' cell in inches: what a layout shares between the axes and its decorations.

    Before layout the axes sit inside the default subplot margins; this undoes them.
    """
    margins = mpl.rcParams["figure.subplot.top"] - mpl.rcParams["figure.subplot.bottom"]
    return axes_height(ax) / margins


# More layers than this (models have up to about a hundred) are drawn as groups of consecutive layers: a bar
# or marker for each of 100,000 layers is no figure, and drawing them ran out of memory.
MAX_LAYERS_DRAWN = 200


def layer_group(layers):
    """How many consecutive layers each drawn bar or marker stands for: 1 up to ``MAX_LAYERS_DRAWN`` layers."""
    return -(-layers // MAX_LAYERS_DRAWN)


def label_every(ax, labels, *, rotated=False, share=0.7):
    """Label every n-th of evenly spaced x ticks so that ``labels`` do not overlap at the tick font size.

    A label turned by 90 degrees takes one line's height, whatever its length. The axes
    are measured before layout, which will take room for labels and colour bars:
    ``share`` of the width is assumed to be left.
    """
    size = points(mpl.rcParams["xtick.labelsize"])
    widest = 1.3 * size if rotated else max(len(label) for label in labels) * 0.6 * size + size
    return max(1, math.ceil(len(labels) * widest / (axes_width(ax) * 72 * share)))


MIN_CELL_LABEL_POINTS = 6.0  # smaller cannot be read in print: label every n-th cell instead


def label_cells(ax, rows, columns):
    """Label a heatmap's rows and columns with the strings ``rows`` and ``columns``: at the tick size, or
    smaller down to MIN_CELL_LABEL_POINTS, column labels turned upright when that labels every column,
    then every n-th. Returns the largest n.

    Measured before layout, which takes room for the labels and a colour bar: 0.75 of the
    cell's height and 0.6 of the axes' width are assumed to be left.
    """
    widest = max(map(len, columns)) * 0.6 + 0.4  # ems of the widest column label, with a gap
    column_pitch = 0.6 * axes_width(ax) * 72 / len(columns)
    turned = _cell_labels(column_pitch, widest, "xtick")[1] > 1 and _cell_labels(column_pitch, 1.2, "xtick")[1] == 1
    steps = []
    for axis, names, pitch, ems, rc in (
        (ax.yaxis, rows, 0.75 * laid_out_height(ax) * 72 / len(rows), 1.2, "ytick"),
        (ax.xaxis, columns, column_pitch, 1.2 if turned else widest, "xtick"),
    ):
        size, step = _cell_labels(pitch, ems, rc)
        axis.set_ticks(range(0, len(names), step), names[::step], fontsize=size)
        steps.append(step)
    if turned:
        ax.tick_params(axis="x", labelrotation=90)
    return max(steps)


def _cell_labels(pitch, ems, rc):
    """The font size of labels ``ems`` wide on cells ``pitch`` points apart, and label every n-th."""
    size = min(max(pitch / ems, MIN_CELL_LABEL_POINTS), points(mpl.rcParams[f"{rc}.labelsize"]))
    return size, max(1, math.ceil(size * ems / pitch - 1e-9))


def nice_step(step):
    """The smallest of 1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 40, 50, 64, 100, ... at least ``step``: labels
    every 8th expert, not every 7th."""
    scale = 1
    while True:
        for base in (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 40, 50, 64):
            if base * scale >= step:
                return base * scale
        scale *= 100


def statistics_beside(ax, lines):
    """The statistics of a figure as a framed block to the right of the axes, clear of the data; none in the
    paper style, whose caption states them."""
    if paper_look():
        return None
    return ax.annotate(  # a fixed distance right of the axes (not a share of their width): the layout settles
        "\n".join(lines),
        (1.0, 1.0),
        xycoords="axes fraction",
        xytext=(0.6 * points(mpl.rcParams["legend.fontsize"]), 0.0),
        textcoords="offset points",
        ha="left",
        va="top",
        multialignment="left",
        fontsize=mpl.rcParams["legend.fontsize"],
        color=NEUTRAL,
        bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "0.7"},
        **LITERAL,
    )


def mathtext_label(text):
    """A label for a title: ``$...$`` maths kept where mathtext can draw it, everything else literal and
    drawable (see ``drawable``)."""
    parts = re.split(r"(\$[^$]+\$)", str(text))
    return "".join(part if _drawable_math(part) else drawable(part).replace("$", r"\$") for part in parts)


# A drawn newline in a token, spelt as an escape where the text font lacks the arrow (Computer Modern).
PLAIN_SPELLING = {"\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}": "\\n"}


def drawable(text):
    """``text`` as the style's fonts can draw it: invisible and format characters (a byte-order mark, a
    zero-width space) as escapes, a character no font of ``font.family`` has as ``[U+XXXX]``, with one
    warning for the string instead of an empty box and a warning for each glyph."""
    shown = visible(str(text))
    first = _family_characters(tuple(mpl.rcParams["font.family"][:1]))
    for mark, plain in PLAIN_SPELLING.items():  # rather than a glyph of a second typeface
        if mark in shown and ord(mark) not in first:
            shown = shown.replace(mark, plain)
    glyphs = _family_characters(tuple(mpl.rcParams["font.family"]))
    missing = sorted({c for c in shown if ord(c) > 0x7E and ord(c) not in glyphs})
    if not missing:
        return shown
    names, fonts = ", ".join(f"U+{ord(c):04X}" for c in missing), ", ".join(mpl.rcParams["font.family"])
    warnings.warn(f"no font of {fonts} draws {names} in {text!r}; shown as [U+...]", stacklevel=3)
    return "".join(f"[U+{ord(c):04X}]" if c in missing else c for c in shown)


@functools.cache
def _family_characters(families):
    """The characters any font of ``families`` (the fallback chain matplotlib draws text with) has."""
    characters = set()
    for family in families:
        try:
            path = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
        except ValueError:  # not installed
            continue
        characters |= font_characters(path)
    return frozenset(characters)


def _drawable_math(part):
    if not (len(part) > 2 and part[0] == part[-1] == "$"):
        return False
    try:
        MathTextParser("path").parse(part)
    except ValueError:
        return False
    return True


def axes_width(ax):
    """The width of ``ax`` in inches, as laid out now."""
    return ax.get_position().width * ax.figure.get_figwidth()


def axes_height(ax):
    """The height of ``ax`` in inches, as laid out now."""
    return ax.get_position().height * ax.figure.get_figheight()


def wrap_label(text, ax, share=0.6, size="legend.fontsize", *, length=None):
    """``text`` broken into lines that fit ``share`` of the axes' width (or of ``length`` inches) at the
    font size of rcParam ``size``.

    Lines break at spaces outside ``$...$`` maths, so a long method name never pushes
    the axes out of the figure.
    """
    length = axes_width(ax) if length is None else length
    characters = max(12, int(length * share * 72 / (points(mpl.rcParams[size]) * 0.5)))
    words, lines, in_maths = [], [], False
    for word in text.split(" "):
        if in_maths:
            words[-1] += " " + word
        else:
            words.append(word)
        in_maths ^= word.count("$") % 2 == 1
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= characters:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def points(size):
    """A font size in points, also for names such as "small"."""
    return FontProperties(size=size).get_size_in_points()


def ordinal(n):
    """2nd, 3rd, 4th: for "every 2nd token labelled" (n is at least 2)."""
    return f"{n}{'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


def set_title(ax, heading, note="", **kwargs):
    """The axes title: ``heading`` (left out in a paper, whose caption says it, and on a deck's frame) above
    ``note`` (what the figure leaves out, or its statistics), in as many lines as it takes.

    It sits at a fixed height: matplotlib's automatic placement (only needed above top tick labels,
    which figkit never draws) measures every tick label of the axes on every draw.
    """
    text = "\n".join(part for part in (heading if titled_look() else None, note) if part)
    if text:  # the last line's descenders stay clear of the axes: its baseline sits their depth higher
        descent = 0.25 * points(mpl.rcParams["axes.titlesize"]) if "\n" in text else 0.0
        kwargs.setdefault("pad", mpl.rcParams["axes.titlepad"] + descent)
        ax.set_title(text, y=1.0, **kwargs)


# --- values over training (training_curves, training_layers) ---------------------------------

STEP_LABELS = {"steps": "Training step", "tokens": "Tokens seen"}
STEP_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def short_step(value):
    """A step count as a tick label: 500, 10k, 2.5M, 1B."""
    for size, suffix in STEP_SUFFIXES:
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def readable(name):
    """A series name as words, when metric_info gives no label: "train.load_balancing_loss" -> "Load
    balancing loss", "train.lm_loss" -> "LM loss" (a word without vowels is an abbreviation)."""
    words = [w.upper() if not set(w.lower()) & set("aeiouy") else w for w in name.rsplit(".", 1)[-1].split("_") if w]
    text = " ".join(words) or name
    return text[0].upper() + text[1:]
