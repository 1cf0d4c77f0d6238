"""The ``figkit`` command. Only the standard library is imported before a subcommand runs.

Exit codes: 0 done, 1 a job (or a check) failed, 2 bad input or usage. Errors are
one line on stderr; ``--debug`` shows the traceback instead.
"""

import argparse
import signal
import sys

from figkit import __version__

SIZE_TOLERANCE = 0.01  # inches
# figkit check reads each PDF, which may be hostile, in a child process with bounds: a malformed file can
# make pdfminer loop for minutes or inflate a small stream to gigabytes.
CHECK_SECONDS = 60
CHECK_MEMORY = 1 << 30  # bytes
SHOWN_FAULTS = 20  # faults printed per PDF; the rest are counted


def parser():
    p = argparse.ArgumentParser(
        prog="figkit",
        description="Publication figures and LaTeX for Mixture-of-Experts routing research, from one results file.",
    )
    p.add_argument("--version", action="version", version=f"figkit {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="make every figure, table, macro and the appendix a results file supports",
        description="Render figures/*.pdf, tables/*.tex and *.md, macros.tex, appendix.tex and appendix.pdf "
        "into OUT (with --style slide, a 16:9 talk deck, slides.tex and slides.pdf, instead of the appendix). "
        "Outputs whose inputs did not change are not rewritten.",
    )
    build.add_argument("results", metavar="RESULTS", help="results file (.json or .json.gz)")
    build.add_argument("-o", "--out", default="build", metavar="OUT", help="output folder (default: build)")
    build.add_argument("--style", default="paper", help="style names, comma-separated (default: paper)")
    paper = build.add_mutually_exclusive_group()
    paper.add_argument(
        "--venue", metavar="NAME", help="size figures for a venue: neurips, icml, iclr, acl, cvpr, ieee, ..."
    )
    paper.add_argument("--tex", metavar="MAIN.TEX", help="size figures for this paper, measured with its preamble")
    build.add_argument(
        "--width",
        metavar="column|text|IN",
        help="figure width: one column (the text in one-column papers, the default), the text width, or inches",
    )
    build.add_argument(
        "--wide", default="", metavar="FAMILIES", help="figure families at the text width (figure*), comma-separated"
    )
    build.add_argument(
        "--slides",
        default="",
        metavar="FAMILIES",
        help="with --style slide: the figure families of the talk's deck (slides.pdf), in order, comma-separated",
    )
    build.add_argument(
        "--table-fit",
        choices=("auto", "scale"),
        default="auto",
        help="how a table wider than its column is made to fit: wrapped headers, \\small, table*, reshaped "
        "(auto), and then scaled to the width (scale)",
    )
    build.add_argument(
        "--allow-overfull",
        action="store_true",
        help="a table that still does not fit its page is a note, not a failed job",
    )
    build.add_argument(
        "--underline-second",
        action="store_true",
        help="in the comparison table, underline the second best value of each column (the best is bold)",
    )
    build.add_argument(
        "-j", "--jobs", type=int, default=None, metavar="N", help="parallel processes (default: the number of CPUs)"
    )
    build.add_argument("--only", nargs="+", metavar="NAME", help="build only these jobs (shell patterns)")
    build.add_argument("--force", action="store_true", help="rebuild everything, ignoring the manifest")
    build.add_argument(
        "--no-compile", dest="compile", action="store_false", help="write appendix.tex but do not compile it"
    )
    build.add_argument("--require-pdf", action="store_true", help="fail (exit 1) when no TeX engine is found")
    build.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    build.add_argument("-v", "--verbose", action="store_true", help="print every output")

    check = commands.add_parser(
        "check",
        help="check PDFs: fonts, page size, and text that overlaps, leaves the page, is too small or mixes fonts",
        description="Fail (exit 1) on a Type 3 or unembedded font, a page that is not the expected size, or "
        "text that overlaps other text, runs outside the page, is smaller than --min-size or uses more font "
        f"families than --families (at most {SHOWN_FAULTS} faults are shown per PDF, the rest counted). Works on "
        "any PDF: text is read with pdfminer.six (pip install 'figkit[check]'), each PDF in a process of its own "
        "with bounded time and memory; one that is not a regular file or cannot be read is one UNREADABLE line "
        "(exit 2).",
    )
    check.add_argument("paths", nargs="+", metavar="PDF")
    check.add_argument("--width", type=float, help="expected page width in inches")
    check.add_argument("--height", type=float, help="expected page height in inches")
    check.add_argument(
        "--min-size", type=float, default=6.0, metavar="PT", help="smallest readable text, in points (default: 6)"
    )
    check.add_argument(
        "--families", type=int, default=1, metavar="N", help="font families the text may use; 0: any (default: 1)"
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=CHECK_SECONDS,
        metavar="SECONDS",
        help=f"time to read one PDF, read with at most {CHECK_MEMORY >> 20} MiB of memory (default: {CHECK_SECONDS})",
    )
    check.add_argument(
        "--stale",
        metavar="RESULTS",
        help="also fail on figkit figures (in the PDF, or included in a compiled paper) that RESULTS would draw "
        "differently or not at all",
    )
    bundle = commands.add_parser(
        "bundle",
        help="the paper as arXiv takes it: sources in one file, only the figures it uses, proven to compile",
        description="Write MAIN.TEX with its \\input and \\include files in it, the figures it includes, its own "
        ".cls/.sty/.bst files and its .bbl into OUT (a .zip file or a new folder), every path relative to the "
        "paper's folder and nothing from outside it. Figures with a Type 3 or unembedded font are refused, and "
        "the bundle is compiled alone in an empty folder to prove it is complete.",
    )
    bundle.add_argument("main", metavar="MAIN.TEX", help="the paper's main file")
    bundle.add_argument("-o", "--out", required=True, metavar="OUT", help="submission.zip, or a new folder")
    bundle.add_argument(
        "--no-compile", dest="compile", action="store_false", help="do not compile the bundle to prove it complete"
    )
    imports = commands.add_parser(
        "import",
        help="read training logs, evaluation scores, tracked runs, tables or router logits into a results file",
        description="Add what SOURCE files hold to RESULTS (made if missing), keeping what RESULTS holds: a "
        "folder of TensorBoard event files (each run a method, each scalar tag a series; tags ending in "
        "layer_<n> are that layer's), W&B offline runs or an MLflow store (each run a method, a key logged "
        "at several steps a series, one logged once a metric), lm-evaluation-harness results (a "
        "results_<date>.json or its output folder: each model a method, each task's score a metric with its "
        "standard error), a CSV or Parquet table (each numeric column a series over its step column) or "
        "router logits a model saved (.npz or .pt, routed by each --route into the routing sections). Says "
        "what it took and what it left; a value RESULTS already holds differently needs --replace.",
    )
    imports.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="TensorBoard logs, W&B runs, an MLflow store, lm-evaluation-harness results, a table or router logits",
    )
    imports.add_argument("-o", "--out", required=True, metavar="RESULTS", help="the results file to write into")
    imports.add_argument("--method", help="the method id of a single run or model, or a CSV without a method column")
    imports.add_argument(
        "--map",
        default="",
        metavar="ROLE=COLUMN,...",
        help="CSV columns of the step, method and layer (default: step, method, layer), e.g. step=global_step",
    )
    imports.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="ID=RULE",
        help="router logits: a method and its rule, as in Python: topk8=top_k(8), bh05='bh(0.05, max_k=8)'",
    )
    imports.add_argument("--experiment", metavar="NAME", help="MLflow: read this experiment's runs only")
    imports.add_argument("--tokens", action="store_true", help="the steps count tokens seen, not optimiser steps")
    imports.add_argument("--replace", action="store_true", help="overwrite values RESULTS already holds")
    imports.add_argument("-v", "--verbose", action="store_true", help="list every value taken")
    commands.add_parser("schema", help="print the JSON Schema of results files")
    commands.add_parser("styles", help="list the style names figkit.use_style accepts")
    return p


def main(argv=None):
    commands = parser()
    args = commands.parse_args(argv)
    if argv is None:  # figkit run as a program, not called from Python
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        sys.unraisablehook = _quiet_once_stopped
    try:
        if args.command is None:
            commands.print_help()
            return 0
        run = {"build": build, "bundle": bundle, "check": check, "import": import_, "schema": schema, "styles": styles}
        code = run[args.command](args)
    except (ValueError, TypeError, OSError, ImportError, MemoryError) as error:
        if args.debug:
            raise
        print(f"figkit {args.command}: {_message(error)}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    return 128 + _STOPPED[0] if _STOPPED else code


_STOPPED: list = []  # the signal that stopped figkit, once one has


def _stop(signum, frame):
    """SIGINT or SIGTERM: stop as Ctrl-C does, cleaning up (TeX and the workers stopped, no temporary file
    left), where Python's SIGTERM dies on the spot. The signal is remembered: an interrupt that comes while
    Python runs a finalizer is only reported, and the work went on to exit 0."""
    _STOPPED.append(signum)
    raise KeyboardInterrupt


def _quiet_once_stopped(unraisable, report=sys.unraisablehook):
    """Python's report of an exception no code could catch (in a finalizer), but none for the interrupt."""
    if not (_STOPPED and isinstance(unraisable.exc_value, KeyboardInterrupt)):
        report(unraisable)


def _message(error):
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def build(args):
    from figkit.pipeline import BuildOptions, build_with

    options = BuildOptions(**{name: getattr(args, name) for name in BuildOptions.names()})
    report = build_with(args.results, args.out, options)
    for name, message in report.failed.items():
        print(f"figkit build: {name} failed: {message}", file=sys.stderr)
    return 0 if report.ok else 1


def bundle(args):
    from figkit.bundle import bundle as make

    made = make(args.main, args.out, compile=args.compile)
    proof = "compiled alone in an empty folder" if made.compiled else "not compiled (--no-compile)"
    print(f"figkit bundle: {made.main} and {len(made.files)} files, {made.size:,} bytes -> {made.out}; {proof}")
    return 0


def import_(args):
    from pathlib import Path

    from figkit.io import Imported, merge, parse_route, read

    mapping = dict(_pair(item) for item in args.map.split(",") if item.strip())
    unit = "tokens" if args.tokens else "steps"
    routes = dict(parse_route(route) for route in args.route)
    logits = [source for source in args.sources if source.lower().endswith((".npz", ".pt", ".pth"))]
    if routes and not logits:
        raise ValueError("--route says how to route saved router logits (.npz, .pt); no SOURCE is one")
    imported = Imported()
    for source in args.sources:
        options = {"mapping": mapping, "step_unit": unit, "routes": routes, "experiment": args.experiment}
        imported.add(read(source, method=args.method, **options))
    scores = sum(len(row) for row in imported.metrics.values())
    if not imported.series and not scores and not imported.sections:
        raise ValueError(f"no values found in {', '.join(args.sources)}")
    title = f"Imported from {', '.join(Path(source).name for source in args.sources)}"  # for a new file
    merge(args.out, imported, replace=args.replace, title=title)
    for line in imported.took if args.verbose else []:
        print(f"figkit import: took {line}")
    for line in imported.left:
        print(f"figkit import: left {line}")
    routing = len(imported.sections) - ("model" in imported.sections)
    made = ((len(imported.series), "series"), (scores, "metric values"), (routing, "routing sections"))
    counts = [f"{n} {what}" for n, what in made if n]
    print(f"figkit import: {' and '.join(counts)} of {', '.join(imported.methods)} -> {args.out}")
    return 0


def _pair(item):
    role, _, column = item.partition("=")
    if role.strip() not in ("step", "method", "layer") or not column.strip():
        raise ValueError(f"--map {item!r}: expected step=COLUMN, method=COLUMN or layer=COLUMN")
    return role.strip(), column.strip()


def schema(args):
    from figkit.results import schema as text

    sys.stdout.write(text())
    return 0


def styles(args):
    from figkit.stylesheets import available_styles

    print("\n".join(available_styles()))
    return 0


def check(args):
    from figkit.processes import run_bounded

    if args.families < 0:
        raise ValueError(f"--families must be 0 (any) or more, got {args.families}")
    if not args.timeout > 0:
        raise ValueError(f"--timeout must be positive, got {args.timeout:g}")
    current = None
    if args.stale is not None:
        from figkit.provenance import current_digests
        from figkit.results import load_results

        current = current_digests(load_results(args.stale))  # planned once for every PDF
    unreadable = failed = False
    for path in args.paths:
        try:
            summary, problems = run_bounded(_check_pdf, path, args, current, seconds=args.timeout, memory=CHECK_MEMORY)
        except (ValueError, OSError) as error:
            print(f"{path}: UNREADABLE: {_message(error).removeprefix(f'{path}: ')}")
            unreadable = True
            continue
        print(f"{path}: {summary}")
        for problem in problems[:SHOWN_FAULTS]:
            print(f"{path}: FAIL: {problem}")
        if len(problems) > SHOWN_FAULTS:
            print(f"{path}: FAIL: {len(problems) - SHOWN_FAULTS:,} more faults not shown")
        failed |= bool(problems)
    return 2 if unreadable else 1 if failed else 0


def _check_pdf(path, args, current):
    """One PDF's page size and fonts as a line, and its faults (run in a child process: see ``check``)."""
    from figkit.lint import check_pdf_fonts, check_pdf_text

    report = check_pdf_fonts(path)
    problems = report.problems
    if current is not None:
        from figkit.provenance import stale

        problems += stale(path, current, args.stale)
    for expected, actual, side in ((args.width, report.width, "wide"), (args.height, report.height, "high")):
        if expected is not None and abs(expected - actual) > SIZE_TOLERANCE:
            problems.append(f"page is {actual:.2f} in {side}, expected {expected:g}")
    problems += check_pdf_text(path, min_size=args.min_size, families=args.families or None)
    fonts = ", ".join(f"{f.name} ({f.kind})" for f in report.fonts) or "no fonts"
    return f"{report.width:.2f} x {report.height:.2f} in; {fonts}", problems
