"""Routing over the text as LaTeX: the passage ``plot_routing_text`` draws, set by LaTeX itself in ``\\colorbox``es.

Lines break where the text does: at spaces, after whitespace tokens and at newlines, and inside a word
only when nothing else fits. Every character is escaped; the colours are those of the figure drawn in
the same style.
"""

from __future__ import annotations

from figkit.latex import Raw, escape_label, escape_text, render_template
from figkit.plots.routing_text import ink, prepare

TEMPLATE = "routing_text.tex"
BREAKABLE_GAP = r"\hskip 1.2pt plus 1pt\relax "  # after a whitespace token: a line may break here
JOINED = r"\penalty9999\kern1.2pt\relax "  # between pieces of one word: a break only as the last resort


def routing_text_latex(
    tokens, *, experts=None, top_expert=None, max_experts=None, methods=None, template_dirs=None
) -> str:
    """An ``\\input``-ready LaTeX fragment of a passage with each token's routing as its background, as
    ``plot_routing_text`` draws it (the same arguments; colours of the active style). Needs xcolor.

    Parameters
    ----------
    tokens, experts, top_expert, max_experts, methods
        As in ``plot_routing_text``.
    template_dirs : list of path, optional
        Folders searched for ``routing_text.tex`` before figkit's own (default: the paper repo's ``templates/``).

    Returns
    -------
    str
        The fragment: colour definitions, then each method's heading, key and passage.

    Example
    -------
    >>> tex = routing_text_latex(tokens, experts={"BH": counts}, top_expert={"Top-8": top1})
    """
    return latex_fragment(prepare(tokens, experts, top_expert, max_experts, methods), template_dirs)


def latex_fragment(data, template_dirs=None):
    """The fragment of prepared routed text (``figkit.plots.routing_text.prepare``)."""
    names = {}

    def colour(rgb):
        key = tuple(round(c, 4) for c in rgb)
        return names.setdefault(key, f"figkitrt{len(names)}")

    def box(rgb, text):
        if rgb is None:
            return rf"\figkitnoexpert{{{text}}}"
        return rf"\figkittoken{{{colour(rgb)}}}{{{colour(ink(rgb))}}}{{{text}}}"

    blocks = []
    for block in data.blocks:
        key = " ".join(box(rgb, escape_text(text)) for rgb, text in block.key_entries())
        blocks.append(
            {
                "heading": Raw(escape_label(block.heading)),
                "key_title": block.key_title,
                "key": Raw(key),
                "text": Raw(_passage(data.pieces, block.colours(), box)),
            }
        )
    colours = [(name, Raw(",".join(f"{c:.4f}" for c in rgb))) for rgb, name in names.items()]
    return render_template(TEMPLATE, template_dirs, colours=colours, blocks=blocks)


def _passage(pieces, colours, box):
    """The tokens in their boxes, with a space, a break opportunity, a join or a new line between them."""
    out = []
    for i, (piece, rgb) in enumerate(zip(pieces, colours)):
        if i:
            before = pieces[i - 1]
            if before.newline:
                out.append("\\newline\n")
            elif piece.space:
                out.append(" ")
            elif before.breakable:
                out.append(BREAKABLE_GAP)
            else:
                out.append(JOINED)
        out.append(box(rgb, escape_text(piece.text)))
    return "".join(out)
