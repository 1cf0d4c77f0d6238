"""The ``figkit`` command. Only the standard library is imported before a subcommand runs."""

import argparse
import sys

from figkit import __version__

SIZE_TOLERANCE = 0.01  # inches


def parser():
    p = argparse.ArgumentParser(
        prog="figkit",
        description="Publication figures and LaTeX for Mixture-of-Experts routing research. "
        "The plot functions are used from Python (import figkit); build and schema are being added.",
    )
    p.add_argument("--version", action="version", version=f"figkit {__version__}")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("check", help="check PDFs: fonts embedded, no Type 3, page size",
                                description="Fail (exit 1) on a Type 3 or unembedded font, or a page "
                                "that is not the expected size.")
    check.add_argument("paths", nargs="+", metavar="PDF")
    check.add_argument("--width", type=float, help="expected page width in inches")
    check.add_argument("--height", type=float, help="expected page height in inches")
    commands.add_parser("styles", help="list the style names figkit.use_style accepts")
    return p


def main(argv=None):
    commands = parser()
    args = commands.parse_args(argv)
    if args.command == "check":
        return check(args)
    if args.command == "styles":
        from figkit.style import available_styles

        print("\n".join(available_styles()))
        return 0
    commands.print_help()
    return 0


def check(args):
    from figkit.pdfcheck import check_pdf

    failed = False
    for path in args.paths:
        try:
            report = check_pdf(path)
        except (OSError, ValueError) as error:
            print(f"figkit check: {error}", file=sys.stderr)
            return 2
        problems = report.problems
        for expected, actual, side in ((args.width, report.width, "wide"), (args.height, report.height, "high")):
            if expected is not None and abs(expected - actual) > SIZE_TOLERANCE:
                problems.append(f"page is {actual:.2f} in {side}, expected {expected:g}")
        fonts = ", ".join(f"{f.name} ({f.kind})" for f in report.fonts) or "no fonts"
        print(f"{path}: {report.width:.2f} x {report.height:.2f} in; {fonts}")
        for problem in problems:
            print(f"{path}: FAIL: {problem}")
        failed |= bool(problems)
    return 1 if failed else 0
