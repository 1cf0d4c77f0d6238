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
import signal
import subprocess
import time
import warnings
from pathlib import Path

from figkit.files import is_plain_relative

TEX_TIMEOUT = 120  # seconds
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
        "\N{EN DASH}": "--",
        "\N{EM DASH}": "---",
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
        "\N{APPROXIMATELY EQUAL TO}": r"$\approx$",
        "\N{OPEN BOX}": r"\textvisiblespace{}",
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
    in notin subset subseteq cup cap emptyset forall exists lvert rvert langle rangle top
    """.split()
)


class Raw(str):
    """Trusted LaTeX markup: passed through templates unescaped."""


def escape_text(text):
    """``text`` shown literally in LaTeX text mode; odd characters become a visible placeholder."""
    out = []
    for char in str(text):
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char in _UNICODE:
            out.append(_UNICODE[char])
        elif (
            " " <= char <= "~"
            or "\N{LATIN CAPITAL LETTER A WITH GRAVE}" <= char <= "\N{LATIN SMALL LETTER Y WITH DIAERESIS}"
        ):
            out.append(char)  # printable ASCII, and the accented letters pdflatex reads as UTF-8 by default
        else:
            warnings.warn(
                f"no LaTeX for {char!r} (U+{ord(char):04X}) in {text!r}; shown as a placeholder", stacklevel=3
            )
            out.append(rf"\texttt{{[U+{ord(char):04X}]}}")
    return "".join(out)


def escape_label(text):
    """A label: text escaped, balanced ``$...$`` maths kept if it uses only safe commands."""
    parts = re.split(r"(\$[^$]+\$)", str(text))
    return "".join(part if _safe_math(part) else escape_text(part) for part in parts)


def _safe_math(part):
    if len(part) < 3 or not (part.startswith("$") and part.endswith("$")):
        return False
    body = part[1:-1]
    if "^^" in body or any(not " " <= c <= "}" or c in "#%&" for c in body):
        return False
    depth = 0
    for brace in re.sub(r"\\.", "", body):  # braces must balance, escaped ones aside
        depth += {"{": 1, "}": -1}.get(brace, 0)
        if depth < 0:
            return False
    if depth:
        return False
    return all(command in SAFE_MATH_COMMANDS for command in re.findall(r"\\([A-Za-z]+)", body))


def tex_path(path):
    """A relative file path for \\input or \\includegraphics, as trusted markup; refuses anything odd."""
    text = str(path)
    if not is_plain_relative(text):
        raise ValueError(f"{text!r} cannot go in LaTeX as a path: use a relative path of letters, digits and _ . - /")
    return Raw(text)


def escape_markdown(text):
    """``text`` shown literally in a Markdown table cell."""
    return re.sub(r"([\\`*_|\[\]<>])", r"\\\1", " ".join(str(text).split()))


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
        returncode = _run_group(command, tex_path.parent, env, timeout)
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


def _run_group(command, cwd, env, timeout):
    """Run ``command`` in its own process group; on timeout kill the whole group (latexmk and its pdflatex)."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _wait_until_gone(process.pid)
        raise


def _wait_until_gone(group, seconds=5.0):
    """Wait (briefly) until no process of ``group`` is left: the killed engine has released its folder."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


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
