"""What a build remembers: keys of each job's inputs, the manifest of what it wrote, the Make depfile,
and the lock that keeps two builds into one folder apart."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import sys
from array import array
from pathlib import Path

from figkit import __version__
from figkit.files import digest, file_digest, is_plain_relative, symbolic_link_on, write_if_changed
from figkit.latex import template_folders
from figkit.pipeline.outputs import DOCUMENTS

MANIFEST = ".figkit/manifest.json"
LATEX_DIR = ".figkit/latex"  # the auxiliary files of the compiled documents
LOCK = ".figkit/lock"
# Every folder a build may write to or clean, whether or not this build writes to it
FOLDERS = (".figkit", LATEX_DIR, "figures", "tables")
DEPFILE = "figkit.d"
PDFS = tuple(f"{name}.pdf" for name in DOCUMENTS)
TEMPLATES = ("table.tex", "table.md", "macros.tex", "appendix.tex", "figure.tex", "slides.tex", "routing_text.tex")
DEPENDENCIES = ("matplotlib", "numpy", "jinja2")  # what draws or writes the outputs


@contextlib.contextmanager
def one_build_at_a_time(out_dir, quiet):
    """Hold the lock of ``out_dir``, the file ``.figkit/lock`` in it, which every user's build honours (a
    lock in one user's own cache is invisible to another's builds); a build that finds it held waits and
    says so. Taken once the results are read, so a bad results file leaves no folder behind."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    (out_dir / ".figkit").mkdir(parents=True, exist_ok=True)
    # Read-only suffices for flock, so another user's build can lock a file this user made.
    lock = os.open(out_dir / LOCK, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"figkit: waiting for another build into {out_dir}", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


# --- keys ------------------------------------------------------------------------------------


def code_digest():
    """figkit's version and source, and the versions of the libraries that draw."""
    package = Path(__file__).parent.parent
    parts = [__version__]
    for path in sorted(package.rglob("*.py")) + sorted(package.glob("*.json")):
        parts.append(f"{path.relative_to(package)}:{file_digest(path)}")
    for name in DEPENDENCIES:
        try:
            parts.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} missing")
    return digest("\n".join(parts).encode())


def template_files():
    """Every template name -> the file that will be used (a paper's ``templates/`` folder first)."""
    folders = template_folders()
    return {name: next(f / name for f in folders if (f / name).is_file()) for name in TEMPLATES}


def job_key(job, environment):
    """A key of a job's data and what it is made with (``environment``: code, styles or templates)."""
    h = hashlib.sha256(environment.encode())
    fingerprint(h, [job.kind, job.outputs, job.data, job.caption, job.width])
    return h.hexdigest()


def fingerprint(h, value):
    """Feed ``value`` to the hash ``h``; lists of numbers go in as machine arrays (a million in ~20 ms)."""
    if isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=str):
            h.update(json.dumps(str(key)).encode() + b":")
            fingerprint(h, value[key])
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
            fingerprint(h, item)
        h.update(b"]")
    else:
        h.update(json.dumps(value).encode() + b",")


def whole_build_key(results_path, results_key, figure_key, text_key, compile):
    """A key of everything a complete build reads, or None if the results file cannot be read."""
    if results_key is None:
        return None
    return digest(json.dumps([results_key, str(results_path), figure_key, text_key, compile]).encode())


# --- the manifest ----------------------------------------------------------------------------


def read_manifest(out_dir):
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


def write_manifest(out_dir, jobs, whole_key):
    manifest = {"figkit": 1, "build": whole_key, "jobs": dict(sorted(jobs.items()))}
    write_if_changed(out_dir / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def outputs_of(manifest):
    return [path for entry in manifest.get("jobs", {}).values() for path in entry["outputs"]]


def refuse_links(out_dir, paths):
    """Refuse a build whose outputs would go through a symbolic link (perhaps to a folder outside OUT)."""
    for path in paths:
        link = symbolic_link_on(out_dir, path)
        if link is not None:
            raise ValueError(f"{link} is a symbolic link; figkit writes only real files and folders inside {out_dir}")


def up_to_date(out_dir, entry, key):
    """Whether a manifest ``entry`` has ``key`` and its outputs still hold what the build wrote."""
    if not entry or entry.get("key") != key:
        return False
    return all(file_digest(out_dir / path) == sha for path, sha in entry["outputs"].items())


def all_intact(out_dir, manifest):
    entries = manifest["jobs"].values()
    return all(up_to_date(out_dir, entry, entry.get("key")) for entry in entries) and (out_dir / DEPFILE).is_file()


def prune(out_dir, manifest, planned):
    """Delete the outputs of jobs the results file no longer has (only files figkit made)."""
    current = {job.name for job in planned} | set(PDFS)
    for name in [n for n in manifest if n not in current]:
        for path in manifest.pop(name)["outputs"]:
            (out_dir / path).unlink(missing_ok=True)


def remove_leftovers(out_dir):
    """Delete the temporary files of a build that was killed while writing."""
    for folder in (out_dir, out_dir / "figures", out_dir / "tables", out_dir / ".figkit"):
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


# Characters GNU Make reads in a rule's file names unless escaped: word breaks, comments, patterns and the
# rule's colon take a backslash; a dollar is doubled. A line break or tab cannot be escaped, and a wildcard is
# expanded against the files that exist even when escaped (an existing output's % then reads as a pattern).
MAKE_ESCAPES = str.maketrans({c: "\\" + c for c in " #%:"} | {"$": "$$"})
UNNAMEABLE = "\n\r\t*?[]"


def _make_name(path):
    return str(path).translate(MAKE_ESCAPES)


def write_depfile(out_dir, planned, results_path, sheets, templates):
    """A Make rule: the outputs depend on the results file, the style sheets and the templates. A path Make
    cannot name (a line break, tab or wildcard in it) leaves only a comment saying so: ``include`` still works."""
    targets = [out_dir / output for job in planned for output in job.outputs]
    sources = [results_path, *sheets, *templates.values()]
    odd = next((path for path in targets + sources if any(c in str(path) for c in UNNAMEABLE)), None)
    if odd is not None:
        line = f"# figkit: no Make rule can name {str(odd)!r} (a line break, tab or wildcard); nothing written\n"
    else:
        line = " ".join(map(_make_name, targets)) + ": " + " ".join(map(_make_name, sources)) + "\n"
    write_if_changed(out_dir / DEPFILE, line.encode())
