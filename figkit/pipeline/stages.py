"""``figkit.build``: one results file to every figure, table, macro file and the compiled appendix (or, in
the slide style, a talk's deck).

The build runs in stages: load and validate the file (nothing is written if it is bad), plan one job
per output (the output registry says which outputs the file supports), skip the jobs whose key (a
hash of their slice of the data, the styles or templates, and figkit's code) is in the manifest with
unchanged outputs, run the others in parallel processes, and compile the appendix. A complete build
records one key of everything it read; when the next build's key is the same and the outputs are
intact, it stops there, having imported neither numpy nor matplotlib.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from figkit.files import digest, file_digest
from figkit.pipeline import manifest as kept
from figkit.pipeline.compile import compile_document
from figkit.pipeline.manifest import DEPFILE, MANIFEST, PDFS
from figkit.pipeline.options import BuildOptions, Target
from figkit.pipeline.outputs import DOCUMENTS, Planning, output_spec
from figkit.pipeline.plan import plan, select
from figkit.pipeline.worker import run
from figkit.results import load_results
from figkit.results.reading import digest as results_digest


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
    slides: str | Sequence[str] = (),
    table_fit: str = "auto",
    allow_overfull: bool = False,
    underline_second: bool = False,
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
    slides : str or sequence of str
        A build of the ``slide`` style makes a talk: its figures fit a 16:9 Beamer frame (unless
        ``venue``, ``tex`` or ``width`` say otherwise) and ``slides.tex`` and ``slides.pdf``, a deck of
        the comparison table and one frame per figure family, replace the appendix. These are the
        families, in order (default: the count comparison, the alpha sweep, compute against
        quality and routing over the text; those the results have).
    table_fit : {"auto", "scale"}
        A table wider than its column is made to fit: headers wrapped, then ``\\small`` with less
        space between columns, then ``table*`` in a two-column paper, then methods as columns or
        the metrics in two tables. With "scale", one that still does not fit is scaled to the width.
    allow_overfull : bool
        A table that still does not fit its page (the paper's, else the appendix's) fails its job,
        naming its width and the page's, on every build; this makes it a note instead.
    underline_second : bool
        Underline the second best value of each column of the comparison table, as the best is bold
        (in a column of three or more different values).
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
    into one folder run one after the other: the second waits for the first. The options are also
    one object, :class:`~figkit.pipeline.BuildOptions`, for :func:`build_with`.
    """
    given = locals()
    return build_with(results_path, out_dir, BuildOptions(**{name: given[name] for name in BuildOptions.names()}))


def _made_with(spec, figure_key, text_key):
    """The key of what a kind of output is made with: styles and sizes, templates, or both."""
    if not spec.drawn:
        return text_key
    return figure_key + text_key if spec.templated else figure_key


def build_with(results_path: str | os.PathLike, out_dir: str | os.PathLike, options: BuildOptions) -> BuildResult:
    """:func:`build` with its options as one object."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    target = Target.of(options)
    templates = kept.template_files()
    code = kept.code_digest()
    figure_key = digest(
        "\n".join(
            [code, *target.styles, *map(file_digest, target.sheets), json.dumps(target.sizes, sort_keys=True)]
        ).encode()
    )
    text_key = digest("\n".join([code, *(f"{n}:{file_digest(p)}" for n, p in templates.items())]).encode())
    kept.refuse_links(out_dir, [*kept.FOLDERS, MANIFEST, kept.LOCK, DEPFILE, *PDFS])
    manifest, ignored = kept.read_manifest(out_dir)
    try:
        results_key = results_digest(results_path)  # refuses an oversized file before hashing it
    except ValueError as error:
        raise ValueError(f"{results_path}: {error}") from None
    whole_key = kept.whole_build_key(results_path, results_key, figure_key, text_key, options.compile)
    if (
        whole_key is not None
        and not options.only
        and not ignored
        and not options.force
        and manifest.get("build") == whole_key
        and kept.all_intact(out_dir, manifest)
    ):
        return _nothing_to_do(out_dir, manifest, options, started)  # no results loaded, nothing imported

    try:
        results = load_results(results_path)
    except (ValueError, MemoryError) as error:
        raise type(error)(f"{results_path}: {error}") from None
    table = {"page": asdict(target.table_page()), "fit": options.table_fit, "second": options.underline_second}
    planned = plan(results, Planning(target.wide, table, target.appendix_layout(), deck=target.deck))
    kept.refuse_links(out_dir, [output for job in planned for output in job.outputs])
    keys = {job.name: kept.job_key(job, _made_with(output_spec(job.kind), figure_key, text_key)) for job in planned}
    work = _Work(results, planned, select(planned, options.only), keys, whole_key, target, templates)
    with kept.one_build_at_a_time(out_dir, options.quiet):
        # The manifest again: a build that held the lock may have changed it since.
        manifest, ignored = ({}, []) if options.force else kept.read_manifest(out_dir)
        kept.refuse_links(out_dir, kept.outputs_of(manifest))
        return _write(results_path, out_dir, options, work, manifest, ignored, started)


@dataclass
class _Work:
    """What a build is to make, decided from the results before it takes the output folder's lock."""

    results: dict
    planned: list  # every job the results support
    selected: list  # those ``only`` asks for
    keys: dict  # job name -> key of its inputs
    whole_key: str | None
    target: Target
    templates: dict


def _write(results_path, out_dir, options, work, manifest, ignored, started):
    """Run the jobs that are not up to date and compile the document, with the output folder locked."""
    results, planned, selected, keys = work.results, work.planned, work.selected, work.keys
    report = BuildResult(out_dir, notes=ignored)
    document = next((job.name for job in selected if job.name in DOCUMENTS), None)
    compiling = options.compile and document is not None
    progress = _Progress(len(selected) + compiling, options.quiet, options.verbose)
    done = manifest.get("jobs", {})
    stale = []
    for job in selected:
        if kept.up_to_date(out_dir, done.get(job.name), keys[job.name]):
            report.unchanged.append(job.name)
            progress.step(job.name, "up to date")
        else:
            stale.append(job)

    if stale:
        kept.remove_leftovers(out_dir)
        progress.stage(f"making {len(stale)} outputs ({len(selected) - len(stale)} up to date)")
    for job, outcome in run(stale, out_dir, work.target, options.debug, options.jobs):
        if isinstance(outcome, str):
            report.failed[job.name] = outcome
            done.pop(job.name, None)
            progress.step(job.name, f"FAILED: {outcome}")
        else:
            report.rendered.append(job.name)
            report.notes += outcome["notes"]
            done[job.name] = {"key": keys[job.name], "outputs": outcome["outputs"]}
            progress.step(job.name, "written")
    kept.prune(out_dir, done, planned)
    kept.write_manifest(out_dir, done, None)  # only if it changed; a build killed while compiling keeps the jobs

    if compiling and report.failed:
        report.notes.append(f"{document}.pdf was not compiled: it would include the outputs of failed jobs")
    elif compiling:
        progress.stage(f"compiling {document}.pdf")
        compiled = (out_dir, document, planned, results, done, options.force, options.require_pdf, report)
        progress.step(f"{document}.pdf", compile_document(*compiled, allow_overfull=options.allow_overfull))
    complete = not options.only and report.ok and not report.notes
    kept.write_manifest(out_dir, done, work.whole_key if complete else None)
    kept.write_depfile(out_dir, planned, results_path, work.target.sheets, work.templates)
    progress.done(report, time.perf_counter() - started)
    return report


def _nothing_to_do(out_dir, manifest, options, started):
    """The report of a build whose inputs are those of the last complete build, outputs intact."""
    report = BuildResult(out_dir, unchanged=sorted(manifest["jobs"]))
    report.pdf = next((out_dir / pdf for pdf in PDFS if pdf in manifest["jobs"]), None)
    _Progress(0, options.quiet, options.verbose).done(report, time.perf_counter() - started)
    return report


class _Progress:
    """How far the build is, on stderr: a one-line counter on a terminal; in a log, a line per stage and
    at most one every ``LOG_INTERVAL`` seconds between; every output with ``verbose``; notes and the
    summary always, nothing with ``quiet``."""

    LOG_INTERVAL = 10.0

    def __init__(self, total, quiet, verbose):
        self.total, self.count = total, 0
        self.quiet, self.verbose = quiet, verbose and not quiet
        self.live = not quiet and not verbose and sys.stderr.isatty()
        self.log = not quiet and not verbose and not self.live
        self.logged = time.perf_counter()

    def stage(self, message):
        if self.live:
            print(f"\rfigkit: {message}\033[K", end="", file=sys.stderr, flush=True)
        elif not self.quiet:
            self._line(message)

    def step(self, name, status):
        self.count += 1
        if self.verbose:
            print(f"figkit: {name}: {status}", file=sys.stderr)
        elif self.live:
            print(f"\rfigkit: [{self.count}/{self.total}] {name}\033[K", end="", file=sys.stderr, flush=True)
        elif self.log and time.perf_counter() - self.logged >= self.LOG_INTERVAL:
            self._line(f"{self.count}/{self.total} done ({name})")

    def _line(self, message):
        print(f"figkit: {message}", file=sys.stderr, flush=True)
        self.logged = time.perf_counter()

    def done(self, report, seconds):
        if self.live:
            print("\r\033[K", end="", file=sys.stderr)
        if not self.quiet and not self.verbose:
            for note in report.notes:
                print(f"figkit: {note}", file=sys.stderr)
        if not self.quiet:
            print(
                f"figkit: {len(report.rendered)} written, {len(report.unchanged)} up to date, "
                f"{len(report.failed)} failed in {seconds:.2f} s -> {report.out_dir}",
                file=sys.stderr,
            )
