"""The jobs a results file supports: one per output the registry plans, named uniquely, in appendix order."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace

from figkit.pipeline.outputs import DOCUMENTS, Planning, outputs


@dataclass(frozen=True)
class Job:
    """One unit of work: what it makes (``outputs``, relative to the output folder) from which data."""

    name: str
    kind: str
    outputs: tuple
    data: dict
    caption: tuple = ()  # text, label, text, ...: labels may hold $...$ maths
    cost: float = 0.0  # relative render time, to start the heaviest jobs first
    width: str = "column"  # a figure's: "column" or "text" (for figure*)


def plan(results, planning=None):
    """The jobs a checked results file supports, in appendix order; names are stable and unique.

    ``planning`` (a :class:`~figkit.pipeline.outputs.Planning`) says which figure families are made at the
    text width, the page the comparison table must fit and the appendix layout; by default none, no
    page, two figures to a row."""
    planning = planning or Planning()
    names = _Names()
    jobs = []
    for spec in outputs():
        for draft in spec.plan(results, replace(planning, jobs=tuple(jobs))):
            name = names.unique(draft.stem)
            paths = tuple(path.format(name=name) for path in draft.outputs)
            jobs.append(Job(name, spec.kind, paths, draft.data, draft.caption, draft.cost, draft.width))
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


def select(jobs, only):
    """The jobs ``only`` names (shell patterns; the appendix, or a talk's slides, means all); a pattern naming
    none is an error."""
    if not only:
        return jobs
    names = [job.name for job in jobs]
    for pattern in only:
        if not fnmatch.filter(names, pattern):
            raise ValueError(f"--only {pattern!r} matches no job; jobs: {', '.join(names)}")
    if any(document in only for document in DOCUMENTS):
        return jobs
    return [job for job in jobs if any(fnmatch.fnmatchcase(job.name, p) for p in only)]
