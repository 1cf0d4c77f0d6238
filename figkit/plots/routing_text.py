"""Routing drawn over the text: a passage set as text, each token's background saying what routing did with it.

An adaptive method's tokens are shaded by their number of experts, light for one and dark for many, in
the style's sequential colours; a top-k method's tokens are coloured by their top-1 expert (the passage's
six most frequent top-1 experts each a colour of their own, made for text on colour; the rest grey).
The same prepared passage is written as LaTeX by ``figkit.routed_text``.
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.transforms import Affine2D, ScaledTranslation

from figkit.arrays import SENTENCEPIECE_SPACE, ArrayLike, labelled, shortened, token_text, vector
from figkit.plots._draw import LITERAL, NEUTRAL, axes_width, drawable, mathtext_label, points, text_width
from figkit.plots.looks import amount_colours
from figkit.plots.spec import FigureJob, FigureSpec, middle_layer, shared_docs
from figkit.results import method_labels

# A colour for each of the passage's most frequent top-1 experts, pale grey for the others: light enough for
# black text, and chosen (from Paul Tol's light and muted schemes) to stay apart from each other, from the
# grey and from what colours mean elsewhere, the numbers of experts' reds and the methods' hues (CAM02-UCS:
# 16.8 between any two, 13.0 and 13.7 under protanopia and deuteranopia, 13.2 from the nearest red or method).
EXPERT_COLOURS = ("#44AA99", "#EEDD88", "#AA88DD", "#99DDFF", "#AAAA00", "#CCAA77")
OTHER_COLOUR = "#DDDDDD"
OTHER = "other"
LONGEST_TOKEN = 30  # characters of a token shown; a longer one is cut with an ellipsis
LINE_PITCH, BLOCK_GAP = 1.5, 0.8  # in font sizes: between lines of text, and between blocks
PAD_EM, GAP_EM = 0.12, 0.14  # a box's padding beside its text, and the white between two boxes, in ems
MIN_PAD, MIN_GAP = 0.8, 1.0  # points: at least this, so letters clear the box's edge and boxes stay apart
KEY, TOKEN = "figkit-key", "figkit-token"  # the gid of a key's boxes and of the passage's
MARKS = (
    "a wide gap is a space between words, \N{OPEN BOX} a token that is a space, "
    "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS} a newline"
)
WORD_SPACE_EM = 0.5  # the drawn space before a word, past the gap between any two boxes: plainly wider


@dataclass(frozen=True)
class Piece:
    """One token as set: ``text`` in a box, after a breakable space when ``space``; a line may break after it
    when ``breakable`` and must when ``newline``."""

    text: str
    space: bool
    breakable: bool
    newline: bool


@dataclass(frozen=True)
class Block:
    """The passage as one method routed it: a heading, each token's value (its experts, or its top-1 expert)
    and the values the key shows. Colours come from the active style when drawn (``colours``)."""

    heading: str  # label with $...$ maths, then what the colours mean
    key_title: str
    values: tuple  # one per token
    key: tuple  # the values the key shows, in order; OTHER for experts without a colour of their own
    counted: bool = False  # shaded by its number of experts; else coloured by its top-1 expert
    most: int = 1  # the count drawn darkest
    ranked: tuple = ()  # coloured by expert: the experts with a colour, most frequent first

    def colours(self, values=None):
        """The background of each of ``values`` (default: the tokens') under the active style; None: no box."""
        if self.counted:
            shades = amount_colours(self.most)
            palette = {n: shades[n - 1] for n in range(1, self.most + 1)}
        else:
            palette = {expert: mpl.colors.to_rgb(colour) for expert, colour in zip(self.ranked, EXPERT_COLOURS)}
        other = None if self.counted else mpl.colors.to_rgb(OTHER_COLOUR)
        return [palette.get(value, other) for value in (self.values if values is None else values)]

    def key_entries(self):
        """(background, text) of each of the key's boxes under the active style."""
        return list(zip(self.colours(self.key), map(str, self.key)))


@dataclass(frozen=True)
class RoutedText:
    pieces: list
    blocks: list


def pieces_of(tokens):
    """Each token as it is set: a leading space (or SentencePiece's ▁) of a word piece becomes the space before
    its box; a token of whitespace alone is drawn (␣, ↵, →) so its routing shows; a newline ends the line."""
    pieces = []
    for token in tokens:
        token = str(token).replace(SENTENCEPIECE_SPACE, " ")
        blank = not token.strip()
        space = token.startswith(" ") and not blank
        body = token[1:] if space else token
        text = shortened(token_text(body), LONGEST_TOKEN)
        pieces.append(Piece(text, space, breakable=blank or token.endswith(" "), newline="\n" in token))
    return pieces


def prepare(tokens, experts=None, top_expert=None, max_experts=None, methods=None):
    """Validate the passage and each method's per-token routing, and colour every token."""
    if methods is not None:
        warnings.warn(
            "methods no longer changes routing over the text: numbers of experts are shaded as in every figure, "
            "in no method's colour; the argument goes in figkit 0.3",
            DeprecationWarning,
            stacklevel=3,
        )
    tokens = [str(token) for token in _tokens(tokens)]
    blocks = []
    counted = [
        (label, _per_token(values, f"experts[{label!r}]", len(tokens))) for label, values in _items(experts, "experts")
    ]
    chosen = [
        (label, _per_token(v, f"top_expert[{label!r}]", len(tokens))) for label, v in _items(top_expert, "top_expert")
    ]
    if not counted and not chosen:
        raise ValueError("give experts (each token's number of experts) or top_expert (each token's top-1 expert)")
    if counted:
        most = max(int(values.max()) for _, values in counted)
        if max_experts is None:
            max_experts = most
        elif not isinstance(max_experts, (int, np.integer)) or isinstance(max_experts, bool) or max_experts < most:
            raise ValueError(
                f"max_experts must be a whole number of at least {most}, the most any token has; got {max_experts!r}"
            )
        for label, values in counted:
            blocks.append(_count_block(label, values, int(max(max_experts, 1))))
    if chosen:
        ranked = ranked_experts(np.concatenate([values for _, values in chosen]))
        blocks += [_top_block(label, values, ranked) for label, values in chosen]
    return RoutedText(pieces_of(tokens), blocks)


def _tokens(tokens):
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise TypeError(f"tokens must be a list of token strings, got {type(tokens).__name__}")
    if not tokens:
        raise ValueError("tokens is empty")
    return tokens


def _items(value, name):
    return [] if value is None else labelled(value, name)


def _per_token(values, name, size):
    array = vector(values, name)
    if array.size != size:
        raise ValueError(f"{name} has {array.size} values for {size} tokens")
    if array.min() < 0 or not np.all(array == np.round(array)):
        raise ValueError(f"{name} must hold whole numbers from 0")
    return array.astype(np.int64)


def _count_block(label, counts, most):
    """Shaded as every figure shades numbers of experts, light for one and dark for ``most``; no box for none."""
    key = tuple(range(0 if counts.min() == 0 else 1, most + 1))
    return Block(f"{label}: experts per token", "Experts", tuple(counts.tolist()), key, counted=True, most=most)


def ranked_experts(top):
    """The passage's most frequent top-1 experts, as many as there are colours (ties: the lower id first)."""
    ranked = sorted(Counter(top.tolist()).items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(expert for expert, _ in ranked[: len(EXPERT_COLOURS)])


def _top_block(label, top, ranked):
    others = any(expert not in ranked for expert in top.tolist())
    title = f"{len(ranked)} most frequent experts" if others else "Expert"
    return Block(
        f"{label}: top-1 expert", title, tuple(top.tolist()), ranked + ((OTHER,) if others else ()), ranked=ranked
    )


def ink(background):
    """Black or white, whichever reads on ``background`` (by its relative luminance)."""
    if background is None:
        return (0.0, 0.0, 0.0)
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in background]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return (0.0, 0.0, 0.0) if luminance > 0.18 else (1.0, 1.0, 1.0)


# --- setting the text in lines ---------------------------------------------------------------


@functools.cache
def _width(text, size, family):
    """Points one line of literal ``text`` takes at ``size`` points in the font family ``family``."""
    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(family=family, size=size), False)
    return width


def set_lines(pieces, shown, size, width):
    """Lines of ``(piece index, x)`` in points that fill ``width`` points with ``pieces`` whose drawn texts are
    ``shown``: breaks fall at spaces and after whitespace tokens, inside a word only when the word alone
    is wider than a line."""
    family = tuple(mpl.rcParams["font.family"])
    advances = [_width(text, size, family) + 2 * _pad(size) + _gap(size) for text in shown]
    space = max(_width(" ", size, family), WORD_SPACE_EM * size)
    lines, x = [[]], 0.0
    for i, piece in enumerate(pieces):
        line = lines[-1]
        start = x + (space if piece.space and line else 0.0)
        if line and start + advances[i] > width:
            word = 0 if piece.space or pieces[line[-1][0]].breakable else _word_start(pieces, line)
            moved, lines[-1] = line[word:] if word else [], line[:word] if word else line
            lines.append([])
            start = 0.0
            for j, _ in moved:  # the word so far moves down with this piece
                lines[-1].append((j, start))
                start += advances[j]
        lines[-1].append((i, start))
        x = start + advances[i]
        if piece.newline:
            lines.append([])
            x = 0.0
    return [line for line in lines if line] or [[]]


def _word_start(pieces, line):
    """Where in ``line`` its last word begins, after its last break opportunity (0: the line is one word,
    which then breaks inside)."""
    for place in range(len(line) - 1, 0, -1):
        if pieces[line[place][0]].space or pieces[line[place - 1][0]].breakable:
            return place
    return 0


def _key_fits(block, size, width):
    """Whether a block's key fits on its heading's line at ``width`` points."""
    family = tuple(mpl.rcParams["font.family"])
    heading = text_width(mathtext_label(block.heading), size) * 72
    entries = sum(_width(str(value), size, family) + 2 * _pad(size) + 2 * _gap(size) for value in block.key)
    key = _width(block.key_title + ":", size, family) + entries + 2 * _pad(size)
    return heading + 2 * size + key <= width


def layout(data, width):
    """Where everything goes at ``width`` points: the baseline (points down from the top) of each block's
    heading, of its key, and of its first line of text, the passage's lines, each token's text as the
    style's fonts draw it, and the total height."""
    size = points(mpl.rcParams["font.size"])
    shown = [drawable(piece.text) for piece in data.pieces]
    lines = set_lines(data.pieces, shown, size, width)
    places, y = [], 0.0
    for b, block in enumerate(data.blocks):
        heading = y + LINE_PITCH * size * (0.8 if b == 0 else 1.0)
        key = heading if _key_fits(block, size, width) else heading + LINE_PITCH * size
        places.append((heading, key, key + LINE_PITCH * size))
        y = key + len(lines) * LINE_PITCH * size + BLOCK_GAP * size
    return places, lines, shown, y - BLOCK_GAP * size + 0.4 * size


def _axes_points(width):
    """The axes' width in points within a figure ``width`` inches wide, as the layout engine will leave it."""
    pad = mpl.rcParams["figure.constrained_layout.w_pad"] if mpl.rcParams["figure.constrained_layout.use"] else 0
    return (width - 2 * pad) * 72


def height(data, width):
    pad = mpl.rcParams["figure.constrained_layout.h_pad"] if mpl.rcParams["figure.constrained_layout.use"] else 0
    return layout(data, _axes_points(width))[-1] / 72 + 2 * pad


# --- drawing ---------------------------------------------------------------------------------


def draw(ax, data):
    """Each block in turn from the axes' top left, in points: heading and key, then the passage."""
    fig = ax.figure
    ax.set_axis_off()
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()  # the axes' final width, which the lines fill
    size = points(mpl.rcParams["font.size"])
    family = tuple(mpl.rcParams["font.family"])
    corner = Affine2D().scale(1 / 72, -1 / 72) + fig.dpi_scale_trans + ScaledTranslation(0, 1, ax.transAxes)
    width = axes_width(ax) * 72
    places, lines, shown, _ = layout(data, width)
    for block, (heading, key, first) in zip(data.blocks, places):
        colours = block.colours()
        x = _text(ax, corner, 0, heading, mathtext_label(block.heading), size, parse=True)
        x = 2 * size + x if key == heading else 0.0
        x = _text(ax, corner, x, key, block.key_title + ":", size) + 2 * _pad(size)
        for colour, text in block.key_entries():
            x = _box(ax, corner, x, key, text, colour, size, family, KEY) + _gap(size)  # twice the text's gap
        for row, line in enumerate(lines):
            for index, left in line:
                baseline = first + row * LINE_PITCH * size
                _box(ax, corner, left, baseline, shown[index], colours[index], size, family, TOKEN)


def _text(ax, corner, x, y, text, size, parse=False):
    """Text with its baseline at (x, y) points from the corner; returns where it ends."""
    shown = ax.text(
        x,
        y,
        text,
        transform=corner,
        fontsize=size,
        color=NEUTRAL,
        va="baseline",
        ha="left",
        clip_on=False,
        **({} if parse else LITERAL),
    )
    shown.set_in_layout(False)
    return x + (text_width(text, size) * 72 if parse else _width(text, size, tuple(mpl.rcParams["font.family"])))


def _box(ax, corner, x, y, text, colour, size, family, gid):
    """``text`` on a box of ``colour`` (outlined if none) at baseline ``y``, both artists tagged ``gid``;
    returns where the next box begins."""
    width = _width(text, size, family) + 2 * _pad(size)
    box = Rectangle(
        (x, y + 0.3 * size),
        width,
        -1.22 * size,
        transform=corner,
        facecolor="none" if colour is None else colour,
        edgecolor="0.6" if colour is None else "none",
        linewidth=0.4,
        clip_on=False,
        gid=gid,
    )
    box.set_in_layout(False)
    ax.add_patch(box)
    shown = ax.text(
        x + _pad(size),
        y,
        text,
        transform=corner,
        fontsize=size,
        color=ink(colour),
        va="baseline",
        ha="left",
        clip_on=False,
        gid=gid,
        **LITERAL,
    )
    shown.set_in_layout(False)
    return x + width + _gap(size)


def _pad(size):
    return max(MIN_PAD, PAD_EM * size)


def _gap(size):
    return max(MIN_GAP, GAP_EM * size)


# --- the build's figures ---------------------------------------------------------------------


def shown_methods(results, passage, row):
    """(the method a build shades by count, the method it colours by top-1 expert, how many methods' counts
    vary) over ``passage`` at layer ``row`` of its layers: of the methods whose count varies, the one that
    varies most over the passage (the first of a tie); the baseline, else the first method of a fixed count,
    by its top-1 expert. Either method may be None."""
    baseline = {m["id"] for m in results["methods"] if m.get("baseline")}
    spread, fixed = {}, []
    for routing in passage["routing"]:
        if len(set(np.asarray(routing["num_experts"]).ravel().tolist())) > 1:
            spread[routing["method"]] = float(np.std(routing["num_experts"][row]))
        elif "top_expert" in routing:
            fixed.append(routing["method"])
    fixed.sort(key=lambda method: method not in baseline)
    return max(spread, key=spread.get) if spread else None, fixed[0] if fixed else None, len(spread)


def jobs(results):
    """One figure per passage, at its middle layer."""
    labels = method_labels(results)
    for i, passage in enumerate(results.get("routing_text", [])):
        layer = middle_layer(passage["layers"])
        row = passage["layers"].index(layer)
        shaded, coloured, varying = shown_methods(results, passage, row)
        if shaded is None and coloured is None:
            continue
        routing = {r["method"]: r for r in passage["routing"]}
        most = None if shaded is None else max(max(counts) for counts in routing[shaded]["num_experts"])
        arguments = {
            "tokens": passage["tokens"],
            "experts": None if shaded is None else {labels[shaded]: routing[shaded]["num_experts"][row]},
            "top_expert": None if coloured is None else {labels[coloured]: routing[coloured]["top_expert"][row]},
            "max_experts": most,
        }
        caption = _caption(passage, layer, labels, (shaded, coloured, varying), routing, row, most)
        yield FigureJob(f"_passage{i + 1}_layer{layer}", arguments, tuple(caption))


def _caption(passage, layer, labels, shown, routing, row, most):
    shaded, coloured, varying = shown
    where = f" of the {passage['label']} text" if passage.get("label") else ""
    tokens = len(passage["tokens"])
    parts = [f"Routing over the text: the first {tokens} tokens of a sequence{where}, layer {layer} ({MARKS}). "]
    if shaded is not None:
        counts = np.asarray(routing[shaded]["num_experts"][row])
        which = f" (of the {varying} methods whose count varies, the one that varies most here)" if varying > 1 else ""
        parts += [labels[shaded], f"{which} shades each token by its number of experts, light for 1 and dark for "]
        parts[-1] += f"{most} (its most in any layer); it selects {counts.mean():.2f} per token here, from "
        parts[-1] += f"{int(counts.min())} to {int(counts.max())}. "
    if coloured is not None:
        tops = routing[coloured]["top_expert"][row]
        kept = len(ranked_experts(np.asarray(tops)))
        parts += [labels[coloured], " colours each token by its top-1 expert (its largest router logit): "]
        parts[-1] += f"the passage's {kept} most frequent in colour"
        parts[-1] += ", the others grey." if kept < len(set(tops)) else "."
    parts[-1] = parts[-1].rstrip()
    return parts


def _latex(data):
    from figkit.routed_text import latex_fragment  # which reads this module's prepared data

    return latex_fragment(data)


FIGURE = FigureSpec(
    name="routing_text",
    title="Routing over the text",
    sections=("routing_text",),
    prepare=prepare,
    draw=draw,
    jobs=jobs,
    height=height,
    latex=_latex,
)


@shared_docs
def plot_routing_text(
    tokens: Sequence[str],
    *,
    experts: Mapping[str, ArrayLike] | None = None,
    top_expert: Mapping[str, ArrayLike] | None = None,
    max_experts: int | None = None,
    methods: Sequence[Mapping] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float | None = None,
    save_path: str | None = None,
) -> Figure:
    """A passage set as text once per method, each token on a background that says how it was routed.

    Parameters
    ----------
    tokens : list of str
        The passage's tokens as the tokenizer decodes them (``" cat"``, ``"\\n"``), in order. A
        leading space becomes the space before the token; whitespace tokens are drawn (␣, ↵, →).
    experts : dict, optional
        Method name (``$...$`` maths allowed) to each token's number of experts: shaded as every
        figure shades numbers of experts (the style's sequential colours), light for one and dark for
        many (no box for none). Give several names for several methods, or the same method at several
        layers.
    top_expert : dict, optional
        Method name to each token's top-1 expert: the passage's six most frequent each get a
        colour (shared by every name), the others grey.
    max_experts : int, optional
        The count drawn darkest (default: the most any token has).
    methods : list of dict, optional
        Deprecated, ignored: it chose the shades of the counts (removed in figkit 0.3).
    {figure_parameters}

    Returns
    -------
    {figure_returned}

    Raises
    ------
    ValueError, TypeError
        For no tokens, neither ``experts`` nor ``top_expert``, values that are not whole numbers from 0
        or not one per token, or a ``max_experts`` below the largest count.
    """
    data = prepare(tokens, experts, top_expert, max_experts, methods)
    return FIGURE.plot(data, ax=ax, figsize=figsize, dpi=dpi, save_path=save_path)
