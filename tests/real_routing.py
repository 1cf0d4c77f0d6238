"""A results file from real routing: the router logits of a trained OLMoE (tests/data/olmoe_tiny_slice.npz),
routed with top-8 and with Benjamini-Hochberg selection as this line of work does it.

BH with a per-token robust null: a token's 64 logits are centred on their median and scaled by
their MAD (times 1.4826, a normal's), and a logit's p-value is the normal tail above it. (This
small model's logits carry a large per-token offset, so a null pooled over tokens finds almost
nothing.) The step-up at level alpha over the 64 experts picks n = max{k : p_(k) <= k alpha / 64},
clamped to [1, 8]; the n experts of smallest p are kept and their softmax probabilities
renormalised. Top-8 keeps its probabilities as they are (OLMoE's norm_topk_prob=False).
"""

from pathlib import Path

import numpy as np
from scipy.special import ndtr

from figkit.stats import confidence_counts, expert_tokens, p_value_counts, vocabulary_counts

SLICE = Path(__file__).parent / "data" / "olmoe_tiny_slice.npz"
TOP_K, MIN_K, MAX_K = 8, 1, 8
ALPHAS = (0.01, 0.05, 0.1, 0.2)
SHOWN_LAYER, SHOWN_TOKENS = 7, 40
PASSAGE_TOKENS = 96  # RoutingStats' default


def positions():
    """Each token's position in its sequence, from the slice's sequence numbers."""
    sequence = np.load(SLICE)["sequence"]
    starts = np.r_[0, np.flatnonzero(np.diff(sequence)) + 1]
    return np.arange(sequence.size) - np.repeat(starts, np.diff(np.r_[starts, sequence.size]))


def load():
    """(logits [layers, tokens, experts] as float64, token ids, the text of every token id) of the slice."""
    data = np.load(SLICE)
    return data["router_logits"].astype(np.float64), data["token_ids"].astype(np.int64), data["token_strings"]


def p_values(logits):
    """p-values of [tokens, experts] logits under each token's robust normal null."""
    median = np.median(logits, axis=1, keepdims=True)
    scale = 1.4826 * np.median(np.abs(logits - median), axis=1, keepdims=True)
    return ndtr(-(logits - median) / scale)


def bh_counts(p, alpha):
    """Experts each token keeps: the BH step-up at level alpha, clamped to [MIN_K, MAX_K]."""
    experts = p.shape[1]
    ordered = np.sort(p, axis=1)
    passed = ordered <= alpha * np.arange(1, experts + 1) / experts
    largest = np.where(passed.any(axis=1), experts - np.argmax(passed[:, ::-1], axis=1), 0)
    return np.clip(largest, MIN_K, MAX_K)


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def keep_largest(logits, counts):
    """Mask of the ``counts[t]`` largest logits of each token."""
    rank = np.argsort(np.argsort(-logits, axis=1, kind="stable"), axis=1, kind="stable")
    return rank < counts[:, None]


def methods():
    return [{"id": "topk8", "label": "Top-8", "family": "topk", "params": {"k": TOP_K}, "baseline": True}] + [
        {
            "id": f"bh{round(a * 100):02d}",
            "label": f"BH ($\\alpha$ = {a:g})",
            "family": "bh",
            "params": {"alpha": a, "min_k": MIN_K, "max_k": MAX_K},
        }
        for a in ALPHAS
    ]


def top1_paths(logits, layer=SHOWN_LAYER):
    """[experts, experts]: tokens with top-1 expert i in ``layer`` and j in the next (top-1: the largest logit)."""
    top1 = logits.argmax(axis=-1)
    experts = logits.shape[-1]
    return np.bincount(top1[layer] * experts + top1[layer + 1], minlength=experts * experts).reshape(experts, experts)


def sections():
    """The sections of a results file of the slice's real routing."""
    logits, token_ids, strings = load()
    layers, tokens, experts = logits.shape
    places = positions()
    sequence_positions = np.unique(places)
    follows = places[1:] == places[:-1] + 1
    locality = {"same_top1": [], "chance": []}
    by_position = []
    passage = {
        "tokens": [str(strings[t]) for t in token_ids[:PASSAGE_TOKENS]],
        "token_ids": token_ids[:PASSAGE_TOKENS],
        "layers": list(range(layers)),
        "routing": [{"method": m["id"], "num_experts": [], "top_expert": []} for m in methods()],
    }
    counts = {m["id"]: [] for m in methods()}
    mass = {m["id"]: [] for m in methods()}  # router probability each token's selection keeps
    loads, samples, pairs, vocabulary, confidence = [], [], [], [], []
    agreement = {m["id"]: {"jaccard": [], "shared": [], "top1": []} for m in methods() if m["id"] != "topk8"}
    for layer in range(layers):
        probabilities = softmax(logits[layer])
        for measure, histogram in confidence_counts(probabilities).items():  # the router's: every method's
            entry = {"layer": layer, "measure": measure, "counts": histogram}
            confidence += [{"method": m["id"]} | entry for m in methods()]
        p = p_values(logits[layer])
        for method in (m["id"] for m in methods() if m["family"] == "bh"):  # the same logits, null and p-values
            entry = {"method": method, "layer": layer, "measure": "smallest_p_value"}
            confidence.append(entry | {"counts": p_value_counts(p.min(axis=1))})
        chosen = {"topk8": np.full(tokens, TOP_K)} | {f"bh{round(a * 100):02d}": bh_counts(p, a) for a in ALPHAS}
        reference = keep_largest(logits[layer], chosen["topk8"])
        top = logits[layer].argmax(axis=1)
        locality["same_top1"].append(((top[1:] == top[:-1]) & follows).sum() / follows.sum())
        locality["chance"].append(((np.bincount(top, minlength=experts) / tokens) ** 2).sum())
        for method in ("topk8", "bh05"):
            entry = {"method": method, "layer": layer, "positions": sequence_positions}
            entry["num_tokens"] = [int((places == at).sum()) for at in sequence_positions]
            for name, values in (("experts", chosen[method]), ("top1", probabilities.max(axis=1))):
                entry[f"mean_{name}"] = [values[places == at].mean() for at in sequence_positions]
                entry[f"std_{name}"] = [values[places == at].std() for at in sequence_positions]
            by_position.append(entry)
        for routing in passage["routing"]:  # the slice's first sequence starts at token 0
            routing["num_experts"].append(chosen[routing["method"]][:PASSAGE_TOKENS])
            routing["top_expert"].append(logits[layer, :PASSAGE_TOKENS].argmax(axis=1))
        for method, n in chosen.items():
            counts[method].append(n)
            mask = keep_largest(logits[layer], n)
            mass[method].append((probabilities * mask).sum(axis=1))
            if method != "topk8":
                both = (mask & reference).sum(axis=1)
                agreement[method]["jaccard"].append(np.mean(both / (mask | reference).sum(axis=1)))
                agreement[method]["shared"].append(both.sum() / mask.sum())
                agreement[method]["top1"].append(1.0)  # one router: the same largest logit
            if method not in ("topk8", "bh05"):
                continue
            loads.append({"method": method, "layer": layer, "counts": mask.sum(axis=0), "num_tokens": tokens})
            occurrences, top, id_count = vocabulary_counts(token_ids, mask)
            vocabulary.append(
                {
                    "method": method,
                    "layer": layer,
                    "occurrences": occurrences,
                    "top_expert_routings": top,
                    "id_count": id_count,
                }
            )
            if layer != SHOWN_LAYER:
                continue
            listed, routings, seen = expert_tokens(token_ids, mask)
            vocabulary[-1] |= {"expert_tokens": listed, "expert_token_routings": routings}
            vocabulary[-1]["expert_token_occurrences"] = seen
            weights = np.where(mask, probabilities, 0.0)
            if method != "topk8":
                weights /= weights.sum(axis=1, keepdims=True)
            pairs.append({"method": method, "layer": layer, "counts": mask.T.astype(np.int64) @ mask})
            samples.append(
                {
                    "method": method,
                    "layer": layer,
                    "tokens": [str(strings[t]) for t in token_ids[:SHOWN_TOKENS]],
                    "token_ids": token_ids[:SHOWN_TOKENS],
                    "weights": np.round(weights[:SHOWN_TOKENS], 5),
                }
            )
    pooled = {m: np.concatenate(c) for m, c in counts.items()}
    bh = [m for m in methods() if m["family"] == "bh"]
    return {
        "title": "Real routing: a briefly trained OLMoE, top-8 against BH",
        "model": {"name": "OlmoeForCausalLM (tiny)", "num_layers": layers, "num_experts": experts, "top_k": TOP_K},
        "methods": methods(),
        "metric_info": {
            "avg_experts": {"label": "Experts per token", "better": "lower"},
            "compute": {"label": "Compute vs. top-8 (%)", "better": "lower"},
            "mass": {  # no "better": more experts always keep more, so it ranks no method and is no quality
                "label": "Router probability kept (%)",
                "description": "the share of the router's softmax probability on the selected experts",
            },
        },
        "metrics": {
            m: {
                "avg_experts": {"mean": c.mean(), "std": c.std()},
                "compute": 100 * c.mean() / TOP_K,
                "mass": 100 * np.concatenate(mass[m]).mean(),
            }
            for m, c in pooled.items()
        },
        "expert_counts": [
            {"method": m, "layer": layer, "values": c}
            for m, per_layer in counts.items()
            for layer, c in enumerate(per_layer)
        ],
        "sweeps": [
            {
                "method_family": "bh",
                "param": "alpha",
                "values": [m["params"]["alpha"] for m in bh],
                "avg_experts": [pooled[m["id"]].mean() for m in bh],
                "std_experts": [pooled[m["id"]].std() for m in bh],
                "baseline_k": TOP_K,
            }
        ],
        "expert_load": loads,
        "router_confidence": confidence,
        "method_agreement": [
            {"method": m, "reference": "topk8", "layers": list(range(layers))} | shares | {"num_tokens": tokens}
            for m, shares in agreement.items()
        ],
        "coactivation": pairs,
        "vocabulary": vocabulary,
        "cross_layer": [
            {"method": "topk8", "layer": SHOWN_LAYER, "next_layer": SHOWN_LAYER + 1, "counts": top1_paths(logits)}
        ],
        "routing_samples": samples,
        "routing_text": [passage],
        "position_effects": by_position,
        "routing_locality": [
            {"method": m["id"], "layers": list(range(layers))} | locality | {"num_pairs": int(follows.sum())}
            for m in methods()
        ],
        "token_stats": [
            {
                "method": "bh05",
                "layer": SHOWN_LAYER,
                "token_ids": token_ids,
                "expert_counts": counts["bh05"][SHOWN_LAYER],
            }
        ],
        "token_strings": {int(t): str(strings[t]) for t in np.unique(token_ids)},
    }
