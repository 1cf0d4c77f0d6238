"""LaTeX: escaping, the Jinja environment for templates, and a hardened compile.

Two kinds of strings reach LaTeX. Data (token strings, ids) is always literal.
Labels (method names, metric labels, titles) are text with optional ``$...$``
maths: the text is escaped; a maths segment passes through when it uses only
harmless commands, otherwise it is shown literally too. Trusted markup is
wrapped in ``Raw`` and never escaped.
"""

import functools
import os
import re
import subprocess
import unicodedata
import warnings
from pathlib import Path

from figkit.files import is_plain_relative
from figkit.processes import TEX_TIMEOUT, run_tex

COMPILE_OUTPUT_LIMIT = 2**30  # bytes LaTeX may write to one file: a 400-figure appendix is far below
# latexmk can end a compile whose last log still says "Rerun LaTeX" (seen in CI with longtable's column
# widths): the PDF then depends on timing and on the .aux a previous build left. Up to this many more
# runs (latexmk -g) settle it.
EXTRA_PASSES = 2
SOURCE_DATE_EPOCH = "1700000000"

_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "\\": r"\textbackslash{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",
    "-": "{-}",
    "[": "{[}",  # a table row starting with [ or * would give them to the \\ before it
    "]": "{]}",
    "*": "{*}",
    "\n": " ",
    "\r": " ",
    "\t": " ",
}
_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
    "phi chi psi omega"
).split()
_UNICODE = {char: rf"$\{name}$" for char, name in zip("αβγδεζηθικλμνξπρστυφχψω", _GREEK)}
_UNICODE.update(
    {
        "\N{PLUS-MINUS SIGN}": r"$\pm$",
        "\N{MULTIPLICATION SIGN}": r"$\times$",
        "\N{LESS-THAN OR EQUAL TO}": r"$\leq$",
        "\N{GREATER-THAN OR EQUAL TO}": r"$\geq$",
        "\N{RIGHTWARDS ARROW}": r"$\rightarrow$",
        "\N{EN DASH}": r"\textendash{}",  # not -- and ---: two in a row would join into other dashes
        "\N{EM DASH}": r"\textemdash{}",
        "\N{MINUS SIGN}": "$-$",
        "\N{HORIZONTAL ELLIPSIS}": r"\ldots{}",
        "\N{LEFT SINGLE QUOTATION MARK}": "`",
        "\N{RIGHT SINGLE QUOTATION MARK}": "'",
        "\N{LEFT DOUBLE QUOTATION MARK}": "``",
        "\N{RIGHT DOUBLE QUOTATION MARK}": "''",
        "\N{NO-BREAK SPACE}": "~",
        "\N{INFINITY}": r"$\infty$",
        "\N{DEGREE SIGN}": r"$^\circ$",
        "\N{MICRO SIGN}": r"$\mu$",
        "\N{MIDDLE DOT}": r"$\cdot$",
        "\N{ALMOST EQUAL TO}": r"$\approx$",
        "\N{INTERSECTION}": r"$\cap$",
        "\N{UNION}": r"$\cup$",
        "\N{APPROXIMATELY EQUAL TO}": r"$\cong$",
        "\N{OPEN BOX}": r"\textvisiblespace{}",
        "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}": r"\textbackslash{}n",  # a token's newline, as an escape
    }
)
# Commands a maths segment from data may use: symbols and formatting, nothing that reads, writes or defines.
SAFE_MATH_COMMANDS = frozenset(
    _GREEK
    + [name.capitalize() for name in _GREEK]
    + """
    pm mp times cdot div leq geq neq approx sim ll gg le ge infty partial nabla sum prod int log exp min max
    arg sqrt frac mathrm mathbf mathit mathsf mathtt mathcal text textrm left right mid to rightarrow
    leftarrow ldots cdots circ prime hat bar tilde vec dot varepsilon vartheta varphi varrho varsigma
    in notin subset subseteq cup cap emptyset forall exists lvert rvert langle rangle top cong
    """.split()
)
# Commands that take arguments (each a {group} or one token) and how many; the others take none.
MATH_ARGUMENTS = dict.fromkeys(
    "text textrm mathrm mathbf mathit mathsf mathtt mathcal hat bar tilde vec dot".split(), 1
)
MATH_ARGUMENTS |= {"frac": 2, "sqrt": 1}
TEXT_ARGUMENT = frozenset({"text", "textrm"})  # their argument is text: no maths characters in it
DELIMITERS = frozenset("()[]|./") | {r"\{", r"\}", r"\|", r"\langle", r"\rangle", r"\lvert", r"\rvert"}
MATH_ESCAPES = frozenset(r"\{ \} \, \; \: \! \|".split()) | {"\\ "}
# Characters T1 fonts join into one other character (!` is ¡, ?` is ¿, ,, is „, '' is ”): two written
# by different characters of a string are kept apart.
_JOINING = {("!", "`"), ("?", "`"), ("`", "`"), ("'", "'"), (",", ",")}


class Raw(str):
    """Trusted LaTeX markup: passed through templates unescaped."""


def escape_text(text):
    """``text`` shown literally in LaTeX text mode; odd characters become a visible placeholder (one
    warning for the string)."""
    out, odd = [], []
    for char in str(text):
        if char in _SPECIAL:
            piece = _SPECIAL[char]
        elif char in _UNICODE:
            piece = _UNICODE[char]
        elif (
            " " <= char <= "~"
            or "\N{LATIN CAPITAL LETTER A WITH GRAVE}" <= char <= "\N{LATIN SMALL LETTER Y WITH DIAERESIS}"
        ):
            piece = char  # printable ASCII, and the accented letters pdflatex reads as UTF-8 by default
        else:
            odd.append(f"U+{ord(char):04X}")
            piece = rf"\texttt{{[U+{ord(char):04X}]}}"
        if out and (out[-1][-1], piece[0]) in _JOINING:
            out.append("{}")
        out.append(piece)
    if odd:
        warnings.warn(f"no LaTeX for {', '.join(dict.fromkeys(odd))} in {text!r}; shown as [U+...]", stacklevel=3)
    return "".join(out)


def escape_label(text):
    """A label: text escaped, balanced ``$...$`` maths kept if it uses only safe commands."""
    parts = re.split(r"(\$[^$]+\$)", str(text))
    return "".join(part if _safe_math(part) else escape_text(part) for part in parts)


def _safe_math(part):
    """Whether ``$...$`` is maths LaTeX can typeset and that can do nothing else: safe characters, known
    commands with their arguments, balanced groups and \\left/\\right, every ^ and _ with its argument."""
    if len(part) < 3 or not (part.startswith("$") and part.endswith("$")):
        return False
    body = part[1:-1]
    if "^^" in body or any(not " " <= c <= "}" or c in "#%&" for c in body):
        return False
    tokens = re.findall(r"\\[A-Za-z]+|\\.|.", body, re.S)
    try:
        end = _math_group(tokens, 0, 0)
    except ValueError:
        return False
    return end == len(tokens)


def _math_group(tokens, i, depth):
    """Check ``tokens`` from ``i`` to the end of the group; return where it ends (ValueError if not maths)."""
    lefts, scripted = 0, ""
    while i < len(tokens):
        token = tokens[i]
        if token == "}":
            if depth == 0 or lefts:
                raise ValueError("unbalanced")
            return i
        if token in "^_":
            if token in scripted:
                raise ValueError("double script")
            scripted += token
            i = _math_argument(tokens, i + 1, depth)
            continue
        scripted = ""
        if token == "{":
            i = _math_group(tokens, i + 1, depth + 1) + 1
        elif token.startswith("\\") and token[1:].isalpha():
            name = token[1:]
            if name in ("left", "right"):
                lefts += 1 if name == "left" else -1
                if lefts < 0 or i + 1 >= len(tokens) or tokens[i + 1] not in DELIMITERS:
                    raise ValueError("delimiter")
                i += 2
                continue
            if name not in SAFE_MATH_COMMANDS:
                raise ValueError("command")
            i += 1
            if name == "sqrt" and i < len(tokens) and tokens[i] == "[":
                i = tokens.index("]", i) + 1 if "]" in tokens[i:] else len(tokens) + 1
            for _ in range(MATH_ARGUMENTS.get(name, 0)):
                if name in TEXT_ARGUMENT and i < len(tokens) and tokens[i] == "{":
                    close = _math_group(tokens, i + 1, depth + 1)
                    if any(t in "^_" or t.startswith("\\") for t in tokens[i + 1 : close]):
                        raise ValueError("maths in text")
                i = _math_argument(tokens, i, depth)
        elif token.startswith("\\") and token not in MATH_ESCAPES:
            raise ValueError("escape")
        else:
            i += 1
    if depth or lefts:
        raise ValueError("unclosed")
    return i


def _math_argument(tokens, i, depth):
    """The end of one argument at ``i``: a group, or one token that can stand alone (spaces before it skipped)."""
    while i < len(tokens) and tokens[i] == " ":
        i += 1
    if i >= len(tokens) or tokens[i] in ("}", "^", "_", " ") or tokens[i] in ("\\left", "\\right"):
        raise ValueError("missing argument")
    token = tokens[i]
    if token == "{":
        return _math_group(tokens, i + 1, depth + 1) + 1
    if token.startswith("\\") and token[1:].isalpha():
        if token[1:] not in SAFE_MATH_COMMANDS:
            raise ValueError("command")
        if MATH_ARGUMENTS.get(token[1:]):
            raise ValueError("a command with arguments as an argument")
    elif token.startswith("\\") and token not in MATH_ESCAPES:
        raise ValueError("escape")  # \] or \[ would end or start display maths, \^ is a text accent
    return i + 1


def tex_path(path):
    """A relative file path for \\input or \\includegraphics, as trusted markup; refuses anything odd."""
    text = str(path)
    if not is_plain_relative(text):
        raise ValueError(f"{text!r} cannot go in LaTeX as a path: use a relative path of letters, digits and _ . - /")
    return Raw(text)


def escape_markdown(text):
    """``text`` shown literally in a Markdown table cell."""
    return _markdown_literal(" ".join(str(text).split()))


def _markdown_literal(text):
    """``text`` with nothing a Markdown reader would act on: control and invisible format characters (NUL,
    ESC, a right-to-left override, a zero-width space, a BOM) shown as [U+...], the punctuation of
    emphasis, code, tables, links, strikethrough and entities escaped, and bare URLs kept from linking."""
    text = "".join(f"[U+{ord(c):04X}]" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
    text = re.sub(r"([\\`*_|\[\]<>~&])", r"\\\1", text)
    return re.sub(r"(?i)(:)(?=//)|(?<=\bwww)(\.)", r"\\\1\2", text)


# Maths commands a Markdown cell shows as the character itself: \alpha as α, \pm as ±.
_MATH_CHARACTERS = {command[2:-1]: char for char, command in _UNICODE.items() if re.fullmatch(r"\$\\[a-z]+\$", command)}
_MATH_CHARACTERS |= {
    "le": "\N{LESS-THAN OR EQUAL TO}",
    "ge": "\N{GREATER-THAN OR EQUAL TO}",
    "to": "\N{RIGHTWARDS ARROW}",
}


def markdown_label(text):
    """A label in a Markdown table cell: maths made only of letters, digits and the symbols of
    ``_MATH_CHARACTERS`` written as Unicode (``$\\alpha$=0.05`` as α=0.05), other safe maths kept as
    ``$...$`` for GitHub to render, everything else shown literally; never an escaped backslash."""
    parts = re.split(r"(\$[^$]+\$)", " ".join(str(text).split()))
    shown = []
    for part in parts:
        if not _safe_math(part):
            shown.append(_markdown_literal(part))
            continue
        plain = re.sub(r"\\([A-Za-z]+)\s*", lambda m: _MATH_CHARACTERS.get(m.group(1), m.group(0)), part[1:-1])
        if re.fullmatch(r"[A-Za-z0-9 .,:;=+\-()\[\]/]*", re.sub(f"[{''.join(_MATH_CHARACTERS.values())}]", "", plain)):
            shown.append(_markdown_literal(plain.replace("-", "\N{MINUS SIGN}")))
        else:
            shown.append(part.replace("|", "\\vert "))  # GitHub renders it; a | would end the cell
    return "".join(shown)


@functools.lru_cache(maxsize=16)
def environment(template_dirs=(), escape=escape_text):
    """Sandboxed Jinja with LaTeX-safe delimiters (``\\VAR{}``, ``\\BLOCK{}``, ``\\#{}``), escaping every value.

    ``template_dirs`` (a tuple of folders) are searched before the package's templates, so a paper repo
    can override any template with a file of the same name. The sandbox keeps a template (perhaps from
    a copied folder) from reaching Python beyond the values it is given.
    """
    import jinja2
    import jinja2.sandbox

    return jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in template_folders(template_dirs)]),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: value if isinstance(value, Raw) else escape("" if value is None else value),
    )


def default_template_dirs():
    """A ``templates/`` folder in the current directory (the paper repo), if there is one."""
    local = Path.cwd() / "templates"
    return [local] if local.is_dir() else []


def template_folders(template_dirs=None):
    """Where templates are looked for, in order: ``template_dirs`` (default: the paper repo's), then figkit's."""
    from importlib import resources

    dirs = default_template_dirs() if template_dirs is None else template_dirs
    return [*map(Path, dirs), Path(str(resources.files("figkit.templates")))]


def render_template(name, template_dirs=None, **context):
    """Render template ``name``; values are escaped for LaTeX, or for Markdown in a ``.md`` template."""
    dirs = default_template_dirs() if template_dirs is None else template_dirs
    escape = escape_markdown if name.endswith(".md") else escape_text
    return environment(tuple(map(str, dirs)), escape).get_template(name).render(**context)


def compile_pdf(tex_path, *, outdir=None, timeout=TEX_TIMEOUT):
    """Compile ``tex_path`` with latexmk/pdflatex, hardened; return the PDF's path.

    ``outdir``, relative to the document's folder, takes the PDF and the auxiliary files.

    No rc files, no shell escape, reads and writes confined to the document's folder
    (``openin_any=p``, ``openout_any=p``), stdin closed, a wall-clock timeout, and fixed
    dates so the PDF is the same bytes every run. A LaTeX error raises RuntimeError
    with the file, line and message.
    """
    tex_path = Path(tex_path)
    env = os.environ | {
        "openin_any": "p",
        "openout_any": "p",
        "max_print_line": "10000",
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "FORCE_SOURCE_DATE": "1",
    }
    command = [
        "latexmk",
        "-norc",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        "-no-shell-escape",
        "-quiet",
        *([f"-outdir={outdir}"] if outdir else []),
        tex_path.name,
    ]
    made = tex_path.parent / (outdir or ".") / tex_path.with_suffix(".pdf").name
    try:
        returncode = run_tex(command, tex_path.parent, env, output_limit=COMPILE_OUTPUT_LIMIT, timeout=timeout)
        for _ in range(EXTRA_PASSES):  # latexmk may stop while LaTeX still asks for a run (see EXTRA_PASSES)
            if returncode != 0 or not _asks_rerun(made.with_suffix(".log")):
                break
            again = [command[0], "-g", *command[1:]]  # -g: run LaTeX even though latexmk sees no change
            returncode = run_tex(again, tex_path.parent, env, output_limit=COMPILE_OUTPUT_LIMIT, timeout=timeout)
    except FileNotFoundError:
        raise RuntimeError(
            "compiling LaTeX needs latexmk and pdflatex: install TeX Live (Debian/Ubuntu: "
            "apt-get install latexmk texlive-latex-recommended)"
        ) from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{tex_path.name}: LaTeX did not finish within {timeout} s") from None
    if returncode != 0:
        raise RuntimeError(latex_error(made.with_suffix(".log")))
    return made


def _asks_rerun(log_path):
    """Whether the last LaTeX run said its output is not final (longtable's widths, references)."""
    try:
        log = Path(log_path).read_text(encoding="latin-1")
    except OSError:
        return False
    return re.search(r"Rerun LaTeX|Rerun to get", log) is not None


def latex_error(log_path):
    """The first error of a LaTeX log, as ``file:line: message``."""
    try:
        log = Path(log_path).read_text(encoding="latin-1")
    except OSError:
        return "LaTeX failed and wrote no log"
    where = re.search(r"^(\S+?\.tex):(\d+): (.+)$", log, re.M)
    bang = re.search(r"^! (.+)$", log, re.M)  # "! LaTeX Error: ..." lines carry no file:line
    message = bang.group(1) if bang else where.group(3) if where else "LaTeX failed; see the log"
    return f"{Path(where.group(1)).name}:{where.group(2)}: {message}" if where else message
