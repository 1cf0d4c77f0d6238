"""The file's own fields: the schema it names for editors, and the appendix title."""

from figkit.results.checks import a_string
from figkit.results.section import Section

SCHEMA_REF = Section(
    "$schema",
    {"type": "string", "description": "This schema's address or path, for editors."},
    lambda value, context: a_string(value, "$schema"),
)

TITLE = Section(
    "title",
    {"type": "string", "description": "The appendix title."},
    lambda value, context: a_string(value, "title"),
)
