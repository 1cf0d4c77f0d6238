"""The README's quick start is what CI runs: the same commands, in the same order, the first on a clean tree.

A dependency the example needs but only the tests install once went unnoticed because CI ran the tests
first; these checks keep `.ci/run` and the README from drifting apart again.
"""

import ast
import importlib.metadata
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def quick_start() -> list[str]:
    """The commands of the README's quick-start block, without their comments."""
    section = ROOT.joinpath("README.md").read_text().split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [" ".join(shlex.split(line, comments=True)) for line in block.splitlines() if line.split("#")[0].strip()]


def ci_commands() -> list[str]:
    """The top-level commands of .ci/run that are not part of its system-package step."""
    commands = []
    depth = 0
    for line in ROOT.joinpath(".ci", "run").read_text().replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        depth += words[0] == "if"
        if depth == 0 and words[0] not in ("set", "cd", "export"):
            commands.append(" ".join(words))
        depth -= words[0] == "fi"
    return commands


def test_the_quick_start_is_the_example_then_the_tests():
    assert quick_start() == ["make example", "make test"]


def test_ci_runs_the_quick_start_first_and_in_order():
    commands = ci_commands()
    start = quick_start()
    assert commands[: len(start)] == start, commands  # nothing installs into the venv before `make example`
    assert set(commands[len(start) :]) <= {"make lint", "make test-lowest"}, commands


def test_the_example_checks_what_it_made():
    """`make example` ends in the example paper's `check`: every output there, figkit check passing on them."""
    root = ROOT.joinpath("Makefile").read_text()
    assert re.search(r"^example:.*\n\t\$\(MAKE\) -C paper_example check ", root, re.M)
    paper = ROOT.joinpath("paper_example", "Makefile").read_text()
    check = re.search(r"^check: paper.*\n((?:\t.*\n)+)", paper, re.M).group(1)
    assert "$(FIGKIT) check build/figures/*.pdf" in check
    assert "$(FIGKIT) check --families 0 build/appendix.pdf main.pdf" in check
    outputs = re.search(r"^OUTPUTS := (.*)$", paper, re.M).group(1).split()
    assert {"build/macros.tex", "build/tables/comparison.tex", "build/appendix.pdf", "main.pdf"} <= set(outputs)


def test_the_example_needs_only_what_its_target_installs():
    """Every package the example's scripts import is a runtime dependency or in the `example` extra, which is
    what `make example` installs (scipy was imported by the simulation and installed only by the tests)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["project"]
    makefile = ROOT.joinpath("Makefile").read_text()
    assert re.search(r'^\t\$\(BIN\)/pip install --quiet -e "\.\[example\]"$', makefile, re.M)
    declared = set()
    pending = list(project["dependencies"]) + project["optional-dependencies"]["example"]
    while pending:
        name, extras = re.match(r"([A-Za-z0-9_.-]+)(?:\[(.*)\])?", pending.pop()).groups()
        if name == "figkit":
            pending += [req for extra in extras.split(",") for req in project["optional-dependencies"][extra]]
        else:
            declared.add(canonical(name))
    scripts = sorted(ROOT.joinpath("paper_example").glob("*.py"))
    local = {path.stem for path in scripts} | {"figkit"}
    distributions = importlib.metadata.packages_distributions()
    for path in scripts:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for module in {name.split(".")[0] for name in names} - local - sys.stdlib_module_names:
                assert {canonical(d) for d in distributions[module]} & declared, (path.name, module)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
