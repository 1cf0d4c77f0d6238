"""Where a figure came from: written into each figure PDF a build makes, read back from the figure or from a
compiled paper that includes it (pdfTeX keeps an included PDF's information as ``/PTEX.InfoDict``), and
compared with a results file, so that a figure drawn from old results is found before it is submitted."""

from __future__ import annotations

import hashlib

from figkit import __version__

FIELDS = ("figkit-figure", "figkit-data", "figkit-version", "figkit-style")


def data_digest(job):
    """A digest of what a figure job draws: its family and its data (not its caption, size or style)."""
    from figkit.pipeline.manifest import fingerprint

    h = hashlib.sha256()
    fingerprint(h, [job.kind, job.data])
    return h.hexdigest()[:24]


def keywords(job, styles):
    """The PDF ``Keywords`` that record a figure job's name, data digest, figkit version and style."""
    values = (job.name, data_digest(job), __version__, "+".join(styles))
    return "; ".join(f"{field}={value}" for field, value in zip(FIELDS, values))


def recorded(path):
    """``{figure name: data digest}`` of every figkit figure in the PDF at ``path``: the figure itself, or the
    figures a paper includes."""
    from figkit.lint import _pdfminer_document, open_regular, unreadable_pdf

    PDFDocument, _, PDFParser, resolve1 = _pdfminer_document()  # says how to install pdfminer.six
    from pdfminer.pdftypes import PDFStream

    found = {}
    with open_regular(path) as file, unreadable_pdf(path):
        document = PDFDocument(PDFParser(file))
        infos = [resolve1(info) for info in document.info]
        for xref in document.xrefs:
            for objid in xref.get_objids():
                try:
                    obj = document.getobj(objid)
                except Exception:  # noqa: BLE001 - a broken object is not a figure
                    continue
                if isinstance(obj, PDFStream) and "PTEX.InfoDict" in obj.attrs:
                    infos.append(resolve1(obj.attrs["PTEX.InfoDict"]))
    for info in infos:
        text = resolve1(info.get("Keywords")) if isinstance(info, dict) else None
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        if isinstance(text, str) and "figkit-data=" in text:
            fields = dict(part.strip().split("=", 1) for part in text.split(";") if "=" in part)
            found[fields.get("figkit-figure", "?")] = fields.get("figkit-data", "")
    return found


def current_digests(results):
    """``{figure name: data digest}`` of every figure a build makes of ``results`` (a loaded results file)."""
    from figkit.pipeline.outputs import output_spec
    from figkit.pipeline.plan import plan

    return {job.name: data_digest(job) for job in plan(results) if output_spec(job.kind).drawn}


def stale(path, current, results_name="the results"):
    """Sentences for each figkit figure in the PDF at ``path`` that the results of ``current``
    (``current_digests``) would draw differently, or would not draw at all; empty when every figure is current."""
    problems = []
    for name, digest in sorted(recorded(path).items()):
        if name not in current:
            problems.append(f"figure {name} is not one {results_name} makes any more")
        elif current[name] != digest:
            problems.append(f"figure {name} was drawn from other data than {results_name} holds now: rebuild it")
    return problems
