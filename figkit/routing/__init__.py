"""From a Hugging Face MoE model to routing numbers: capture router logits, select experts by a rule,
run the model under that rule. Imports torch (``pip install 'figkit[hf]'``); the rest of figkit never does.

- ``capture(model)``: the router logits ``[layers, tokens, experts]`` of the forward passes inside a
  ``with`` block, padding dropped, with real layer ids and token ids;
- ``top_k``, ``top_p``, ``threshold``, ``bh``: selection rules on logits, each giving a ``Selection``
  (mask, weights, counts per token); ``CalibratedNull`` fits, saves and loads BH's per-layer null;
- ``route_with(model, rule)``: the model's routers select with ``rule`` inside a ``with`` block;
- ``RoutingStats``: histograms, loads, co-activation and per-token-id counts, added batch by batch,
  merged across shards and ranks, turned into the sections of a results file;
- ``RouterSaturation``: the overlap of checkpoints' top-k routing with the final checkpoint's;
- ``Perplexity``: next-token perplexity per method with padding masked (``next_token_loss``).
"""

from figkit.routing.capture import RoutingNote, capture, find_routers
from figkit.routing.patch import route_with
from figkit.routing.perplexity import Perplexity, next_token_loss
from figkit.routing.rules import CalibratedNull, Rule, Selection, bh, threshold, top_k, top_p
from figkit.routing.saturation import RouterSaturation
from figkit.routing.stats import RoutingStats

__all__ = [
    "CalibratedNull",
    "Perplexity",
    "RouterSaturation",
    "Rule",
    "RoutingNote",
    "RoutingStats",
    "Selection",
    "bh",
    "capture",
    "find_routers",
    "next_token_loss",
    "route_with",
    "threshold",
    "top_k",
    "top_p",
]
