"""Routing statistics that accumulate batch by batch on the logits' device and merge exactly.

Per method and layer: the experts-per-token histogram, each expert's load, the router's confidence
(tokens by top-1 probability and by entropy), routing by position in the sequence and how often
consecutive tokens keep their top-1 expert, the co-activation
counts of expert pairs, the top-1 paths to the next layer, each domain's load, each token id's
routings to each expert, and a bounded sample of routing weights with token ids; per method,
pooled over layers, one experts histogram per token id and a few passages of text with each token's
routing; per pair of methods on the same tokens, how far their expert sets agree. Nothing of size
tokens × experts is kept, so shards of an
evaluation (or the ranks of a distributed run) add up to the whole.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from figkit.arrays import decode_token
from figkit.results.sections.router_confidence import MEASURES, P_VALUE_DECADES
from figkit.routing.rules import Selection
from figkit.stats import CONFIDENCE_BINS, specialised_tokens

SAMPLE_TOKENS = 40
MAX_TOKEN_ID = 2**24 - 1  # tables by token id grow to the largest id; vocabularies are far smaller
EXPERT_TOKENS = 10  # each expert's most specialised token ids kept for the shown layers
MAX_POSITION = 4096  # positions counted one by one; later ones pool into this one
PASSAGE_TOKENS = 96  # tokens of a passage kept for drawing routing over the text: a column's third
PASSAGES = 3


class _Method:
    """The counters of one method: tensors indexed by (position in ``layers``, ...)."""

    ADDED = ("histogram", "load", "coactivation", "transitions", "confidence", "by_position", "top1_load", "locality")

    def __init__(self, layers, experts, device, pair_layers):
        n = len(layers)
        self.histogram = torch.zeros(n, experts + 1, dtype=torch.long, device=device)
        self.load = torch.zeros(n, experts, dtype=torch.long, device=device)
        self.coactivation = torch.zeros(len(pair_layers), experts, experts, dtype=torch.long, device=device)
        self.transitions = torch.zeros(max(n - 1, 0), experts, experts, dtype=torch.long, device=device)
        self.confidence = torch.zeros(n, len(MEASURES), CONFIDENCE_BINS, dtype=torch.long, device=device)
        # by position in the sequence: tokens, and their experts and top-1 probabilities summed and squared
        self.by_position = torch.zeros(n, MAX_POSITION + 1, 5, dtype=torch.float64, device=device)
        self.top1_load = torch.zeros(n, experts, dtype=torch.long, device=device)  # tokens by top-1 expert
        self.locality = torch.zeros(n, 2, dtype=torch.long, device=device)  # consecutive pairs, with the same top-1
        self.by_token = torch.zeros(0, experts + 1, dtype=torch.long, device=device)  # [token id, experts]
        self.vocabulary = torch.zeros(0, n * experts, dtype=torch.int32, device=device)  # [token id, layer × expert]
        self.vocabulary_next = torch.zeros(0, n * experts, dtype=torch.int32, device=device)  # by the next token's id
        self.next_occurrences = torch.zeros(0, 1, dtype=torch.long, device=device)
        self.sample_weights = torch.zeros(n, 0, experts, device=device)
        self.sample_ids = torch.zeros(0, dtype=torch.long, device=device)
        self.domains = {}  # name -> [load [layers, experts], tokens]
        self.passages = {}  # domain (or None) -> (token ids [n], experts [layers, n], top-1 expert [layers, n])


class RoutingStats:
    """Mergeable routing statistics of several methods over the MoE layers ``layers``.

    Parameters
    ----------
    layers : list of int
        The real ids of the layers selections come in for (``capture(...).layers``).
    num_experts : int
    sample_tokens : int
        How many tokens' routing weights to keep for heatmaps (the first ones seen).
    coactivation : bool or list of int
        Count expert pairs in every layer (``True``), in none, or in the layers listed (which
        ``results`` then writes): an experts × experts product per layer and batch, more than
        half the cost of ``add`` on a CPU when every layer is counted.
    vocabulary : bool
        Count, per layer, each token id's routings to each expert (for vocabulary
        specialisation): ``4 × layers × experts`` bytes per distinct id seen, 205 MB for a
        50k vocabulary, 16 layers and 64 experts.
    passage_tokens, passages : int
        For drawing routing over the text: keep the first ``passage_tokens`` tokens of the first
        sequence of each domain (of at most ``passages`` domains) that a batch given ``positions``
        holds from its start, with every token's routing.

    Example
    -------
    >>> stats = RoutingStats(cap.layers, 64)
    >>> for name, rule in {"topk8": top_k(8), "bh05": bh(0.05, max_k=8)}.items():
    ...     stats.add(name, rule.select(cap.logits, cap.layers), cap.token_ids)
    >>> write_results("results.json", methods=..., **stats.results(token_strings=tokenizer))
    """

    def __init__(
        self,
        layers,
        num_experts,
        *,
        sample_tokens=SAMPLE_TOKENS,
        coactivation=True,
        vocabulary=True,
        passage_tokens=PASSAGE_TOKENS,
        passages=PASSAGES,
    ):
        self.layers = [int(layer) for layer in layers]
        self.num_experts = int(num_experts)
        self.sample_tokens = int(sample_tokens)
        self.pair_layers = self._counted_layers(coactivation)
        self.pairs_listed = not isinstance(coactivation, bool)  # listed layers are written, not only the shown
        self.counts_vocabulary = bool(vocabulary)
        self.passage_tokens, self.passages = int(passage_tokens), int(passages)
        self.methods = {}
        self.agreements = {}  # (method, reference) -> [layers, 5] float64 sums: tokens, Jaccard, both, chosen, top-1
        self.reduced = False  # all_reduce has made these every rank's counts

    def add(self, method, selection, token_ids=None, domain=None, next_token_ids=None, positions=None):
        """Count one batch: ``selection`` of ``[layers, tokens, experts]``, the tokens' ids ``[tokens]``,
        their domain (one name for the batch, or one per token) for the load by domain, the id of
        the token that follows each (-1 where none does) for vocabulary specialisation by next token,
        and each token's position in its sequence (``capture(...).positions``) for routing by position,
        locality and passages of text. Tokens must come in sequence order, as ``capture`` gives them."""
        self._usable(method)
        if not isinstance(selection, Selection):
            raise TypeError(f"selection must be a figkit.routing Selection, got {type(selection).__name__}")
        mask, counts = selection.mask, selection.counts
        expected = (len(self.layers), self.num_experts)
        if mask.ndim != 3 or (mask.shape[0], mask.shape[2]) != expected:
            raise ValueError(
                f"{method}: a selection of shape {tuple(mask.shape)} does not fit {expected[0]} layers "
                f"of {expected[1]} experts"
            )
        n_layers, tokens = counts.shape
        ids = following = None  # checked before anything is counted, so a refused batch counts nowhere
        if token_ids is not None:
            ids = _token_ids(token_ids, counts.device, f"{method}: token_ids")
            if ids.numel() != tokens:
                raise ValueError(f"{method}: {ids.numel()} token ids for {tokens} tokens")
        if next_token_ids is not None and self.counts_vocabulary:
            following = _token_ids(next_token_ids, counts.device, f"{method}: next_token_ids", missing=-1)
            if following.numel() != tokens:
                raise ValueError(f"{method}: {following.numel()} next token ids for {tokens} tokens")
        domains = None if domain is None else _domain_codes(domain, tokens, counts.device)
        places = None
        if positions is not None:
            places = _token_ids(positions, counts.device, f"{method}: positions")
            if places.numel() != tokens:
                raise ValueError(f"{method}: {places.numel()} positions for {tokens} tokens")
        if method not in self.methods:
            self.methods[method] = _Method(self.layers, self.num_experts, mask.device, self.pair_layers)
        counters = self.methods[method]
        width = self.num_experts + 1
        offsets = torch.arange(n_layers, device=counts.device).unsqueeze(-1) * width
        counters.histogram += torch.bincount((counts + offsets).reshape(-1), minlength=n_layers * width).view(
            n_layers, width
        )
        dense = self._dense(mask)  # sums in float32 are exact: a batch has fewer than 2**24 tokens
        counters.load += dense.sum(dim=1).long()
        if self.pair_layers:
            paired = dense if len(self.pair_layers) == n_layers else dense[self._pair_positions]
            counters.coactivation += torch.bmm(paired.transpose(1, 2), paired).long()
        top = _top_expert(selection)  # [layers, tokens], read by transitions, positions and passages
        self._add_transitions(counters, selection, top)
        self._add_confidence(counters, selection)
        if domains is not None:
            self._add_domains(counters, dense, domains)
        if places is not None:
            self._add_positions(counters, selection, top, places)
        if ids is not None and places is not None:
            self._add_passages(counters, selection, top, ids, places, domains)
        if ids is not None:
            self._add_by_token(counters, ids, counts)
            if self.counts_vocabulary:
                counters.vocabulary = self._add_vocabulary(counters.vocabulary, ids, mask)
        if following is not None:
            known = following >= 0
            following = following[known]
            counters.vocabulary_next = self._add_vocabulary(counters.vocabulary_next, following, mask[:, known])
            if following.numel():
                counters.next_occurrences = _grown(counters.next_occurrences, int(following.max()) + 1)
                size = counters.next_occurrences.shape[0]
                counters.next_occurrences[:, 0] += torch.bincount(following, minlength=size)
        room = self.sample_tokens - counters.sample_weights.shape[1]
        if room > 0:
            counters.sample_weights = torch.cat([counters.sample_weights, selection.weights[:, :room].float()], dim=1)
            if ids is not None:
                counters.sample_ids = torch.cat([counters.sample_ids, ids[:room]])

    def _counted_layers(self, coactivation):
        """The layers whose expert pairs are counted, from ``coactivation`` (a bool or layer ids)."""
        if isinstance(coactivation, bool):
            return list(self.layers) if coactivation else []
        chosen = [int(layer) for layer in coactivation]
        unknown = [layer for layer in chosen if layer not in self.layers]
        if unknown:
            raise ValueError(f"coactivation: layers {unknown} are not among the statistics' layers {self.layers}")
        return [layer for layer in self.layers if layer in chosen]

    @property
    def _pair_positions(self):
        return [self.layers.index(layer) for layer in self.pair_layers]

    def add_agreement(self, method, reference, selection, reference_selection):
        """Count, per layer, how far ``method``'s experts agree with ``reference``'s for the same tokens:
        each token's Jaccard overlap of the two sets, the experts both select, and whether the router's
        top-1 expert is the same (for two models or checkpoints; one router always agrees with itself)."""
        self._usable(f"{method} against {reference}")
        for name, chosen in (("selection", selection), ("reference_selection", reference_selection)):
            if not isinstance(chosen, Selection):
                raise TypeError(f"{name} must be a figkit.routing Selection, got {type(chosen).__name__}")
        a, b = selection.mask, reference_selection.mask.to(selection.mask.device)
        if a.shape != b.shape or a.ndim != 3 or a.shape[0] != len(self.layers):
            raise ValueError(
                f"{method} against {reference}: selections of shape {tuple(a.shape)} and {tuple(b.shape)} must both "
                f"be [{len(self.layers)} layers, tokens, experts] of the same tokens"
            )
        both = (a & b).sum(dim=-1).double()
        union = selection.counts.double() + reference_selection.counts.to(a.device).double() - both
        jaccard = torch.where(union > 0, both / union.clamp_min(1), 1.0)  # two empty sets agree
        tops = [_top_expert(chosen) for chosen in (selection, reference_selection)]
        same = (tops[0] == tops[1].to(a.device)).double()
        sums = torch.stack(
            [
                torch.full((a.shape[0],), float(a.shape[1]), dtype=torch.float64, device=a.device),
                jaccard.sum(dim=1),
                both.sum(dim=1),
                selection.counts.double().sum(dim=1),
                same.sum(dim=1),
            ],
            dim=1,
        )
        key = (method, reference)
        self.agreements[key] = sums if key not in self.agreements else self.agreements[key] + sums

    def _add_positions(self, counters, selection, top, places):
        """Per layer: tokens, experts and top-1 probability by position; each token's top-1 expert; and how many
        tokens follow the one before them in their sequence, and of those how many keep its top-1 expert."""
        n_layers, slots = selection.counts.shape[0], MAX_POSITION + 1
        pooled = places.clamp(max=MAX_POSITION)
        counters.by_position[:, :, 0] += torch.bincount(pooled, minlength=slots).double()  # the same in every layer
        keys = (pooled + torch.arange(n_layers, device=places.device).unsqueeze(-1) * slots).reshape(-1)
        experts = selection.counts.reshape(-1).double()
        top1 = selection.top1.reshape(-1).double() if selection.top1 is not None else experts * float("nan")
        for column, weights in enumerate((experts, experts**2, top1, top1**2), start=1):  # NaN: top-1 not known
            sums = torch.bincount(keys, weights=weights, minlength=n_layers * slots)
            counters.by_position[:, :, column] += sums.view(n_layers, slots)
        offsets = torch.arange(n_layers, device=top.device).unsqueeze(-1) * self.num_experts
        counters.top1_load += torch.bincount((top + offsets).reshape(-1), minlength=n_layers * self.num_experts).view(
            n_layers, self.num_experts
        )
        follows = places[1:] == places[:-1] + 1  # the same sequence, one token on
        counters.locality[:, 0] += int(follows.sum())
        counters.locality[:, 1] += ((top[:, 1:] == top[:, :-1]) & follows).sum(dim=1)

    def _add_passages(self, counters, selection, top, ids, places, domains):
        """Keep the first sequence starting in this batch of each domain not yet kept, up to ``passage_tokens``."""
        if len(counters.passages) >= self.passages:
            return
        for start in torch.nonzero(places == 0).flatten().tolist():
            if len(counters.passages) >= self.passages:
                return
            name = None if domains is None else domains[0][int(domains[1][start])]
            if name in counters.passages:
                continue
            run = places[start : start + self.passage_tokens]
            steps = torch.arange(run.numel(), device=run.device)
            length = int((run == steps).cumprod(dim=0).sum())  # the tokens that follow on from the start
            kept = slice(start, start + length)
            counters.passages[name] = (ids[kept].clone(), selection.counts[:, kept].clone(), top[:, kept].clone())

    def _add_confidence(self, counters, selection):
        """Each layer's tokens by top-1 probability, by entropy and by smallest p-value, in even bins."""
        if selection.top1 is None or selection.entropy is None:
            return
        measures = [selection.top1, selection.entropy]
        if selection.smallest_p is not None:
            measures.append((-torch.log10(selection.smallest_p) / P_VALUE_DECADES).clamp_(0, 1))
        values = torch.stack(measures, dim=1)  # [layers, measures, tokens]
        bins = (values * CONFIDENCE_BINS).long().clamp_(0, CONFIDENCE_BINS - 1)
        rows = torch.arange(bins.shape[0] * len(MEASURES), device=bins.device).view(bins.shape[0], -1, 1)
        flat = (bins + rows[:, : bins.shape[1]] * CONFIDENCE_BINS).reshape(-1)
        counters.confidence += torch.bincount(flat, minlength=counters.confidence.numel()).view_as(counters.confidence)

    def _add_domains(self, counters, dense, domains):
        """Each domain's load ``[layers, experts]`` and tokens; ``domains``: (names, each token's code)."""
        n_layers, _, experts = dense.shape
        names, codes = domains
        load = torch.zeros(n_layers, len(names), experts, device=dense.device).index_add_(1, codes, dense).long()
        sizes = torch.bincount(codes, minlength=len(names)).tolist()
        for i, name in enumerate(names):
            if name in counters.domains:
                counters.domains[name][0] += load[:, i]
                counters.domains[name][1] += sizes[i]
            else:
                counters.domains[name] = [load[:, i].clone(), sizes[i]]

    def _add_transitions(self, counters, selection, top1):
        """Count (top-1 expert in a layer, top-1 expert in the next) for tokens with experts in both."""
        pairs, experts = counters.transitions.shape[0], self.num_experts
        if not pairs:
            return
        both = (selection.counts[:-1] > 0) & (selection.counts[1:] > 0)
        offsets = torch.arange(pairs, device=top1.device).unsqueeze(-1) * experts * experts
        keys = (top1[:-1] * experts + top1[1:] + offsets)[both]
        counters.transitions += torch.bincount(keys, minlength=pairs * experts * experts).view(pairs, experts, experts)

    def _dense(self, mask):
        """``mask`` as float32 in a buffer kept between batches: a fresh one costs more than the product."""
        buffer = getattr(self, "_buffer", None)
        if buffer is None or buffer.shape != mask.shape or buffer.device != mask.device:
            buffer = self._buffer = torch.empty(mask.shape, dtype=torch.float32, device=mask.device)
        return buffer.copy_(mask)

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if k != "_buffer"}

    def _add_by_token(self, counters, ids, counts):
        width = self.num_experts + 1
        size = int(ids.max()) + 1
        if size > counters.by_token.shape[0]:
            counters.by_token = _grown(counters.by_token, size)
        keys = (ids.unsqueeze(0) * width + counts).reshape(-1)
        counters.by_token += torch.bincount(keys, minlength=counters.by_token.numel()).view(-1, width)

    def _add_vocabulary(self, table, ids, mask):
        """``table`` ``[token id, layer × expert]`` (grown if need be) with this batch's routings added."""
        if not ids.numel():
            return table
        layer, token, expert = torch.nonzero(mask, as_tuple=True)
        width = mask.shape[0] * self.num_experts
        table = _grown(table, int(ids.max()) + 1)
        keys = ids[token] * width + layer * self.num_experts + expert
        table.view(-1).index_add_(0, keys, torch.ones_like(keys, dtype=torch.int32))
        return table

    def __add__(self, other):
        merged = copy.deepcopy(self)
        merged.merge(other)
        return merged

    def merge(self, other):
        """Add ``other``'s counts (the same layers and experts) to these; samples fill up in order."""
        if not isinstance(other, RoutingStats):
            raise TypeError(f"only RoutingStats merge with RoutingStats, got {type(other).__name__}")
        if _settings(other) != _settings(self):
            raise ValueError("only statistics of the same layers, experts, coactivation and vocabulary settings merge")
        for method, theirs in other.methods.items():
            if method not in self.methods:
                self.methods[method] = _moved(theirs, self._device(theirs.histogram.device))
                continue
            mine = self.methods[method]
            for name in mine.ADDED:
                setattr(mine, name, getattr(mine, name) + getattr(theirs, name).to(getattr(mine, name).device))
            size = max(mine.by_token.shape[0], theirs.by_token.shape[0])
            mine.by_token = _grown(mine.by_token, size) + _grown(theirs.by_token.to(mine.by_token.device), size)
            for name in ("vocabulary", "vocabulary_next", "next_occurrences"):  # tables by token id: grown, added
                a, b = getattr(mine, name), getattr(theirs, name).to(getattr(mine, name).device)
                size = max(a.shape[0], b.shape[0])
                setattr(mine, name, _grown(a, size) + _grown(b, size))
            for name, passage in theirs.passages.items():
                if name not in mine.passages and len(mine.passages) < self.passages:
                    mine.passages[name] = tuple(part.to(mine.histogram.device, copy=True) for part in passage)
            for name, (load, tokens) in theirs.domains.items():
                if name in mine.domains:
                    mine.domains[name][0] = mine.domains[name][0] + load.to(mine.domains[name][0].device)
                    mine.domains[name][1] += tokens
                else:
                    mine.domains[name] = [load.clone(), tokens]
            room = self.sample_tokens - mine.sample_weights.shape[1]
            if room > 0:
                device = mine.sample_weights.device
                mine.sample_weights = torch.cat([mine.sample_weights, theirs.sample_weights[:, :room].to(device)], 1)
                mine.sample_ids = torch.cat([mine.sample_ids, theirs.sample_ids[:room].to(device)])
        for key, sums in other.agreements.items():
            mine = self.agreements.get(key)
            self.agreements[key] = sums.clone() if mine is None else mine + sums.to(mine.device)
        return self

    def all_reduce(self, group=None):
        """Merge the statistics of every rank of ``torch.distributed`` in place, in rank order; each method's
        counters stay on their device. Once reduced, the statistics are every rank's: adding to them or
        reducing them again would count the other ranks twice, and is refused."""
        import torch.distributed as dist

        self._usable("all_reduce")
        gathered = [None] * dist.get_world_size(group)
        dist.all_gather_object(gathered, self._on_cpu(), group=group)
        merged = gathered[0]
        for other in gathered[1:]:
            merged.merge(other)
        devices = {method: counters.histogram.device for method, counters in self.methods.items()}
        cpu = torch.device("cpu")
        self.methods = {method: _moved(c, devices.get(method, cpu)) for method, c in merged.methods.items()}
        self.agreements = {key: sums.to(self._device(sums.device)) for key, sums in merged.agreements.items()}
        self.reduced = True
        return self

    def _usable(self, what):
        if self.reduced:
            raise ValueError(
                f"{what}: these statistics were all-reduced and hold every rank's counts; add to a fresh "
                "RoutingStats and merge, or all-reduce a copy (copy.deepcopy(stats).all_reduce()) mid-run"
            )

    def _device(self, default):
        """Where this object's counters live: those of its first method, else ``default``."""
        return next((c.histogram.device for c in self.methods.values()), default)

    def _on_cpu(self):
        cpu = copy.copy(self)
        cpu.methods = {method: _moved(counters, torch.device("cpu")) for method, counters in self.methods.items()}
        cpu.agreements = {key: sums.cpu() for key, sums in self.agreements.items()}
        return cpu

    def coactivation(self, method, layer):
        """``[experts, experts]`` counts of tokens routed to both experts (the diagonal: to each)."""
        if not self.pair_layers:
            raise ValueError("these statistics were made with coactivation=False")
        if layer not in self.pair_layers:
            raise ValueError(f"co-activation was counted in layers {self.pair_layers}, not in layer {layer}")
        return self._counters(method).coactivation[self.pair_layers.index(layer)]

    def mean_experts(self, method, layer=None):
        """The mean number of experts per token of ``method``: in ``layer``, or over all layers and tokens."""
        histogram = self._counters(method).histogram
        if layer is not None:
            if layer not in self.layers:
                raise ValueError(f"layer {layer} is not among the statistics' layers {self.layers}")
            histogram = histogram[self.layers.index(layer)]
        tokens = histogram.reshape(-1, self.num_experts + 1).sum(dim=0).double()
        return float((tokens * torch.arange(self.num_experts + 1, device=tokens.device)).sum() / tokens.sum())

    def _counters(self, method):
        if method not in self.methods:
            raise ValueError(f"no selections of {method!r} were added; methods: {', '.join(self.methods) or 'none'}")
        return self.methods[method]

    def results(self, *, token_strings=None, layers=None):
        """The sections of a results file (``write_results(**stats.results(), ...)``).

        ``expert_counts``, ``expert_load`` and ``router_confidence`` per method and layer, ``domain_load`` per method,
        domain and layer when batches were given a domain; ``cross_layer`` (top-1 paths to the next
        MoE layer), ``routing_samples`` and ``coactivation`` per method for ``layers`` (default: the
        middle MoE layer; the build draws a figure for each), co-activation also for every layer
        listed in ``RoutingStats(coactivation=[...])``;
        ``token_stats`` per method (layers pooled) and ``vocabulary`` per method and layer (with
        each expert's most frequent ids for ``layers``, and by next token when given) when token
        ids were given; and
        ``position_effects`` per method and layer and ``routing_locality`` per method when batches were
        given ``positions``; ``token_strings`` for the ids seen and ``routing_text`` (the passages kept, each with every
        method that routed the same tokens) when ``token_strings`` (a tokenizer with ``decode``, a
        mapping or a callable) is given; ``method_agreement`` per pair given to ``add_agreement``.
        """
        shown = [self.layers[len(self.layers) // 2]] if layers is None else list(layers)
        unknown = [layer for layer in shown if layer not in self.layers]
        if unknown:
            raise ValueError(f"layers {unknown} are not among the statistics' layers {self.layers}")
        names = ("expert_counts", "expert_load", "domain_load", "coactivation", "cross_layer", "routing_samples")
        names += ("token_stats", "vocabulary", "router_confidence", "method_agreement", "position_effects")
        names += ("routing_locality",)
        sections = {name: [] for name in names}
        seen = set()
        for method, counters in self.methods.items():
            histogram, load = counters.histogram.cpu(), counters.load.cpu()
            for i, layer in enumerate(self.layers):
                counts = {str(k): int(n) for k, n in enumerate(histogram[i].tolist()) if n}
                sections["expert_counts"].append({"method": method, "layer": layer, "histogram": counts})
                if load[i].any():  # a rule may route no token at all (a threshold)
                    tokens = int(histogram[i].sum())
                    entry = {"method": method, "layer": layer, "counts": load[i].tolist(), "num_tokens": tokens}
                    sections["expert_load"].append(entry)
                for domain, (domain_load, tokens) in counters.domains.items():
                    if domain_load[i].any():
                        entry = {"method": method, "domain": domain, "layer": layer}
                        entry |= {"counts": domain_load[i].cpu().tolist(), "num_tokens": tokens}
                        sections["domain_load"].append(entry)
                for measure, counts in zip(MEASURES, counters.confidence[i].cpu()):
                    if counts.any():
                        entry = {"method": method, "layer": layer, "measure": measure, "counts": counts.tolist()}
                        sections["router_confidence"].append(entry)
                if layer in self.pair_layers and (layer in shown or self.pairs_listed):
                    pairs = counters.coactivation[self.pair_layers.index(layer)].cpu().tolist()
                    sections["coactivation"].append({"method": method, "layer": layer, "counts": pairs})
                if layer in shown and i + 1 < len(self.layers) and counters.transitions[i].any():
                    paths = counters.transitions[i].cpu().tolist()
                    entry = {"method": method, "layer": layer, "next_layer": self.layers[i + 1], "counts": paths}
                    sections["cross_layer"].append(entry)
            by_token = counters.by_token.cpu()
            ids = torch.nonzero(by_token.sum(dim=1)).flatten()
            if ids.numel():
                seen.update(ids.tolist())
                sections["token_stats"].append(
                    {
                        "method": method,
                        "token_ids": ids.tolist(),
                        "expert_histograms": [_trimmed(row) for row in by_token[ids].tolist()],
                    }
                )
                if self.counts_vocabulary:
                    occurrences = by_token.sum(dim=1) // len(self.layers)  # each token counts once per layer
                    sections["vocabulary"] += self._vocabulary(method, counters.vocabulary, occurrences, shown)
            if self.counts_vocabulary and counters.next_occurrences.any():
                next_occurrences = counters.next_occurrences[:, 0].cpu()
                following = self._vocabulary(method, counters.vocabulary_next, next_occurrences, (), next_tokens=True)
                sections["vocabulary"] += following
            sample_ids = counters.sample_ids.cpu().tolist()
            for layer in shown:
                weights = counters.sample_weights[self.layers.index(layer)].cpu()
                if not weights.shape[0]:
                    continue
                sample = {"method": method, "layer": layer, "weights": weights.tolist()}
                if token_strings is not None and sample_ids:
                    sample |= {"tokens": [decode_token(token_strings, t) for t in sample_ids], "token_ids": sample_ids}
                else:
                    sample["tokens"] = [f"token {j}" for j in range(weights.shape[0])]
                sections["routing_samples"].append(sample)
        for method, counters in self.methods.items():
            self._position_sections(method, counters, sections)
        for (method, reference), sums in self.agreements.items():
            tokens, jaccard, both, chosen, same = sums.cpu().T
            entry = {"method": method, "reference": reference, "layers": self.layers}
            shared = torch.where(chosen > 0, both / chosen.clamp_min(1), 1.0)  # nothing chosen: nothing missed
            entry |= {"jaccard": (jaccard / tokens).tolist(), "shared": shared.tolist()}
            entry |= {"top1": (same / tokens).tolist(), "num_tokens": int(tokens[0])}
            sections["method_agreement"].append(entry)
        if token_strings is not None and seen:
            sections["token_strings"] = {str(t): decode_token(token_strings, t) for t in sorted(seen)}
        if token_strings is not None:
            sections["routing_text"] = self._passages(token_strings)
        return {name: value for name, value in sections.items() if value}

    def _position_sections(self, method, counters, sections):
        """``position_effects`` per layer and ``routing_locality`` of one method, when positions were given."""
        sums = counters.by_position.cpu()
        for i, layer in enumerate(self.layers):
            tokens, *moments = sums[i].T
            seen = torch.nonzero(tokens).flatten()
            if not seen.numel():
                continue
            entry = {
                "method": method,
                "layer": layer,
                "positions": seen.tolist(),
                "num_tokens": tokens[seen].long().tolist(),
            }
            experts, spread = _mean_and_std(moments[0][seen], moments[1][seen], tokens[seen])
            entry |= {"mean_experts": experts, "std_experts": spread}
            if not moments[2][seen].isnan().any():
                top1, spread = _mean_and_std(moments[2][seen], moments[3][seen], tokens[seen])
                entry |= {"mean_top1": [min(max(v, 0.0), 1.0) for v in top1], "std_top1": spread}
            if seen[-1] == MAX_POSITION:
                entry["pooled_from"] = MAX_POSITION
            sections["position_effects"].append(entry)
        pairs, same = counters.locality.cpu().T
        if pairs[0] > 0:
            load = counters.top1_load.cpu().double()
            chance = ((load / load.sum(dim=1, keepdim=True)) ** 2).sum(dim=1)
            entry = {"method": method, "layers": self.layers, "same_top1": (same.double() / pairs).tolist()}
            sections["routing_locality"].append(entry | {"chance": chance.tolist(), "num_pairs": int(pairs[0])})

    def _passages(self, token_strings):
        """The ``routing_text`` passages: each kept passage with the methods that kept the same tokens."""
        passages = {}
        for method, counters in self.methods.items():
            for name, (ids, experts, top) in counters.passages.items():
                ids = ids.cpu().tolist()
                passage = passages.setdefault(name, {"token_ids": ids, "routing": []})
                if passage["token_ids"] == ids:  # methods added with other batches route other text
                    routing = {"method": method, "num_experts": experts.cpu().tolist()}
                    passage["routing"].append(routing | {"top_expert": top.cpu().tolist()})
        return [
            ({} if name is None else {"label": name})
            | {"tokens": [decode_token(token_strings, t) for t in passage["token_ids"]]}
            | passage
            | {"layers": self.layers}
            for name, passage in passages.items()
        ]

    def _vocabulary(self, method, table, occurrences, shown, next_tokens=False):
        """Per layer: how many token ids have each (occurrences, routings to their most frequent expert);
        for the ``shown`` layers, each expert's most specialised token ids."""
        routed = table.cpu().view(-1, len(self.layers), self.num_experts)
        seen = occurrences[: routed.shape[0]] > 0
        entries = []
        for i, layer in enumerate(self.layers):
            top = routed[:, i].max(dim=1).values.long()
            pairs, ids = torch.unique(
                torch.stack([occurrences[: routed.shape[0]][seen], top[seen]], 1), dim=0, return_counts=True
            )
            entry = {"method": method, "layer": layer} | ({"token": "next"} if next_tokens else {})
            entry["occurrences"] = pairs[:, 0].tolist()
            entry |= {"top_expert_routings": pairs[:, 1].tolist(), "id_count": ids.tolist()}
            if layer in shown:
                token_ids = np.arange(routed.shape[0])
                listed = specialised_tokens(routed[:, i].numpy(), occurrences[: routed.shape[0]].numpy(), token_ids)
                keys = ("expert_tokens", "expert_token_routings", "expert_token_occurrences")
                entry |= {key: [row[:EXPERT_TOKENS] for row in lists] for key, lists in zip(keys, listed)}
            entries.append(entry)
        return entries


def _mean_and_std(total, squares, count):
    """Lists of the mean and the (population) standard deviation from sums and sums of squares."""
    mean = total / count
    return mean.tolist(), (squares / count - mean**2).clamp_min(0).sqrt().tolist()


def _moved(counters, device):
    """A copy of one method's counters on ``device``, sharing no tensor with them (``.to`` alone returns the
    same tensor when it is already there, and later additions to the copy would change the original)."""
    moved = copy.copy(counters)
    for name, value in vars(counters).items():
        setattr(moved, name, value.to(device, copy=True) if torch.is_tensor(value) else value)
    moved.domains = {name: [load.to(device, copy=True), tokens] for name, (load, tokens) in counters.domains.items()}
    moved.passages = {name: tuple(t.to(device, copy=True) for t in kept) for name, kept in counters.passages.items()}
    return moved


def _domain_codes(domain, tokens, device):
    """(domain names, each token's index among them) from one name for the batch or one per token."""
    if isinstance(domain, str):
        return [domain], torch.zeros(tokens, dtype=torch.long, device=device)
    index = {}
    codes = [index.setdefault(str(name), len(index)) for name in domain]
    if len(codes) != tokens:
        raise ValueError(f"domain: {len(codes)} names for {tokens} tokens")
    return list(index), torch.tensor(codes, device=device)


def _token_ids(values, device, name, missing=None):
    """Token ids as a flat long tensor: whole numbers from 0 (or ``missing``, for none) to ``MAX_TOKEN_ID``."""
    ids = torch.as_tensor(values, device=device)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be whole numbers, got {ids.dtype}")
    ids = ids.long().reshape(-1)
    if ids.numel():
        low, high = int(ids.min()), int(ids.max())
        lowest = 0 if missing is None else missing
        if low < lowest or high > MAX_TOKEN_ID:
            bad = low if low < lowest else high
            allowed = f"{lowest}" + (" (none)" if missing is not None else "")
            raise ValueError(f"{name}: token id {bad} is outside {allowed} to {MAX_TOKEN_ID:,}")
    return ids


def _top_expert(selection):
    """Each token's expert of largest router logit (of largest weight, for a selection made by hand)."""
    return selection.weights.argmax(dim=-1) if selection.top_expert is None else selection.top_expert


def _settings(stats):
    """What two statistics must share to merge."""
    return stats.layers, stats.num_experts, stats.pair_layers, stats.counts_vocabulary, stats.passage_tokens


def _grown(table, rows):
    if table.shape[0] >= rows:
        return table
    padding = torch.zeros(rows - table.shape[0], table.shape[1], dtype=table.dtype, device=table.device)
    return torch.cat([table, padding])


def _trimmed(row):
    """A histogram without its trailing zeros."""
    last = max(k for k, n in enumerate(row) if n)
    return row[: last + 1]
