"""Compiling the appendix (or a talk's slides), only when something it includes changed; a LaTeX error traced
to its results field."""

from __future__ import annotations

import json
import re
import shutil

from figkit.files import digest, file_digest, write_if_changed
from figkit.latex import compile_pdf, escape_label
from figkit.pipeline.manifest import LATEX_DIR

NO_TEX = (
    "no TeX engine found, so {pdf} was not made (the .tex files are written). Install TeX Live "
    "(Debian/Ubuntu: apt-get install latexmk texlive-latex-recommended texlive-fonts-recommended lmodern; "
    "macOS: MacTeX) or pass --no-compile"
)
OVERFULL = re.compile(r"^Overfull \\hbox \(([\d.]+)pt too wide\) .*?lines? (\d+)")
SHOWN_OVERFULL = 3  # lines too wide a message names
OVERFULL_LIMIT = 1.0  # points a line may stick out before it is reported (LaTeX's own \hfuzz is 0.1)


def compile_document(out_dir, name, planned, results, manifest, force, require_pdf, report, allow_overfull=False):
    """Compile ``name``.tex (the appendix or a talk's slides) into ``name``.pdf unless nothing it includes
    changed; record it in ``manifest``. A line of a figkit file wider than the page (LaTeX's Overfull
    \\hbox, over 1 pt) fails it, so every build says so until it fits, unless ``allow_overfull`` (a
    note). Returns the status to show."""
    document = f"{name}.pdf"  # its name in the manifest and in messages
    pdf = out_dir / document
    inputs = sorted((job.name, manifest.get(job.name, {}).get("outputs")) for job in planned)
    key = digest(json.dumps(inputs, sort_keys=True).encode())  # the digests of everything it includes
    entry = manifest.get(document)
    if not force and entry and entry["key"] == key and file_digest(pdf) == entry["outputs"].get(document):
        report.pdf = pdf
        report.unchanged.append(document)
        return "up to date"
    if not (shutil.which("latexmk") and shutil.which("pdflatex")):
        missing = NO_TEX.format(pdf=document)
        if manifest.pop(document, None) and pdf.is_file():  # figkit's, compiled from other outputs than these
            pdf.unlink()
            missing += f"; the old {document}, compiled from earlier outputs, is removed"
        if require_pdf:
            report.failed[document] = missing
        else:
            report.notes.append(missing)
        return missing
    (out_dir / LATEX_DIR).mkdir(parents=True, exist_ok=True)
    link = _link_latex_could_follow(out_dir)
    if link is not None:
        report.failed[document] = f"{link} is a symbolic link; figkit compiles only real files inside {out_dir}"
        return report.failed[document]
    try:
        made = compile_fresh_if_need_be(out_dir, name)
    except RuntimeError as error:
        report.failed[document] = _explain(str(error), out_dir, results)
        manifest.pop(document, None)
        return report.failed[document]
    data = made.read_bytes()
    write_if_changed(pdf, data)
    report.pdf = pdf
    report.rendered.append(document)
    wide = [f"{document}: {line}" for line in overfull_lines(made.with_suffix(".log"))]
    if len(wide) > SHOWN_OVERFULL:
        wide[SHOWN_OVERFULL:] = [f"{document}: {len(wide) - SHOWN_OVERFULL} more lines too wide (see its log)"]
    if wide and not allow_overfull:
        report.failed[document] = "; ".join(wide) + " (--allow-overfull makes this a note)"
        manifest.pop(document, None)  # the next build compiles again, and says so again
        return "compiled, wider than the page"
    report.notes += wide
    if _inputs_changed(out_dir, planned, manifest):
        manifest.pop(document, None)  # the next build compiles again
        report.notes.append(f"{document} may include files another build wrote while it compiled: build again")
        return "compiled"
    manifest[document] = {"key": key, "outputs": {document: digest(data)}}  # what this build wrote, not what is
    return "compiled"


def overfull_lines(log_path, limit=OVERFULL_LIMIT):
    """Each line wider than the page by over ``limit`` points in a file figkit wrote, from LaTeX's log:
    "tables/comparison.tex, line 12: 40.3 pt too wide". The file is the one TeX was reading when it
    said so: the log opens each file with "(./name" and closes it with ")"."""
    try:
        log = log_path.read_text(encoding="latin-1")
    except OSError:
        return []
    found, reading, quoting = [], [], False
    for line in log.splitlines():
        if quoting:  # a box's text, quoted after its warning up to a blank line: not the log's own parentheses
            quoting = bool(line.strip())
            continue
        if line.startswith(("Overfull \\hbox", "Underfull \\hbox")):
            quoting = True
            wide = OVERFULL.match(line)
            where = reading[-1] if reading else "?"
            if (
                wide
                and float(wide.group(1)) > limit
                and re.match(r"\./(tables|figures)/|\./(appendix|slides)\.tex$", where)
            ):
                found.append(f"{where[2:]}, line {wide.group(2)}: {float(wide.group(1)):.1f} pt too wide")
            continue
        prose = re.sub(r"\((?![^\s()]*[/.])[^()]*\)", "", line)  # "(Font)", "(version 2.0)": no file
        for opened in re.findall(r"\(([^\s()]*[/.][^\s()]*)|\)", prose):
            if opened:
                reading.append(opened if opened.startswith(("/", "./")) else f"./{opened}")
            elif reading:
                reading.pop()
    return found


def _inputs_changed(out_dir, planned, manifest):
    """Whether a file the document includes no longer holds what this build wrote (something that does not
    honour the folder's lock, such as an older figkit, wrote it)."""
    written = [entry["outputs"].items() for job in planned if (entry := manifest.get(job.name))]
    return any(file_digest(out_dir / path) != sha for outputs in written for path, sha in outputs)


def compile_fresh_if_need_be(out_dir, name="appendix"):
    """Compile ``name``.tex; after a failure, once more from an empty auxiliary folder, since a run killed
    from outside (or a full disk) leaves a truncated .aux or a latexmk database that fail every later run."""
    try:
        return compile_pdf(out_dir / f"{name}.tex", outdir=LATEX_DIR)
    except RuntimeError:
        shutil.rmtree(out_dir / LATEX_DIR)
        (out_dir / LATEX_DIR).mkdir(parents=True)
        return compile_pdf(out_dir / f"{name}.tex", outdir=LATEX_DIR)


def _link_latex_could_follow(out_dir):
    """A symbolic link among the files LaTeX may read or write: the output folder's own and figkit's folders."""
    for folder in (out_dir, out_dir / "figures", out_dir / "tables", out_dir / LATEX_DIR):
        if folder.is_dir():
            link = next((path for path in sorted(folder.iterdir()) if path.is_symlink()), None)
            if link is not None:
                return link
    return None


def _explain(message, out_dir, results):
    """Add to a LaTeX error the results field that the failing line was written from."""
    where = re.match(r"(.+?):(\d+): ", message)
    if not where:
        return message
    name, line = where.group(1), int(where.group(2))
    path = next((p for p in (out_dir / name, out_dir / "tables" / name) if p.is_file()), None)
    if path is None:
        return message
    lines = path.read_text(errors="replace").splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    for i, method in enumerate(results["methods"]):
        shown = method.get("label", method["id"])
        if _appears(shown, text):
            return f"{message} (from methods[{i}].label {shown!r})"
    for metric, info in results.get("metric_info", {}).items():
        if "label" in info and _appears(info["label"], text):
            return f"{message} (from metric_info.{metric}.label {info['label']!r})"
    if "title" in results and _appears(results["title"], text):
        return f"{message} (from title)"
    return message


def _appears(label, text):
    return bool(label) and escape_label(label) in text
