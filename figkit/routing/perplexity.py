"""Perplexity under a rule: the next-token loss of real tokens only, summed over batches."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def next_token_loss(logits, input_ids, attention_mask=None):
    """(summed cross-entropy, predictions) of each real token predicted from the real token before it.

    ``logits`` ``[batch, steps, vocabulary]``; padding (``attention_mask`` 0) is neither predicted nor
    predicts, so a left-padded sequence's first token is not scored, as for an unpadded one.
    """
    targets = input_ids[:, 1:]
    if attention_mask is None:
        scored = torch.ones_like(targets, dtype=torch.bool)
    else:
        real = attention_mask.bool()
        scored = real[:, 1:] & real[:, :-1]
    predicted = logits[:, :-1][scored].float()
    loss = torch.nn.functional.cross_entropy(predicted, targets[scored], reduction="sum")
    return float(loss), int(scored.sum())


class Perplexity:
    """Next-token perplexity per method, padding masked, added batch by batch (and across shards).

    Example
    -------
    >>> perplexity = Perplexity()
    >>> with torch.no_grad(), route_with(model, bh(0.05, max_k=8)):
    ...     perplexity.add("bh05", model, batch)  # batch: input ids, or a tokenizer's output
    >>> figkit.write_results("results.json", metrics=perplexity.metrics(), ...)
    """

    def __init__(self):
        self.loss = {}  # method -> summed cross-entropy
        self.predictions = {}  # method -> tokens predicted

    def add(self, method, model, batch):
        """Run ``model`` on ``batch`` and count its next-token loss for ``method``; return the batch's mean loss.

        ``batch``: input ids ``[batch, steps]`` or a mapping with ``input_ids`` (and ``attention_mask``);
        its ``labels``, if any, are ignored: the loss is taken from the logits.
        """
        inputs = dict(batch) if isinstance(batch, Mapping) else {"input_ids": batch}
        inputs.pop("labels", None)
        if "input_ids" not in inputs:
            raise ValueError(f"{method}: the batch has no input_ids (it has {', '.join(inputs) or 'nothing'})")
        loss, predictions = next_token_loss(model(**inputs).logits, inputs["input_ids"], inputs.get("attention_mask"))
        self.loss[method] = self.loss.get(method, 0.0) + loss
        self.predictions[method] = self.predictions.get(method, 0) + predictions
        return loss / max(predictions, 1)

    def merge(self, other):
        """Add ``other``'s sums (another shard of the same evaluation) to these."""
        for method, loss in other.loss.items():
            self.loss[method] = self.loss.get(method, 0.0) + loss
            self.predictions[method] = self.predictions.get(method, 0) + other.predictions[method]
        return self

    def value(self, method):
        """exp(mean next-token loss) of ``method`` over every batch added."""
        if not self.predictions.get(method):
            raise ValueError(f"no tokens were predicted for {method!r}; methods: {', '.join(self.loss) or 'none'}")
        return math.exp(self.loss[method] / self.predictions[method])

    def metrics(self, name="perplexity"):
        """``{method: {name: perplexity}}``, for ``write_results(metrics=...)``."""
        return {method: {name: self.value(method)} for method in self.loss}
