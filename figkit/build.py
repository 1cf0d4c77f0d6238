"""One results file to every figure, table, macro file and the compiled appendix.

The build runs in stages: load and validate the file (nothing is written if it is
bad), plan one job per output from the sections present, skip the jobs whose key
(a hash of their slice of the data, the styles or templates, and figkit's code) is
in the manifest with unchanged outputs, run the others in parallel processes, and
compile the appendix. Planning and skipping use the standard library only, so a
build with nothing to do imports neither numpy nor matplotlib.
"""

import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import time
import traceback
from array import array
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from figkit import __version__
from figkit.files import digest, file_digest, write_if_changed
from figkit.latex import compile_pdf, escape_label, template_folders
from figkit.results import count_histogram, load_results
from figkit.stylesheets import style_sheets

MANIFEST = ".figkit/manifest.json"
LATEX_DIR = ".figkit/latex"  # the appendix's auxiliary files
DEPFILE = "figkit.d"
APPENDIX = "appendix"
PDF = "appendix.pdf"
TEMPLATES = ("table.tex", "table.md", "macros.tex", "appendix.tex", "figure.tex")
DEPENDENCIES = ("matplotlib", "numpy", "scipy", "jinja2", "pandas")
NO_TEX = ("no TeX engine found, so appendix.pdf was not made (the .tex files are written). Install TeX Live "
          "(Debian/Ubuntu: apt-get install latexmk texlive-latex-recommended texlive-fonts-recommended lmodern; "
          "macOS: MacTeX) or pass --no-compile")
# Appendix sections, in order: (figure kind, section title).
SECTIONS = (
    ("table", "Comparison of methods"),
    ("expert_counts", "Experts selected per token"),
    ("layers", "Experts per token, layer by layer"),
    ("alpha_sensitivity", "Sensitivity to the significance level"),
    ("expert_load", "Load per expert"),
    ("routing_heatmap", "Routing weights"),
    ("token_complexity", "Token rarity and experts"),
)
# Job kinds that are figures, and the figkit.plots module drawing each (the others: table, macros, appendix).
PLOT_MODULES = {
    "expert_counts": "distribution", "layers": "layers", "alpha_sensitivity": "sensitivity",
    "expert_load": "utilization", "routing_heatmap": "heatmap", "token_complexity": "complexity",
}


@dataclass(frozen=True)
class Job:
    """One unit of work: what it makes (``outputs``, relative to the output folder) from which data."""

    name: str
    kind: str
    outputs: tuple
    data: dict
    caption: tuple = ()  # (text, label, text): the label may hold $...$ maths


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


def build(results_path, out_dir="build", style=("paper",), *, jobs=None, only=None, force=False,
          compile=True, require_pdf=False, verbose=False, quiet=True, debug=False):
    """Build every output ``results_path`` supports into ``out_dir``; return a ``BuildResult``.

    ``style`` is a sequence of style names (or one comma-separated string). ``jobs``
    processes render in parallel (default: the number of CPUs). ``only`` names the
    jobs to run (shell patterns; "appendix" means all). ``force`` ignores the
    manifest. Bad input (the file, a style, a name) raises ``ValueError`` or
    ``OSError`` before anything is written; a failing job is reported in the result
    while the others finish. Templates in a ``templates/`` folder of the current
    directory replace figkit's own.
    """
    started = time.perf_counter()
    styles = tuple(s.strip() for s in style.split(",")) if isinstance(style, str) else tuple(style)
    sheets = style_sheets(*styles)
    try:
        results = load_results(results_path)
    except ValueError as error:
        raise ValueError(f"{results_path}: {error}") from None
    templates = _template_files()
    planned = plan(results)
    selected = _select(planned, only)
    out_dir = Path(out_dir)
    report = BuildResult(out_dir)
    compiling = compile and any(job.name == APPENDIX for job in selected)
    progress = _Progress(len(selected) + compiling, quiet, verbose)

    code = _code_digest()
    figure_key = digest("\n".join([code, *styles, *(file_digest(s) for s in sheets)]).encode())
    text_key = digest("\n".join([code, *(f"{n}:{file_digest(p)}" for n, p in templates.items())]).encode())
    manifest = {} if force else _read_manifest(out_dir)
    keys = {job.name: _job_key(job, figure_key if job.kind in PLOT_MODULES else text_key) for job in planned}
    stale = []
    for job in selected:
        if _up_to_date(out_dir, manifest.get(job.name), keys[job.name]):
            report.unchanged.append(job.name)
            progress.step(job.name, "up to date")
        else:
            stale.append(job)

    if stale:
        _remove_leftovers(out_dir)
    for job, outcome in _run(stale, out_dir, {"styles": styles, "debug": debug}, jobs):
        if isinstance(outcome, str):
            report.failed[job.name] = outcome
            manifest.pop(job.name, None)
            progress.step(job.name, f"FAILED: {outcome}")
        else:
            report.rendered.append(job.name)
            manifest[job.name] = {"key": keys[job.name], "outputs": outcome}
            progress.step(job.name, "written")
    _prune(out_dir, manifest, planned)
    _write_manifest(out_dir, manifest)  # only if it changed: a no-op build writes nothing

    if compiling and APPENDIX not in report.failed:
        status = _compile(out_dir, planned, results, manifest, force, require_pdf, report)
        _write_manifest(out_dir, manifest)
        progress.step(PDF, status)
    _write_depfile(out_dir, planned, results_path, sheets, templates)
    progress.done(report, time.perf_counter() - started)
    return report


# --- planning --------------------------------------------------------------------------------


def plan(results):
    """The jobs a validated results file supports, in appendix order; names are stable and unique."""
    methods = {m["id"]: m for m in results["methods"]}
    label = {m_id: m.get("label", m_id) for m_id, m in methods.items()}
    names = _Names()
    jobs = []

    def add(kind, stem, outputs, data, caption=()):
        name = names.unique(stem)
        jobs.append(Job(name, kind, tuple(o.format(name=name) for o in outputs), data, caption))

    figure = ("figures/{name}.pdf",)
    metrics = results.get("metrics", {})
    if any(metrics.values()):
        add("table", "comparison", ("tables/{name}.tex", "tables/{name}.md"), _table_data(results))
        add("macros", "macros", ("macros.tex",), {"metrics": {m: row for m, row in metrics.items() if row}})

    by_method = {}
    for entry in results.get("expert_counts", []):
        by_method.setdefault(entry["method"], []).append(entry)
    for method, entries in by_method.items():
        pooled = [e for e in entries if e.get("layer") is None]
        layered = sorted((e for e in entries if e.get("layer") is not None), key=lambda e: e["layer"])
        hists = [count_histogram(e) for e in layered]
        if pooled:
            hist = count_histogram(pooled[0])
            scope = "all layers pooled"
        else:
            hist = _sum_histograms(hists)
            scope = f"layer {layered[0]['layer']}" if len(layered) == 1 else f"{len(layered)} layers pooled"
        add("expert_counts", f"expert_counts_{method}", figure,
            {"expert_counts": hist, "method_name": label[method]},
            ("", label[method], f": experts selected per token ({scope}; {sum(hist.values()):,} tokens)."))
        if len(layered) > 1:
            add("layers", f"layers_{method}", figure,
                {"layer_expert_counts": hists, "layer_names": [str(e["layer"]) for e in layered]},
                ("", label[method], f": experts selected per token in each layer "
                 f"({sum(sum(h.values()) for h in hists):,} tokens over {len(hists)} layers)."))

    for sweep in results.get("sweeps", []):
        family = sweep.get("method_family")
        data = {"alphas": sweep["values"], "avg_experts": sweep["avg_experts"],
                "std_experts": sweep.get("std_experts"), "baseline_k": sweep.get("baseline_k")}
        add("alpha_sensitivity", f"alpha_sensitivity_{family}" if family else "alpha_sensitivity", figure, data,
            ("Average experts per token against the significance level ", "$\\alpha$",
             f" ({family} routing, {len(sweep['values'])} values)." if family else "."))

    for entry in results.get("expert_load", []):
        method, layer = entry["method"], entry.get("layer")
        add("expert_load", f"expert_load_{method}_{_layer_name(layer)}", figure,
            {"expert_counts_by_expert": entry["counts"]},
            ("", label[method], f": tokens routed to each expert ({_layer_text(layer)}; "
             f"{len(entry['counts'])} experts, {_total(entry['counts'])} assignments)."))

    for sample in results.get("routing_samples", []):
        method, layer = sample["method"], sample.get("layer")
        data = {"routing_weights": sample["weights"], "token_strs": sample["tokens"]}
        if "expert_indices" in sample:
            data["expert_indices"] = sample["expert_indices"]
        add("routing_heatmap", f"routing_heatmap_{method}_{_layer_name(layer)}", figure, data,
            ("", label[method], f": routing weights ({_layer_text(layer)}; {len(sample['tokens'])} tokens, "
             f"{len(sample['weights'][0])} experts)."))

    stats = results.get("token_stats")
    if stats:
        method = stats["method"]
        data = {"token_ids": stats["token_ids"], "expert_counts": stats["expert_counts"]}
        if "token_frequency" in stats:
            data["token_frequency"] = stats["token_frequency"]
        axis = "corpus frequency" if "token_frequency" in stats else "rarity (token id as a proxy)"
        add("token_complexity", f"token_complexity_{method}", figure, data,
            ("", label[method], f": experts selected per token against {axis} "
             f"({len(stats['token_ids']):,} tokens)."))

    jobs.append(Job(APPENDIX, APPENDIX, ("appendix.tex",), _appendix_data(results, jobs)))
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


def _sum_histograms(hists):
    total = {}
    for hist in hists:
        for experts, tokens in hist.items():
            total[experts] = total.get(experts, 0) + tokens
    return dict(sorted(total.items()))


def _layer_name(layer):
    return "all_layers" if layer is None else f"layer{layer}"


def _layer_text(layer):
    return "all layers" if layer is None else f"layer {layer}"


def _total(counts):
    total = sum(counts)
    return f"{total:,}" if float(total).is_integer() else f"{total:,.2f}"


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
        rules = [f"{direction} is better for " + ", ".join(headers[m] for m in better if better[m] == direction)
                 for direction in ("lower", "higher") if direction in better.values()]
        caption += f" Bold: the best value of a column ({'; '.join(rules)})."
    return {"rows": rows, "columns": headers, "values": {m: metrics[m] for m in rows}, "better": better,
            "caption": caption, "label": "tab:figkit-comparison"}


def _appendix_data(results, jobs):
    sections = []
    for kind, title in SECTIONS:
        members = [job for job in jobs if job.kind == kind]
        if not members:
            continue
        if kind == "table":
            sections.append({"title": title, "figures": [], "tables": [job.outputs[0] for job in members]})
        else:
            sections.append({"title": title, "tables": [], "figures": [
                {"path": job.outputs[0], "caption": job.caption, "label": f"fig:{job.name}"} for job in members]})
    return {"title": results.get("title", "Routing results"), "sections": sections,
            "macros": "macros.tex" if any(job.kind == "macros" for job in jobs) else None}


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
    _fingerprint(h, [job.kind, job.outputs, job.data, job.caption])
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
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
        return manifest["jobs"] if manifest.get("figkit") == 1 else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_manifest(out_dir, jobs):
    text = json.dumps({"figkit": 1, "jobs": dict(sorted(jobs.items()))}, indent=1, sort_keys=True) + "\n"
    write_if_changed(out_dir / MANIFEST, text.encode())


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
    """Yield (job, {output: sha256}) or (job, error message) as the jobs finish."""
    workers = max(1, min(jobs or os.cpu_count() or 1, len(stale)))
    if workers == 1:
        for job in stale:
            yield job, run_job(job, str(out_dir), options)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_job, job, str(out_dir), options): job for job in stale}
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_job(job, out_dir, options):
    """Make one job's outputs; return {output: sha256}, or the error as one line of text."""
    try:
        from figkit.render import render_job

        outputs = render_job(job, Path(out_dir), options)
        return {path: digest(data) for path, data in outputs.items()}
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
    try:
        made = compile_pdf(out_dir / "appendix.tex", outdir=LATEX_DIR)
    except RuntimeError as error:
        report.failed[PDF] = _explain(str(error), out_dir, results)
        manifest.pop(PDF, None)
        return report.failed[PDF]
    write_if_changed(pdf, made.read_bytes())
    report.pdf = pdf
    report.rendered.append(PDF)
    manifest[PDF] = {"key": key, "outputs": {PDF: file_digest(pdf)}}
    return "compiled"


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
            print(f"figkit: {len(report.rendered)} written, {len(report.unchanged)} up to date, "
                  f"{len(report.failed)} failed in {seconds:.2f} s -> {report.out_dir}", file=sys.stderr)
