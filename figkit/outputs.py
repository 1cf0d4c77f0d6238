"""One build job made into bytes and written: a figure, a table, the macros or the appendix source.

This is the part of a build that runs in the worker processes. Importing it loads
the drawing libraries, so a parent that imports it before forking its workers
pays for them once.
"""

import matplotlib.pyplot as plt

from figkit.files import write_if_changed
from figkit.geometry import Page
from figkit.latex import Raw, escape_label, escape_text, render_template, tex_path
from figkit.plots import FIGURES, figure_spec
from figkit.style import figure_bytes, use_style

# Figures in the appendix keep their printed size unless they are wider than the text.
FIGURE_WIDTH = Raw(r"\figkitmaxwidth")


def make_outputs(job, out_dir, options):
    """Write the outputs of ``job`` under ``out_dir`` (unchanged files are left alone); return their bytes."""
    if job.kind in FIGURES:
        sizes = options["sizes"]
        made = _figure(job, options["styles"], sizes.get(job.width, sizes.get("column", {})))
    else:
        made = {"table": _table, "token_table": _token_table, "macros": _macros, "appendix": _appendix}[job.kind](job)
    for path, data in made.items():
        write_if_changed(out_dir / path, data)
    return made


def _figure(job, styles, size):
    spec = figure_spec(job.kind)
    with use_style(*styles), plt.rc_context(size):
        fig = spec.plot(spec.prepare(**job.data))
        try:
            return {job.outputs[0]: figure_bytes(fig, "pdf")}
        finally:
            plt.close(fig)


def _table(job):
    from figkit.tables import create_comparison_table

    data = job.data
    headers = data["columns"]
    values = {
        data["rows"][method]: {headers[metric]: value for metric, value in row.items()}
        for method, row in data["values"].items()
    }
    columns = list(headers.values())
    best = {headers[metric]: better for metric, better in data["better"].items()}  # "lower" or "higher"
    page = None if data["page"] is None else Page(**data["page"])
    fit = {"caption": data["caption"], "label": data["label"], "page": page, "narrow": data["narrow"]}
    tex = create_comparison_table(values, columns, "latex", best=best, **fit)
    markdown = create_comparison_table(values, columns, "markdown", best=best)
    return {job.outputs[0]: tex.encode(), job.outputs[1]: markdown.encode()}


def _token_table(job):
    from figkit.tables import create_expert_token_table

    data = job.data
    strings = {int(t): text for t, text in data["token_strings"].items()}
    common = {"routings": data["routings"], "occurrences": data.get("occurrences")}
    tex = create_expert_token_table(
        data["expert_tokens"], strings, "latex", caption=data["caption"], label=data["label"], **common
    )
    markdown = create_expert_token_table(data["expert_tokens"], strings, "markdown", **common)
    return {job.outputs[0]: tex.encode(), job.outputs[1]: markdown.encode()}


def _macros(job):
    from figkit.tables import number_macros

    return {job.outputs[0]: number_macros(job.data["metrics"]).encode()}


def _caption(parts):
    """A caption from text, label, text, label, ...: the text shown literally, labels with their safe maths."""
    return Raw("".join(escape_label(part) if i % 2 else escape_text(part) for i, part in enumerate(parts)))


def _appendix(job):
    data = job.data
    sections = [
        {
            "title": section["title"],
            "tables": [tex_path(path) for path in section["tables"]],
            "notes": [_caption(note) for note in section["notes"]],
            "rows": [
                [
                    {
                        "path": tex_path(figure["path"]),
                        "caption": _caption(figure["caption"]),
                        "label": Raw(figure["label"]),
                        "share": figure["share"],
                        "heading": figure["heading"],
                    }
                    for figure in row
                ]
                for row in section["rows"]
            ],
        }
        for section in data["sections"]
    ]
    tex = render_template(
        "appendix.tex",
        title=Raw(escape_label(data["title"])),
        sections=sections,
        macros=None if data["macros"] is None else tex_path(data["macros"]),
        figure_width=FIGURE_WIDTH,
        font=data["font"],
        text_width=data["text_width"],
    )
    return {job.outputs[0]: tex.encode()}
