"""The queries figures and tables make of a checked results file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from figkit.results.reading import CountList


def method_labels(results):
    """``{method id: label}`` (the id where no label is given)."""
    return {m["id"]: m.get("label", m["id"]) for m in results["methods"]}


def metric_mean(value):
    """The mean a checked ``metrics`` value reports: the number, its ``mean``, or the mean of its seeds."""
    if not isinstance(value, dict):
        return value
    return value["mean"] if "mean" in value else sum(value["seeds"]) / len(value["seeds"])


def entry_histogram(entry):
    """``{experts: tokens}`` (int keys, ascending) of a checked ``expert_counts`` entry."""
    if "histogram" in entry:
        return {int(k): n for k, n in sorted(entry["histogram"].items(), key=lambda item: int(item[0]))}
    if isinstance(entry["values"], CountList):
        return dict(entry["values"].histogram)
    return dict(sorted(Counter(entry["values"]).items()))


@dataclass(frozen=True)
class MethodCounts:
    """A method's ``expert_counts``: all tokens (``pooled``, and what was pooled) and each layer's."""

    pooled: dict  # {experts: tokens}
    scope: str  # "all layers pooled", "16 layers pooled" or "layer 3"
    layers: dict  # {layer: {experts: tokens}}, ascending

    @property
    def tokens(self):
        return sum(self.pooled.values())

    @property
    def mean(self):
        """Mean experts per token over all pooled tokens."""
        return sum(k * n for k, n in self.pooled.items()) / self.tokens

    def counted(self):
        """What the pooled counts count, for a caption: "20,000 tokens × 16 layers" when every layer routed
        the same tokens, else the routing decisions and where they come from."""
        per_layer = {sum(hist.values()) for hist in self.layers.values()}
        if len(self.layers) == 1:
            return f"{self.tokens:,} tokens, {self.scope}"
        if self.layers and len(per_layer) == 1 and self.tokens == sum(per_layer) * len(self.layers):
            return f"{next(iter(per_layer)):,} tokens \N{MULTIPLICATION SIGN} {len(self.layers):,} layers, pooled"
        return f"{self.tokens:,} routing decisions, {self.scope}"


def method_counts(results):
    """``{method id: MethodCounts}`` of a checked results file, in the order methods are declared."""
    entries = {}
    for entry in results.get("expert_counts", []):
        entries.setdefault(entry["method"], []).append(entry)
    counts = {}
    for method in (m["id"] for m in results["methods"]):
        if method not in entries:
            continue
        pooled = [e for e in entries[method] if e.get("layer") is None]
        layers = {
            e["layer"]: entry_histogram(e)
            for e in sorted((e for e in entries[method] if e.get("layer") is not None), key=lambda e: e["layer"])
        }
        if pooled:
            counts[method] = MethodCounts(entry_histogram(pooled[0]), "all layers pooled", layers)
        else:
            total = Counter()
            for hist in layers.values():
                total.update(hist)
            scope = f"layer {next(iter(layers))}" if len(layers) == 1 else f"{len(layers)} layers pooled"
            counts[method] = MethodCounts(dict(sorted(total.items())), scope, layers)
    return counts


def token_stats_entries(results):
    """The ``token_stats`` entries of a checked results file, as a list."""
    stats = results.get("token_stats", [])
    return [stats] if isinstance(stats, dict) else stats


def token_cells(entry):
    """``(token_ids, experts, tokens, frequency)`` per distinct (token id, experts) pair of an entry.

    ``frequency`` is ``None`` when the entry gives none.
    """
    if "expert_histograms" in entry:
        by_id = zip(entry["token_ids"], entry["expert_histograms"])
        cells = {(token, k): n for token, histogram in by_id for k, n in enumerate(histogram) if n}
    else:
        cells = Counter(zip(entry["token_ids"], entry["expert_counts"]))
    ids = [token for token, _ in cells]
    return ids, [k for _, k in cells], list(cells.values()), frequency_of(entry, ids)


def frequency_of(entry, ids):
    """The entry's corpus frequency of each of ``ids`` (one value per id), or ``None`` without one."""
    if "token_frequency" not in entry:
        return None
    by_token = dict(zip(entry["token_ids"], entry["token_frequency"]))
    return [by_token[token] for token in ids]
