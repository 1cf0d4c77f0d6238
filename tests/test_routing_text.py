"""Routing over the text: the passage a results file keeps, the figure drawn from it, and the same passage
compiled by LaTeX and read back from the PDF, token by token with its colour."""

import subprocess

import matplotlib as mpl
import numpy as np
import pytest
import torch

from figkit import load_results, plot_routing_text, routing_text_latex, write_results
from figkit.latex import compile_pdf
from figkit.plots import figure_spec
from figkit.plots.routing_text import EXPERT_COLOURS, KEY, OTHER_COLOUR, TOKEN, ink, pieces_of, prepare, set_lines
from figkit.routing import RoutingStats, bh, top_k
from figkit.style import use_style
from tests import real_routing
from tests.helpers import _tool, pdf_text

# A hand-made passage: every token its own word, so LaTeX's words are the tokens.
TOKENS = ["The", " cat", " sat", " on", " the", " mat", "\n", "A", " dog", " ran"]
COUNTS = [1, 3, 8, 2, 1, 1, 4, 6, 2, 1]
TOPS = [5, 5, 7, 1, 9, 4, 3, 2, 11, 12]  # 5 most often, then by id: 1, 2, 3, 4, 7, 9, 11; 12 is the ninth: "other"
METHODS = [{"id": "bh", "label": "BH", "family": "bh"}, {"id": "top2", "label": "Top-2", "baseline": True}]


def tagged(fig, gid):
    """(text, box face colour, text colour) of each box the figure draws tagged ``gid``, in drawing order."""
    ax = fig.axes[0]
    boxes = [patch for patch in ax.patches if patch.get_gid() == gid]
    texts = [text for text in ax.texts if text.get_gid() == gid]
    assert len(boxes) == len(texts)
    return [
        (text.get_text(), tuple(np.round(box.get_facecolor()[:3], 4)), mpl.colors.to_rgb(text.get_color()))
        for box, text in zip(boxes, texts)
    ]


def rounded(colours):
    return [tuple(np.round(mpl.colors.to_rgb(c), 4)) for c in colours]


def test_pieces_keep_spaces_as_breaks_and_draw_whitespace_tokens():
    pieces = pieces_of(["The", " cat", "  ", "\n", "x ", "\t", " " * 3 + "y"])
    assert [p.text for p in pieces] == [
        "The",
        "cat",
        "\N{OPEN BOX}" * 2,
        "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}",
        "x\N{OPEN BOX}",
        "\N{RIGHTWARDS ARROW}",
        "\N{OPEN BOX}" * 2 + "y",
    ]
    assert [p.space for p in pieces] == [False, True, False, False, False, False, True]
    assert [p.breakable for p in pieces] == [False, False, True, True, True, True, False]
    assert [p.newline for p in pieces] == [False, False, False, True, False, False, False]
    long = pieces_of(["x" * 100])[0].text
    assert len(long) == 30 and long.endswith("\N{HORIZONTAL ELLIPSIS}")


def test_lines_break_at_spaces_and_newlines_and_inside_a_word_only_when_it_must():
    with use_style("paper"):
        pieces = pieces_of(["aaaa", "bbbb", " cccc", "dddd", "\n", "ee", " " + "f" * 29])
        lines = set_lines(pieces, [piece.text for piece in pieces], 8.0, 60.0)
        flat = [[index for index, _ in line] for line in lines]
        assert flat[0] == [0, 1]  # "aaaabbbb" is one word: "cccc" does not fit after it
        assert flat[1] == [2, 3, 4]  # "ccccdddd↵": the newline ends the line
        assert flat[2] == [5] and flat[3] == [6]  # the 29 f's are wider than a line: alone on their own
        for line in lines:
            xs = [x for _, x in line]
            assert xs == sorted(xs) and xs[0] == 0.0


def test_the_hand_made_passage_is_drawn_token_by_token_in_its_colours():
    with use_style("paper"):
        fig = plot_routing_text(TOKENS, experts={"BH": COUNTS}, top_expert={"Top-2": TOPS}, max_experts=8)
        reds = mpl.colormaps[mpl.rcParams["image.cmap"]]  # numbers of experts: the style's sequential map
    shades = [mpl.colors.to_rgb(reds(0.2 + 0.75 * i / 7)) for i in range(8)]
    palette = dict(zip([5, 1, 2, 3, 4, 7, 9, 11], EXPERT_COLOURS))
    counts = rounded(shades[n - 1] for n in COUNTS)
    tops = rounded(palette.get(t, OTHER_COLOUR) for t in TOPS)
    drawn = tagged(fig, TOKEN)
    passage = ["The", "cat", "sat", "on", "the", "mat", "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}", "A", "dog", "ran"]
    assert [text for text, _, _ in drawn] == passage * 2
    assert [face for _, face, _ in drawn] == counts + tops
    assert all(colour == ink(face) for _, face, colour in drawn)  # black on light, white on dark
    assert drawn[2][2] == (1.0, 1.0, 1.0) and drawn[0][2] == (0.0, 0.0, 0.0)  # 8 experts: dark; 1: light
    key = tagged(fig, KEY)
    assert [text for text, _, _ in key] == [str(n) for n in range(1, 9)] + [
        "5",
        "1",
        "2",
        "3",
        "4",
        "7",
        "other",  # 9 and 11, the seventh and eighth most frequent: six colours
    ]
    assert [face for _, face, _ in key] == rounded(shades) + rounded([*palette.values(), OTHER_COLOUR])
    headings = [t.get_text() for t in fig.axes[0].texts if t.get_gid() is None]
    assert headings == ["BH: experts per token", "Experts:", "Top-2: top-1 expert", "6 most frequent experts:"]
    fig.canvas.draw()  # every box inside the figure
    inside = fig.bbox.padded(1)
    assert all(
        inside.contains(*p.get_window_extent().p0) and inside.contains(*p.get_window_extent().p1)
        for p in fig.axes[0].patches
    )


def test_the_users_axes_are_drawn_on_and_the_lines_fill_them():
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), layout=None)
    assert plot_routing_text(TOKENS * 3, experts={"BH": COUNTS * 3}, ax=right) is fig
    assert not left.patches and right.patches
    fig.canvas.draw()
    edge = right.get_window_extent()
    assert all(p.get_window_extent().x1 <= edge.x1 + 1 for p in right.patches)
    plt.close(fig)


def test_bad_passages_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"experts\['BH'\] has 2 values for 3 tokens"):
        prepare(["a", "b", "c"], experts={"BH": [1, 2]})
    with pytest.raises(ValueError, match=r"top_expert\['T'\] must hold whole numbers from 0"):
        prepare(["a"], top_expert={"T": [-1]})
    with pytest.raises(ValueError, match="give experts"):
        prepare(["a"])
    with pytest.raises(ValueError, match="max_experts must be a whole number of at least 3"):
        prepare(["a"], experts={"BH": [3]}, max_experts=2)
    with pytest.raises(TypeError, match="tokens must be a list of token strings"):
        prepare("abc", experts={"BH": [1, 1, 1]})


def words_with_boxes(pdf):
    """(word, (x0, y0, x1, y1) in points) of the first page, in reading order, as pdftotext reads them."""
    import html
    import re

    out = subprocess.run([_tool("pdftotext"), "-bbox", "-l", "1", str(pdf), "-"], capture_output=True, text=True)
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
    return [(html.unescape(w), tuple(map(float, box))) for *box, w in re.findall(pattern, out.stdout)]


def background(page, box, dpi):
    """The most common colour of the page's pixels inside ``box`` (points): a box's background, not its ink."""
    x0, y0, x1, y1 = (round(v * dpi / 72) for v in box)
    pixels = (page[y0:y1, x0:x1, :3] * 255).round().astype(int).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return colours[counts.argmax()] / 255


@pytest.mark.slow
@pytest.mark.parametrize("document_class", ["article", "IEEEtran"])
def test_the_latex_passage_compiles_and_reads_back_token_by_token_in_its_colours(tmp_path, document_class):
    import matplotlib.image

    with use_style("paper"):
        arguments = {"experts": {"BH": COUNTS}, "top_expert": {"Top-2": TOPS}, "max_experts": 8}
        data = prepare(TOKENS, **arguments)
        expected = [block.colours() for block in data.blocks] * 2  # the fragment is set twice, both times alike
        (tmp_path / "passage.tex").write_text(routing_text_latex(TOKENS, **arguments))
    (tmp_path / "doc.tex").write_text(
        f"\\documentclass{{{document_class}}}\n\\usepackage[T1]{{fontenc}}\n\\usepackage{{xcolor}}\n"
        "\\begin{document}\n\\begin{figure}[t]\n\\input{passage.tex}\n\\input{passage.tex}\n"
        "\\caption{Routing.}\n\\end{figure}\nText.\n\\end{document}\n"
    )
    pdf = compile_pdf(tmp_path / "doc.tex")
    dpi = 300
    subprocess.run([_tool("pdftoppm"), "-png", "-r", str(dpi), "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")])
    page = matplotlib.image.imread(next(tmp_path.glob("page*.png")))
    words = words_with_boxes(pdf)
    shown = ["The", "cat", "sat", "on", "the", "mat", "\\n", "A", "dog", "ran"]
    starts = [i for i in range(len(words)) if [w for w, _ in words[i : i + len(shown)]] == shown]
    assert len(starts) == len(expected)  # every token present, in order, in each block
    for start, colours in zip(starts, expected):
        for (word, box), colour in zip(words[start : start + len(shown)], colours):
            assert np.abs(background(page, box, dpi) - np.array(colour)).max() < 0.02, word


def slice_positions(sequence):
    """Each token's position in its sequence, from the slice's sequence numbers (numpy, independent)."""
    starts = np.r_[0, np.flatnonzero(np.diff(sequence)) + 1]
    return np.arange(sequence.size) - np.repeat(starts, np.diff(np.r_[starts, sequence.size]))


def test_routing_stats_keep_each_domains_first_passage_as_numpy_routes_it(tmp_path):
    data = np.load(real_routing.SLICE)
    logits = torch.from_numpy(data["router_logits"].astype(np.float32))
    ids, sequence = torch.from_numpy(data["token_ids"].astype(np.int64)), data["sequence"]
    positions = slice_positions(sequence)
    assert positions[:3].tolist() == [0, 1, 2] and positions[128] == 0
    domains = np.where(sequence % 2 == 0, "even", "odd").tolist()
    layers, rules = list(range(16)), {"top8": top_k(8), "bh05": bh(0.05, max_k=8)}

    def shard(tokens):
        stats = RoutingStats(layers, 64, passage_tokens=50, passages=2)
        for batch in tokens.split(100):  # batches cut sequences: a passage is kept from a batch it starts in
            for name, rule in rules.items():
                selection = rule.select(logits[:, batch], layers)
                at = batch.tolist()
                stats.add(name, selection, ids[batch], domain=[domains[t] for t in at], positions=positions[at])
        return stats

    everything = torch.arange(ids.numel())
    merged = shard(everything[:300]) + shard(everything[300:])  # odd's first sequence (128-255) is cut at 200
    strings = {int(t): str(data["token_strings"][t]) for t in np.unique(data["token_ids"])}
    sections = merged.results(token_strings=strings)
    results = load_results(write_results(tmp_path / "r.json", methods=[{"id": m} for m in rules], **sections))
    even, odd = results["routing_text"]
    assert even["label"] == "even" and even["token_ids"] == data["token_ids"][:50].tolist()
    assert even["tokens"] == [strings[t] for t in even["token_ids"]] and even["layers"] == layers
    assert odd["label"] == "odd" and odd["token_ids"] == data["token_ids"][128:178].tolist()
    for passage, kept in ((even, slice(0, 50)), (odd, slice(128, 178))):
        routing = {r["method"]: r for r in passage["routing"]}
        expected = np.stack(
            [
                real_routing.bh_counts(real_routing.p_values(x[kept].astype(np.float64)), 0.05)
                for x in data["router_logits"].astype(np.float32)
            ]
        )
        assert np.array_equal(routing["bh05"]["num_experts"], expected)
        assert np.array_equal(routing["top8"]["num_experts"], np.full((16, 50), 8))
        top = data["router_logits"].astype(np.float32)[:, kept].argmax(axis=-1)
        assert np.array_equal(routing["bh05"]["top_expert"], top) and np.array_equal(routing["top8"]["top_expert"], top)
    with pytest.raises(ValueError, match="3 positions for 4 tokens"):
        RoutingStats(layers, 64).add("x", top_k(2).select(logits[:, :4], layers), ids[:4], positions=[0, 1, 2])
    assert "routing_text" not in merged.results()  # no token strings: no text to set


def test_the_real_passage_is_shaded_by_the_method_that_varies_most_and_told_in_the_caption(real_study):
    logits, token_ids, strings = real_routing.load()
    (job,) = figure_spec("routing_text").jobs(real_study)
    layer = 8  # the middle of layers 0-15
    assert job.suffix == f"_passage1_layer{layer}"
    kept = slice(0, real_routing.PASSAGE_TOKENS)
    p = real_routing.p_values(logits[layer, kept])
    spread = {a: real_routing.bh_counts(p, a).std() for a in real_routing.ALPHAS}
    alpha = max(spread, key=spread.get)
    counts = real_routing.bh_counts(p, alpha)
    ((label, shaded),) = job.arguments["experts"].items()
    assert label == f"BH ($\\alpha$ = {alpha:g})" and shaded == counts.tolist()
    assert job.arguments["top_expert"] == {"Top-8": logits[layer, kept].argmax(axis=1).tolist()}
    every_layer = np.stack([real_routing.bh_counts(real_routing.p_values(x[kept]), alpha) for x in logits])
    assert job.arguments["max_experts"] == every_layer.max()
    caption = "".join(job.caption)
    assert f"it selects {counts.mean():.2f} per token here, from {counts.min()} to {counts.max()}." in caption
    assert f"the first {real_routing.PASSAGE_TOKENS} tokens of a sequence, layer {layer}" in caption
    assert "of the 4 methods whose count varies, the one that varies most here" in caption
    with use_style("paper"):
        fig = figure_spec("routing_text").plot(figure_spec("routing_text").prepare(**job.arguments))
    drawn = [text for text, _, _ in tagged(fig, TOKEN)]
    assert drawn == [piece.text for piece in pieces_of([str(strings[t]) for t in token_ids[kept]])] * 2


@pytest.mark.slow
def test_the_built_real_passage_compiles_with_every_token_in_order(tmp_path):
    from figkit import build

    build(write_results(tmp_path / "r.json", **real_routing.sections()), tmp_path / "out", only=["routing_text*"])
    (fragment,) = (tmp_path / "out" / "tables").glob("routing_text_*.tex")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
        f"\\usepackage{{xcolor}}\n\\begin{{document}}\n\\input{{out/tables/{fragment.name}}}\n\\end{{document}}\n"
    )
    text = pdf_text(compile_pdf(tmp_path / "doc.tex"))
    _, token_ids, strings = real_routing.load()
    pieces = pieces_of([str(strings[t]) for t in token_ids[: real_routing.PASSAGE_TOKENS]])
    as_set = "".join(p.text for p in pieces).replace("\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}", "\\n")
    passage = "".join(as_set.split())
    assert "".join(text.split()).count(passage) == 2  # shaded by count, then coloured by top-1 expert


def test_methods_no_longer_colour_the_counts_and_say_so():
    with use_style("paper"), pytest.warns(DeprecationWarning, match="methods no longer changes routing over the text"):
        shaded = plot_routing_text(TOKENS, experts={"BH": COUNTS}, methods=METHODS)
    with use_style("paper"):
        plain = plot_routing_text(TOKENS, experts={"BH": COUNTS})
    assert [face for _, face, _ in tagged(shaded, TOKEN)] == [face for _, face, _ in tagged(plain, TOKEN)]
