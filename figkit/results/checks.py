"""The checks section checkers are made of: each names the path of the field it rejects.

``metrics.bh05.perplexity: expected a number, got "17.4"``: a check raises ``ValueError`` with the
path first. The field names an object may hold come from its JSON Schema fragment (``fields``), so
the schema and the checker cannot disagree about them.
"""

from __future__ import annotations

import json
import math
import re

from figkit.results.reading import LARGEST_INTEGER, Huge, NonFinite

# Characters of any text field. A label, title or token is set in figures and tables: 500 characters fill
# several lines of a page, and a 200,000-character label made a build draw for minutes and fail in LaTeX.
LONGEST_TEXT = 500
KEY = re.compile(r"\A[A-Za-z0-9_.:+-]+\Z")  # method ids and metric names: safe in labels, macros and file names
LARGEST_NUMBER = 1.7976931348623157e308  # numbers become float64


def fail(path, message):
    raise ValueError(f"{path}: {message}" if path else message)


def shown(value):
    """``value`` as a message shows it: short, and never the whole of a huge number or list."""
    if isinstance(value, NonFinite):
        return str(value)
    if isinstance(value, Huge):
        return f"an integer of {len(value.lstrip('-'))} digits"
    if type(value) is int and abs(value) > LARGEST_INTEGER:  # str() of 4,301 digits or more raises
        return f"an integer of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:36] + '..."'


LONGEST_KEY = 40  # characters of a key a message shows


def join(path, key):
    """The path of ``key`` in ``path``; a key too long to read in a message is cut ("1000000000...")."""
    key = str(key) if len(str(key)) <= LONGEST_KEY else f"{str(key)[: LONGEST_KEY - 3]}..."
    return f"{path}.{key}" if path else key


def fields(node):
    """``{"required": ..., "optional": ...}`` of an object's JSON Schema fragment, for ``an_object``."""
    return {"required": tuple(node.get("required", ())), "optional": tuple(node.get("properties", ()))}


def an_object(value, path, required=(), optional=()):
    """An object holding ``required`` and nothing but those and ``optional`` (anything, if neither given)."""
    if not isinstance(value, dict):
        fail(path, f"expected an object, got {shown(value)}")
    if getattr(value, "duplicate", None) is not None:
        fail(join(path, value.duplicate), "given twice")
    for key in required:
        if key not in value:
            fail(join(path, key), "missing")
    allowed = set(required) | set(optional)
    if required or optional:
        for key in value:
            if key not in allowed:
                fail(join(path, key), f"unknown field; expected one of {', '.join(sorted(allowed))}")
    return value


def is_number(value):
    return type(value) in (int, float) and -LARGEST_NUMBER <= value <= LARGEST_NUMBER


def a_number(value, path, minimum=None, above=None, below=None):
    if isinstance(value, Huge):
        fail(path, f"{shown(value)} is too long for a number figkit can draw; write it as a float (1.5e30)")
    if isinstance(value, NonFinite) or type(value) in (int, float) and not is_number(value):
        fail(path, f"expected a finite number, got {shown(value)}")
    if not is_number(value):
        fail(path, f"expected a number, got {shown(value)}")
    if minimum is not None and value < minimum:
        fail(path, f"must be at least {minimum}, got {shown(value)}")
    if above is not None and not value > above or below is not None and not value < below:
        fail(path, f"must be between {above} and {below} (exclusive), got {shown(value)}")
    return value


def an_integer(value, path, minimum=0, maximum=None):
    if isinstance(value, Huge) or type(value) is int and abs(value) > LARGEST_INTEGER:
        fail(path, f"must be at most {LARGEST_INTEGER}, got {shown(value)}")
    if type(value) is not int:
        fail(path, f"expected an integer, got {shown(value)}")
    if value < minimum:
        fail(path, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        fail(path, f"must be at most {maximum}, got {value}")
    return value


def a_string(value, path):
    if not isinstance(value, str):
        fail(path, f"expected a string, got {shown(value)}")
    if len(value) > LONGEST_TEXT:
        fail(path, f"a text of {len(value):,} characters; a label, title or token may have at most {LONGEST_TEXT}")
    return value


def a_key(value, path, what):
    """A string safe as an id: ``what`` says whose ("a method id")."""
    a_string(value, path)
    if not KEY.match(value):
        fail(path, f"{what} {shown(value)} may use only letters, digits and _ . : + -")
    return value


def a_boolean(value, path):
    if type(value) is not bool:
        fail(path, f"expected true or false, got {shown(value)}")
    return value


def one_of(value, path, choices, meaning):
    """One of ``choices``; ``meaning`` is how the message lists them (``'"linear" or "log"'``)."""
    if value not in choices:
        fail(path, f"expected {meaning}, got {shown(value)}")
    return value


def a_list(value, path, length=None, other=None):
    """A non-empty list; with ``length``, exactly that long (``other`` names what sets the length)."""
    if not isinstance(value, list):
        fail(path, f"expected a list, got {shown(value)}")
    if not value:
        fail(path, "must not be empty")
    if length is not None and len(value) != length:
        fail(path, f"has {len(value)} entries but {other} has {length}")
    return value


def numbers(values, path, length=None, other=None, *, integer=False, minimum=None, maximum=None):
    """A list of numbers; checked with one fast pass, the slow per-item pass only to name a bad one."""
    a_list(values, path, length, other)
    if integer and minimum is None:
        minimum = 0  # integers here count tokens, experts or ids
    if integer and maximum is None:
        maximum = LARGEST_INTEGER
    if (
        all(type(v) is int for v in values)
        if integer
        else all(type(v) in (int, float) for v in values) and all(map(is_number, values))
    ):
        low, high = min(values), max(values)
        if (minimum is None or low >= minimum) and (maximum is None or high <= maximum):
            return values
    for i, v in enumerate(values):
        if integer:
            an_integer(v, f"{path}[{i}]", minimum=minimum, maximum=maximum)
        else:
            a_number(v, f"{path}[{i}]", minimum=minimum)
            if maximum is not None and v > maximum:
                fail(f"{path}[{i}]", f"must be at most {maximum}, got {shown(v)}")
    return values


def count_list(counts, path, most):
    """A long list of counts read as its histogram: a count over ``most`` is named at its first position."""
    over = [value for value in counts.histogram if most is not None and value > most]
    if over:
        value = min(over, key=counts.first.get)
        an_integer(value, f"{path}[{counts.first[value]}]", maximum=most)


def entries(value, name):
    """(path, entry) for each entry of a list section, which must not be empty."""
    return [(f"{name}[{i}]", entry) for i, entry in enumerate(a_list(value, name))]


def declared(method, path, methods):
    """A method id declared in ``methods``."""
    a_string(method, path)
    if method not in methods:
        fail(path, f"unknown method {shown(method)}; declared methods: {', '.join(methods)}")
    return method


def a_layer(entry, path, model):
    """An entry's ``layer``: absent or null (all layers pooled), else below ``model.num_layers``."""
    layer = entry.get("layer")
    if layer is not None:
        maximum = model["num_layers"] - 1 if "num_layers" in model else None
        an_integer(layer, f"{path}.layer", maximum=maximum)
    return layer


def method_and_layer(entry, path, context, seen, **also):
    """An entry's declared method and valid layer, the only entry for that pair and the values ``also``
    (a domain, a kind of token); ``seen`` holds those so far."""
    method = declared(entry["method"], f"{path}.method", context.methods)
    layer = a_layer(entry, path, context.model)
    key = (method, layer, *also.values())
    if key in seen:
        which = "".join(f", {name} {value!r}" for name, value in also.items())
        fail(path, f"a second entry for method {method!r}, layer {layer}{which}; the first is {seen[key]}")
    seen[key] = path
    return method, layer


def loads(entry, path, model):
    """An entry's tokens routed to each expert (not all zero) and its ``num_tokens``, if given, which no
    expert can have more than."""
    counts = numbers(entry["counts"], f"{path}.counts", model.get("num_experts"), "model.num_experts", minimum=0)
    if not any(counts):
        fail(f"{path}.counts", "all zero: no token was routed")
    if "num_tokens" in entry:
        tokens = an_integer(entry["num_tokens"], f"{path}.num_tokens", minimum=1)
        if max(counts) > tokens:
            expert = counts.index(max(counts))
            fail(f"{path}.num_tokens", f"{tokens} tokens, but expert {expert} was routed {max(counts)} of them")


def count_matrix(entry, path, model):
    """An entry's ``counts``: experts × experts whole numbers."""
    rows = a_list(entry["counts"], f"{path}.counts", model.get("num_experts"), "model.num_experts")
    for i, row in enumerate(rows):
        numbers(row, f"{path}.counts[{i}]", len(rows), f"{path}.counts", integer=True)
    return rows


def no_lone_surrogates(value, path=""):
    """Refuse a string (or key) holding half of a UTF-16 pair, which no font, PDF or UTF-8 file can hold."""
    stack = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                code = ord(value[error.start])
                fail(path, f"holds a lone surrogate \\u{code:04x} at character {error.start}: not a character")
        elif isinstance(value, dict):
            for key, item in value.items():
                stack += [(key, join(path, "<key>")), (item, join(path, key))]
        elif isinstance(value, list):
            stack += [(item, f"{path}[{i}]") for i, item in enumerate(value) if isinstance(item, (str, dict, list))]
