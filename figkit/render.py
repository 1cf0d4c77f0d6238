"""One build job made into bytes and written: a figure, a table, the macros or the appendix source.

This is the part of a build that runs in the worker processes; it imports
matplotlib and Jinja, which the planning stage never does.
"""

from importlib import import_module

from figkit.build import PLOT_MODULES
from figkit.files import write_if_changed
from figkit.latex import Raw, escape_label, escape_text, render, tex_path

# Figures in the appendix keep their printed size unless they are wider than the text.
FIGURE_WIDTH = Raw(r"\figkitmaxwidth")


def render_job(job, out_dir, options):
    """Write the outputs of ``job`` under ``out_dir`` (unchanged files are left alone); return their bytes."""
    if job.kind in PLOT_MODULES:
        outputs = _figure(job, options["styles"])
    else:
        outputs = {"table": _table, "macros": _macros, "appendix": _appendix}[job.kind](job)
    for path, data in outputs.items():
        write_if_changed(out_dir / path, data)
    return outputs


def _figure(job, styles):
    import matplotlib.pyplot as plt

    from figkit.plots._figure import render as draw_figure
    from figkit.style import figure_bytes, use_style

    module = import_module(f"figkit.plots.{PLOT_MODULES[job.kind]}")
    with use_style(*styles):
        fig = draw_figure(module.draw, module.prepare(**job.data), figsize=None, dpi=None, save_path=None)
        try:
            return {job.outputs[0]: figure_bytes(fig, "pdf")}
        finally:
            plt.close(fig)


def _table(job):
    from figkit.tables import create_comparison_table

    data = job.data
    headers = data["columns"]
    values = {data["rows"][method]: {headers[metric]: value for metric, value in row.items()}
              for method, row in data["values"].items()}
    columns = list(headers.values())
    best = {headers[metric]: better for metric, better in data["better"].items()}  # "lower" or "higher"
    tex = create_comparison_table(values, columns, "latex", best=best, caption=data["caption"], label=data["label"])
    markdown = create_comparison_table(values, columns, "markdown", best=best)
    return {job.outputs[0]: tex.encode(), job.outputs[1]: markdown.encode()}


def _macros(job):
    from figkit.tables import number_macros

    return {job.outputs[0]: number_macros(job.data["metrics"]).encode()}


def _caption(parts):
    """A caption from (text, label, text): the text shown literally, the label with its safe maths."""
    before, label, after = parts
    return Raw(escape_text(before) + escape_label(label) + escape_text(after))


def _appendix(job):
    data = job.data
    sections = [{
        "title": section["title"],
        "tables": [tex_path(path) for path in section["tables"]],
        "figures": [{"path": tex_path(figure["path"]), "caption": _caption(figure["caption"]),
                     "label": Raw(figure["label"])} for figure in section["figures"]],
    } for section in data["sections"]]
    tex = render("appendix.tex", title=Raw(escape_label(data["title"])), sections=sections,
                 macros=None if data["macros"] is None else tex_path(data["macros"]), figure_width=FIGURE_WIDTH)
    return {job.outputs[0]: tex.encode()}
