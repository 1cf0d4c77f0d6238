"""Router logits of a Hugging Face MoE model, captured with forward hooks during its own forward pass.

A router is the ``gate`` of a module that has both ``gate`` and ``experts`` (the MoE blocks of
OLMoE, Mixtral, Qwen2-MoE, Qwen3-MoE and DeepSeek-V2/V3 in transformers 4 and 5), or any module
named by a pattern. Its first output (or only output) is ``[tokens, experts]`` with batch and
sequence flattened; padding positions are dropped with the attention mask of the same call.
"""

from __future__ import annotations

import fnmatch
import re
import warnings

import torch

_LAYER = re.compile(r"(?:^|\.)(\d+)(?:\.|$)")
# Rows of probabilities sum to 1 to within this; router logits practically never do.
PROBABILITY_TOLERANCE = 1e-3


class RoutingNote(UserWarning):
    """Something about a capture a researcher should know (dense layers, probabilities given as logits)."""


def find_routers(model, pattern=None):
    """``{layer id: (name, module)}`` of a model's routers, in layer order.

    ``pattern``: a shell pattern over module names (``"model.layers.*.mlp.gate"``) for models
    figkit does not know; otherwise the ``gate`` of every module with ``gate`` and ``experts``.
    """
    if pattern is not None:
        found = [(name, module) for name, module in model.named_modules() if fnmatch.fnmatchcase(name, pattern)]
        if not found:
            raise ValueError(f"no module of the model matches {pattern!r}")
    else:
        found = [
            (f"{name}.gate" if name else "gate", module.gate)
            for name, module in model.named_modules()
            if isinstance(getattr(module, "gate", None), torch.nn.Module) and hasattr(module, "experts")
        ]
        if not found:
            raise ValueError(
                "found no MoE router (a module with gate and experts); name the routers with routers='pattern'"
            )
    routers = {}
    for name, module in found:
        match = _LAYER.search(name)
        if match is None:
            raise ValueError(f"router {name!r} has no layer number in its name")
        layer = int(match.group(1))
        if layer in routers:
            raise ValueError(f"routers {routers[layer][0]!r} and {name!r} are both in layer {layer}")
        routers[layer] = (name, module)
    return dict(sorted(routers.items()))


class capture:  # noqa: N801 - used as a function: with capture(model) as cap
    """Record the router logits of every forward pass of ``model`` inside the ``with`` block.

    After the block: ``logits`` ``[layers, tokens, experts]`` (padding dropped, on the model's
    device), ``layers`` (the real layer ids), ``token_ids`` ``[tokens]`` and ``next_token_ids``
    (``None`` when the model got embeddings), ``positions`` ``[tokens]`` (each token's place in its
    sequence), ``dense_layers`` (layers without a router) and ``notes``.

    Example
    -------
    >>> with figkit.routing.capture(model) as cap:
    ...     model(**batch)
    >>> cap.logits.shape  # (16, 3968, 64): 16 MoE layers, the batch's 3,968 real tokens
    """

    def __init__(self, model, routers=None):
        self.model = model
        self.routers = find_routers(model, routers)
        self.layers = list(self.routers)
        total = getattr(getattr(model, "config", None), "num_hidden_layers", None)
        self.dense_layers = [] if total is None else [i for i in range(total) if i not in self.routers]
        self.notes = []
        self.probabilities = False  # whether the routers gave probabilities (turned into log-probabilities)
        self._chunks = {layer: [] for layer in self.layers}
        self._token_ids = []
        self._next_token_ids = []
        self._positions = []
        self._mask = None
        self._handles = []

    def __enter__(self):
        if self.dense_layers:
            self._note(
                f"skipped the dense layers (no router): {', '.join(map(str, self.dense_layers))}; "
                f"the {len(self.layers)} MoE layers keep their own ids: {', '.join(map(str, self.layers))}"
            )
        self._handles.append(self.model.register_forward_pre_hook(self._inputs, with_kwargs=True))
        for layer, (_, module) in self.routers.items():
            self._handles.append(module.register_forward_hook(self._router(layer)))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return False

    @property
    def logits(self):
        """``[layers, tokens, experts]``: every captured token's router logits in each MoE layer."""
        if not any(self._chunks.values()):
            raise ValueError("nothing was captured: run the model inside the with block")
        return torch.stack([torch.cat(self._chunks[layer]) for layer in self.layers])

    @property
    def token_ids(self):
        """``[tokens]``: the id of each captured token (``None`` if the model was given embeddings)."""
        if not self._token_ids or any(ids is None for ids in self._token_ids):
            return None
        return torch.cat(self._token_ids)

    @property
    def next_token_ids(self):
        """``[tokens]``: the id of the real token that follows each captured token in its sequence, -1 where
        none does (the last real token of a sequence, or of each call when generating step by step)."""
        if self.token_ids is None:
            return None
        return torch.cat(self._next_token_ids)

    @property
    def positions(self):
        """``[tokens]``: each captured token's position among the real tokens of its sequence, from 0 (when
        generating with a cache, counted from the sequence's start; ``None`` without an attention mask's
        shape, i.e. when nothing was captured)."""
        if not self._positions:
            return None
        return torch.cat(self._positions)

    def _note(self, message):
        self.notes.append(message)
        warnings.warn(message, RoutingNote, stacklevel=3)

    def _inputs(self, module, args, kwargs):
        """The mask of this call's real positions ``[batch, steps]`` and their token ids."""
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        shape = ids.shape if ids is not None else None if embeds is None else embeds.shape[:2]
        mask = kwargs.get("attention_mask")
        if shape is None:
            self._mask = None
        elif mask is None or mask.ndim != 2:  # no mask, or a prepared 4-D one: every position counts
            self._mask = torch.ones(shape, dtype=torch.bool, device=(ids if ids is not None else embeds).device)
        else:
            self._mask = mask[:, -shape[1] :].bool()  # generating with a cache: the mask covers the past too
        if self._mask is not None:
            whole = self._mask if mask is None or mask.ndim != 2 else mask.bool()
            place = (whole.long().cumsum(dim=1) - 1)[:, -shape[1] :]  # a real token's place among the real ones
            self._positions.append(place[self._mask].detach())
        if ids is None or self._mask is None:
            self._token_ids.append(None)
            return
        following = torch.full_like(ids, -1)
        following[:, :-1] = torch.where(self._mask[:, 1:], ids[:, 1:], -1)
        self._token_ids.append(ids[self._mask].detach())
        self._next_token_ids.append(following[self._mask].detach())

    def _router(self, layer):
        def hook(module, args, output):
            logits = (output[0] if isinstance(output, tuple) else output).detach()
            logits = logits.reshape(-1, logits.shape[-1])
            if self._mask is not None and self._mask.numel() == logits.shape[0]:
                logits = logits[self._mask.reshape(-1)]
            if _are_probabilities(logits):
                if not self.probabilities:
                    self.probabilities = True
                    self._note(
                        "the routers return probabilities (transformers 5.0-5.5 name them router_logits); "
                        "figkit keeps their logarithms, which are the logits up to a per-token constant"
                    )
                logits = logits.clamp_min(torch.finfo(logits.dtype).tiny).log()
            self._chunks[layer].append(logits)

        return hook


def _are_probabilities(values):
    if values.numel() == 0 or values.min() < 0:
        return False
    sums = values.sum(dim=-1).float()
    return bool(torch.allclose(sums, torch.ones_like(sums), atol=PROBABILITY_TOLERANCE))
