"""``token_strings``: the text of token ids, for labels."""

from figkit.results.checks import a_string, an_object, fail, shown
from figkit.results.section import Section

SCHEMA = {
    "type": "object",
    "description": 'The text of token ids, for labels: {"262": " the"}.',
    "propertyNames": {"pattern": "^(0|[1-9][0-9]*)$"},
    "additionalProperties": {"type": "string"},
}


def check(strings, context):
    an_object(strings, "token_strings")
    for key, text in strings.items():
        where = f"token_strings.{key}"
        if not key.isdigit() or str(int(key)) != key:
            fail(where, f'keys are token ids written as integers ("262"), got {shown(key)}')
        a_string(text, where)


SECTION = Section("token_strings", SCHEMA, check)
