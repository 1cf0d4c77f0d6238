"""Write the example's results file: top-8 and BH routing run on the synthetic router logits of simulate.py.

Every number comes from the same routing decisions: the per-layer count histograms,
the alpha sweep, the expert loads, the routing weights and the metrics. Recall is the
share of a token's relevant experts (those the simulation boosted) that were selected,
precision the share of selected experts that are relevant, and compute the experts
used relative to top-8. The domain loads come from a labelled mix routed apart from the main
study, and router saturation from checkpoints simulated as the final logits plus shrinking noise.

    python make_results.py results.json
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import simulate  # noqa: E402

import figkit  # noqa: E402
from figkit.stats import confidence_counts, expert_tokens, p_value_counts, vocabulary_counts  # noqa: E402

SHOWN_LAYER = simulate.NUM_LAYERS // 2  # the layer of the heatmaps, co-activation, paths and token statistics
SHOWN_TOKENS = 40
PASSAGE_TOKENS = 96  # the stream's first tokens, set as text with each method's routing
SEQUENCE = 128  # the stream read as sequences of this many tokens, for routing by position
METHODS = [
    {
        "id": "topk8",
        "label": f"Top-{simulate.TOP_K}",
        "family": "topk",
        "params": {"k": simulate.TOP_K},
        "baseline": True,
    }
] + [
    {
        "id": f"bh{round(alpha * 100):02d}",
        "label": f"BH ($\\alpha$ = {alpha:g})",
        "family": "bh",
        "params": {"alpha": alpha, "min_k": simulate.MIN_K, "max_k": simulate.MAX_K},
    }
    for alpha in simulate.ALPHAS
]
METRIC_INFO = {
    "avg_experts": {"label": "Experts per token", "better": "lower", "aggregation": "token_mean"},
    "recall": {
        "label": "Recall (%)",
        "better": "higher",
        "aggregation": "token_weighted",
        "description": "the share of each token's relevant experts, those the simulation boosts, that are selected",
    },
    "precision": {
        "label": "Precision (%)",
        "better": "higher",
        "aggregation": "token_weighted",
        "description": "the share of selected experts that are relevant",
    },
    "compute": {"label": "Compute vs. top-8 (%)", "better": "lower", "aggregation": "token_mean"},
}


def selections(logits, p):
    """Each method's mask of selected experts in one layer."""
    masks = {"topk8": simulate.topk_mask(logits)}
    for method in METHODS[1:]:
        counts = simulate.bh_counts(p, method["params"]["alpha"])
        masks[method["id"]] = simulate.selected_mask(p, counts)
    return masks


def domain_loads(seed):
    """Top-8 loads of a labelled domain mix, per domain and layer (simulate.domain_mix)."""
    return [
        {"method": "topk8", "domain": domain, "layer": layer, "counts": mask.sum(axis=0), "num_tokens": len(mask)}
        for layer, masks in enumerate(simulate.domain_mix(seed))
        for domain, mask in masks.items()
    ]


def checkpoint_overlaps(logits, layer, rng):
    """For each simulated checkpoint, the mean top-8 overlap of its routing with the final one, / 8."""
    final = simulate.topk_mask(logits)
    overlaps = []
    for progress in simulate.CHECKPOINTS:
        earlier = simulate.topk_mask(simulate.checkpoint_logits(logits, progress, layer, rng))
        overlaps.append(float((earlier & final).sum(axis=1).mean() / simulate.TOP_K))
    return overlaps


def results(seed=0):
    """The results file's sections."""
    counts = {m["id"]: [] for m in METHODS}
    hits = {m["id"]: 0 for m in METHODS}
    relevant_total = 0
    samples, loads, pairs, paths, vocabulary, confidence = [], [], [], [], [], []
    agreement = {m["id"]: {"jaccard": [], "shared": [], "top1": []} for m in METHODS[1:]}
    checkpoints, overlaps = np.random.default_rng([seed, 99]), []
    passage = {m["id"]: {"method": m["id"], "num_experts": [], "top_expert": []} for m in METHODS}
    places = np.arange(simulate.NUM_TOKENS) % SEQUENCE
    by_position, locality = [], {"same_top1": [], "chance": []}
    for layer, (token_ids, logits, p, relevant) in enumerate(simulate.layers(seed)):
        relevant_total += int(relevant.sum())
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        for measure, histogram in confidence_counts(probabilities).items():  # the router's: every method's
            entry = {"layer": layer, "measure": measure, "counts": histogram}
            confidence += [{"method": m["id"]} | entry for m in METHODS]
        smallest_p = {"layer": layer, "measure": "smallest_p_value", "counts": p_value_counts(p.min(axis=1))}
        confidence += [{"method": m["id"]} | smallest_p for m in METHODS[1:]]  # BH's: the same null for every alpha
        overlaps.append(checkpoint_overlaps(logits, layer, checkpoints))
        if layer in (SHOWN_LAYER, SHOWN_LAYER + 1):
            paths.append(logits.argmax(axis=1))  # every method's top-1 expert: the largest logit
        masks = selections(logits, p)
        top = logits.argmax(axis=1)
        follows = places[1:] == places[:-1] + 1
        locality["same_top1"].append(((top[1:] == top[:-1]) & follows).sum() / follows.sum())
        locality["chance"].append(((np.bincount(top, minlength=simulate.NUM_EXPERTS) / top.size) ** 2).sum())
        tokens_at = np.bincount(places, minlength=SEQUENCE)
        for method in ("topk8", "bh05"):
            entry = {"method": method, "layer": layer, "positions": np.arange(SEQUENCE), "num_tokens": tokens_at}
            for name, values in (("experts", masks[method].sum(axis=1)), ("top1", probabilities.max(axis=1))):
                mean = np.bincount(places, weights=values, minlength=SEQUENCE) / tokens_at
                squares = np.bincount(places, weights=values**2.0, minlength=SEQUENCE) / tokens_at
                entry |= {f"mean_{name}": mean, f"std_{name}": np.sqrt(np.maximum(squares - mean**2, 0))}
            by_position.append(entry)
        for method, mask in masks.items():
            counts[method].append(mask.sum(axis=1))
            passage[method]["num_experts"].append(mask[:PASSAGE_TOKENS].sum(axis=1))
            passage[method]["top_expert"].append(logits[:PASSAGE_TOKENS].argmax(axis=1))
            if method != "topk8":  # the expert sets against top-8's, token by token
                both = (mask & masks["topk8"]).sum(axis=1)
                agreement[method]["jaccard"].append(float(np.mean(both / (mask | masks["topk8"]).sum(axis=1))))
                agreement[method]["shared"].append(float(both.sum() / mask.sum()))
                agreement[method]["top1"].append(1.0)  # one router: BH's most significant expert is top-8's first
            hits[method] += int((mask & relevant).sum())
            if method in ("topk8", "bh05"):
                loads.append({"method": method, "layer": layer, "counts": mask.sum(axis=0), "num_tokens": len(mask)})
                occurrences, top, id_count = vocabulary_counts(token_ids, mask)
                entry = {"method": method, "layer": layer, "occurrences": occurrences}
                entry |= {"top_expert_routings": top, "id_count": id_count}
                if layer == SHOWN_LAYER:
                    tokens, routings, seen = expert_tokens(token_ids, mask)
                    entry |= {"expert_tokens": tokens, "expert_token_routings": routings}
                    entry["expert_token_occurrences"] = seen
                vocabulary.append(entry)
            if layer == SHOWN_LAYER and method in ("topk8", "bh05"):
                shown = slice(0, SHOWN_TOKENS)
                samples.append(
                    {
                        "method": method,
                        "layer": layer,
                        "tokens": [simulate.decode(t) for t in token_ids[shown]],
                        "token_ids": token_ids[shown],
                        "weights": np.round(simulate.routing_weights(logits[shown], mask[shown]), 4),
                    }
                )
                pairs.append({"method": method, "layer": layer, "counts": mask.T.astype(np.int64) @ mask})
                if method == "bh05":
                    token_stats = {
                        "method": method,
                        "layer": layer,
                        "token_ids": token_ids,
                        "expert_counts": mask.sum(axis=1),
                        "token_frequency": np.bincount(token_ids)[token_ids] / token_ids.size,
                    }
                    token_strings = {int(t): simulate.decode(t) for t in np.unique(token_ids)}
    metrics = {}
    for method, per_layer in counts.items():
        pooled = np.concatenate(per_layer)
        metrics[method] = {
            "avg_experts": {"mean": pooled.mean(), "std": pooled.std()},
            "recall": 100 * hits[method] / relevant_total,
            "precision": 100 * hits[method] / pooled.sum(),
            "compute": 100 * pooled.mean() / simulate.TOP_K,
        }
    bh = [m for m in METHODS if m["family"] == "bh"]
    pooled_bh = [np.concatenate(counts[m["id"]]) for m in bh]
    return {
        "title": "Adaptive expert selection with Benjamini\N{EN DASH}Hochberg routing (synthetic example)",
        "model": {
            "name": "synthetic router",
            "num_layers": simulate.NUM_LAYERS,
            "num_experts": simulate.NUM_EXPERTS,
            "top_k": simulate.TOP_K,
        },
        "methods": METHODS,
        "metric_info": METRIC_INFO,
        "metrics": metrics,
        "expert_counts": [
            {"method": method, "layer": layer, "values": layer_counts}
            for method, per_layer in counts.items()
            for layer, layer_counts in enumerate(per_layer)
        ],
        "sweeps": [
            {
                "method_family": "bh",
                "param": "alpha",
                "values": [m["params"]["alpha"] for m in bh],
                "avg_experts": [c.mean() for c in pooled_bh],
                "std_experts": [c.std() for c in pooled_bh],
                "baseline_k": simulate.TOP_K,
            }
        ],
        "expert_load": loads,
        "router_confidence": confidence,
        "method_agreement": [
            {"method": method, "reference": "topk8", "layers": list(range(simulate.NUM_LAYERS))}
            | shares
            | {"num_tokens": simulate.NUM_TOKENS}
            for method, shares in agreement.items()
        ],
        "coactivation": pairs,
        "vocabulary": vocabulary,
        "domain_load": domain_loads(seed),
        "router_saturation": [
            {
                "k": simulate.TOP_K,
                "progress": list(simulate.CHECKPOINTS),
                "progress_label": "Training (%)",
                "layers": list(range(simulate.NUM_LAYERS)),
                "values": np.array(overlaps).T,
                "num_tokens": simulate.NUM_TOKENS,
            }
        ],
        "cross_layer": [
            {
                "method": "topk8",
                "layer": SHOWN_LAYER,
                "next_layer": SHOWN_LAYER + 1,
                "counts": np.histogram2d(*paths, bins=simulate.NUM_EXPERTS, range=[[0, simulate.NUM_EXPERTS]] * 2)[
                    0
                ].astype(np.int64),
            }
        ],
        "routing_samples": samples,
        "routing_text": [
            {
                "tokens": [simulate.decode(t) for t in token_ids[:PASSAGE_TOKENS]],
                "token_ids": token_ids[:PASSAGE_TOKENS],
                "layers": list(range(simulate.NUM_LAYERS)),
                "routing": list(passage.values()),
            }
        ],
        "position_effects": by_position,
        "routing_locality": [
            {"method": m["id"], "layers": list(range(simulate.NUM_LAYERS))}
            | locality
            | {"num_pairs": int((places[1:] == places[:-1] + 1).sum())}
            for m in METHODS
        ],
        "token_stats": [token_stats],
        "token_strings": token_strings,
    }


if __name__ == "__main__":
    figkit.write_results(sys.argv[1] if len(sys.argv) > 1 else "results.json", **results())
