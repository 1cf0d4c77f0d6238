"""Selection rules: which experts each token uses, from router logits ``[..., tokens, experts]``.

Every rule returns a ``Selection``: the mask of chosen experts, their routing weights (the
softmax probabilities of the chosen experts, renormalised to 1 or not) and the count per token.
The chosen experts are always the ones with the largest logits; rules differ in how many.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROBUST_SCALE = 1.4826  # MAD to standard deviation for a normal distribution
CALIBRATION_QUANTILES = 1025
MAX_NULL_BYTES = 2**26  # a saved null: 8 KiB of quantiles per layer; 64 MiB is thousands of layers


@dataclass(frozen=True)
class Selection:
    """Experts chosen per token: ``mask`` and ``weights`` ``[..., tokens, experts]``, ``counts`` ``[..., tokens]``;
    and what the router itself did, ``[..., tokens]``: its top-1 softmax probability, the entropy of its
    softmax over log(experts) (1 for a uniform router) and its expert of largest logit; for rules that test
    experts (BH), each token's smallest p-value, that of its top expert."""

    mask: torch.Tensor
    weights: torch.Tensor
    counts: torch.Tensor
    top1: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    top_expert: torch.Tensor | None = None
    smallest_p: torch.Tensor | None = None


def _as_logits(logits):
    logits = torch.as_tensor(logits)
    if logits.ndim < 2:
        raise ValueError(f"router logits must be [..., tokens, experts], got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"router logits must be floating point, got {logits.dtype}")
    # A NaN sorts and compares as nothing: its token would get no experts. The sum is NaN if any logit is
    # (or, rarely, if it overflows both ways), at a fraction of the cost of testing every logit.
    if bool(torch.isnan(logits.sum())) and bool(torch.isnan(logits).any()):
        where = ", ".join(map(str, torch.nonzero(torch.isnan(logits))[0].tolist()))
        raise ValueError(f"router logits hold NaN (first at index {where}); a router gives numbers")
    return logits


def sort_descending(logits):
    """Each token's logits sorted in descending order (the same numbers; float16 and bfloat16 as float32).

    On the CPU numpy's vectorised sort is about six times faster than ``torch.sort``.
    """
    return _descending(_as_logits(logits))


def _descending(logits):
    """``sort_descending`` of logits already checked."""
    if logits.device.type != "cpu":
        return logits.sort(dim=-1, descending=True).values
    values = logits.detach().to(torch.promote_types(logits.dtype, torch.float32))
    return torch.from_numpy(np.sort(values.numpy(), axis=-1)).flip(-1)


def select_largest(logits, counts, renormalize=False, ranked_logits=None):
    """The ``counts`` experts of largest logit for each token, with their softmax weights; of experts
    tied at the cut, the first (as a stable sort would).

    ``ranked_logits``: the logits sorted in descending order, when already sorted.
    """
    logits = _as_logits(logits)
    return _largest(logits, counts, renormalize, _descending(logits) if ranked_logits is None else ranked_logits)


def _largest(logits, counts, renormalize, ranked_logits, smallest_p=None):
    """``select_largest`` of logits already checked and sorted (``smallest_p``: the rule's, if it tests)."""
    experts = logits.shape[-1]
    counts = counts.clamp(0, experts)
    cut = ranked_logits.gather(-1, (counts - 1).clamp_min(0).unsqueeze(-1)).to(logits.dtype)  # the last logit kept
    mask = (logits >= cut) & (counts > 0).unsqueeze(-1)
    surplus = mask.sum(dim=-1) - counts  # experts tied with the cut beyond the count
    tied = surplus > 0
    if bool(tied.any()):
        at_cut = logits[tied] == cut[tied]
        first = at_cut.cumsum(dim=-1) <= (at_cut.sum(dim=-1) - surplus[tied]).unsqueeze(-1)
        mask[tied] &= ~at_cut | first
    probabilities = torch.softmax(logits.float(), dim=-1)
    weights = torch.where(mask, probabilities, torch.zeros((), dtype=probabilities.dtype, device=logits.device))
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
    entropy = torch.special.entr(probabilities).sum(dim=-1) / math.log(experts) if experts > 1 else None
    top1, top_expert = probabilities.amax(dim=-1), logits.argmax(dim=-1)
    return Selection(mask, weights, counts, top1, entropy, top_expert, smallest_p)


class Rule:
    """A selection rule: how many experts each token gets, from its logits sorted in descending order.

    ``renormalize``: whether the chosen experts' softmax weights are rescaled to sum to 1. The default,
    ``None``, keeps the model's own convention under ``route_with`` (OLMoE: not renormalised;
    Mixtral: renormalised), so a rule compared with the model's top-k changes only which experts
    are chosen; elsewhere it means "not renormalised".
    """

    renormalize: bool | None = None

    def ranked_counts(self, ranked, layer=None):
        """Experts per token from logits ``[..., tokens, experts]`` sorted descending along the last axis."""
        raise NotImplementedError

    def method(self):
        """The rule as a results file's method describes it: ``family``, ``label`` and ``params``."""
        raise NotImplementedError

    def _ranked_tests(self, ranked, layer):
        """(experts per token, each token's smallest p-value or None for a rule that tests nothing)."""
        return self.ranked_counts(ranked, layer), None

    def counts(self, logits, layer=None):
        """Experts per token from logits ``[..., tokens, experts]`` of layer ``layer``."""
        return self.ranked_counts(sort_descending(logits), layer)

    def select(self, logits, layers=None):
        """The selection on ``logits`` ``[tokens, experts]`` or ``[layers, tokens, experts]``.

        ``layers``: the real layer ids of the first dimension (an int for 2-D input); needed
        by rules whose null distribution is per layer. Each token's logits are sorted once.
        """
        logits = _as_logits(logits)
        ranked_logits = _descending(logits)
        if logits.ndim == 3:
            ids = list(range(logits.shape[0])) if layers is None else list(layers)
            if len(ids) != logits.shape[0]:
                raise ValueError(f"layers has {len(ids)} ids for {logits.shape[0]} layers of logits")
            counts, smallest_p = zip(*(self._ranked_tests(ranked_logits[i], ids[i]) for i in range(len(ids))))
            counts = torch.stack(counts)
            smallest_p = None if smallest_p[0] is None else torch.stack(smallest_p)
        else:
            counts, smallest_p = self._ranked_tests(ranked_logits, layers)
        return _largest(logits, counts, bool(self.renormalize), ranked_logits, smallest_p)


@dataclass(frozen=True)
class top_k(Rule):  # noqa: N801 - a rule reads as a function: top_k(8)
    """The ``k`` experts of largest logit."""

    k: int
    renormalize: bool | None = None

    def __post_init__(self):
        _positive("k", self.k)

    def ranked_counts(self, ranked, layer=None):
        return torch.full(ranked.shape[:-1], min(self.k, ranked.shape[-1]), dtype=torch.long, device=ranked.device)

    def method(self):
        return {"family": "topk", "label": f"Top-{self.k}", "params": {"k": self.k}}


@dataclass(frozen=True)
class top_p(Rule):  # noqa: N801
    """The fewest experts whose probabilities add up to at least ``p`` (at most ``max_k``)."""

    p: float
    max_k: int | None = None
    renormalize: bool | None = None

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

    def method(self):
        return {"family": "topp", "label": f"Top-p (p = {self.p:g})", "params": _given(p=self.p, max_k=self.max_k)}


@dataclass(frozen=True)
class threshold(Rule):  # noqa: N801
    """Every expert with probability at least ``probability``, clamped to ``[min_k, max_k]``."""

    probability: float
    min_k: int = 1
    max_k: int | None = None
    renormalize: bool | None = None

    def __post_init__(self):
        if not 0 < self.probability <= 1:
            raise ValueError(f"threshold: probability must be in (0, 1], got {self.probability}")
        _bounds(self.min_k, self.max_k)

    def ranked_counts(self, ranked, layer=None):
        counts = (torch.softmax(ranked.float(), dim=-1) >= self.probability).sum(dim=-1)
        return counts.clamp(min=self.min_k, max=self.max_k)

    def method(self):
        params = _given(probability=self.probability, min_k=self.min_k, max_k=self.max_k)
        return {"family": "threshold", "label": f"Threshold ($p \\geq$ {self.probability:g})", "params": params}


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
    renormalize: bool | None = None

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
        median, spread = _robust_null(_descending(logits))
        return _normal_tail((logits.double() - median) / spread)

    def ranked_counts(self, ranked, layer=None):
        return self._ranked_tests(ranked, layer)[0]

    def method(self):
        params = _given(alpha=self.alpha, min_k=self.min_k, max_k=self.max_k)
        return {"family": "bh", "label": f"BH ($\\alpha$ = {self.alpha:g})", "params": params}

    def _ranked_tests(self, ranked, layer):
        experts = ranked.shape[-1]
        ranks = torch.arange(1, experts + 1, device=ranked.device)
        levels = ranks.double() * (self.alpha / experts)  # rank r passes when its p-value <= r alpha / E
        if isinstance(self.null, CalibratedNull):
            p = self.null.p_values(ranked, layer)
            passing, smallest = p <= levels, p[..., 0]
        else:  # p <= level exactly when logit >= median + spread × the level's upper normal quantile
            median, spread = _robust_null(ranked)
            critical = -torch.special.ndtri(levels)  # descending with the rank
            reach = _leading_columns(ranked, median, spread * critical[-1])  # no later rank can pass
            passing = ranked[..., :reach].double() - median >= spread * critical[:reach]
            ranks = ranks[:reach]
            smallest = _normal_tail((ranked[..., :1].double() - median) / spread)[..., 0]
        if not ranks.numel():
            counts = torch.zeros(ranked.shape[:-1], dtype=torch.long, device=ranked.device)
        else:
            counts = torch.where(passing, ranks, torch.zeros_like(ranks)).amax(dim=-1)
        return counts.clamp(min=self.min_k, max=self.max_k), smallest


def _given(**params):
    return {name: value for name, value in params.items() if value is not None}


def _normal_tail(z):
    """P(Z >= z) for a standard normal, exact far into the tail (where ``1 - ndtr(z)`` rounds to 0)."""
    return torch.special.erfc(z / math.sqrt(2)) / 2


def _median_of_ranked(ranked):
    """The median of each row of sorted values: the mean of the middle two for an even count (as numpy)."""
    n = ranked.shape[-1]
    return ((ranked[..., (n - 1) // 2].double() + ranked[..., n // 2].double()) / 2).unsqueeze(-1)


def _robust_null(ranked):
    """Each row's median and 1.4826 × its median absolute deviation (``[..., 1]``, float64), from the
    row sorted in descending order, without sorting the deviations.

    The deviations are taken in float32 or the logits' precision if higher (in bfloat16 or float16
    they would round, and so would the selection). Those of the values above the median descend
    along the row, those below it ascend: the MAD is found by merging the two sorted runs.
    """
    n = ranked.shape[-1]
    median = _median_of_ranked(ranked)
    values = ranked.to(torch.promote_types(ranked.dtype, torch.float32))
    centre = median.to(values.dtype)
    above = (values[..., : n // 2] - centre).abs()  # descending
    below = (values[..., n // 2 :] - centre).abs()  # ascending
    middle = _kth_smallest(above, below, (n - 1) // 2 + 1).double() + _kth_smallest(above, below, n // 2 + 1)
    return median, (ROBUST_SCALE * middle / 2).clamp_min(torch.finfo(torch.float64).tiny)


def _leading_columns(ranked, median, margin):
    """How many leading columns of ``ranked`` (rows sorted descending) hold a value at least ``margin``
    above its row's median in some row: a binary search over columns, each checked in float64."""
    low, high = 0, ranked.shape[-1]
    while low < high:
        middle = (low + high + 1) // 2
        if bool((ranked[..., middle - 1 : middle].double() - median >= margin).any()):
            low = middle
        else:
            high = middle - 1
    return low


def _kth_smallest(descending, ascending, k):
    """The ``k``-th smallest (from 1) of each row of a descending and an ascending row together ``[..., 1]``.

    Of the ways to take the ``i`` smallest of one and the ``k - i`` smallest of the other, the
    largest value taken is least for the true ``k`` smallest: the minimum over ``i`` of
    ``max(i-th smallest of one, (k - i)-th smallest of the other)``.
    """
    a, b = descending.shape[-1], ascending.shape[-1]
    first, last = max(1, k - b), min(k - 1, a)  # the i taking from both; i = 0 and i = k take from one
    candidates = []
    if first <= last:  # pairs i-th smallest of descending (index a - i) with (k - i)-th of ascending
        pairs = torch.maximum(descending[..., a - last : a - first + 1], ascending[..., k - last - 1 : k - first])
        candidates.append(pairs.amin(dim=-1, keepdim=True))
    if k <= b:
        candidates.append(ascending[..., k - 1 : k])
    if k <= a:
        candidates.append(descending[..., a - k : a - k + 1])
    return torch.cat(candidates, dim=-1).amin(dim=-1, keepdim=True)


class CalibratedNull:
    """Each layer's distribution of router logits (all experts pooled), from a calibration set.

    Stored as ``CALIBRATION_QUANTILES`` quantiles per layer; the p-value of a logit is one minus
    the CDF interpolated between them, kept within ``[1 / (n + 1), 1]`` for ``n`` calibration logits.
    """

    def __init__(self, layers, quantiles, sample_sizes):
        self.layers = _whole_numbers(layers, "layers", minimum=0)
        if len(set(self.layers)) != len(self.layers):
            raise ValueError(f"calibrated null: layers must be distinct, got {self.layers}")
        self.quantiles = torch.as_tensor(np.asarray(quantiles, dtype=np.float64))
        if self.quantiles.shape != (len(self.layers), CALIBRATION_QUANTILES):
            raise ValueError(
                f"calibrated null: needs {CALIBRATION_QUANTILES} quantiles for each of its {len(self.layers)} layers, "
                f"got an array of shape {tuple(self.quantiles.shape)}"
            )
        if not bool(torch.isfinite(self.quantiles).all()):
            raise ValueError("calibrated null: quantiles must be finite numbers (NaN would make every p-value NaN)")
        if bool((self.quantiles.diff(dim=1) < 0).any()):
            layer = self.layers[int(torch.nonzero((self.quantiles.diff(dim=1) < 0).any(dim=1))[0])]
            raise ValueError(f"calibrated null: the quantiles of layer {layer} must not decrease")
        self.sample_sizes = _whole_numbers(sample_sizes, "sample_sizes", minimum=1)
        if len(self.sample_sizes) != len(self.layers):
            raise ValueError(
                f"calibrated null: {len(self.sample_sizes)} sample sizes for {len(self.layers)} layers; give one each"
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
        np.savez(path, layers=np.array(self.layers), quantiles=self.quantiles.numpy(), sample_sizes=self.sample_sizes)
        return Path(path)

    @classmethod
    def load(cls, path):
        """Read a null written by ``save``; anything else is refused before it is decompressed."""
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
                names = sorted(archive.namelist())
        except (zipfile.BadZipFile, OSError) as error:
            raise ValueError(f"{path}: not a calibrated null written by CalibratedNull.save ({error})") from None
        if names != ["layers.npy", "quantiles.npy", "sample_sizes.npy"]:
            raise ValueError(f"{path}: not a calibrated null: it holds {', '.join(names) or 'nothing'}")
        if unpacked > MAX_NULL_BYTES:
            raise ValueError(f"{path}: unpacks to {unpacked:,} bytes; a calibrated null is at most {MAX_NULL_BYTES:,}")
        with np.load(path, allow_pickle=False) as data:
            return cls(data["layers"], data["quantiles"], data["sample_sizes"])


def _whole_numbers(values, name, minimum):
    """``values`` as a list of ints, each a whole number of at least ``minimum``."""
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise ValueError(f"calibrated null: {name} must be a list of whole numbers, got {values!r}")
    if np.any(array != np.round(array)) or np.any(array < minimum):
        raise ValueError(f"calibrated null: {name} must be whole numbers of at least {minimum}, got {array.tolist()}")
    return [int(value) for value in array]


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
