"""Selection rules: which experts each token uses, from router logits ``[..., tokens, experts]``.

Every rule returns a ``Selection``: the mask of chosen experts, their routing weights (the
softmax probabilities of the chosen experts, renormalised to 1 or not) and the count per token.
The chosen experts are always the ones with the largest logits; rules differ in how many.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

ROBUST_SCALE = 1.4826  # MAD to standard deviation for a normal distribution
CALIBRATION_QUANTILES = 1025


@dataclass(frozen=True)
class Selection:
    """Experts chosen per token: ``mask`` and ``weights`` ``[..., tokens, experts]``, ``counts`` ``[..., tokens]``;
    and how sure the router was, ``[..., tokens]``: its top-1 softmax probability and the entropy of its
    softmax over log(experts) (1 for a uniform router)."""

    mask: torch.Tensor
    weights: torch.Tensor
    counts: torch.Tensor
    top1: torch.Tensor | None = None
    entropy: torch.Tensor | None = None


def _as_logits(logits):
    logits = torch.as_tensor(logits)
    if logits.ndim < 2:
        raise ValueError(f"router logits must be [..., tokens, experts], got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"router logits must be floating point, got {logits.dtype}")
    return logits


def select_largest(logits, counts, renormalize=False, order=None):
    """The ``counts`` experts of largest logit for each token, with their softmax weights.

    ``order``: the experts of each token by descending logit, when already sorted.
    """
    logits = _as_logits(logits)
    experts = logits.shape[-1]
    counts = counts.clamp(0, experts)
    if order is None:
        order = logits.argsort(dim=-1, descending=True, stable=True)
    in_rank_order = torch.arange(experts, device=logits.device) < counts.unsqueeze(-1)
    mask = torch.zeros_like(in_rank_order).scatter_(-1, order, in_rank_order)
    probabilities = torch.softmax(logits.float(), dim=-1)
    weights = torch.where(mask, probabilities, torch.zeros((), dtype=probabilities.dtype, device=logits.device))
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
    entropy = torch.special.entr(probabilities).sum(dim=-1) / math.log(experts) if experts > 1 else None
    return Selection(mask, weights, counts, probabilities.amax(dim=-1), entropy)


class Rule:
    """A selection rule: how many experts each token gets, from its logits sorted in descending order.

    ``renormalize=None`` keeps a model's own convention under ``route_with`` and means "not
    renormalised" elsewhere.
    """

    renormalize: bool | None = None

    def ranked_counts(self, ranked, layer=None):
        """Experts per token from logits ``[..., tokens, experts]`` sorted descending along the last axis."""
        raise NotImplementedError

    def counts(self, logits, layer=None):
        """Experts per token from logits ``[..., tokens, experts]`` of layer ``layer``."""
        return self.ranked_counts(_as_logits(logits).sort(dim=-1, descending=True).values, layer)

    def select(self, logits, layers=None):
        """The selection on ``logits`` ``[tokens, experts]`` or ``[layers, tokens, experts]``.

        ``layers``: the real layer ids of the first dimension (an int for 2-D input); needed
        by rules whose null distribution is per layer. Each token's logits are sorted once.
        """
        logits = _as_logits(logits)
        ranked, order = logits.sort(dim=-1, descending=True, stable=True)
        if logits.ndim == 3:
            ids = list(range(logits.shape[0])) if layers is None else list(layers)
            if len(ids) != logits.shape[0]:
                raise ValueError(f"layers has {len(ids)} ids for {logits.shape[0]} layers of logits")
            counts = torch.stack([self.ranked_counts(ranked[i], ids[i]) for i in range(len(ids))])
        else:
            counts = self.ranked_counts(ranked, layers)
        return select_largest(logits, counts, bool(self.renormalize), order)


@dataclass(frozen=True)
class top_k(Rule):  # noqa: N801 - a rule reads as a function: top_k(8)
    """The ``k`` experts of largest logit."""

    k: int
    renormalize: bool | None = None

    def __post_init__(self):
        _positive("k", self.k)

    def ranked_counts(self, ranked, layer=None):
        return torch.full(ranked.shape[:-1], min(self.k, ranked.shape[-1]), dtype=torch.long, device=ranked.device)


@dataclass(frozen=True)
class top_p(Rule):  # noqa: N801
    """The fewest experts whose probabilities add up to at least ``p`` (at most ``max_k``)."""

    p: float
    max_k: int | None = None
    renormalize: bool | None = True

    def __post_init__(self):
        if not 0 < self.p <= 1:
            raise ValueError(f"top_p: p must be in (0, 1], got {self.p}")
        if self.max_k is not None:
            _positive("max_k", self.max_k)

    def ranked_counts(self, ranked, layer=None):
        probabilities = torch.softmax(ranked.float(), dim=-1)
        before = probabilities.cumsum(dim=-1) - probabilities  # mass of the experts ranked above each
        counts = (before < self.p).sum(dim=-1)
        return counts if self.max_k is None else counts.clamp(max=self.max_k)


@dataclass(frozen=True)
class threshold(Rule):  # noqa: N801
    """Every expert with probability at least ``probability``, clamped to ``[min_k, max_k]``."""

    probability: float
    min_k: int = 1
    max_k: int | None = None
    renormalize: bool | None = True

    def __post_init__(self):
        if not 0 < self.probability <= 1:
            raise ValueError(f"threshold: probability must be in (0, 1], got {self.probability}")
        _bounds(self.min_k, self.max_k)

    def ranked_counts(self, ranked, layer=None):
        counts = (torch.softmax(ranked.float(), dim=-1) >= self.probability).sum(dim=-1)
        return counts.clamp(min=self.min_k, max=self.max_k)


@dataclass(frozen=True)
class bh(Rule):  # noqa: N801
    """Benjamini–Hochberg selection at false discovery rate ``alpha``, clamped to ``[min_k, max_k]``.

    Each expert's p-value is the chance that a router logit of the null distribution is at
    least as large: ``null="robust"`` takes each token's own logits as the null (a normal with
    their median and 1.4826 × MAD); a ``CalibratedNull`` takes each layer's empirical distribution
    of pooled logits from a calibration set. The step-up keeps the ``n`` smallest p-values, ``n``
    the largest rank with ``p_(n) <= n / E * alpha``; a token with none keeps ``min_k``.
    """

    alpha: float
    min_k: int = 1
    max_k: int | None = None
    null: str | CalibratedNull = "robust"
    renormalize: bool | None = True

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError(f"bh: alpha must be between 0 and 1 (exclusive), got {self.alpha}")
        _bounds(self.min_k, self.max_k)
        if not (self.null == "robust" or isinstance(self.null, CalibratedNull)):
            raise ValueError(f'bh: null must be "robust" or a CalibratedNull, got {self.null!r}')

    def p_values(self, logits, layer=None):
        """The p-value of each expert's logit ``[..., tokens, experts]`` under the rule's null."""
        logits = _as_logits(logits)
        if isinstance(self.null, CalibratedNull):
            return self.null.p_values(logits, layer)
        ranked = logits.sort(dim=-1, descending=True).values
        return _robust_survival(logits, _median_of_ranked(ranked), _spread(logits, ranked))

    def ranked_counts(self, ranked, layer=None):
        if isinstance(self.null, CalibratedNull):
            p = self.null.p_values(ranked, layer)  # ascending: the survival function decreases
        else:
            p = _robust_survival(ranked, _median_of_ranked(ranked), _spread(ranked, ranked))
        experts = p.shape[-1]
        ranks = torch.arange(1, experts + 1, device=p.device)
        passing = p <= ranks.to(p.dtype) * (self.alpha / experts)
        largest = torch.where(passing, ranks, torch.zeros_like(ranks)).amax(dim=-1)
        return largest.clamp(min=self.min_k, max=self.max_k)


def _median_of_ranked(ranked):
    """The median of each row of sorted values: the mean of the middle two for an even count (as numpy)."""
    n = ranked.shape[-1]
    return ((ranked[..., (n - 1) // 2].double() + ranked[..., n // 2].double()) / 2).unsqueeze(-1)


def _spread(values, ranked):
    """1.4826 × the median absolute deviation of each row (``ranked``: the same rows, sorted), the
    deviations in float32 or the logits' precision if higher (sorting doubles costs twice as much; in
    bfloat16 or float16 the deviations from the median would round, and so would the selection)."""
    precision = torch.promote_types(values.dtype, torch.float32)
    median = _median_of_ranked(ranked).to(precision)
    deviation = (values.to(precision) - median).abs().sort(dim=-1, descending=True).values
    return (ROBUST_SCALE * _median_of_ranked(deviation)).clamp_min(torch.finfo(torch.float64).tiny)


def _robust_survival(values, median, spread):
    """The normal survival function through erfc: ndtr(-z) loses the far tail to cancellation."""
    return torch.special.erfc((values.double() - median) / (spread * math.sqrt(2))) / 2


class CalibratedNull:
    """Each layer's distribution of router logits (all experts pooled), from a calibration set.

    Stored as ``CALIBRATION_QUANTILES`` quantiles per layer; the p-value of a logit is one minus
    the CDF interpolated between them, kept within ``[1 / (n + 1), 1]`` for ``n`` calibration logits.
    """

    def __init__(self, layers, quantiles, sample_sizes):
        self.layers = [int(layer) for layer in layers]
        self.quantiles = torch.as_tensor(quantiles, dtype=torch.float64)
        self.sample_sizes = [int(n) for n in sample_sizes]
        if self.quantiles.shape != (len(self.layers), CALIBRATION_QUANTILES):
            raise ValueError(
                f"a calibrated null needs {CALIBRATION_QUANTILES} quantiles for each of its {len(self.layers)} layers"
            )

    @classmethod
    def fit(cls, logits, layers=None):
        """Fit on calibration logits ``[layers, tokens, experts]`` (``layers``: their real ids)."""
        logits = _as_logits(logits)
        if logits.ndim != 3:
            raise ValueError(f"calibration logits must be [layers, tokens, experts], got {tuple(logits.shape)}")
        ids = list(range(logits.shape[0])) if layers is None else list(layers)
        pooled = logits.reshape(logits.shape[0], -1).double().sort(dim=-1).values
        levels = torch.linspace(0, 1, CALIBRATION_QUANTILES, dtype=torch.float64)
        positions = levels * (pooled.shape[-1] - 1)
        low, high = positions.floor().long(), positions.ceil().long()
        share = positions - low
        quantiles = pooled[:, low] * (1 - share) + pooled[:, high] * share
        return cls(ids, quantiles, [pooled.shape[-1]] * len(ids))

    def p_values(self, logits, layer):
        if layer not in self.layers:
            raise ValueError(f"the calibrated null has no layer {layer}; it has layers {self.layers}")
        i = self.layers.index(layer)
        grid = self.quantiles[i].to(logits.device)
        levels = torch.linspace(0, 1, CALIBRATION_QUANTILES, dtype=torch.float64, device=logits.device)
        values = logits.double().contiguous()
        right = torch.searchsorted(grid, values, right=True).clamp(1, CALIBRATION_QUANTILES - 1)
        left = right - 1
        width = (grid[right] - grid[left]).clamp_min(torch.finfo(torch.float64).tiny)
        cdf = levels[left] + (levels[right] - levels[left]) * ((values - grid[left]) / width).clamp(0, 1)
        floor = 1 / (self.sample_sizes[i] + 1)
        return (1 - cdf).clamp(floor, 1)

    def save(self, path):
        """Write to ``path`` (``.npz``)."""
        import numpy as np

        np.savez(path, layers=np.array(self.layers), quantiles=self.quantiles.numpy(), sample_sizes=self.sample_sizes)
        return Path(path)

    @classmethod
    def load(cls, path):
        import numpy as np

        with np.load(path) as data:
            return cls(data["layers"], data["quantiles"], data["sample_sizes"])


def _positive(name, value):
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _bounds(min_k, max_k):
    if type(min_k) is not int or min_k < 0:
        raise ValueError(f"min_k must be a non-negative integer, got {min_k!r}")
    if max_k is not None:
        _positive("max_k", max_k)
        if max_k < min_k:
            raise ValueError(f"max_k ({max_k}) must be at least min_k ({min_k})")
