"""Run a model with its routers selecting by a figkit rule, to measure loss and perplexity under it."""

from __future__ import annotations

import torch

from figkit.routing.capture import find_routers
from figkit.routing.rules import Rule

# A router's own weights match softmax probabilities (renormalised or not) to within this.
WEIGHT_TOLERANCE = 1e-4


class route_with:  # noqa: N801 - used as a function: with route_with(model, bh(0.05)): ...
    """Inside the ``with`` block every router of ``model`` selects experts with ``rule``.

    Works with routers that return ``(logits, weights, indices)`` and weight experts by softmax
    probabilities: OLMoE, Mixtral, Qwen2-MoE and Qwen3-MoE in transformers 5. A token using
    fewer experts than the batch's largest count is padded with its next-ranked experts at
    weight 0 (never with an out-of-range id, which the grouped-matmul kernels turn into NaN),
    so every output is exact. With ``rule.renormalize=None`` (every rule's default) the weights follow
    the model's own convention (OLMoE: not renormalised; Mixtral: renormalised); after the first
    forward pass ``renormalized`` says, per layer id, whether the weights were renormalised.
    """

    def __init__(self, model, rule, routers=None):
        if not isinstance(rule, Rule):
            raise TypeError(f"rule must be a figkit.routing rule (top_k, top_p, threshold, bh), got {rule!r}")
        self.rule = rule
        self.routers = find_routers(model, routers)
        self.renormalized = {}
        self._patched = []

    def __enter__(self):
        for layer, (name, module) in self.routers.items():
            module.forward = _routed(module.forward, self.rule, layer, name, self.renormalized)
            self._patched.append(module)
        return self

    def __exit__(self, *exc):
        for module in self._patched:
            del module.forward  # the class's forward again
        self._patched.clear()
        return False


def _routed(forward, rule, layer, name, renormalized):
    convention = []  # the router's own renormalisation, checked on its first call

    def routed(hidden_states):
        output = forward(hidden_states)
        if not (isinstance(output, tuple) and len(output) == 3):
            raise TypeError(
                f"{name}: route_with needs a router that returns (logits, weights, indices), as transformers 5 does"
            )
        logits, weights, indices = output
        probabilities = torch.softmax(logits, dim=-1, dtype=torch.float)
        if not convention:
            convention.append(_own_convention(probabilities, weights, indices, name))
        renormalize = convention[0] if rule.renormalize is None else rule.renormalize
        renormalized[layer] = renormalize
        counts = rule.counts(logits, layer)
        most = max(int(counts.max()), 1)
        top, chosen = torch.topk(probabilities, most, dim=-1)
        kept = torch.arange(most, device=counts.device) < counts.unsqueeze(-1)
        top = torch.where(kept, top, torch.zeros((), dtype=top.dtype, device=top.device))
        if renormalize:
            top /= top.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(top.dtype).tiny)
        return logits, top.to(weights.dtype), chosen

    return routed


def _own_convention(probabilities, weights, indices, name):
    """Whether the router renormalises its weights; raises unless they are softmax probabilities."""
    chosen = probabilities.gather(-1, indices.long())
    total = chosen.sum(dim=-1, keepdim=True)
    renormalized = bool(torch.allclose(weights.float().sum(dim=-1), torch.ones_like(total[..., 0]), atol=1e-3))
    expected = chosen / total if renormalized else chosen
    if not torch.allclose(weights.float(), expected, rtol=1e-3, atol=WEIGHT_TOLERANCE):
        raise TypeError(
            f"{name}: route_with needs a router that weights experts by softmax probabilities "
            "(OLMoE, Mixtral, Qwen2-MoE, Qwen3-MoE); this one does not (DeepSeek's sigmoid scores, say)"
        )
    return renormalized
