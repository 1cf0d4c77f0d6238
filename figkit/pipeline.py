"""One results file to every figure, table, macro file and the compiled appendix.

The build runs in stages: load and validate the file (nothing is written if it is
bad), plan one job per output (each figure family of the registry says which figures
the file supports), skip the jobs whose key (a hash of their slice of the data, the
styles or templates, and figkit's code) is in the manifest with unchanged outputs,
run the others in parallel processes, and compile the appendix. A complete build
records one key of everything it read; when the next build's key is the same and the
outputs are intact, it stops there, having imported neither numpy nor matplotlib.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from array import array
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from figkit import __version__
from figkit.cache import cache_dir
from figkit.files import digest, file_digest, is_plain_relative, symbolic_link_on, write_if_changed
from figkit.latex import compile_pdf, escape_label, template_folders
from figkit.plots import FIGURES, figure_specs
from figkit.processes import die_with_parent
from figkit.results import load_results, method_labels
from figkit.results.reading import digest as results_digest
from figkit.stylesheets import style_sheets

MANIFEST = ".figkit/manifest.json"
LATEX_DIR = ".figkit/latex"  # the appendix's auxiliary files
DEPFILE = "figkit.d"
APPENDIX = "appendix"
PDF = "appendix.pdf"
TEMPLATES = ("table.tex", "table.md", "macros.tex", "appendix.tex", "figure.tex")
DEPENDENCIES = ("matplotlib", "numpy", "jinja2")  # what draws or writes the outputs
NO_TEX = (
    "no TeX engine found, so appendix.pdf was not made (the .tex files are written). Install TeX Live "
    "(Debian/Ubuntu: apt-get install latexmk texlive-latex-recommended texlive-fonts-recommended lmodern; "
    "macOS: MacTeX) or pass --no-compile"
)
TABLE_SECTION, FIGURE_SECTION = "Comparison of methods", "Figures"
APPENDIX_TEXT_WIDTH = 6.75  # inches: two 3.25 in figures side by side, as in a two-column paper
TOKEN_TABLE, TOKEN_TABLE_SECTION = "token_table", "Tokens of each expert"


@dataclass(frozen=True)
class Job:
    """One unit of work: what it makes (``outputs``, relative to the output folder) from which data."""

    name: str
    kind: str
    outputs: tuple
    data: dict
    caption: tuple = ()  # text, label, text, ...: labels may hold $...$ maths
    cost: float = 0.0  # relative render time, to start the heaviest jobs first
    width: str = "column"  # a figure's: "column" or "text" (for figure*)


@dataclass
class BuildResult:
    """What a build did; ``ok`` is false if a job or the compile failed."""

    out_dir: Path
    rendered: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)  # job name -> message
    pdf: Path | None = None
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.failed


def build(
    results_path: str | os.PathLike,
    out_dir: str | os.PathLike = "build",
    style: str | Sequence[str] = ("paper",),
    *,
    venue: str | None = None,
    tex: str | os.PathLike | None = None,
    width: str | float | None = None,
    wide: str | Sequence[str] = (),
    narrow_tables: bool = False,
    jobs: int | None = None,
    only: Sequence[str] | None = None,
    force: bool = False,
    compile: bool = True,
    require_pdf: bool = False,
    verbose: bool = False,
    quiet: bool = True,
    debug: bool = False,
) -> BuildResult:
    """Build every output a results file supports: figures, tables, macros and the appendix.

    Parameters
    ----------
    results_path : str or os.PathLike
        The results file (``.json`` or ``.json.gz``).
    out_dir : str or os.PathLike
        Output folder: ``figures/``, ``tables/``, ``macros.tex``, ``appendix.tex`` and
        ``appendix.pdf``, a manifest in ``.figkit/`` and a Make depfile ``figkit.d``.
    style : str or sequence of str
        Style names, or one comma-separated string.
    venue, tex : str, optional
        Size figures for a venue of ``figkit.geometry.VENUES``, or for the paper whose
        ``main.tex`` this is (measured with its own preamble): the column width in two-column
        layouts, the text width in one-column ones; text at the paper's caption size, ticks
        and legends at its footnote size, its typeface.
    width : {"column", "text"} or float, optional
        The width of every figure instead: one column, the text width, or inches.
    wide : str or sequence of str
        Figure families (shell patterns, or one comma-separated string) made at the text
        width, for ``figure*``; the domain grid always is. Needs ``venue`` or ``tex``.
    narrow_tables : bool
        A table wider than the column is set in ``\\small`` with less space between columns
        before it is made a ``table*``.
    jobs : int, optional
        Parallel processes (default: the number of CPUs).
    only : sequence of str, optional
        Job names to run (shell patterns; "appendix" means all).
    force : bool
        Ignore the manifest and rebuild everything.
    compile : bool
        Compile ``appendix.pdf`` (needs latexmk and pdflatex).
    require_pdf : bool
        Count a missing TeX engine as a failure.
    verbose, quiet, debug : bool
        Print every output; print nothing; give tracebacks of failed jobs.

    Returns
    -------
    BuildResult
        What was written, left alone or failed; ``ok`` is false if anything failed.

    Raises
    ------
    ValueError, OSError
        For a bad results file, style or ``only`` pattern: raised before anything is
        written. A failing job is reported in the result while the others finish.

    Notes
    -----
    Templates in a ``templates/`` folder of the current directory replace figkit's own. Two builds
    into one folder run one after the other: the second waits for the first.
    """
    arguments = dict(locals())
    with _one_build_at_a_time(Path(out_dir), quiet):
        return _build(**arguments)


@contextlib.contextmanager
def _one_build_at_a_time(out_dir, quiet):
    """Hold this user's lock on ``out_dir`` (a file in figkit's private cache, so nothing is written to
    ``out_dir`` before the results are read); a build that finds it held waits and says so."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    name = digest(str(out_dir.resolve()).encode())[:32]
    with open(cache_dir("locks") / f"{name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"figkit: waiting for another build into {out_dir}", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(
    results_path, out_dir, style, *, venue, tex, width, wide, narrow_tables, jobs, only, force, compile,
    require_pdf, verbose, quiet, debug,
):  # fmt: skip
    """``build`` with the output folder locked."""
    started = time.perf_counter()
    styles = tuple(s.strip() for s in style.split(",")) if isinstance(style, str) else tuple(style)
    sheets = style_sheets(*styles)
    page = _page(venue, tex)
    sizes = _figure_sizes(page, width, wide)
    wide = _wide_families(wide)
    out_dir = Path(out_dir)
    templates = _template_files()
    code = _code_digest()
    figure_key = digest(
        "\n".join([code, *styles, *(file_digest(s) for s in sheets), json.dumps(sizes, sort_keys=True)]).encode()
    )
    text_key = digest("\n".join([code, *(f"{n}:{file_digest(p)}" for n, p in templates.items())]).encode())
    manifest, ignored = _read_manifest(out_dir)
    _refuse_links(out_dir, [MANIFEST, LATEX_DIR, DEPFILE, PDF, *_outputs_of(manifest)])
    if force:
        manifest = {}
    try:
        results_key = results_digest(results_path)  # refuses an oversized file before hashing it
    except ValueError as error:
        raise ValueError(f"{results_path}: {error}") from None
    whole_key = _whole_build_key(results_path, results_key, figure_key, text_key, compile)
    if (
        whole_key is not None
        and not only
        and not ignored
        and manifest.get("build") == whole_key
        and _all_intact(out_dir, manifest)
    ):
        return _nothing_to_do(out_dir, manifest, quiet, verbose, started)  # no results loaded, nothing imported

    try:
        results = load_results(results_path)
    except (ValueError, MemoryError) as error:
        raise type(error)(f"{results_path}: {error}") from None
    table_fit = {"page": None if page is None else asdict(page), "narrow": narrow_tables}
    planned = plan(results, wide, table_fit, _appendix_layout(styles, page, sizes))
    _refuse_links(out_dir, [output for job in planned for output in job.outputs])
    selected = _select(planned, only)
    report = BuildResult(out_dir, notes=ignored)
    compiling = compile and any(job.name == APPENDIX for job in selected)
    progress = _Progress(len(selected) + compiling, quiet, verbose)
    done = manifest.get("jobs", {})
    keys = {job.name: _job_key(job, figure_key if job.kind in FIGURES else text_key) for job in planned}
    stale = []
    for job in selected:
        if _up_to_date(out_dir, done.get(job.name), keys[job.name]):
            report.unchanged.append(job.name)
            progress.step(job.name, "up to date")
        else:
            stale.append(job)

    if stale:
        _remove_leftovers(out_dir)
    for job, outcome in _run(stale, out_dir, {"styles": styles, "sizes": sizes, "debug": debug}, jobs):
        if isinstance(outcome, str):
            report.failed[job.name] = outcome
            done.pop(job.name, None)
            progress.step(job.name, f"FAILED: {outcome}")
        else:
            report.rendered.append(job.name)
            report.notes += outcome["notes"]
            done[job.name] = {"key": keys[job.name], "outputs": outcome["outputs"]}
            progress.step(job.name, "written")
    _prune(out_dir, done, planned)
    _write_manifest(out_dir, done, None)  # only if it changed; a build killed while compiling keeps the jobs

    if compiling and report.failed:
        report.notes.append(f"{PDF} was not compiled: it would include the outputs of failed jobs")
    elif compiling:
        status = _compile(out_dir, planned, results, done, force, require_pdf, report)
        progress.step(PDF, status)
    complete = not only and report.ok and not report.notes
    _write_manifest(out_dir, done, whole_key if complete else None)
    _write_depfile(out_dir, planned, results_path, sheets, templates)
    progress.done(report, time.perf_counter() - started)
    return report


# --- planning --------------------------------------------------------------------------------


def plan(results, wide=(), table_fit=None, layout=None):
    """The jobs a validated results file supports, in appendix order; names are stable and unique.
    The figures of the families in ``wide`` are made at the text width; ``table_fit`` is the comparison
    table's ``page`` (a Page as a dict, or None) and ``narrow``; ``layout`` the appendix's."""
    names = _Names()
    jobs = []

    def add(kind, stem, outputs, data, caption=(), cost=0.0, width="column"):
        name = names.unique(stem)
        jobs.append(Job(name, kind, tuple(o.format(name=name) for o in outputs), data, caption, cost, width))

    metrics = results.get("metrics", {})
    if any(metrics.values()):
        data = _table_data(results) | (table_fit or {"page": None, "narrow": False})
        add("table", "comparison", ("tables/{name}.tex", "tables/{name}.md"), data)
        add("macros", "macros", ("macros.tex",), {"metrics": {m: row for m, row in metrics.items() if row}})
    from figkit.plots.spec import layer_suffix  # the drawing libraries: only once there is work to plan

    for entry in results.get("vocabulary", []):
        if "expert_tokens" in entry:
            stem = f"expert_tokens_{entry['method']}_{layer_suffix(entry.get('layer'))}"
            add(TOKEN_TABLE, stem, ("tables/{name}.tex", "tables/{name}.md"), _token_table_data(results, entry, stem))
    for spec in figure_specs():
        for figure in spec.jobs(results):
            add(
                spec.name,
                spec.name + figure.suffix,
                ("figures/{name}.pdf",),
                figure.arguments,
                figure.caption,
                spec.cost,
                "text" if spec.width == "text" or spec.name in wide else "column",
            )
    omitted = {spec.name: list(spec.omitted(results)) for spec in figure_specs() if spec.omitted is not None}
    layout = layout or _appendix_layout(("paper",), None, {})
    jobs.append(Job(APPENDIX, APPENDIX, ("appendix.tex",), _appendix_data(results, jobs, omitted, layout)))
    return jobs


class _Names:
    """File-system safe, unique names: odd characters become "-", a repeated name gets "_2", "_3"..."""

    def __init__(self):
        self.taken = set()

    def unique(self, stem):
        base = re.sub(r"[^A-Za-z0-9_.-]", "-", stem).strip(".") or "output"
        name, n = base, 1
        while name.lower() in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name.lower())
        return name


def _table_data(results):
    info = results.get("metric_info", {})
    metrics = results.get("metrics", {})
    present = list(info) + [m for row in metrics.values() for m in row if m not in info]
    columns = list(dict.fromkeys(m for m in present if any(m in row for row in metrics.values())))
    headers = {m: info.get(m, {}).get("label", m) for m in columns}
    rows = {m["id"]: m.get("label", m["id"]) for m in results["methods"] if metrics.get(m["id"])}
    better = {m: info[m]["better"] for m in columns if "better" in info.get(m, {})}
    caption = "Comparison of routing methods."
    if better:
        rules = [
            f"{direction} is better for " + ", ".join(headers[m] for m in better if better[m] == direction)
            for direction in ("lower", "higher")
            if direction in better.values()
        ]
        caption += f" Bold: the best value of a column ({'; '.join(rules)})."
    return {
        "rows": rows,
        "columns": headers,
        "values": {m: metrics[m] for m in rows},
        "better": better,
        "caption": caption,
        "label": "tab:figkit-comparison",
    }


def _token_table_data(results, entry, stem):
    """What a table of each expert's most frequent tokens needs: the tokens, their strings, its caption."""
    from figkit.plots.spec import layer_text

    strings = results.get("token_strings", {})
    ids = {str(t) for tokens in entry["expert_tokens"] for t in tokens}
    label = method_labels(results)[entry["method"]]
    from figkit.stats import MIN_SPECIALISED

    where = layer_text(entry.get("layer"))
    if "expert_token_occurrences" in entry:
        caption = (
            f"{label}: the tokens most specialised to the experts with the most routings ({where}): each token "
            "with the share of its occurrences routed to the expert, highest first, among tokens seen at least "
            f"{MIN_SPECIALISED} times; \N{OPEN BOX} is a space."
        )
    else:
        caption = (
            f"{label}: the most frequent tokens of the experts with the most routings ({where}), most frequent "
            "first; \N{OPEN BOX} is a space."
        )
    return {
        "expert_tokens": entry["expert_tokens"],
        "routings": entry["expert_token_routings"],
        "occurrences": entry.get("expert_token_occurrences"),
        "token_strings": {t: strings[t] for t in sorted(ids) if t in strings},
        "caption": caption,
        "label": f"tab:{stem}",
    }


def _appendix_data(results, jobs, omitted, layout):
    """The appendix: the table, then the figures family by family in rows of ``layout["columns"]`` (a
    text-width figure alone; a family's first figure under its heading), a sentence for each figure
    ``omitted`` as empty, then the token tables."""
    sections = []
    tables = [job.outputs[0] for job in jobs if job.kind == "table"]
    if tables:
        sections.append({"title": TABLE_SECTION, "rows": [], "tables": tables, "notes": []})
    rows = []
    for spec in figure_specs():
        for i, job in enumerate(job for job in jobs if job.kind == spec.name):
            share = 1.0 if job.width == "text" or layout["columns"] == 1 else 0.49
            figure = {"path": job.outputs[0], "caption": job.caption, "label": f"fig:{job.name}", "share": share}
            figure["heading"] = spec.title if i == 0 else ""
            if rows and share < 1 and rows[-1][-1]["share"] < 1 and len(rows[-1]) < layout["columns"]:
                rows[-1].append(figure)
            else:
                rows.append([figure])
    notes = [note for spec in figure_specs() for note in omitted.get(spec.name, [])]
    if rows or notes:
        sections.append({"title": FIGURE_SECTION, "tables": [], "rows": rows, "notes": notes})
    token_tables = [job.outputs[0] for job in jobs if job.kind == TOKEN_TABLE]
    if token_tables:
        sections.append({"title": TOKEN_TABLE_SECTION, "rows": [], "tables": token_tables, "notes": []})
    return {
        "title": results.get("title", "Routing results"),
        "sections": sections,
        "macros": "macros.tex" if any(job.kind == "macros" for job in jobs) else None,
        "font": layout["font"],
        "text_width": layout["text_width"],
    }


def _appendix_layout(styles, page, sizes):
    """How the appendix sets the figures: the typeface they are drawn in, its text width (the paper's),
    and two figures to a row when two fit."""
    from figkit.stylesheets import figure_width, typeface

    column = sizes.get("column")
    text_width = APPENDIX_TEXT_WIDTH if page is None else page.text_width
    columns = 2 if 2 * figure_width(styles, column) <= text_width else 1
    return {"font": typeface(styles, column), "text_width": round(text_width, 4), "columns": columns}


def _page(venue, tex):
    """The Page the build makes figures and tables for, or None (the style's own sizes)."""
    from figkit.geometry import tex_page, venue_page

    if venue is not None and tex is not None:
        raise ValueError("give --venue or --tex, not both")
    try:
        return venue_page(venue) if venue is not None else tex_page(tex) if tex is not None else None
    except RuntimeError as error:  # pdflatex missing or failing on the paper's preamble
        raise ValueError(f"--tex {tex}: {error}") from None


def _figure_sizes(page, width, wide):
    """rcParams for figures at each width a build makes ({"column": ..., "text": ...}); {} for the style's own."""
    from figkit.stylesheets import page_rc

    if page is None:
        if wide:
            raise ValueError("--wide needs the paper's text width: give --venue or --tex")
        if width in ("column", "text"):
            raise ValueError(f"--width {width} needs the paper's widths: give --venue or --tex, or inches")
        return {} if width is None else {"column": page_rc(None, width)}
    return {"column": page_rc(page, "column" if width is None else width), "text": page_rc(page, "text")}


def _wide_families(wide):
    """The figure families ``wide`` names (shell patterns); a pattern that names none is an error."""
    patterns = [p for item in ([wide] if isinstance(wide, str) else wide) for p in str(item).split(",") if p]
    families = set()
    for pattern in patterns:
        matched = fnmatch.filter(FIGURES, pattern)
        if not matched:
            raise ValueError(f"--wide {pattern!r} names no figure family; families: {', '.join(FIGURES)}")
        families.update(matched)
    return families


def _select(jobs, only):
    if not only:
        return jobs
    names = [job.name for job in jobs]
    patterns = [p for item in only for p in str(item).split(",") if p]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            raise ValueError(f"--only {pattern!r} matches no job; jobs: {', '.join(names)}")
    if APPENDIX in patterns:
        return jobs
    return [job for job in jobs if any(fnmatch.fnmatchcase(job.name, p) for p in patterns)]


# --- keys and the manifest -------------------------------------------------------------------


def _code_digest():
    """figkit's version and source, and the versions of the libraries that draw."""
    package = Path(__file__).parent
    parts = [__version__]
    for path in sorted(package.rglob("*.py")) + sorted(package.glob("*.json")):
        parts.append(f"{path.relative_to(package)}:{file_digest(path)}")
    for name in DEPENDENCIES:
        try:
            parts.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} missing")
    return digest("\n".join(parts).encode())


def _job_key(job, environment):
    h = hashlib.sha256(environment.encode())
    _fingerprint(h, [job.kind, job.outputs, job.data, job.caption, job.width])
    return h.hexdigest()


def _fingerprint(h, value):
    """Feed ``value`` to the hash ``h``; lists of numbers go in as machine arrays (a million in ~20 ms)."""
    if isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=str):
            h.update(json.dumps(str(key)).encode() + b":")
            _fingerprint(h, value[key])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        for code in "qd":  # 64-bit integers, else doubles
            try:
                h.update(code.encode() + array(code, value).tobytes())
                return
            except (TypeError, OverflowError):
                pass
        h.update(b"[")
        for item in value:
            _fingerprint(h, item)
        h.update(b"]")
    else:
        h.update(json.dumps(value).encode() + b",")


def _read_manifest(out_dir):
    """The manifest and a note per entry ignored because it names a file outside the output folder.

    The manifest is ``{"jobs": {name: {"key", "outputs": {path: sha256}}}, "build": key of the last
    complete build}``, or empty if there is none or it cannot be read.
    """
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}, []
    if not isinstance(manifest, dict) or manifest.get("figkit") != 1 or not isinstance(manifest.get("jobs"), dict):
        return {}, []
    kept, ignored = {}, []
    for name, entry in manifest["jobs"].items():
        outputs = entry.get("outputs") if isinstance(entry, dict) else None
        if isinstance(outputs, dict) and all(isinstance(p, str) and is_plain_relative(p) for p in outputs):
            kept[name] = entry
        else:
            ignored.append(f"ignored the manifest's entry {name!r}: it names files outside {out_dir}")
    return manifest | {"jobs": kept}, ignored


def _outputs_of(manifest):
    return [path for entry in manifest.get("jobs", {}).values() for path in entry["outputs"]]


def _refuse_links(out_dir, paths):
    """Refuse a build whose outputs would go through a symbolic link (perhaps to a folder outside OUT)."""
    for path in paths:
        link = symbolic_link_on(out_dir, path)
        if link is not None:
            raise ValueError(f"{link} is a symbolic link; figkit writes only real files and folders inside {out_dir}")


def _write_manifest(out_dir, jobs, whole_key):
    manifest = {"figkit": 1, "build": whole_key, "jobs": dict(sorted(jobs.items()))}
    write_if_changed(out_dir / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def _whole_build_key(results_path, results_key, figure_key, text_key, compile):
    """A key of everything a complete build reads, or None if the results file cannot be read."""
    if results_key is None:
        return None
    return digest(json.dumps([results_key, str(results_path), figure_key, text_key, compile]).encode())


def _all_intact(out_dir, manifest):
    entries = manifest["jobs"].values()
    return all(_up_to_date(out_dir, entry, entry.get("key")) for entry in entries) and (out_dir / DEPFILE).is_file()


def _nothing_to_do(out_dir, manifest, quiet, verbose, started):
    """The report of a build whose inputs are those of the last complete build, outputs intact."""
    report = BuildResult(out_dir, unchanged=sorted(manifest["jobs"]))
    if PDF in manifest["jobs"]:
        report.pdf = out_dir / PDF
    _Progress(0, quiet, verbose).done(report, time.perf_counter() - started)
    return report


def _up_to_date(out_dir, entry, key):
    if not entry or entry.get("key") != key:
        return False
    return all(file_digest(out_dir / path) == sha for path, sha in entry["outputs"].items())


def _prune(out_dir, manifest, planned):
    """Delete the outputs of jobs the results file no longer has (only files figkit made)."""
    current = {job.name for job in planned} | {PDF}
    for name in [n for n in manifest if n not in current]:
        for path in manifest.pop(name)["outputs"]:
            (out_dir / path).unlink(missing_ok=True)


def _remove_leftovers(out_dir):
    """Delete the temporary files of a build that was killed while writing."""
    for folder in (out_dir, out_dir / "figures", out_dir / "tables", out_dir / ".figkit"):
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def _template_files():
    """Every template name -> the file that will be used (a paper's ``templates/`` folder first)."""
    folders = template_folders()
    return {name: next(f / name for f in folders if (f / name).is_file()) for name in TEMPLATES}


def _write_depfile(out_dir, planned, results_path, sheets, templates):
    """A Make rule: the outputs depend on the results file, the style sheets and the templates."""

    def escape(path):
        return str(path).replace(" ", "\\ ")

    targets = [out_dir / output for job in planned for output in job.outputs]
    sources = [results_path, *sheets, *templates.values()]
    line = " ".join(map(escape, targets)) + ": " + " ".join(map(escape, sources)) + "\n"
    write_if_changed(out_dir / DEPFILE, line.encode())


# --- running ---------------------------------------------------------------------------------


def _run(stale, out_dir, options, jobs):
    """Yield (job, {output: sha256}) or (job, error message) as the jobs finish, the heaviest started first."""
    from figkit import outputs  # noqa: F401 - the drawing libraries, imported once and inherited by the workers

    stale = sorted(stale, key=lambda job: -job.cost)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(stale)))
    if workers == 1:
        for job in stale:
            yield job, run_job(job, str(out_dir), options)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=die_with_parent) as pool:
        futures = {pool.submit(run_job, job, str(out_dir), options): job for job in stale}
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_job(job, out_dir, options):
    """Make one job's outputs; return {"outputs": {output: sha256}, "notes": what did not fit the page},
    or the error as one line of text."""
    from figkit.geometry import FitWarning
    from figkit.outputs import make_outputs

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FitWarning)
            made = make_outputs(job, Path(out_dir), options)
        notes = [f"{job.outputs[0]}: {w.message}" for w in caught if issubclass(w.category, FitWarning)]
        return {"outputs": {path: digest(data) for path, data in made.items()}, "notes": notes}
    except Exception as error:  # noqa: BLE001 - a job's failure is reported, the other jobs go on
        if options["debug"]:
            return traceback.format_exc()
        return str(error) if isinstance(error, (ValueError, TypeError)) else f"{type(error).__name__}: {error}"


def _compile(out_dir, planned, results, manifest, force, require_pdf, report):
    """Compile appendix.tex into appendix.pdf unless nothing it includes changed; record it in ``manifest``."""
    pdf = out_dir / PDF
    inputs = sorted((job.name, manifest.get(job.name, {}).get("outputs")) for job in planned)
    key = digest(json.dumps(inputs, sort_keys=True).encode())  # the digests of all appendix.tex includes
    entry = manifest.get(PDF)
    if not force and entry and entry["key"] == key and file_digest(pdf) == entry["outputs"].get(PDF):
        report.pdf = pdf
        report.unchanged.append(PDF)
        return "up to date"
    if not (shutil.which("latexmk") and shutil.which("pdflatex")):
        if require_pdf:
            report.failed[PDF] = NO_TEX
        else:
            report.notes.append(NO_TEX)
        return NO_TEX
    (out_dir / LATEX_DIR).mkdir(parents=True, exist_ok=True)
    link = _link_latex_could_follow(out_dir)
    if link is not None:
        report.failed[PDF] = f"{link} is a symbolic link; figkit compiles only real files inside {out_dir}"
        return report.failed[PDF]
    try:
        made = _compile_fresh_if_need_be(out_dir)
    except RuntimeError as error:
        report.failed[PDF] = _explain(str(error), out_dir, results)
        manifest.pop(PDF, None)
        return report.failed[PDF]
    data = made.read_bytes()
    write_if_changed(pdf, data)
    report.pdf = pdf
    report.rendered.append(PDF)
    if _inputs_changed(out_dir, planned, manifest):
        manifest.pop(PDF, None)  # the next build compiles again
        report.notes.append(f"{PDF} may include files another build wrote while it compiled: build again")
        return "compiled"
    manifest[PDF] = {"key": key, "outputs": {PDF: digest(data)}}  # what this build wrote, not what is there now
    return "compiled"


def _inputs_changed(out_dir, planned, manifest):
    """Whether a file the appendix includes no longer holds what this build wrote (a build of another
    user, whose lock this build cannot see, wrote it)."""
    written = [entry["outputs"].items() for job in planned if (entry := manifest.get(job.name))]
    return any(file_digest(out_dir / path) != sha for outputs in written for path, sha in outputs)


def _compile_fresh_if_need_be(out_dir):
    """Compile the appendix; after a failure, once more from an empty auxiliary folder, since a run killed
    from outside (or a full disk) leaves a truncated .aux or a latexmk database that fail every later run."""
    try:
        return compile_pdf(out_dir / "appendix.tex", outdir=LATEX_DIR)
    except RuntimeError:
        shutil.rmtree(out_dir / LATEX_DIR)
        (out_dir / LATEX_DIR).mkdir(parents=True)
        return compile_pdf(out_dir / "appendix.tex", outdir=LATEX_DIR)


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


class _Progress:
    """A one-line counter on a terminal, every output with ``verbose``; failures and notes always, unless quiet."""

    def __init__(self, total, quiet, verbose):
        self.total, self.count = total, 0
        self.quiet, self.verbose = quiet, verbose and not quiet
        self.live = not quiet and not verbose and sys.stderr.isatty()

    def step(self, name, status):
        self.count += 1
        if self.verbose:
            print(f"figkit: {name}: {status}", file=sys.stderr)
        elif self.live:
            print(f"\rfigkit: [{self.count}/{self.total}] {name}\033[K", end="", file=sys.stderr, flush=True)

    def done(self, report, seconds):
        if self.live:
            print("\r\033[K", end="", file=sys.stderr)
        if not self.quiet and not self.verbose:
            for note in report.notes:
                print(f"figkit: {note}", file=sys.stderr)
        if self.verbose or self.live:
            print(
                f"figkit: {len(report.rendered)} written, {len(report.unchanged)} up to date, "
                f"{len(report.failed)} failed in {seconds:.2f} s -> {report.out_dir}",
                file=sys.stderr,
            )
