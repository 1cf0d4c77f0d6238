"""The ``figkit`` command. Only the standard library is imported before a subcommand runs."""

import argparse

from figkit import __version__


def parser():
    p = argparse.ArgumentParser(
        prog="figkit",
        description="Publication figures and LaTeX for Mixture-of-Experts routing research. "
        "The plot functions are available from Python today (import figkit); "
        "the build, check, schema and styles subcommands are being added.",
    )
    p.add_argument("--version", action="version", version=f"figkit {__version__}")
    return p


def main(argv=None):
    parser().parse_args(argv)
    parser().print_help()
    return 0
