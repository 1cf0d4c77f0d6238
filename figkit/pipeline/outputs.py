"""Every kind of output a build makes, each described once: which outputs a results file supports
(``plan``) and how one is made into bytes in a worker (``render``).

Figures are the families of :data:`figkit.plots.FIGURES`; beside them are the comparison table, the
number macros, the tables of each expert's tokens and the document that holds them: the appendix,
or in a build of a slide style the talk's deck, in the order of ``outputs()``, which is the appendix's
order. Rendering loads the drawing libraries; planning and the registry do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

from figkit.plots import figure_specs
from figkit.results import method_labels

APPENDIX, SLIDES = "appendix", "slides"
DOCUMENTS = (APPENDIX, SLIDES)  # what a build compiles, each into <name>.pdf: the appendix, or in a talk the deck
DECK = ("expert_count_comparison", "alpha_sensitivity", "compute_quality", "routing_text")  # a talk's story
TABLE_SECTION, FIGURE_SECTION, TOKEN_TABLE_SECTION = "Comparison of methods", "Figures", "Tokens of each expert"


@dataclass(frozen=True)
class Draft:
    """An output ``plan`` proposes; the build names it (``stem``, made unique) and makes it a Job."""

    stem: str
    outputs: tuple  # paths relative to the output folder, "{name}" standing for the job's name
    data: dict
    caption: tuple = ()  # text, label, text, ...: labels may hold $...$ maths
    cost: float = 0.0  # relative render time, to start the heaviest jobs first
    width: str = "column"  # a figure's: "column" or "text" (for figure*)


@dataclass(frozen=True)
class Planning:
    """What ``plan`` functions may read besides the results: the build's target and the jobs planned so far."""

    wide: frozenset = frozenset()  # figure families made at the text width
    table: dict = field(default_factory=lambda: {"page": None, "fit": "auto", "second": False})  # how it is set
    layout: dict = field(default_factory=lambda: {"font": "serif", "text_width": 6.75, "columns": 2})
    jobs: tuple = ()
    deck: tuple | None = None  # a talk's figure families, in order: its deck replaces the appendix


@dataclass(frozen=True)
class OutputSpec:
    """A kind of output: ``plan(results, planning)`` yields Drafts, ``render(job, target)`` returns
    ``{path: bytes}``. ``drawn`` outputs depend on the styles and sizes, the others on the templates, and
    ``templated`` drawn ones (a figure also written as LaTeX) on both."""

    kind: str
    plan: Callable[[dict, Planning], Iterable[Draft]]
    render: Callable
    drawn: bool = False
    templated: bool = False
    title: str = ""  # the appendix heading of a figure family


# --- the comparison table and the macros -----------------------------------------------------


def _plan_table(results, planning):
    metrics = results.get("metrics", {})
    if any(metrics.values()):
        data = _table_data(results, planning.table["second"]) | planning.table
        yield Draft("comparison", ("tables/{name}.tex", "tables/{name}.md"), data)


def _table_data(results, underline_second=False):
    from figkit.tables import caption_notes

    info = results.get("metric_info", {})
    metrics = results.get("metrics", {})
    present = list(info) + [m for row in metrics.values() for m in row if m not in info]
    columns = list(dict.fromkeys(m for m in present if any(m in row for row in metrics.values())))
    headers = {m: info.get(m, {}).get("label", m) for m in columns}
    rows = {m["id"]: m.get("label", m["id"]) for m in results["methods"] if metrics.get(m["id"])}
    better = {m: info[m]["better"] for m in columns if "better" in info.get(m, {})}
    caption = "Comparison of routing methods."
    if better:
        rules = [
            f"{direction} is better for " + ", ".join(headers[m] for m in better if better[m] == direction)
            for direction in ("lower", "higher")
            if direction in better.values()
        ]
        caption += f" Bold: the best value of a column ({'; '.join(rules)})."
        if underline_second:
            caption += " Underlined: the second best."
    formats = _formats(info, columns)
    notes = caption_notes({m: row for m, row in metrics.items() if row}, better, formats)
    caption += f" {notes}" if notes else ""
    return {
        "rows": rows,
        "columns": headers,
        "values": {m: metrics[m] for m in rows},
        "better": better,
        "formats": formats,
        "caption": caption,
        "label": "tab:figkit-comparison",
    }


def _formats(info, metrics):
    """How each metric's numbers print, as its metric_info says (digits, percent, scale, unit)."""
    from figkit.tables import FORMAT_KEYS

    return {m: {k: v for k, v in info.get(m, {}).items() if k in FORMAT_KEYS} for m in metrics}


def _render_table(job, target):
    from figkit.geometry import Page
    from figkit.tables import create_comparison_table

    data = job.data
    headers = data["columns"]
    values = {
        data["rows"][method]: {headers[metric]: value for metric, value in row.items()}
        for method, row in data["values"].items()
    }
    columns = list(headers.values())
    best = {headers[metric]: better for metric, better in data["better"].items()}  # "lower" or "higher"
    formats = {headers[metric]: given for metric, given in data["formats"].items()}
    page = None if data["page"] is None else Page(**data["page"])
    fit = {"caption": data["caption"], "label": data["label"], "page": page, "fit": data["fit"]}
    marks = {"best": best, "formats": formats, "underline_second": data["second"]}
    tex = create_comparison_table(values, columns, "latex", **marks, **fit)
    markdown = create_comparison_table(values, columns, "markdown", **marks)
    return {job.outputs[0]: tex.encode(), job.outputs[1]: markdown.encode()}


def _plan_macros(results, planning):
    metrics, info = results.get("metrics", {}), results.get("metric_info", {})
    if any(metrics.values()):
        named = sorted({metric for row in metrics.values() for metric in row})
        best = {m: info[m]["better"] for m in named if "better" in info.get(m, {})}
        data = {
            "metrics": {m: row for m, row in metrics.items() if row},
            "best": best,
            "formats": _formats(info, named),
        }
        yield Draft("macros", ("macros.tex",), data)


def _render_macros(job, target):
    from figkit.tables import number_macros

    data = job.data
    return {job.outputs[0]: number_macros(data["metrics"], best=data["best"], formats=data["formats"]).encode()}


# --- the tables of each expert's tokens ------------------------------------------------------


def _plan_token_tables(results, planning):
    from figkit.plots.spec import layer_suffix

    for entry in results.get("vocabulary", []):
        if "expert_tokens" in entry:
            stem = f"expert_tokens_{entry['method']}_{layer_suffix(entry.get('layer'))}"
            yield Draft(stem, ("tables/{name}.tex", "tables/{name}.md"), _token_table_data(results, entry, stem))


def _token_table_data(results, entry, stem):
    """What a table of each expert's most frequent tokens needs: the tokens, their strings, its caption."""
    from figkit.plots.spec import layer_text
    from figkit.stats import MIN_SPECIALISED

    strings = results.get("token_strings", {})
    ids = {str(t) for tokens in entry["expert_tokens"] for t in tokens}
    label = method_labels(results)[entry["method"]]
    where = layer_text(entry.get("layer"))
    if "expert_token_occurrences" in entry:
        caption = (
            f"{label}: the tokens most specialised to the experts with the most routings ({where}): each token "
            "with the share of its occurrences routed to the expert, highest first, among tokens seen at least "
            f"{MIN_SPECIALISED} times; \N{OPEN BOX} is a space."
        )
    else:
        caption = (
            f"{label}: the most frequent tokens of the experts with the most routings ({where}), most frequent "
            "first; \N{OPEN BOX} is a space."
        )
    return {
        "expert_tokens": entry["expert_tokens"],
        "routings": entry["expert_token_routings"],
        "occurrences": entry.get("expert_token_occurrences"),
        "token_strings": {t: strings[t] for t in sorted(ids) if t in strings},
        "caption": caption,
        "label": f"tab:{stem}",
    }


def _render_token_table(job, target):
    from figkit.tables import create_expert_token_table

    data = job.data
    strings = {int(t): text for t, text in data["token_strings"].items()}
    common = {"routings": data["routings"], "occurrences": data.get("occurrences")}
    tex = create_expert_token_table(
        data["expert_tokens"], strings, "latex", caption=data["caption"], label=data["label"], **common
    )
    markdown = create_expert_token_table(data["expert_tokens"], strings, "markdown", **common)
    return {job.outputs[0]: tex.encode(), job.outputs[1]: markdown.encode()}


# --- figures ---------------------------------------------------------------------------------


def _figure_output(spec):
    """The OutputSpec of a figure family."""

    def plan(results, planning):
        width = "text" if spec.width == "text" or spec.name in planning.wide else "column"
        paths = ("figures/{name}.pdf",) + (("tables/{name}.tex",) if spec.latex else ())
        for figure in spec.jobs(results):
            yield Draft(spec.name + figure.suffix, paths, figure.arguments, figure.caption, spec.cost, width)

    def render(job, target):
        import matplotlib.pyplot as plt

        from figkit.provenance import keywords
        from figkit.style import figure_bytes, use_style

        with use_style(*target.styles), plt.rc_context(target.figure_size(job.width)):
            data = spec.prepare(**job.data)
            fig = spec.plot(data)
            try:
                made = {job.outputs[0]: figure_bytes(fig, "pdf", keywords=keywords(job, target.styles))}
            finally:
                plt.close(fig)
            if spec.latex:  # the same figure set by LaTeX, in the same style's colours
                made[job.outputs[1]] = spec.latex(data).encode()
            return made

    return OutputSpec(spec.name, plan, render, drawn=True, templated=spec.latex is not None, title=spec.title)


# --- the appendix ----------------------------------------------------------------------------


def _plan_appendix(results, planning):
    """The table, then the figures family by family in rows of ``layout["columns"]`` (a text-width figure
    alone; a family's first figure under its heading), a sentence for each figure a family omits as
    empty, then the token tables. A talk has its deck instead."""
    if planning.deck is not None:
        return
    jobs, layout = planning.jobs, planning.layout
    sections = []
    tables = [job.outputs[0] for job in jobs if job.kind == "table"]
    if tables:
        sections.append({"title": TABLE_SECTION, "rows": [], "tables": tables, "notes": []})
    rows = []
    for spec in figure_specs():
        for i, job in enumerate(job for job in jobs if job.kind == spec.name):
            share = 1.0 if job.width == "text" or layout["columns"] == 1 else 0.49
            figure = {"path": job.outputs[0], "caption": job.caption, "label": f"fig:{job.name}", "share": share}
            figure["heading"] = spec.title if i == 0 else ""
            if rows and share < 1 and rows[-1][-1]["share"] < 1 and len(rows[-1]) < layout["columns"]:
                rows[-1].append(figure)
            else:
                rows.append([figure])
    notes = [note for spec in figure_specs() if spec.omitted is not None for note in spec.omitted(results)]
    if rows or notes:
        sections.append({"title": FIGURE_SECTION, "tables": [], "rows": rows, "notes": notes})
    token_tables = [job.outputs[0] for job in jobs if job.kind == "token_table"]
    if token_tables:
        sections.append({"title": TOKEN_TABLE_SECTION, "rows": [], "tables": token_tables, "notes": []})
    data = {
        "title": results.get("title", "Routing results"),
        "sections": sections,
        "macros": "macros.tex" if any(job.kind == "macros" for job in jobs) else None,
        "font": layout["font"],
        "text_width": layout["text_width"],
    }
    yield Draft(APPENDIX, ("appendix.tex",), data)


def _render_appendix(job, target):
    from figkit.latex import Raw, escape_label, render_template, tex_path

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
        figure_width=Raw(r"\figkitmaxwidth"),  # figures keep their printed size unless wider than the text
        font=data["font"],
        text_width=data["text_width"],
    )
    return {job.outputs[0]: tex.encode()}


# --- the talk's deck ------------------------------------------------------------------------


def _plan_slides(results, planning):
    """A talk's deck: a title frame, the comparison table and the first figure of each family of
    ``planning.deck`` the results have, each under a frame title from its caption. A figure LaTeX also
    sets (routing over the text) is set by LaTeX at the frame's type size, continued on a next frame if
    need be, where the drawn figure would shrink to the frame's height."""
    if planning.deck is None:
        return
    jobs = planning.jobs
    frames = []
    for family in planning.deck:
        job = next((job for job in jobs if job.kind == family), None)
        if job is not None:
            title = frame_title(job.caption, output_spec(family).title)
            frames.append({"path": job.outputs[-1], "title": title, "text": job.outputs[-1].endswith(".tex")})
    data = {
        "title": results.get("title", "Routing results"),
        "table": next((job.outputs[0] for job in jobs if job.kind == "table"), None),
        "frames": frames,
        "macros": "macros.tex" if any(job.kind == "macros" for job in jobs) else None,
        "font": planning.layout["font"],
    }
    yield Draft(SLIDES, ("slides.tex",), data)


def frame_title(caption, fallback, shortest=3):
    """A frame's title: the caption's opening words up to its first colon, parenthesis or full stop (maths
    kept whole), as caption parts; ``fallback`` (the family's title) when they are fewer than ``shortest``
    words, as when a caption opens with a method's name."""
    parts = []
    for i, part in enumerate(caption):
        if i % 2:  # a label: maths and all, never cut
            parts.append(part)
            continue
        cut = min((at for at in (part.find(": "), part.find(" ("), part.find(". ")) if at >= 0), default=-1)
        if cut >= 0:
            parts.append(part[:cut])
            break
        parts.append(part)
    words = " ".join(parts).split()
    return tuple(parts) if len(words) >= shortest else (fallback,)


def _render_slides(job, target):
    from figkit.latex import Raw, escape_label, render_template, tex_path

    data = job.data
    frames = [frame | {"title": _caption(frame["title"]), "path": tex_path(frame["path"])} for frame in data["frames"]]
    tex = render_template(
        "slides.tex",
        title=Raw(escape_label(data["title"])),
        table=None if data["table"] is None else tex_path(data["table"]),
        frames=frames,
        macros=None if data["macros"] is None else tex_path(data["macros"]),
        font=data["font"],
    )
    return {job.outputs[0]: tex.encode()}


def _caption(parts):
    """A caption from text, label, text, label, ...: the text shown literally, labels with their safe maths."""
    from figkit.latex import Raw, escape_label, escape_text

    return Raw("".join(escape_label(part) if i % 2 else escape_text(part) for i, part in enumerate(parts)))


@cache
def outputs():
    """Every OutputSpec in the order the appendix holds them (the documents last, as they include the rest)."""
    return (
        OutputSpec("table", _plan_table, _render_table),
        OutputSpec("macros", _plan_macros, _render_macros),
        OutputSpec("token_table", _plan_token_tables, _render_token_table),
        *map(_figure_output, figure_specs()),
        OutputSpec(APPENDIX, _plan_appendix, _render_appendix),
        OutputSpec(SLIDES, _plan_slides, _render_slides),
    )


def output_spec(kind):
    return next(spec for spec in outputs() if spec.kind == kind)
