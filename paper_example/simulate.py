"""Route synthetic router logits with top-k and with Benjamini-Hochberg (BH) selection.

Each token's logits are standard normal noise plus a boost on a few "relevant"
experts; rarer tokens and later layers have more of them, and some experts are
more popular than others. BH routing turns a logit into a p-value under a null
estimated robustly from the layer's calibration logits (median and MAD of a
normal, p = 1 - CDF), runs the step-up procedure at level alpha over the experts,
and keeps between MIN_K and MAX_K experts.
"""

import numpy as np

NUM_EXPERTS = 64
NUM_LAYERS = 16
TOP_K = 8
MIN_K, MAX_K = 1, 8
VOCAB_SIZE = 50_000
NUM_TOKENS = 20_000
ALPHAS = (0.01, 0.05, 0.10, 0.20)
BOOST = 3.5
WORDS = [
    "the",
    ",",
    ".",
    " of",
    " and",
    "$",
    "50%",
    "a_b",
    "\\",
    "{",
    "\u2581the",
    " model",
    " expert",
    " routing",
    "}",
    "\n",
    " cat",
    " sat",
    " on",
    " mat",
]


def token_stream(rng, n=NUM_TOKENS):
    """Token ids with a Zipf-like frequency: small ids are common."""
    return np.minimum(rng.zipf(1.2, n), VOCAB_SIZE) - 1


def decode(token_id):
    """A readable string for a synthetic token id."""
    return WORDS[token_id] if token_id < len(WORDS) else f" w{token_id}"


def router_logits(rng, token_ids, layer, concentration=2.0):
    """[tokens, experts] logits (noise plus a boost on the experts relevant to each token) and the relevant mask.

    Each layer draws the experts' popularity from a Dirichlet of ``concentration``: the smaller, the more
    a few experts dominate."""
    n = token_ids.size
    rarity = np.log1p(token_ids) / np.log(VOCAB_SIZE)
    relevant = 1 + rng.poisson(1.0 + 3 * rarity + 0.12 * layer)
    popularity = rng.dirichlet(np.full(NUM_EXPERTS, concentration))
    keys = np.log(popularity) + rng.gumbel(size=(n, NUM_EXPERTS))  # Gumbel top-k sampling
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    mask = rank < relevant[:, None]
    return rng.standard_normal((n, NUM_EXPERTS)) + BOOST * mask, mask


def p_values(logits, calibration):
    """p = 1 - F(logit), F a normal null fitted to the calibration logits by median and MAD."""
    from scipy.stats import norm

    centre = np.median(calibration)
    scale = 1.4826 * np.median(np.abs(calibration - centre))
    return norm.sf((logits - centre) / scale)


def bh_counts(p, alpha):
    """Experts kept per token by the BH step-up procedure, clamped to [MIN_K, MAX_K]."""
    ordered = np.sort(p, axis=1)
    thresholds = alpha * np.arange(1, p.shape[1] + 1) / p.shape[1]
    passing = ordered <= thresholds
    largest = np.where(passing.any(axis=1), p.shape[1] - np.argmax(passing[:, ::-1], axis=1), 0)
    return np.clip(largest, MIN_K, MAX_K)


def selected_mask(p, counts):
    """The experts with the ``counts`` smallest p-values in each row."""
    rank = np.argsort(np.argsort(p, axis=1, kind="stable"), axis=1)
    return rank < counts[:, None]


def routing_weights(logits, mask):
    """Softmax probabilities of the selected experts, renormalised to sum to one."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True)) * mask
    return weights / weights.sum(axis=1, keepdims=True)


def topk_mask(logits, k=TOP_K):
    """The ``k`` experts with the largest logits in each row."""
    rank = np.argsort(np.argsort(-logits, axis=1, kind="stable"), axis=1)
    return rank < k


def layers(seed=0):
    """Yield, layer by layer: the token ids, the logits, the BH p-values and the mask of relevant experts."""
    rng = np.random.default_rng(seed)
    token_ids = token_stream(rng)
    for layer in range(NUM_LAYERS):
        logits, relevant = router_logits(rng, token_ids, layer)
        calibration, _ = router_logits(rng, token_stream(rng, 2000), layer)
        yield token_ids, logits, p_values(logits, calibration), relevant


DOMAINS = ("prose", "code", "maths")
DOMAIN_TOKENS = 4_000
DOMAIN_CONCENTRATION = 0.3  # each domain favours a few experts of its own
CHECKPOINTS = (1, 10, 20, 40)  # % of training
CHECKPOINT_NOISE = 1.2  # at the start of training, in units of the logits' own noise


def domain_mix(seed=0):
    """Yield, layer by layer, ``{domain: top-k mask}`` of a labelled mix of domains, each with its own
    tokens and its own expert popularity (its own random stream, apart from the main study's)."""
    rngs = {domain: np.random.default_rng([seed, i + 1]) for i, domain in enumerate(DOMAINS)}
    streams = {domain: token_stream(rng, DOMAIN_TOKENS) for domain, rng in rngs.items()}
    for layer in range(NUM_LAYERS):
        yield {
            domain: topk_mask(router_logits(rngs[domain], streams[domain], layer, DOMAIN_CONCENTRATION)[0])
            for domain in DOMAINS
        }


def checkpoint_logits(final, progress, layer, rng):
    """The logits of an earlier checkpoint: the final ones with noise that shrinks as training goes on,
    more slowly in later layers."""
    scale = CHECKPOINT_NOISE * (1 - progress / 100) ** 2 * (1 + layer / NUM_LAYERS)
    return final + scale * rng.standard_normal(final.shape)
