"""Router saturation: how much of the final checkpoint's top-k routing each earlier checkpoint already has.

For each checkpoint and layer, the mean over tokens of |top-k(checkpoint) ∩ top-k(final)| / k,
on identical inputs (OLMoE's Fig. 20). Sums are kept, so batches and shards add up.
"""

from __future__ import annotations

import torch


class RouterSaturation:
    """Overlap of each checkpoint's top-``k`` experts with the final checkpoint's, per layer.

    Parameters
    ----------
    layers : list of int
        The real ids of the layers the logits come in for.
    k : int
        The size of the top-k sets compared (8 for OLMoE; 1 compares the top-1 expert).
    progress_label : str
        What a checkpoint's progress counts, for the figure's axis ("Training step", "Tokens (B)").

    The final checkpoint itself is not a point: its saturation is 1 by definition (OLMoE plots the
    checkpoints at 1, 10, 20 and 40 % of pretraining).

    Example
    -------
    >>> saturation = RouterSaturation(cap.layers, 8)
    >>> saturation.add(1000, early_logits, final_logits)  # the same inputs through both checkpoints
    >>> write_results("results.json", ..., **saturation.results())
    >>> RouterSaturation.of_checkpoints({1000: early_logits, 5000: final_logits}, 8)  # the same, at once
    """

    def __init__(self, layers, k, progress_label="Training step"):
        self.layers = [int(layer) for layer in layers]
        self.k = int(k)
        self.progress_label = str(progress_label)
        self.overlap = {}  # progress -> [layers] summed |intersection| / k
        self.tokens = {}  # progress -> tokens compared

    @classmethod
    def of_checkpoints(cls, logits, k, layers=None, progress_label="Training step"):
        """Every checkpoint's router logits ``{progress: [layers, tokens, experts]}`` (the same inputs
        through each) compared with those of the last, the one of greatest progress."""
        if len(logits) < 2:
            raise ValueError(f"router saturation needs at least two checkpoints, got {len(logits)}")
        progress = sorted(logits)
        final = torch.as_tensor(logits[progress[-1]])
        saturation = cls(range(final.shape[0]) if layers is None else layers, k, progress_label)
        for step in progress[:-1]:
            saturation.add(step, logits[step], final)
        return saturation

    def add(self, progress, logits, final_logits):
        """Compare one batch: router logits ``[layers, tokens, experts]`` of a checkpoint and of the final one."""
        logits, final_logits = torch.as_tensor(logits), torch.as_tensor(final_logits)
        if logits.shape != final_logits.shape or logits.ndim != 3 or logits.shape[0] != len(self.layers):
            raise ValueError(
                f"logits {tuple(logits.shape)} and final_logits {tuple(final_logits.shape)} must both be "
                f"[{len(self.layers)} layers, tokens, experts]"
            )
        if not 1 <= self.k <= logits.shape[-1]:
            raise ValueError(f"k = {self.k} must be between 1 and the {logits.shape[-1]} experts")
        chosen = _top_k_mask(logits, self.k) & _top_k_mask(final_logits.to(logits.device), self.k)
        overlap = chosen.sum(dim=(1, 2)).double().cpu() / self.k
        key = float(progress)
        self.overlap[key] = self.overlap.get(key, 0) + overlap
        self.tokens[key] = self.tokens.get(key, 0) + logits.shape[1]

    def results(self):
        """The ``router_saturation`` section: one entry, the checkpoints in order of progress."""
        progress = sorted(self.overlap)
        values = [(self.overlap[p] / self.tokens[p]).tolist() for p in progress]
        entry = {
            "k": self.k,
            "progress": [int(p) if p.is_integer() else p for p in progress],
            "progress_label": self.progress_label,
            "layers": self.layers,
            "values": values,
            "num_tokens": self.tokens[progress[0]] if progress else 0,
        }
        return {"router_saturation": [entry]}


def _top_k_mask(logits, k):
    indices = logits.topk(k, dim=-1).indices
    return torch.zeros(logits.shape, dtype=torch.bool, device=logits.device).scatter_(-1, indices, True)
