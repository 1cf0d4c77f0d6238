"""Comparison tables of routing methods: a DataFrame, Markdown, LaTeX, and number macros.

A value is a number, ``{"mean": m, "std": s}`` (shown ``m ± s``), ``{"mean": m, "stderr": e}`` or
``{"seeds": [...]}`` (shown with its 95 % interval, ``figkit.tables.uncertainty``); ``None`` or a missing
metric is shown as a dash. Every output prints a column's numbers the same way (``figkit.tables.formatting``)
and marks the same cells: the best in bold, chosen on the printed numbers so ties are all bold (none where
a whole column ties), and with † those not significantly different from it. LaTeX tables are made to fit
their page (``figkit.tables.fit``).
"""

from __future__ import annotations

import math
import numbers
import re
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from figkit.arrays import scalar, shortened, token_text
from figkit.geometry import FitWarning, Page, measure_tabular, venue_page
from figkit.latex import Raw, escape_label, escape_markdown, escape_text, markdown_label, render_template
from figkit.results import KEY  # ids and metric names: safe inside \label and \csname
from figkit.tables.fit import FITS, Layout, cell_width, estimated_width, layouts, room, wrap
from figkit.tables.formatting import Value, column
from figkit.tables.uncertainty import LEVEL, TESTS, compare

DIRECTIONS = {"min": "lower", "lower": "lower", "max": "higher", "higher": "higher"}
TABLE_FORMATS = ("dataframe", "markdown", "latex")
EXPERT_TABLE_ROWS, EXPERT_TABLE_TOKENS = 8, 8  # experts listed, and tokens shown for each
LONGEST_TOKEN = 16  # characters of a token a LaTeX table shows (the Markdown table shows it whole)
SPREADS = {"std", "stderr", "n", "seeds"}  # what a value may carry beside its mean
LINE_BREAK = "\\\\"  # between the lines of a wrapped header
FORMAT_KEYS = {"digits", "percent", "scale", "unit"}  # how metric_info may say a column prints


def create_comparison_table(
    results_dict: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str] | None = None,
    output_format: str = "dataframe",
    *,
    best: Mapping[str, str] | None = None,
    caption: str | None = None,
    label: str | None = None,
    page: Page | str | None = None,
    fit: str = "auto",
    formats: Mapping[str, Mapping[str, Any]] | None = None,
    underline_second: bool = False,
) -> Any:
    """Compare methods (rows) on metrics (columns), with the best value of each metric in bold.

    Parameters
    ----------
    results_dict : dict
        Method name to ``{metric: value}``; a value is a number, ``{"mean": m, "std": s}``
        (printed ``m ± s``), ``{"mean": m, "stderr": e}`` (printed with its 95 % interval,
        ``m ± 1.96 e``; ``"n"``, the samples, may stand beside it), ``{"seeds": [...]}`` (its
        mean with its Student-t interval) or ``None`` (a dash).
    metrics : sequence of str, optional
        The columns, in order (default: every metric, sorted).
    output_format : {"dataframe", "markdown", "latex"}
        A pandas DataFrame, a Markdown table, or a booktabs ``tabular`` to ``\\input``.
    best : dict, optional
        Metric to ``"min"``/``"lower"`` or ``"max"``/``"higher"``: its best values (ties
        too, compared as printed) are bold, and values with seeds or standard errors not
        significantly different from the best are marked † (``caption_notes`` says how).
    caption, label : str, optional
        LaTeX only: wrap the tabular in a ``table`` float, caption above, label after it.
    page : Page or str, optional
        LaTeX only: the page the table is for, a venue name or a ``figkit.geometry.Page``
        (``tex_page`` measures the table in the paper itself; otherwise its width is
        estimated), in which it is made to fit (``fit``).
    fit : {"auto", "scale"}
        With ``page``: a table wider than its column is made to fit as authors do: headers
        wrapped onto two or three lines, then ``\\small`` with less space between columns,
        then ``table*`` in a two-column paper, then methods as columns (when there are fewer
        methods than metrics) or the metrics split into two or three tables. With "scale", a table
        that still does not fit is scaled to the width (``\\resizebox``) instead.
    formats : dict, optional
        Metric to how its column prints, as ``metric_info`` says it: ``digits`` (decimals; by
        default three significant figures of the column's median value), ``percent`` (a
        fraction shown times 100, ``%`` in the header), ``scale`` and ``unit``.
    underline_second : bool
        With ``best``: also underline the second best values of a column of three or more different
        values (``<ins>`` in Markdown, which GitHub shows underlined).

    Returns
    -------
    pandas.DataFrame or str
        The LaTeX falls back to plain rules in a paper without booktabs. A table that fits
        no width of ``page`` warns (``FitWarning``) with its width, as does LaTeX.

    Raises
    ------
    ValueError, TypeError
        For an unknown format, a NaN, infinite or non-numeric value (naming the method and
        the metric), or a label LaTeX cannot use.
    """
    if output_format not in TABLE_FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(TABLE_FORMATS)}, got {output_format!r}")
    values = _values(results_dict)
    columns = _columns(values, metrics)
    printed = _printed(values, columns, best or {}, formats or {})
    marks = _marks(values, printed, best or {}, underline_second)
    if output_format == "dataframe":
        return _dataframe(values, printed)
    if output_format == "markdown":
        return _markdown(values, printed, marks)
    if label is not None and not KEY.match(str(label)):
        raise ValueError(f"label {label!r} may use only letters, digits and _ . : + -")
    if isinstance(page, str):
        page = venue_page(page)
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    return _latex(values, printed, marks, caption, label, page, fit)


def number_macros(
    results_dict: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str] | None = None,
    *,
    best: Mapping[str, str] | None = None,
    formats: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """LaTeX defining ``\\figkitvalue{method}{metric}`` for every value, to quote numbers in the text.

    Parameters
    ----------
    results_dict : dict
        Method id to ``{metric: value}``, as for ``create_comparison_table``.
    metrics : sequence of str, optional
        The metrics to define (default: all).
    best, formats : dict, optional
        As for ``create_comparison_table``, so that each value is printed as the table prints it.

    Returns
    -------
    str
        A file to ``\\input`` in the preamble; each value is printed as in the tables.
        An unknown method or metric is a LaTeX error that names it, not a silent blank.

    Raises
    ------
    ValueError
        For a method or metric name that cannot name a macro, or a bad value.
    """
    values = _values(results_dict)
    columns = _columns(values, metrics)
    printed = _printed(values, columns, best or {}, formats or {})
    entries = []
    for method, row in values.items():
        for metric in columns:
            for name in (method, metric):
                if not KEY.match(name):
                    raise ValueError(f"{name!r} cannot name a macro: use letters, digits and _ . : + -")
            if row.get(metric) is not None:
                entries.append((Raw(f"{method}@{metric}"), Raw(printed[metric].latex(row[metric]))))
    return render_template("macros.tex", values=entries)


def _values(results_dict):
    if not isinstance(results_dict, Mapping) or not results_dict:
        raise ValueError("results_dict must be a non-empty dict of {method: {metric: value}}")
    values = {}
    for method, row in results_dict.items():
        if not isinstance(row, Mapping):
            raise TypeError(f"results_dict[{method!r}] must be a dict of metric values, got {type(row).__name__}")
        values[str(method)] = {str(metric): _value(value, method, metric) for metric, value in row.items()}
    return values


def _value(value, method, metric):
    where = f"results_dict[{method!r}][{metric!r}]"
    if value is None:
        return None
    if isinstance(value, Mapping):
        if not ({"mean", "seeds"} & set(value)) or set(value) - {"mean"} - SPREADS:
            shapes = "{'mean': m, 'std': s}, {'mean': m, 'stderr': e} or {'seeds': [...]}"
            raise ValueError(f"{where} must be a number, {shapes}, got keys {sorted(value)}")
        spreads = {name: _number(value[name], where) for name in ("std", "stderr") if value.get(name) is not None}
        if value.get("seeds") is not None:
            seeds = tuple(_number(x, f"{where}['seeds']") for x in value["seeds"])
            if len(seeds) < 2:
                raise ValueError(f"{where}['seeds'] must hold at least two values, got {len(seeds)}")
            spreads["seeds"] = seeds
        mean = statistics.fmean(spreads["seeds"]) if "mean" not in value else _number(value["mean"], where)
        return Value(mean, **spreads)
    return Value(_number(value, where))


def _number(value, where):
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where} is {value}: tables hold finite numbers only")
    return float(value)


def _columns(values, metrics):
    present = sorted({metric for row in values.values() for metric in row})
    if metrics is None:
        return present
    unknown = [m for m in metrics if m not in present]
    if unknown:
        raise ValueError(f"metrics {unknown} are in no method's results; available: {', '.join(present)}")
    return list(metrics)


def _printed(values, columns, best, formats):
    """Each column's ``Column``: how its numbers print, from its values, its format and its direction."""
    for metric, direction in best.items():
        if direction not in DIRECTIONS:
            raise ValueError(f"best[{metric!r}] must be 'min' or 'max', got {direction!r}")
        if metric not in columns:
            raise ValueError(f"best names {metric!r}, which is not a column of the table")
    printed = {}
    for metric in columns:
        given = dict(formats.get(metric) or {})
        unknown = set(given) - FORMAT_KEYS
        if unknown:
            raise ValueError(
                f"formats[{metric!r}] has {sorted(unknown)}; a column's format may give {sorted(FORMAT_KEYS)}"
            )
        cells = [row.get(metric) for row in values.values()]
        printed[metric] = column(cells, given, DIRECTIONS.get(best.get(metric)))
    return printed


def _marks(values, printed, best, underline_second=False):
    """{(method, metric): its marks}: "best" (bold), "second" (underlined: the second best printed value
    of a column of three or more, if asked), and the test by which it is not significantly different from
    the best (†); nothing in a column where every value ties."""
    marks = {}
    for metric, direction in best.items():
        shown = {method: printed[metric].rounded(row[metric]) for method, row in values.items() if row.get(metric)}
        ranked = sorted(set(shown.values()), reverse=DIRECTIONS[direction] == "higher")
        if len(ranked) < 2:
            continue
        leaders = [method for method, value in shown.items() if value == ranked[0]]
        for method, value in shown.items():
            cell = set()
            if value == ranked[0]:
                cell.add("best")
            else:
                if underline_second and len(ranked) >= 3 and value == ranked[1]:
                    cell.add("second")
                compared = compare(values[leaders[0]][metric], values[method][metric])
                if compared is not None and compared[1] >= LEVEL:
                    cell.add(compared[0])
            if cell:
                marks[(method, metric)] = cell
    return marks


def caption_notes(
    results_dict: Mapping[str, Mapping[str, Any]],
    best: Mapping[str, str] | None = None,
    formats: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The sentences a caption needs for what the table's ± and † mean (empty when it has neither), for
    the table ``create_comparison_table`` makes of the same arguments."""
    values = _values(results_dict)
    kinds = {value.spread_kind for row in values.values() for value in row.values() if value and value.spread}
    said = []
    if kinds & {"seeds", "stderr"}:
        where = {"seeds": "over seeds (Student t)", "stderr": "from the standard error (1.96 standard errors)"}
        intervals = " or ".join(where[kind] for kind in ("seeds", "stderr") if kind in kinds)
        said.append(
            f"± gives a 95 % interval of the mean {intervals}{', else a standard deviation' if 'std' in kinds else ''}."
        )
    elif "std" in kinds:
        said.append("± gives a standard deviation.")
    columns = _columns(values, None)
    printed = _printed(values, columns, dict(best or {}), dict(formats or {}))
    tests = set().union(*_marks(values, printed, dict(best or {})).values()) - {"best", "second"}
    if tests:
        by = " or ".join(TESTS[test] for test in TESTS if test in tests)
        said.append(f"†: not significantly different from the best of its column (two-sided, 5 %; {by}).")
    return " ".join(said)


def _header(metric, printed):
    """A column's header: the metric's label, with the unit and power of ten its numbers are in."""
    return printed[metric].header(metric)


def _dataframe(values, printed):
    import pandas as pd

    def cell(value, shown):
        if value is None:
            return float("nan")
        return shown.rounded(value) if value.spread is None else shown.plain(value)

    return pd.DataFrame(
        {_header(m, printed): [cell(row.get(m), shown) for row in values.values()] for m, shown in printed.items()},
        index=list(values),
    )


def _markdown(values, printed, marks):
    def cell(method, metric):
        value = values[method].get(metric)
        if value is None:
            return "\N{EN DASH}"
        text = escape_markdown(printed[metric].plain(value))
        mark = marks.get((method, metric), set())
        text = f"**{text}**" if "best" in mark else f"<ins>{text}</ins>" if "second" in mark else text
        return f"{text}\N{DAGGER}" if mark - {"best", "second"} else text

    header = " | ".join(markdown_label(c) for c in ["Method", *(_header(m, printed) for m in printed)])
    rule = " | ".join([":---", *["---:"] * len(printed)])
    rows = [" | ".join([markdown_label(method), *(cell(method, m) for m in printed)]) for method in values]
    return render_template("table.md", header=Raw(header), rule=Raw(rule), rows=[Raw(r) for r in rows])


def _latex(values, printed, marks, caption, label, page, fit):
    """The LaTeX table: as it is without a page; on ``page``, in the first layout that fits it."""
    floats = {
        "caption": None if caption is None else Raw(escape_label(caption)),
        "label": None if label is None else Raw(label),
    }
    if page is None:
        return render_template("table.tex", tabulars=_tabulars(values, printed, marks, Layout()), **floats)
    tried = []
    for layout in layouts(page, len(values), len(printed)):
        width = _width(values, printed, marks, layout, page)
        tried.append((layout, width))
        if width <= room(page, layout) + 1e-3:
            break
    else:
        layout, width = min(tried, key=lambda t: t[1] / room(page, t[0]))  # the nearest miss
        if fit == "scale":
            layout = replace(layout, scaled=True)
    how = "estimated" if page.tex is None else f"measured in {page.name}"
    setting = {"environment": Raw("table*" if layout.wide else "table"), "narrow": layout.small}
    setting |= {"scaled": layout.scaled, "layout": Raw(layout.said()), "width": f"{width:.2f} in, {how}"}
    if width > room(page, layout) + 1e-3 and not layout.scaled:
        where = "column" if page.two_column and not layout.wide else "text"
        message = (
            f"the table is {width:.2f} in wide ({how}, {layout.said()}), wider than the {where} of "
            f"{page.name} ({room(page, layout):.2f} in)"
        )
        warnings.warn(message, FitWarning, stacklevel=3)
        setting["warning"] = Raw(re.sub(r"[^A-Za-z0-9 .,()*-]", "", message))  # LaTeX writes it to the terminal
    return render_template("table.tex", tabulars=_tabulars(values, printed, marks, layout), **setting, **floats)


def _width(values, printed, marks, layout, page):
    """Inches the table takes in ``layout``: its widest tabular, measured in the paper, else estimated."""
    if page.tex is not None:
        tabulars = _tabulars(values, printed, marks, layout)
        sets = [
            render_template("table.tex", tabulars=[t], narrow=layout.small, caption=None, label=None) for t in tabulars
        ]
        return max(measure_tabular(page.tex, tabular) for tabular in sets)
    groups = _groups(values, printed, marks, layout)
    return max(estimated_width([c for c, _ in g], page.body_size, page.font, layout.small) for g in groups)


def _tabulars(values, printed, marks, layout):
    """The tabulars of ``layout`` for the template: each its column spec, header and rows."""
    made = []
    for groups in _groups(values, printed, marks, layout):
        spec, header, columns = [], [], []
        for (lines, subcolumns), align in groups:
            spec.append(align)
            side = "c" if len(subcolumns) == 2 else align  # a ± column's header is centred over both parts
            text = lines[0] if len(lines) == 1 else _stacked(lines, side)
            header.append(text if len(subcolumns) == 1 else f"\\multicolumn{{2}}{{c}}{{{text}}}")
            columns += subcolumns
        rows = [" & ".join(cells) for cells in zip(*columns)]
        made.append(
            {"column_spec": Raw("".join(spec)), "header": Raw(" & ".join(header)), "rows": [Raw(r) for r in rows]}
        )
    return made


def _stacked(lines, side):
    """A header's lines one above the other, the last on the row's baseline, spaced as a tabular's rows (a
    box tabular: in the appendix, ``tabular`` is a longtable)."""
    return f"\\begin{{figkitboxtabular}}[b]{{@{{}}{side}@{{}}}}{LINE_BREAK.join(lines)}\\end{{figkitboxtabular}}"


def _groups(values, printed, marks, layout):
    """Each tabular of ``layout`` as its column groups: ((header lines, subcolumns of cells), alignment).
    A column with a ± has two subcolumns, the means right-aligned and the ± in line beneath each other.
    Split, the metrics are in ``layout.parts`` tables of (nearly) equal size, each with the methods."""
    methods, metrics = list(values), list(printed)

    def header(label, subcolumns):
        if not layout.wrapped:
            return [escape_label(label)]
        widest = sum(max(map(cell_width, cells), default=0.0) for cells in subcolumns)
        return [escape_label(line) for line in wrap(label, widest)]

    def group(label, cells):
        """A column of ``cells`` (method, metric) under ``label``: one subcolumn, or mean and ± beneath."""
        parts = [_latex_parts(values[m].get(k), printed[k], marks.get((m, k), set())) for m, k in cells]
        if any(spread is not None for _, spread in parts):
            subcolumns = [[mean for mean, _ in parts], [spread or "" for _, spread in parts]]
            return (header(label, subcolumns), subcolumns), "r@{}l"
        return (header(label, [[mean for mean, _ in parts]]), [[mean for mean, _ in parts]]), "r"

    def first(label, names):
        return ([escape_label(label)], [[escape_label(name) for name in names]]), "l"

    if layout.shape == "columns":
        shown = [_header(k, printed) for k in metrics]
        return [[first("Metric", shown)] + [group(m, [(m, k) for k in metrics]) for m in methods]]
    size = -(-len(metrics) // layout.parts)  # metrics per table, the last with the rest
    parts = [metrics[i : i + size] for i in range(0, len(metrics), size)]
    return [
        [first("Method", methods)] + [group(_header(k, printed), [(m, k) for m in methods]) for k in part]
        for part in parts
    ]


def _latex_parts(value, shown, mark):
    """A value's cell as LaTeX: (its mean, its ± part or None), bold for the best, underlined for the second,
    a † (taking no width, so the numbers stay aligned) for one not significantly different from the best, a
    dash for none."""
    if value is None:
        return "--", None
    mean, spread = shown.latex_parts(value)
    spread = None if spread is None else f"\\,$\\pm$\\,{spread}"
    for flag, look in (("best", "\\textbf"), ("second", "\\underline")):
        if flag in mark:
            mean, spread = f"{look}{{{mean}}}", None if spread is None else f"{look}{{{spread}}}"
    if mark - {"best", "second"}:
        return (mean, f"{spread}\\rlap{{$^\\dagger$}}") if spread else (f"{mean}\\rlap{{$^\\dagger$}}", None)
    return mean, spread


def create_expert_token_table(
    expert_tokens: Sequence[Sequence[int]],
    token_strings: Mapping[int, str],
    output_format: str = "latex",
    *,
    experts: Sequence[int] | None = None,
    routings: Sequence[Sequence[int]] | None = None,
    occurrences: Sequence[Sequence[int]] | None = None,
    shown_tokens: int = EXPERT_TABLE_TOKENS,
    caption: str | None = None,
    label: str | None = None,
) -> str:
    """Chosen experts' tokens, each shown literally (spaces as ␣, controls escaped) and, given their
    ``occurrences``, with the share of them routed to the expert: the tokens most specialised to it.

    Parameters
    ----------
    expert_tokens : sequence of sequences of int
        For each expert, its token ids in the order to list them (``vocabulary[].expert_tokens``: most
        specialised first).
    token_strings : mapping
        Token id to its text (the results file's ``token_strings``); an id without one shows as ``#id``.
    output_format : {"latex", "markdown"}
    experts : sequence of int, optional
        The experts (rows) to list, in order (default: the 8 with the most routings in
        ``routings``, or the first 8 that have tokens).
    routings : sequence of sequences of int, optional
        For each expert, the routings of each listed token: chooses the default experts.
    occurrences : sequence of sequences of int, optional
        For each expert, each listed token's occurrences (with ``routings``): each token shows its share.
    shown_tokens : int
        Tokens per expert (8).
    caption, label : str, optional
        LaTeX only: wrap the tabular in a ``table`` float.
    """
    if output_format not in ("latex", "markdown"):
        raise ValueError(f"output_format must be 'latex' or 'markdown', got {output_format!r}")
    if occurrences is not None and routings is None:
        raise ValueError("occurrences give each token's share of routings: give routings too")
    lists = [list(map(int, ids)) for ids in expert_tokens]
    if experts is None:
        busiest = sorted(
            (e for e, ids in enumerate(lists) if ids),
            key=lambda e: -sum(routings[e]) if routings is not None else e,
        )
        experts = busiest[:EXPERT_TABLE_ROWS]
    else:
        experts = [int(e) for e in experts]
        unknown = [e for e in experts if not 0 <= e < len(lists)]
        if unknown:
            raise ValueError(f"experts {unknown} are not among the {len(lists)} experts of expert_tokens")
    if not experts:
        raise ValueError("expert_tokens lists no token for any expert")

    def shown(token_id):
        text = token_strings.get(token_id, token_strings.get(str(token_id)))
        return f"#{token_id}" if text is None else token_text(text)

    def share(e, j):
        return "" if occurrences is None else f"{100 * routings[e][j] / occurrences[e][j]:.0f}%"

    rows = [(e, [(shown(t), share(e, j)) for j, t in enumerate(lists[e][:shown_tokens])]) for e in experts]
    title = "Most frequent tokens" if occurrences is None else "Most specialised tokens (share routed to the expert)"
    if output_format == "markdown":
        body = [f"{e} | " + " ".join(f"{escape_markdown(t)} {s}".rstrip() for t, s in tokens) for e, tokens in rows]
        header, rule = Raw(f"Expert | {title}"), Raw("---: | :---")
        return render_template("table.md", header=header, rule=rule, rows=[Raw(r) for r in body])

    def cell(token, share):
        shown = rf"\texttt{{{escape_text(shortened(token, LONGEST_TOKEN))}}}"
        return shown + (f"~{escape_text(share)}" if share else "")

    body = [f"{e} & " + " ".join(cell(t, s) for t, s in tokens) for e, tokens in rows]
    return render_template(
        "table.tex",
        column_spec=Raw(r"rp{0.8\linewidth}"),
        header=Raw(f"Expert & {escape_text(title)}"),
        rows=[Raw(r) for r in body],
        caption=None if caption is None else Raw(escape_label(caption)),
        label=None if label is None else Raw(label),
    )
