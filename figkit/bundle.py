"""``figkit bundle``: a paper as arXiv takes it, proven complete by compiling it alone.

The paper's ``\\input`` and ``\\include`` files are written into its main file (comments dropped, the
``%`` that starts one kept so that line ends read as they did); beside it go only the figures it includes, its own
classes, packages and bibliography styles, and its ``.bbl`` (arXiv does not run BibTeX). Every file
comes from inside the paper's folder and keeps its path relative to it. Figures are checked as
journals check them (embedded fonts, no Type 3), and the bundle is compiled with pdflatex in an
empty folder where LaTeX can read nothing else: a file the bundle misses fails there, not on arXiv.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from figkit.files import read_tex

MAX_BUNDLE_BYTES = 50_000_000  # arXiv's limit for a submission
MAX_DEPTH = 20  # \input inside \input: deeper is a loop
GRAPHICS_EXTENSIONS = (".pdf", ".png", ".jpg", ".jpeg")  # what pdflatex includes
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the same bytes every time

INPUT = re.compile(r"\\(input|include)\s*\{([^{}]*)\}")
GRAPHICS = re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")
GRAPHICS_PATH = re.compile(r"\\graphicspath\s*\{((?:\s*\{[^{}]*\})+)\s*\}")
PACKAGES = re.compile(r"\\(?:documentclass|usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")
BIBLIOGRAPHY_STYLE = re.compile(r"\\bibliographystyle\s*\{([^{}]*)\}")
BIBLIOGRAPHY = re.compile(r"\\bibliography\s*\{[^{}]*\}|\\printbibliography\b")
COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*")  # a % not escaped, and what follows it on the line


@dataclass
class Bundle:
    """What ``bundle`` made: the main file's name, the files beside it (paths in the bundle), its size."""

    out: Path
    main: str
    files: list = field(default_factory=list)
    size: int = 0
    compiled: bool = False


def bundle(main_tex: str | os.PathLike, out: str | os.PathLike, *, compile: bool = True) -> Bundle:
    """Make ``out`` (a ``.zip`` file, or a new folder) hold the paper ``main_tex`` as arXiv takes it.

    Raises ``ValueError`` naming the file (and line) for a source or figure outside the paper's folder, a
    missing one, a bibliography without its ``.bbl``, a figure with a Type 3 or unembedded font, a bundle
    over arXiv's 50 MB, or a bundle that does not compile alone. Nothing is written then.
    """
    main = Path(main_tex)
    root = main.resolve().parent
    out = Path(out)
    text = _flattened(_inside(root, main.name, main.name), root, main.name, depth=0)
    files = sorted(set(_figures(text, root)) | set(_local_styles(text, root)))
    bbl = _bibliography(text, root, main)
    problems = [problem for path in files if path.endswith(".pdf") for problem in _figure_problems(root / path)]
    if problems:
        raise ValueError("; ".join(problems))
    size = len(text.encode()) + sum((root / path).stat().st_size for path in files) + (bbl.stat().st_size if bbl else 0)
    if size > MAX_BUNDLE_BYTES:
        raise ValueError(f"the bundle would hold {size:,} bytes, over arXiv's {MAX_BUNDLE_BYTES:,}")
    with tempfile.TemporaryDirectory(prefix="figkit-bundle-") as work:
        staged = Path(work) / "bundle"
        staged.mkdir()
        (staged / main.name).write_text(text, encoding="utf-8")
        for path in files:
            (staged / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / path, staged / path)
        if bbl is not None:
            shutil.copyfile(bbl, staged / f"{main.stem}.bbl")
        if compile:
            _compiles_alone(staged, main.name, Path(work) / "proof")
        _write(staged, out)
    listed = files + ([f"{main.stem}.bbl"] if bbl is not None else [])
    return Bundle(out, main.name, listed, size, compile)


def _inside(root, name, where):
    """The regular file ``name`` (relative to the paper's folder) as a Path; refused if it leads outside the
    folder (``..``, an absolute path, a symbolic link out of it) or is no regular file."""
    if Path(name).is_absolute():
        raise ValueError(f"{where}: {name} is an absolute path; a bundle holds only files inside the paper's folder")
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{where}: {name} is outside the paper's folder {root}")
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        raise ValueError(f"{where}: {name} does not exist") from None
    if not regular:
        raise ValueError(f"{where}: {name} is not a regular file")
    return path


def _without_comments(text):
    """Each line up to its first unescaped ``%``, which stays, so that line ends read as they did; a line
    that was only a comment goes (its ``%`` ate its own line end)."""
    lines = (COMMENT.sub(r"\1%", line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line.strip() != "%")


def _flattened(path, root, name, depth):
    """The source at ``path`` with every ``\\input`` and ``\\include`` replaced by the file it names."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{name}: \\input nested more than {MAX_DEPTH} deep (a file that inputs itself?)")
    text = _without_comments(read_tex(path))

    def inline(match):
        command, target = match.group(1), match.group(2).strip()
        line = text.count("\n", 0, match.start()) + 1
        where = f"{name}:{line}: \\{command}{{{target}}}"
        candidates = [target + ".tex", target] if Path(target).suffix != ".tex" else [target]
        found = next((c for c in candidates if (root / c).is_file() or (root / c).is_symlink()), candidates[0])
        source = _inside(root, found, where)
        body = _flattened(source, root, found, depth + 1)
        return f"\\clearpage\n{body}\n\\clearpage\n" if command == "include" else body

    return INPUT.sub(inline, text)


def _graphics_folders(text):
    """The folders ``\\graphicspath`` names, and the paper's own."""
    folders = [""]
    for match in GRAPHICS_PATH.finditer(text):
        folders += re.findall(r"\{([^{}]*)\}", match.group(1))
    return folders


def _figures(text, root):
    """The paths (relative to the paper's folder) of every figure the flattened source includes."""
    folders = _graphics_folders(text)
    found = []
    for match in GRAPHICS.finditer(text):
        name = match.group(1).strip()
        line = text.count("\n", 0, match.start()) + 1
        where = f"the paper (line {line} once its \\input files are in it): \\includegraphics{{{name}}}"
        suffixes = [""] if Path(name).suffix.lower() in GRAPHICS_EXTENSIONS else list(GRAPHICS_EXTENSIONS)
        candidates = [folder + name + suffix for folder in folders for suffix in suffixes]
        existing = next((c for c in candidates if (root / c).exists() or (root / c).is_symlink()), None)
        if existing is None:
            raise ValueError(f"{where}: no such figure in the paper's folder")
        found.append(_inside(root, existing, where).relative_to(root).as_posix())
    return found


def _local_styles(text, root):
    """The paper's own classes, packages and bibliography styles: those its folder holds."""
    names = [n.strip() for m in PACKAGES.finditer(text) for n in m.group(1).split(",")]
    files = [f"{name}{suffix}" for name in names for suffix in (".cls", ".sty")]
    files += [f"{m.group(1).strip()}.bst" for m in BIBLIOGRAPHY_STYLE.finditer(text)]
    return [_inside(root, f, f).relative_to(root).as_posix() for f in files if f and (root / f).is_file()]


def _bibliography(text, root, main):
    """The ``.bbl`` of a paper with a bibliography (the paper's folder first, then its build folders),
    newest first; None without a bibliography."""
    if not BIBLIOGRAPHY.search(text):
        return None
    name = f"{main.stem}.bbl"
    candidates = [root / name] if (root / name).is_file() else []
    candidates += sorted(root.glob(f"*/**/{name}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        if candidate.resolve().is_relative_to(root) and candidate.is_file():
            return candidate
    raise ValueError(
        f"{main.name} has a bibliography but no {name} was found in {root}: compile the paper with BibTeX or "
        "Biber first (arXiv does not run them)"
    )


def _figure_problems(path):
    from figkit.lint import check_pdf_fonts

    return [f"{path.name}: {problem}" for problem in check_pdf_fonts(path).problems]


def _compiles_alone(staged, name, proof):
    """Compile a copy of the bundle where LaTeX may read nothing else; a LaTeX error names what is missing."""
    from figkit.latex import compile_pdf

    shutil.copytree(staged, proof)
    try:
        compile_pdf(proof / name, outdir=".proof")
    except RuntimeError as error:
        raise ValueError(f"the bundle does not compile on its own: {error}") from None


def _write(staged, out):
    """``staged`` as a zip file (``out`` ending in .zip) or as the new folder ``out``, whole or not at all."""
    if out.suffix.lower() == ".zip":
        temporary = out.with_name(f".{out.name}.tmp")
        try:
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(p for p in staged.rglob("*") if p.is_file()):
                    entry = zipfile.ZipInfo(path.relative_to(staged).as_posix(), ZIP_DATE)
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(entry, path.read_bytes())
            os.replace(temporary, out)
        finally:
            temporary.unlink(missing_ok=True)
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder; give a new folder or a .zip file")
    if out.exists():
        out.rmdir()
    shutil.copytree(staged, out)
