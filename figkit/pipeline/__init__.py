"""``figkit build``: options → plan of jobs over one registry of outputs → workers → compile.

``options`` holds what a build is asked (``BuildOptions``) and resolves it once (``Target``);
``outputs`` is the registry of every kind of output (figures, tables, macros, token tables, the
appendix), each planned and rendered by its own spec; ``plan`` names the jobs; ``manifest`` keeps
keys, the manifest and the depfile; ``worker`` runs jobs in processes; ``compile`` makes the PDF;
``stages`` runs them in order.
"""

from figkit.pipeline.compile import NO_TEX
from figkit.pipeline.options import BuildOptions
from figkit.pipeline.plan import Job, plan
from figkit.pipeline.stages import BuildResult, build, build_with

__all__ = ["NO_TEX", "BuildOptions", "BuildResult", "Job", "build", "build_with", "plan"]
