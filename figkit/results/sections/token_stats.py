"""``token_stats``: experts selected against the token, per method and layer; written as one histogram of
experts per token id (lossless for every figure), or one count per token with ``raw_counts``."""

from figkit.results.checks import a_list, an_object, entries, fail, fields, method_and_layer, numbers, shown
from figkit.results.section import Section
from figkit.results.views import frequency_of

ENTRY = {
    "type": "object",
    "required": ["method", "token_ids"],
    "additionalProperties": False,
    "description": "Either one expert count per token (token_ids per token) or, as figkit writes it, one "
    "histogram per distinct token id: expert_histograms[i][k] tokens of id token_ids[i] selected k experts.",
    "oneOf": [{"required": ["expert_counts"]}, {"required": ["expert_histograms"]}],
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "token_ids": {"$ref": "#/$defs/counts"},
        "expert_counts": {"$ref": "#/$defs/counts"},
        "expert_histograms": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/counts"}},
        "token_frequency": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
    },
}


def check(value, context):
    """One entry (an object) or a list of entries, one per method and layer."""
    listed = entries(value, "token_stats") if isinstance(value, list) else [("token_stats", value)]
    seen = {}
    model = context.model
    for path, entry in listed:
        an_object(entry, path, **fields(ENTRY))
        method_and_layer(entry, path, context, seen)
        if ("expert_counts" in entry) == ("expert_histograms" in entry):
            fail(path, "give either expert_counts (one per token) or expert_histograms (one per token id), not both")
        ids = numbers(entry["token_ids"], f"{path}.token_ids", integer=True)
        if "expert_counts" in entry:
            numbers(
                entry["expert_counts"],
                f"{path}.expert_counts",
                len(ids),
                f"{path}.token_ids",
                integer=True,
                maximum=model.get("num_experts"),
            )
        else:
            _expert_histograms(entry["expert_histograms"], ids, path, model)
        if "token_frequency" in entry:
            _token_frequency(entry["token_frequency"], ids, path)


def _expert_histograms(histograms, ids, path, model):
    for i in range(1, len(ids)):
        if ids[i] <= ids[i - 1]:
            fail(f"{path}.token_ids[{i}]", "with expert_histograms, token ids are distinct and ascending")
    a_list(histograms, f"{path}.expert_histograms", len(ids), f"{path}.token_ids")
    longest = model["num_experts"] + 1 if "num_experts" in model else None
    for i, histogram in enumerate(histograms):
        where = f"{path}.expert_histograms[{i}]"
        numbers(histogram, where, integer=True)
        if longest is not None and len(histogram) > longest:
            fail(where, f"counts tokens selecting up to {len(histogram) - 1} experts, more than model.num_experts")
        if not any(histogram):
            fail(where, "counts no tokens")


def _token_frequency(frequency, ids, path):
    """A corpus frequency in (0, 1] for each token id given, the same wherever an id recurs."""
    numbers(frequency, f"{path}.token_frequency", len(ids), f"{path}.token_ids")
    first = {}
    for j, (token, value) in enumerate(zip(ids, frequency)):
        if not 0 < value <= 1:
            fail(f"{path}.token_frequency[{j}]", f"must be in (0, 1], got {shown(value)}")
        if first.setdefault(token, (j, value))[1] != value:
            fail(
                f"{path}.token_frequency[{j}]",
                f"token id {token} has frequency {shown(value)} here and {shown(first[token][1])} "
                f"at [{first[token][0]}]",
            )


def compact(value):
    """Per-token entries aggregated into one experts histogram per token id."""
    return [
        _by_token_id(entry) if "expert_counts" in entry else entry
        for entry in (value if isinstance(value, list) else [value])
    ]


def _by_token_id(entry):
    histograms = {}
    for token, experts in zip(entry["token_ids"], entry["expert_counts"]):
        histogram = histograms.setdefault(token, [])
        if len(histogram) <= experts:
            histogram.extend([0] * (experts + 1 - len(histogram)))
        histogram[experts] += 1
    ids = sorted(histograms)
    aggregated = {k: v for k, v in entry.items() if k not in ("token_ids", "expert_counts", "token_frequency")}
    aggregated |= {"token_ids": ids, "expert_histograms": [histograms[token] for token in ids]}
    if "token_frequency" in entry:
        aggregated["token_frequency"] = frequency_of(entry, ids)
    return aggregated


SECTION = Section(
    "token_stats",
    {
        "description": "Experts selected against the token: one entry, or a list with one per method and layer.",
        "oneOf": [
            {"$ref": "#/$defs/token_stats_entry"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/token_stats_entry"}},
        ],
    },
    check,
    defs={"token_stats_entry": ENTRY},
    compact=compact,
)
