"""Fuzzers, bounded so CI stays fast: the results loader refuses every malformed file in one line naming
the field, and any label compiles in LaTeX and reads back as written.

Past failures are kept as explicit examples (``@example``): they run first, every time.
"""

import json
import re
import tempfile
import unicodedata
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from figkit import load_results, write_results
from figkit.latex import compile_pdf, escape_label
from tests.helpers import pdf_text, sections

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return json.loads(write_results(tmp_path_factory.mktemp("fuzz") / "r.json", **sections()).read_text())


def paths(value, prefix=()):
    """Every path to a value inside a JSON document."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from paths(item, (*prefix, key))


def assert_refused_in_one_line(path, data):
    path.write_bytes(data)
    try:
        load_results(path)
    except ValueError as error:
        message = str(error)
        assert message and "\n" not in message and "Traceback" not in message, message


@FUZZ
@given(data=st.data())
def test_a_mutated_results_file_loads_or_is_refused_in_one_line(valid, tmp_path, data):
    document = json.loads(json.dumps(valid))
    where = data.draw(st.sampled_from(list(paths(document))[1:]))
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = data.draw(JSON_VALUES)
    assert_refused_in_one_line(tmp_path / "r.json", json.dumps(document).encode())


@FUZZ
@given(cut=st.integers(min_value=0, max_value=4000), noise=st.binary(max_size=40))
@example(cut=0, noise=b"\xff\xfe{\x00")  # UTF-16 with a byte-order mark
@example(cut=0, noise=b"\xef\xbb\xbf{}")  # UTF-8 with a byte-order mark
@example(cut=0, noise=b'{"schema_version": 1, "methods": [{"id": "a", "label": "\\ud800"}]}')  # half a pair
@example(cut=0, noise=b'{"schema_version": 1, "title": ' + b"[" * 5000 + b"]" * 5000 + b"}")  # deep nesting
def test_cut_or_noisy_bytes_are_refused_in_one_line(valid, tmp_path, cut, noise):
    text = json.dumps(valid).encode()
    assert_refused_in_one_line(tmp_path / "r.json", text[:cut] + noise)


# Labels as researchers write them: ASCII, LaTeX's specials, Latin-1 letters, a few symbols figkit maps,
# and maths that LaTeX can or cannot typeset.
LABEL = st.lists(
    st.sampled_from(list(" abcxyzABC019.,;:!?`'\"-+=/()[]*@$\\{}^_&%#~<>|éüß±αβ–…")
                    + ["$x^$", "$\\]$", "$\\left($", "$x^2$", "$\\alpha$", "$k=8$", "!`", "?`", ",,", "<<", ">>",
                       "$x^\\]$", "$a_\\[$", "$b^\\^$"]),
    min_size=1,
    max_size=12,
).map("".join)  # fmt: skip
COMPOSED = set("\N{APPROXIMATELY EQUAL TO}")  # TeX stacks ∼ over =: it reads back as two characters
SHOWN = str.maketrans({"\u2019": "'", "\u2018": "`", "\u201d": '"', "\u201c": '"', "\u2013": "–"})


def read_back(text):
    """What a reader sees, compared: quotes as typed, whitespace collapsed, an ellipsis as three dots."""
    text = " ".join(unicodedata.normalize("NFKC", text).translate(SHOWN).split())
    return re.sub(r" *\. *", ".", text)  # \ldots is dots spaced apart, and a space after them


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: a compile per try is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(labels=st.lists(LABEL, min_size=20, max_size=20))
@example(labels=["$x^$", "$\\]$", "$\\left($", "!`", "?`", ",,", "[a]", "*b", "≈", "≅"] + ["ok"] * 10)
@pytest.mark.slow
def test_any_label_compiles_and_reads_back_as_written(tmp_path, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # characters without LaTeX are placeholders, said once each
        rows = "".join(f"FIGKIT{i} {escape_label(label)} FIGKIT \\\\\n" for i, label in enumerate(labels))
    source = "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n\\begin{document}\n"
    source += f"\\noindent\\begin{{tabular}}{{l}}\n{rows}\\end{{tabular}}\n\\end{{document}}\n"
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # a folder per example: nothing of the last one left
    (folder / "labels.tex").write_text(source)
    text = pdf_text(compile_pdf(folder / "labels.tex"))  # raises on any LaTeX error
    shown = dict(re.findall(r"FIGKIT(\d+) (.*?) ?FIGKIT", " ".join(text.split())))
    for i, label in enumerate(labels):
        maths = any(part.startswith("$") and len(part) > 2 for part in re.split(r"(\$[^$]+\$)", label))
        if not maths and COMPOSED.isdisjoint(label):
            assert read_back(shown.get(str(i), "")) == read_back(label), (label, escape_label(label), labels)


def test_any_label_draws_and_saves(tmp_path):
    """A byte-order mark crashed matplotlib's PDF writer; a glyph no font has drew an empty box with a
    warning per glyph. Now both are visible escapes, with one warning for the string."""
    import figkit

    labels = {"a\ufeffb": [1, 2], "c\u200bd": [2, 3], "中文 x": [1, 1], "e\x07f": [3, 3]}
    with figkit.use_style("paper"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = figkit.plot_expert_count_comparison(labels, save_path=tmp_path / "labels.pdf")
    shown = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sorted(shown) == sorted(["a\\ufeffb", "c\\u200bd", "[U+4E2D][U+6587] x", "e\\x07f"])  # paper: labels
    assert [str(w.message) for w in caught] == [
        "no font of STIXGeneral, DejaVu Serif draws U+4E2D, U+6587 in '中文 x'; shown as [U+...]"
    ]
    tokens = ["\ufeffthe", "日本", "a"]
    with figkit.use_style("paper"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figkit.plot_routing_heatmap([[0.5, 0.5]] * 3, tokens, save_path=tmp_path / "tokens.pdf")
    assert len(caught) == 1 and "U+65E5, U+672C" in str(caught[0].message)
