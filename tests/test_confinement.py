"""A build writes, deletes and compiles only files inside its output folder, whatever was planted there."""

import json
import os

import pytest

from figkit import build, write_results
from figkit.latex import template_folders
from tests.helpers import pdf_text, sections
from tests.test_pipeline import cli

pytestmark = pytest.mark.slow  # builds and LaTeX

SECRET = "the contents of a file outside the build folder\n"


@pytest.fixture
def study(tmp_path):
    """A results file, a built output folder and a file outside it that must stay untouched."""
    results = write_results(tmp_path / "r.json", **sections())
    out = tmp_path / "out"
    assert build(results, out, jobs=1, compile=False).ok
    victim = tmp_path / "victim.txt"
    victim.write_text(SECRET)
    return results, out, victim


def test_a_planted_manifest_cannot_delete_files_outside_the_folder(study):
    results, out, victim = study
    manifest = json.loads((out / ".figkit" / "manifest.json").read_text())
    manifest["jobs"]["old"] = {"key": "0", "outputs": {"../victim.txt": "0"}}
    manifest["jobs"]["older"] = {"key": "0", "outputs": {str(victim): "0"}}
    (out / ".figkit" / "manifest.json").write_text(json.dumps(manifest))
    run = cli("build", results, "-o", out, "--no-compile")
    assert run.returncode == 0, run.stderr
    assert victim.read_text() == SECRET
    assert run.stderr.splitlines()[:2] == [
        f"figkit: ignored the manifest's entry {name!r}: it names files outside {out}" for name in ("old", "older")
    ]
    assert run.stderr.splitlines()[2].startswith("figkit: 0 written, 32 up to date, 0 failed")
    rebuilt = json.loads((out / ".figkit" / "manifest.json").read_text())
    assert "old" not in rebuilt["jobs"] and "older" not in rebuilt["jobs"]


@pytest.mark.parametrize("planted", ["figures", ".figkit", ".figkit/latex", "tables/comparison.tex"])
def test_a_planted_symbolic_link_stops_the_build_before_anything_is_written(study, planted):
    results, out, victim = study
    elsewhere = victim.parent / "elsewhere"
    elsewhere.mkdir()
    target = victim if planted.endswith(".tex") else elsewhere
    link = out / planted
    if link.is_dir():
        os.rename(link, victim.parent / "moved")
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(target)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    run = cli("build", results, "-o", out, "--force")
    assert run.returncode == 2
    assert run.stderr == (
        f"figkit build: {link} is a symbolic link; figkit writes only real files and folders inside {out}\n"
    )
    assert victim.read_text() == SECRET and not any(elsewhere.iterdir())
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("folder", ["tables", "figures"])
def test_a_linked_folder_this_build_does_not_write_stops_it_too(tmp_path, folder):
    """A build cleans every folder of its own of what a killed build left (``.*.tmp``): through a link to
    another folder it would delete that folder's files, although the study plans no output there."""
    figures, table = ("expert_counts", "sweeps"), ("metric_info", "metrics")
    study = {
        k: v
        for k, v in sections().items()
        if k in ("title", "model", "methods", *(figures, table)[folder == "figures"])
    }
    results = write_results(tmp_path / "r.json", **study)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".draft.tmp").write_text(SECRET)
    out = tmp_path / "out"
    out.mkdir()
    (out / folder).symlink_to(elsewhere)
    run = cli("build", results, "-o", out, "--no-compile")
    assert run.returncode == 2
    assert run.stderr == (
        f"figkit build: {out / folder} is a symbolic link; figkit writes only real files and folders inside {out}\n"
    )
    assert (elsewhere / ".draft.tmp").read_text() == SECRET
    assert sorted(p.name for p in out.iterdir()) == [folder]


def test_latex_never_reads_through_a_planted_link(study, tmp_path):
    """A template of the paper repo \\inputs a file of the output folder that links elsewhere."""
    results, out, victim = study
    (out / "notes.tex").symlink_to(victim)
    (tmp_path / "templates").mkdir()
    own = next(f / "appendix.tex" for f in template_folders([]) if (f / "appendix.tex").is_file())
    text = own.read_text().replace(r"\begin{document}", "\\begin{document}\n\\input{notes}")
    (tmp_path / "templates" / "appendix.tex").write_text(text)
    run = cli("build", results, "-o", "out", "-q", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr == (
        "figkit build: appendix.pdf failed: out/notes.tex is a symbolic link; figkit compiles only real files "
        "inside out\n"
    )
    assert not (out / "appendix.pdf").exists()
    (out / "notes.tex").unlink()
    (out / "notes.tex").write_text("Notes of the paper.\n")
    run = cli("build", results, "-o", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Notes of the paper." in pdf_text(out / "appendix.pdf")


def test_templates_run_in_a_sandbox(study, tmp_path):
    results, out, _ = study
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "table.md").write_text(
        "\\VAR{ ''.__class__.__mro__[1].__subclasses__() }\n"  # the classic escape to os.system
    )
    run = cli("build", results, "-o", "out", "--force", cwd=tmp_path)
    assert run.returncode == 1
    assert "figkit build: comparison failed: SecurityError: access to attribute '__class__'" in run.stderr
    assert "appendix.pdf was not compiled: it would include the outputs of failed jobs" in run.stderr
    assert not (out / "appendix.pdf").exists()
