"""Escaping, the template environment and the hardened compile."""

import re

import pytest

from figkit.latex import Raw, compile_pdf, escape_label, escape_markdown, escape_text, render_template


@pytest.mark.parametrize(
    "char, tex",
    [
        ("&", r"\&"),
        ("%", r"\%"),
        ("$", r"\$"),
        ("#", r"\#"),
        ("_", r"\_"),
        ("{", r"\{"),
        ("}", r"\}"),
        ("\\", r"\textbackslash{}"),
        ("~", r"\textasciitilde{}"),
        ("^", r"\textasciicircum{}"),
        ("<", r"\textless{}"),
        (">", r"\textgreater{}"),
        ("|", r"\textbar{}"),
        ("-", "{-}"),
        ("\n", " "),
        ("α", r"$\alpha$"),
        ("ω", r"$\omega$"),
        ("π", r"$\pi$"),
        ("±", r"$\pm$"),
        ("≤", r"$\leq$"),
        ("→", r"$\rightarrow$"),
        ("–", r"\textendash{}"),
        ("—", r"\textemdash{}"),
        ('"', "''"),
        ("[", "{[}"),
        ("*", "{*}"),
        ("≈", r"$\approx$"),
        ("A ∩ B, A ∪ B", r"A $\cap$ B, A $\cup$ B"),
        ("≅", r"$\cong$"),
        ("−", "$-$"),
        ("é", "é"),
    ],
)
def test_each_character_in_one_pass(char, tex):
    assert escape_text(char) == tex
    assert escape_text(f"a{char}b") == f"a{tex}b"


@pytest.mark.parametrize("pair", ["!`", "?`", ",,", "''", "``"])
def test_pairs_a_t1_font_would_join_into_one_character_are_kept_apart(pair):
    assert escape_text(pair) == f"{pair[0]}{{}}{pair[1]}"


@pytest.mark.parametrize(
    "maths, kept",
    [
        ("$x^2$", True),
        ("$\\frac{a}{b}_{i}$", True),
        ("$\\left( x \\right)$", True),
        ("$\\sqrt[3]{x}$", True),
        ("$x^ 2$", True),
        ("$x^$", False),  # a dangling script
        ("$x_{}^$", False),
        ("$x^a^b$", False),  # a double superscript
        ("$\\]$", False),  # an escape that ends maths mode
        ("$\\left($", False),  # \\left without \\right
        ("$\\frac{a}$", False),  # a missing argument
        ("$\\text{a^b}$", False),  # maths in text
        ("$\\input{x}$", False),  # a command that reads a file
        ("$x^\\]$", False),  # an escape as a script's argument: ends maths mode
        ("$x_\\[$", False),
        ("$x^\\^$", False),  # a text accent
        ("$x^\\input$", False),  # an unknown command as an argument
        ("$x^\\alpha$", True),
        ("$x^\\,$", True),
    ],
)
def test_maths_is_kept_only_when_latex_can_typeset_it(maths, kept):
    assert (escape_label(maths) == maths) is kept


def test_backslash_then_brace_is_not_escaped_twice():
    assert escape_text("\\{") == r"\textbackslash{}\{"


def test_control_characters_become_placeholders():
    with pytest.warns(UserWarning, match=r"U\+0000"):
        assert escape_text("a\x00b") == r"a\texttt{[U+0000]}b"


def test_unknown_characters_become_a_visible_placeholder_with_a_warning():
    with pytest.warns(UserWarning, match=r"no LaTeX for U\+2581 in '▁the'"):
        assert escape_text("▁the") == r"\texttt{[U+2581]}the"


@pytest.mark.parametrize(
    "label, tex",
    [
        ("BH ($\\alpha$=0.05)", "BH ($\\alpha$=0.05)"),
        ("$x^2_{i}$ and 50%", "$x^2_{i}$ and 50\\%"),
        ("costs $5", "costs \\$5"),
        ("$a$ $b", "$a$ \\$b"),
        ("$\\input{/etc/passwd}$", "\\$\\textbackslash{}input\\{/etc/passwd\\}\\$"),
        ("$\\def\\x{1}$", "\\$\\textbackslash{}def\\textbackslash{}x\\{1\\}\\$"),
        ("$^^5cinput$", "\\$\\textasciicircum{}\\textasciicircum{}5cinput\\$"),
        ("$x}$", "\\$x\\}\\$"),
        ("$\\{x$", "$\\{x$"),
    ],
)
def test_labels_keep_only_harmless_maths(label, tex):
    assert escape_label(label) == tex


def test_markdown_escaping():
    assert escape_markdown("a|b *c* _d_ `e`\nf") == "a\\|b \\*c\\* \\_d\\_ \\`e\\` f"
    # control and invisible characters visible; strikethrough, entities and bare URLs inert (issue 28, item 8)
    assert escape_markdown("x\x00y\x1b[31m z\u202eabc\u200b\ufeff") == (
        "x\\[U+0000\\]y\\[U+001B\\]\\[31m z\\[U+202E\\]abc\\[U+200B\\]\\[U+FEFF\\]"
    )
    assert escape_markdown("~~old~~ &lt; http://a.example www.b.example, ratio: 2") == (
        "\\~\\~old\\~\\~ \\&lt; http\\://a.example www\\.b.example, ratio: 2"
    )


def test_values_are_escaped_raw_is_not_and_undefined_fails(tmp_path):
    (tmp_path / "t.tex").write_text("\\VAR{a} \\VAR{b} \\VAR{c}\n")
    assert (
        render_template("t.tex", template_dirs=[tmp_path], a="50%", b=Raw("\\textbf{x}"), c=None)
        == "50\\% \\textbf{x} \n"
    )
    with pytest.raises(Exception, match="'a' is undefined"):
        render_template("t.tex", template_dirs=[tmp_path], b=1, c=2)


def write(tmp_path, body):
    path = tmp_path / "doc.tex"
    path.write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    return path


@pytest.mark.slow
def test_compiled_pdf_bytes_are_reproducible(tmp_path):
    first = compile_pdf(write(tmp_path, "Hello \\today.")).read_bytes()
    for leftover in tmp_path.glob("doc.*"):
        if leftover.suffix != ".tex":
            leftover.unlink()
    assert compile_pdf(write(tmp_path, "Hello \\today.")).read_bytes() == first


@pytest.mark.slow
def test_errors_give_file_line_and_message(tmp_path):
    with pytest.raises(RuntimeError, match=r"doc.tex:3: Undefined control sequence"):
        compile_pdf(write(tmp_path, "\\nosuchcommand"))


@pytest.mark.slow
def test_reading_files_outside_the_folder_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match=r"doc.tex:3: LaTeX Error: File `/etc/hostname.tex' not found"):
        compile_pdf(write(tmp_path, "\\input{/etc/hostname}"))


@pytest.mark.slow
def test_a_runaway_document_is_stopped_with_its_engine(tmp_path):
    from pathlib import Path

    with pytest.raises(RuntimeError, match="did not finish within 3 s"):
        compile_pdf(write(tmp_path, "\\def\\x{\\x}\\x"), timeout=3)
    running = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            cwd = str((process / "cwd").resolve())
        except OSError:
            continue
        if cwd == str(tmp_path):
            running.append((process / "cmdline").read_bytes().replace(b"\0", b" "))
    assert not running, f"still running in the document's folder after the timeout: {running}"


def test_paths_for_latex():
    from figkit.latex import tex_path

    assert tex_path("figures/counts_bh-05.pdf") == "figures/counts_bh-05.pdf"
    for bad in ("/etc/passwd", "../secret.tex", "a b.pdf", "x}\\input{y"):
        with pytest.raises(ValueError, match="cannot go in LaTeX as a path"):
            tex_path(bad)


@pytest.mark.slow
def test_appendix_template_compiles_with_a_figure_a_table_and_macros(tmp_path):
    import figkit
    from figkit.latex import tex_path
    from tests.helpers import pdf_text

    figkit.plot_expert_count_distribution([3, 4, 4, 5], "BH", save_path=tmp_path / "figures" / "counts.pdf")
    (tmp_path / "tables").mkdir()
    for name, caption in (("main", "Main"), ("second", "Second")):
        table = figkit.create_comparison_table({"BH": {"ppl": 17.4}}, output_format="latex", caption=caption)
        (tmp_path / "tables" / f"{name}.tex").write_text(table)
    (tmp_path / "macros.tex").write_text(figkit.number_macros({"bh": {"ppl": 17.4}}))
    sections = [
        {
            "title": Raw(escape_label("Expert counts & $k$")),
            "tables": [tex_path("tables/main.tex"), tex_path("tables/second.tex")],
            "notes": [Raw("Top-8 selects 8 experts for every token.")],
            "rows": [
                [
                    {
                        "path": tex_path("figures/counts.pdf"),
                        "label": "fig:counts",
                        "caption": Raw(escape_label("BH, 4 tokens, $\\alpha$ = 0.05") + " \\figkitvalue{bh}{ppl}"),
                        "share": 0.49,
                        "heading": "Experts per token",
                    }
                ]
            ],
        }
    ]
    tex = render_template(
        "appendix.tex",
        title="Adaptive routing in OLMoE: 100% \\input{x}",
        sections=sections,
        macros=tex_path("macros.tex"),
        figure_width=Raw("\\linewidth"),
        font="times",
        text_width=6.75,
    )
    (tmp_path / "appendix.tex").write_text(tex)
    text = pdf_text(compile_pdf(tmp_path / "appendix.tex"))
    assert "Adaptive routing in OLMoE: 100% \\input{x}" in text
    assert "Expert counts & k" in text and "Table 1: Main" in text
    assert "Table 2: Second" in text  # numbered on, though each breaks as a longtable (which steps the counter too)
    assert "Figure 1: BH, 4 tokens, α = 0.05 17.4" in text
    assert "Experts selected per token" in text  # the figure's own text, embedded
    assert "Top-8 selects 8 experts for every token." in text


def appendix_source():
    from figkit.latex import tex_path

    sections = [
        {
            "title": Raw(escape_label("Expert counts")),
            "tables": [tex_path("tables/main.tex")],
            "notes": [],
            "rows": [
                [
                    {
                        "path": tex_path("figures/counts.pdf"),
                        "label": "fig:counts",
                        "caption": Raw(escape_label("BH ($\\alpha$=0.05), 320,000 tokens")),
                        "share": 0.49,
                        "heading": "Experts per token",
                    }
                ]
            ],
        }
    ]
    return render_template(
        "appendix.tex",
        title="Adaptive routing in OLMoE",
        sections=sections,
        macros=tex_path("macros.tex"),
        figure_width=Raw("\\linewidth"),
        font="times",
        text_width=6.75,
    )


def test_appendix_golden():
    from pathlib import Path

    assert appendix_source() == (Path(__file__).parent / "golden" / "appendix.tex").read_text()


@pytest.mark.slow
def test_the_appendix_finishes_at_any_size(tmp_path):
    """Floats stopped it at about 50 figures in one section ('Output loop---100 consecutive dead cycles');
    nothing floats now: 400 figures compile, two to a row."""
    import figkit
    from figkit.latex import tex_path
    from tests.helpers import pdf_text

    figkit.plot_expert_count_distribution([3, 4, 4, 5], "BH", save_path=tmp_path / "figures" / "counts.pdf")

    def figure(n):
        return {"path": tex_path("figures/counts.pdf"), "share": 0.49, "heading": "", "label": f"fig:{n}",
                "caption": Raw(f"Figure number {n}.")}  # fmt: skip

    rows = [[figure(n), figure(n + 1)] for n in range(0, 400, 2)]
    methods = {f"Method {n}": {"PPL": 17 + n / 1000, "Experts": 8 - n / 1000} for n in range(1000)}
    table = figkit.create_comparison_table(methods, output_format="latex", caption="A thousand methods.")
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "long.tex").write_text(table)
    sections = [
        {"title": "Tables", "tables": [tex_path("tables/long.tex")], "notes": [], "rows": []},
        {"title": "Figures", "tables": [], "notes": [], "rows": rows},
    ]
    tex = render_template(
        "appendix.tex", title="Many", sections=sections, macros=None, figure_width=Raw("\\linewidth"), font="cm",
        text_width=6.75,
    )  # fmt: skip
    (tmp_path / "appendix.tex").write_text(tex)
    pages = pdf_text(compile_pdf(tmp_path / "appendix.tex", timeout=600)).split("\f")
    text = " ".join(" ".join(pages).split())
    assert "Figure 400: Figure number 399." in text
    shown = re.findall(r"Method (\d+) ", text)  # a tabular showed 55 rows and ran off its page
    assert [int(n) for n in shown] == list(range(1000))
    table_pages = [page for page in pages if "Method " in page]
    assert len(table_pages) > 10 and all("PPL" in page for page in table_pages)  # the header on each page


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("BH ($\\alpha$ = 0.05)", "BH (α = 0.05)"),
        ("$\\pm$ 1, $-1$, $k$", "± 1, −1, k"),
        ("Load $x^2$ | $\\frac{1}{2}$", "Load $x^2$ \\| $\\frac{1}{2}$"),  # GitHub renders the maths it cannot spell
        ("under_score *x* $\\input{y}$", "under\\_score \\*x\\* $\\\\input{y}$"),  # unsafe maths: literal text
    ],
)
def test_markdown_labels_write_maths_as_readers_see_it(label, shown):
    from figkit.latex import markdown_label

    assert markdown_label(label) == shown
