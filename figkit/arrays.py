"""Input conversion and validation shared by every plot function.

Accepts torch tensors on any device, numpy arrays of any numeric dtype, pandas
Series, lists and tuples. torch is never imported: a tensor is recognised by
its methods, detached and copied to the CPU. Every error names the argument.
"""

import itertools
import math
import numbers
import unicodedata
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike as ArrayLike  # re-exported for hints: tensors, arrays, Series, lists

from figkit.stats import CountHistogram

# Larger values cannot be numbers of experts; refusing them keeps bincount small.
MAX_EXPERT_COUNT = 1 << 20


def to_numpy(value, name):
    """Return ``value`` as a numeric numpy array, without copying where possible."""
    if _is_tensor(value):
        value = value.detach().cpu()
        try:
            return _numeric(value.numpy(), name)
        except TypeError:  # dtypes numpy lacks, such as bfloat16
            return _numeric(value.float().numpy(), name)
    if isinstance(value, np.ndarray):
        return _numeric(value, name)
    if hasattr(value, "to_numpy") and hasattr(value, "dtype"):  # pandas Series / Index
        return _numeric(np.asarray(value.to_numpy()), name)
    if isinstance(value, (list, tuple, range)):
        try:
            array = np.asarray(value)
        except ValueError:
            raise ValueError(f"{name} is ragged: its rows have different lengths") from None
        return _numeric(array, name)
    raise TypeError(
        f"{name} must be a torch tensor, numpy array, pandas Series, list or tuple, got {type(value).__name__}"
    )


def _is_tensor(value):
    return all(hasattr(value, attr) for attr in ("detach", "cpu", "numpy", "device"))


def _numeric(array, name):
    if array.dtype.kind in "iuf":
        return array
    if array.dtype.kind == "O":
        try:
            return array.astype(float)
        except (TypeError, ValueError):
            pass
    kind = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes"}.get(
        array.dtype.kind, f"{array.dtype} values"
    )
    raise TypeError(f"{name} must hold numbers, got {kind}")


def vector(value, name):
    """A non-empty, finite 1-D array."""
    return _finite_array(value, name, ndim=1)


def matrix(value, name):
    """A non-empty, finite 2-D array."""
    return _finite_array(value, name, ndim=2)


def _finite_array(value, name, ndim):
    array = to_numpy(value, name)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty" if ndim == 1 else f"{name} is empty (shape {array.shape})")
    return check_finite(array, name)


def check_finite(array, name):
    """Raise if ``array`` holds NaN or infinity, saying which and where."""
    if array.dtype.kind != "f":
        return array
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(array.sum()):  # one pass, no temporary array
            return array
    bad = ~np.isfinite(array)
    if not bad.any():  # the sum overflowed, the values are fine
        return array
    where = np.unravel_index(np.flatnonzero(bad)[0], array.shape)
    where = where[0] if len(where) == 1 else tuple(int(i) for i in where)
    what = "NaN" if np.isnan(array[bad][0]) else "infinity"
    total = int(bad.sum())
    plural = "s" if total > 1 else ""
    raise ValueError(f"{name} contains {what} at index {where} ({total} non-finite value{plural} in all)")


def scalar(value):
    """A 0-d tensor or array, or a numpy scalar, as the Python number it holds; anything else as it is."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def integer_at_least(value, name, least):
    """``value`` as an int, if it is an integer (not a bool) of at least ``least``."""
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        what = "a positive integer" if least == 1 else f"an integer of at least {least}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def square_counts(value, name):
    """A non-negative ``[experts, experts]`` matrix of counts, as floats."""
    counts = non_negative(matrix(value, name).astype(float), name)
    rows, columns = counts.shape
    if rows != columns:
        raise ValueError(f"{name} must be square (experts × experts), got {rows} × {columns}")
    return counts


def layer_id(layer, name):
    """A layer id given as a key (``{layer: counts}``): a non-negative whole number."""
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or layer < 0:
        raise ValueError(f"{name}: layer ids are non-negative integers, got {layer!r}")
    return int(layer)


def layer_ids(value, count, of):
    """Distinct whole-number layer ids, one for each of the ``count`` ``of`` ("rows of layer_loads"); 0, 1, ...
    when ``value`` is None."""
    if value is None:
        return tuple(range(count))
    ids = whole_vector(value, "layers").tolist()
    if len(ids) != count:
        raise ValueError(f"layers has {len(ids)} ids for {count} {of}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"layers must be distinct, got {ids}")
    return tuple(ids)


def whole_vector(value, name):
    """Non-negative whole numbers (token ids, counts) as an integer array."""
    array = vector(value, name)
    if array.dtype.kind == "f":
        fractional = array != np.floor(array)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise ValueError(f"{name} must hold whole numbers, got {array[i]:g} at index {i}")
    return non_negative(array, name).astype(np.int64, copy=False)


def non_negative(array, name):
    """Raise, naming the first negative value and its index, unless every value is >= 0."""
    if array.min() < 0:
        flat = int(np.argmax(array < 0))
        where = np.unravel_index(flat, array.shape)
        index = where[0] if array.ndim == 1 else tuple(int(i) for i in where)
        raise ValueError(f"{name} must be non-negative, got {array.flat[flat]:g} at index {index}")
    return array


def count_vector(value, name):
    """Experts selected per token as an integer array."""
    array = whole_vector(value, name)
    if array.max() > MAX_EXPERT_COUNT:
        raise ValueError(f"{name} holds {array.max()}, too large for a number of experts")
    return array


def count_histogram(value, name):
    """Expert counts per token, or a ``{experts: tokens}`` mapping, as a CountHistogram."""
    if isinstance(value, Mapping):
        return CountHistogram.from_mapping(_histogram_mapping(value, name))
    return CountHistogram.from_values(count_vector(value, name))


def _histogram_mapping(mapping, name):
    checked = {}
    for key, tokens in mapping.items():
        experts = _whole(key, f"{name} key {key!r}")
        count = _whole(tokens, f"{name}[{key!r}]")
        if experts > MAX_EXPERT_COUNT:
            raise ValueError(f"{name} key {key!r} is too large for a number of experts")
        checked[experts] = checked.get(experts, 0) + count
    if not any(checked.values()):
        raise ValueError(f"{name} is empty")
    return checked


def _whole(value, label):
    value = scalar(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{label} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{label} must be a whole number, got {type(value).__name__}")
    if not np.isfinite(value) or value != int(value) or value < 0:
        raise ValueError(f"{label} must be a non-negative whole number, got {value!r}")
    return int(value)


def layer_histograms(value, name):
    """Per-layer expert counts: a 2-D [layers, tokens] array or a sequence of per-layer inputs."""
    if isinstance(value, Mapping):
        raise TypeError(f"{name} must be a 2-D array or a list of per-layer counts, got a mapping")
    if isinstance(value, (list, tuple)) and value and not all(isinstance(v, numbers.Number) for v in value):
        return [count_histogram(layer, f"{name}[{i}]") for i, layer in enumerate(value)]
    array = to_numpy(value, name)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D [num_layers, num_tokens] or a list of per-layer counts, got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    layers, tokens = array.shape
    if layers > MAX_LAYERS or layers > tokens:
        raise ValueError(
            f"{name} has shape {array.shape}: {layers} layers of {tokens} tokens each looks transposed; "
            f"rows are layers and columns tokens, so give its transpose ({tokens} layers of {layers} tokens)"
        )
    return [count_histogram(row, f"{name}[{i}]") for i, row in enumerate(array)]


def probability(value, name):
    """A number strictly between 0 and 1, such as a significance level."""
    value = scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1), got {type(value).__name__}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def number_in(value, name, low, high=None, *, low_open=False):
    """``value`` as a float, if it is a finite number from ``low`` (excluded with ``low_open``) up to
    ``high`` (no limit when None): the top of a scale shared between figures, say."""
    value = scalar(value)
    fits = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    fits = fits and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not fits:
        where = f"of at least {low:g}" if high is None else f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a number {where}, got {value!r}")
    return float(value)


def same_length(a, b, name_a, name_b):
    """The spec's message for two sequences that must pair up."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} ({len(a)}) and {name_b} ({len(b)}) must have same length")


def strings(value, name, limit=None):
    """A sequence of labels (token strings) as a list of str, of its first ``limit`` items if given."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of strings, got {type(value).__name__}")
    return [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        for item in itertools.islice(value, limit)
    ]


def labelled(value, name):
    """A non-empty ``{label: value}`` mapping (methods to their data) as a list of (str label, value)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of method name to its data, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} is empty")
    return [(str(label), item) for label, item in value.items()]


def decode_token(tokenizer, token_id):
    """The text of one token id: from a mapping, ``decode([id])``, ``convert_ids_to_tokens(id)`` or a call."""
    if isinstance(tokenizer, Mapping):
        return str(tokenizer[token_id])
    if hasattr(tokenizer, "decode"):
        return str(tokenizer.decode([token_id]))
    if hasattr(tokenizer, "convert_ids_to_tokens"):
        return str(tokenizer.convert_ids_to_tokens(token_id))
    if callable(tokenizer):
        return str(tokenizer(token_id))
    raise TypeError(
        "tokenizer must be a mapping of token ids to text, have decode(ids) or convert_ids_to_tokens(id), "
        f"or be callable; got {type(tokenizer).__name__}"
    )


# Characters with no glyph to draw: controls (\n, \x96), format characters (U+FEFF, zero-width
# space), surrogates, private use and unassigned code points.
MAX_LAYERS = 1024  # more rows than this in a [layers, tokens] array is a transposed array, not a model
INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def printable(token):
    """A token as it should read on an axis: invisible characters written as escapes (``\\n``,
    ``\\x96``, ``\\ufeff``) as Python's repr writes them, never empty."""
    shown = visible(token)
    return shown if shown.strip() else repr(token)


# A token's spaces, newlines and tabs, drawn: a BPE piece " cat" reads "␣cat", not "cat". SentencePiece
# writes a word's leading space as "▁" (U+2581) in the tokens it lists: a space too.
SENTENCEPIECE_SPACE = "\N{LOWER ONE EIGHTH BLOCK}"
VISIBLE_WHITESPACE = str.maketrans(
    {
        " ": "\N{OPEN BOX}",
        SENTENCEPIECE_SPACE: "\N{OPEN BOX}",
        "\n": "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}",
        "\t": "\N{RIGHTWARDS ARROW}",
    }
)


TOKEN_MARKS = "\N{OPEN BOX} is a space, \N{DOWNWARDS ARROW WITH CORNER LEFTWARDS} a newline"  # for a caption


def token_text(token):
    """A token shown literally, wherever figkit shows one: whitespace drawn (␣ space or SentencePiece's ▁,
    ↵ newline, → tab), other invisible characters escaped."""
    return printable(str(token).translate(VISIBLE_WHITESPACE))


def shortened(text, longest):
    """``text`` whole, or its first characters and an ellipsis to ``longest`` characters: a token has no
    place to break."""
    return text if len(text) <= longest else text[: longest - 1] + "\N{HORIZONTAL ELLIPSIS}"


def visible(text):
    """``text`` with its invisible characters (controls, format characters such as a byte-order mark or a
    zero-width space, unassigned code points) written as Python's escapes."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in INVISIBLE else c for c in text)
