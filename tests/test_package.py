"""The package: a light import, the console script, what is installed."""

import os
import subprocess
import sys

import pytest

HEAVY = ("matplotlib", "numpy", "pandas", "scipy", "seaborn", "torch", "transformers", "jinja2")


def run_python(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ | {"MPLBACKEND": "Agg"}
    ).stdout


@pytest.mark.slow
def test_import_figkit_loads_only_the_standard_library():
    loaded = run_python(f"import sys, figkit; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert loaded.strip() == "[]"


@pytest.mark.slow
def test_plotting_numpy_data_never_imports_torch():
    code = (
        "import sys, numpy as np, figkit; figkit.plot_expert_count_distribution(np.array([3, 4])); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    assert run_python(code).strip() == "False False"


@pytest.mark.slow
def test_figkit_routing_is_there_when_asked_for_and_never_imports_transformers():
    code = "import sys, figkit; figkit.routing.bh(0.05); print('torch' in sys.modules, 'transformers' in sys.modules)"
    assert run_python(code).strip() == "True False"


def test_public_names_resolve():
    import figkit

    for name in figkit.__all__:
        assert callable(getattr(figkit, name))
    assert set(figkit.__all__) <= set(dir(figkit))


def test_unknown_attribute():

    import figkit

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        figkit.nope  # noqa: B018


@pytest.mark.slow
def test_console_script_and_module_help():
    for command in (["figkit", "--help"], [sys.executable, "-m", "figkit", "--help"]):
        if command[0] == "figkit":
            command[0] = os.path.join(os.path.dirname(sys.executable), "figkit")
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert out.startswith("usage: figkit")


def test_style_sheet_is_installed_as_package_data():
    from importlib import resources

    assert (resources.files("figkit.styles") / "notebook.mplstyle").is_file()


@pytest.mark.slow
def test_wheel_holds_the_styles_and_templates(tmp_path):
    import shutil
    import zipfile
    from pathlib import Path

    source = tmp_path / "source"  # a copy, so the build leaves nothing in the work tree
    shutil.copytree(
        Path(__file__).resolve().parents[1],
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("figkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "figkit/styles/notebook.mplstyle",
        "figkit/styles/__init__.py",
        "figkit/templates/__init__.py",
        "figkit/report.py",
        "figkit/stats.py",
        "figkit/py.typed",
        "figkit/templates/appendix.tex",
        "figkit/results-v1.schema.json",
        "figkit/pipeline/stages.py",
        "figkit/results/sections/expert_counts.py",
    } <= names
    assert not any(name.startswith(("tests/", "benchmarks/", "paper_example/")) for name in names)


def test_public_functions_have_numpydoc_docstrings_and_type_hints():
    import inspect

    import figkit

    for name in figkit.__all__:
        function = getattr(figkit, name)
        doc = inspect.getdoc(function)
        assert "Returns\n-------" in doc, name
        assert "{figure_" not in doc and "{method_looks}" not in doc, name  # shared parts filled in
        if inspect.signature(function).parameters:
            assert "Parameters\n----------" in doc, name
        assert inspect.signature(function).return_annotation is not inspect.Signature.empty, name


def test_the_lowest_versions_ci_tests_are_the_declared_floors():
    """`make test-lowest` installs .ci/lowest.txt: each pin must be the highest floor the test install declares."""
    import importlib.metadata
    import re
    from pathlib import Path

    installed = (
        "check",
        "example",
        "hf",
        "tensorboard",
        "mlflow",
        "wandb",
        "parquet",
        "test",
    )  # what `.[test]` pulls in
    floors, runtime = {}, set()
    for requirement in importlib.metadata.requires("figkit"):
        found = re.fullmatch(r'([A-Za-z0-9_.-]+)>=([0-9.]+)(?:; extra == "(\w+)")?', requirement.replace(" ", ""))
        if not found or found.group(1) == "figkit" or found.group(3) not in (None, *installed):
            continue
        name, floor = found.group(1).lower(), found.group(2)
        runtime |= {name} if found.group(3) is None else set()
        floors[name] = max(floors.get(name, floor), floor, key=lambda v: tuple(map(int, v.split("."))))
    lines = (Path(__file__).resolve().parents[1] / ".ci" / "lowest.txt").read_text().splitlines()
    pins = dict(line.lower().split("==") for line in lines if line and not line.startswith("#"))
    assert runtime <= set(pins), "pin every runtime dependency's floor in .ci/lowest.txt"
    for name, version in pins.items():
        if name in floors:
            assert version == floors[name] or version.startswith(floors[name] + "."), (name, version, floors[name])


def test_every_shipped_template_is_in_the_build_key():
    """A paper's own copy of any template figkit renders rebuilds what it renders: the key lists them all
    (routing_text.tex was left out, so editing it changed nothing)."""
    from importlib import resources

    from figkit.pipeline.manifest import TEMPLATES

    shipped = {p.name for p in resources.files("figkit.templates").iterdir() if p.name.endswith((".tex", ".md"))}
    assert set(TEMPLATES) == shipped
