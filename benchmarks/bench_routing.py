"""figkit.routing: the cost of capture hooks on a forward pass, and of accumulating statistics.

1. capture: a small OLMoE (the shape of ../shared/data/olmoe-tiny: 16 layers, 64 experts, top-8,
   hidden size 96) on a batch of 8 × 128 tokens; the median of repeated forward passes, plain,
   with ``output_router_logits=True`` (the direct way) and inside ``figkit.routing.capture``.
2. selection: BH (α = 0.05, at most 8 experts) on 1M tokens × 64 float32 logits, its counts and
   its full selection, side by side in one run with one ``torch.sort`` of the same logits and with
   the same rule in plain numpy and scipy (sort, median, MAD, p-values, step-up).
3. statistics: 1M tokens × 16 layers × 64 experts of BH selections fed to ``RoutingStats`` in
   batches (histograms, loads, co-activation, top-1 paths, per-token-id histograms and each id's
   routings per expert, the router's confidence), against the direct way: the same statistics
   with numpy, looping over layers.

    python benchmarks/bench_routing.py [--tokens 1000000]
"""

import argparse
import statistics
import time

import numpy as np
import torch
import transformers
from scipy.special import ndtr

from figkit.routing import RoutingStats, bh, capture
from figkit.stats import CONFIDENCE_BINS

LAYERS, EXPERTS = 16, 64


def timed(functions, repeat):
    """The median time of each function, run in turn ``repeat`` times (so drift hits all alike)."""
    times = [[] for _ in functions]
    for _ in range(repeat):
        for function, spent in zip(functions, times):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def capture_overhead(repeat=25):
    config = transformers.OlmoeConfig(
        vocab_size=2048,
        hidden_size=96,
        intermediate_size=192,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=4,
        num_experts=EXPERTS,
        num_experts_per_tok=8,
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = transformers.OlmoeForCausalLM(config).eval()
    ids = torch.randint(2, 2048, (8, 128))

    def captured():
        with capture(model) as cap:
            model(input_ids=ids)
        return cap.logits

    with torch.no_grad():
        model(input_ids=ids)  # warm up
        return timed(
            [lambda: model(input_ids=ids), lambda: model(input_ids=ids, output_router_logits=True), captured], repeat
        )


def numpy_bh_counts(logits, alpha=0.05, max_k=8):
    """The documented BH rule in plain numpy: each token's robust normal null, then the step-up."""
    experts = logits.shape[1]
    ranked = -np.sort(-logits, axis=1)
    median = np.median(ranked, axis=1, keepdims=True)
    spread = 1.4826 * np.median(np.abs(ranked - median), axis=1, keepdims=True)
    p = ndtr(-(ranked.astype(np.float64) - median) / spread)  # ascending along each row
    passing = p <= alpha * np.arange(1, experts + 1) / experts
    largest = np.where(passing.any(axis=1), experts - np.argmax(passing[:, ::-1], axis=1), 0)
    return np.clip(largest, 1, max_k)


def selection_speed(tokens, repeat=3):
    """(one torch.sort, BH counts, BH selection, the numpy way) in seconds, on [tokens, 64] logits."""
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.standard_normal((tokens, EXPERTS), dtype=np.float32))
    logits[:, :4] += torch.from_numpy(rng.exponential(2.0, (tokens, 4)).astype(np.float32))
    rule = bh(0.05, max_k=8)
    assert np.array_equal(rule.counts(logits).numpy(), numpy_bh_counts(logits.numpy()))  # the same rule
    return timed(
        [
            lambda: logits.sort(dim=-1, descending=True),
            lambda: rule.counts(logits),
            lambda: rule.select(logits),
            lambda: numpy_bh_counts(logits.numpy()),
        ],
        repeat,
    )


def direct_statistics(mask, counts, top1, ids, confidence):
    """The same statistics in numpy, one layer at a time (after output_router_logits=True)."""
    width = EXPERTS + 1
    histogram = np.zeros((LAYERS, width), dtype=np.int64)
    load = np.zeros((LAYERS, EXPERTS), dtype=np.int64)
    coactivation = np.zeros((LAYERS, EXPERTS, EXPERTS), dtype=np.int64)
    transitions = np.zeros((LAYERS - 1, EXPERTS * EXPERTS), dtype=np.int64)
    by_token = np.zeros((ids.max() + 1) * width, dtype=np.int64)
    vocabulary = np.zeros((LAYERS, (ids.max() + 1) * EXPERTS), dtype=np.int64)
    sureness = np.zeros((LAYERS, len(confidence), CONFIDENCE_BINS), dtype=np.int64)
    for layer in range(LAYERS):
        for i, values in enumerate(confidence):  # the router's top-1 probability and entropy, in even bins
            bins = np.clip((values[layer] * CONFIDENCE_BINS).astype(np.int64), 0, CONFIDENCE_BINS - 1)
            sureness[layer, i] += np.bincount(bins, minlength=CONFIDENCE_BINS)
        chosen = mask[layer]
        histogram[layer] += np.bincount(counts[layer], minlength=width)
        load[layer] += chosen.sum(axis=0)
        dense = chosen.astype(np.float32)
        coactivation[layer] += np.rint(dense.T @ dense).astype(np.int64)
        by_token += np.bincount(ids * width + counts[layer], minlength=by_token.size)
        token, expert = np.nonzero(chosen)
        vocabulary[layer] += np.bincount(ids[token] * EXPERTS + expert, minlength=vocabulary.shape[1])
        if layer:
            transitions[layer - 1] += np.bincount(top1[layer - 1] * EXPERTS + top1[layer], minlength=EXPERTS**2)
    return histogram, load, coactivation, transitions, by_token, vocabulary, sureness


def statistics_speed(tokens, batch=65_536):
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.standard_normal((LAYERS, batch, EXPERTS), dtype=np.float32))
    logits[..., :4] += torch.from_numpy(rng.exponential(2.0, (LAYERS, batch, 4)).astype(np.float32))
    ids = torch.from_numpy(np.minimum(rng.zipf(1.2, batch), 50_000) - 1)
    start = time.perf_counter()
    selection = bh(0.05, max_k=8).select(logits)
    select_time = time.perf_counter() - start
    batches = max(tokens // batch, 1)
    light = dict(coactivation=False, vocabulary=False)
    positions = torch.arange(batch) % 512  # sequences of 512 tokens
    kept = {  # name: (RoutingStats settings, add's keywords)
        "counts and paths only": (light, {}),
        "counts and paths, and by position (positions given)": (light, {"positions": positions}),
        "co-activation of the middle layer": (dict(coactivation=[LAYERS // 2], vocabulary=False), {}),
        "co-activation of every layer": (dict(vocabulary=False), {}),
    }
    variants = {}
    for name, (settings, given) in kept.items():
        partial = RoutingStats(list(range(LAYERS)), EXPERTS, **settings)
        start = time.perf_counter()
        for _ in range(batches):
            partial.add("bh05", selection, ids, **given)
        variants[name] = time.perf_counter() - start
    stats = RoutingStats(list(range(LAYERS)), EXPERTS)
    start = time.perf_counter()
    for _ in range(batches):
        stats.add("bh05", selection, ids)
    figkit_time = time.perf_counter() - start
    mask, counts, np_ids = selection.mask.numpy(), selection.counts.numpy(), ids.numpy()
    top1 = selection.top_expert.numpy()  # every BH token keeps at least one expert
    confidence = (selection.top1.numpy(), selection.entropy.numpy())
    start = time.perf_counter()
    for _ in range(batches):
        direct = direct_statistics(mask, counts, top1, np_ids, confidence)
    direct_time = time.perf_counter() - start
    counters = stats.methods["bh05"]
    assert np.array_equal(counters.histogram.numpy(), direct[0] * batches)  # the same numbers
    assert np.array_equal(counters.coactivation.numpy(), direct[2] * batches)
    assert np.array_equal(counters.transitions.numpy().reshape(LAYERS - 1, -1), direct[3] * batches)
    vocabulary = counters.vocabulary.numpy().reshape(-1, LAYERS, EXPERTS).transpose(1, 0, 2)
    assert np.array_equal(vocabulary.reshape(LAYERS, -1), direct[5] * batches)
    assert np.array_equal(counters.confidence.numpy(), direct[6] * batches)
    return batches * batch, select_time * batches, figkit_time, variants, direct_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    plain, direct, hooked = capture_overhead()
    print(f"forward pass, 8 x 128 tokens, {LAYERS} layers x {EXPERTS} experts (median of 25, interleaved):")
    print(
        f"  plain {plain * 1e3:.1f} ms; output_router_logits=True {direct * 1e3:.1f} ms "
        f"({direct / plain - 1:+.1%}); capture {hooked * 1e3:.1f} ms ({hooked / plain - 1:+.1%})"
    )
    sort, counts, select, direct = selection_speed(args.tokens)
    print(f"BH (alpha 0.05, at most 8) on {args.tokens:,} x {EXPERTS} float32 logits (median of 3, interleaved):")
    print(
        f"  one torch.sort {sort:.2f} s; BH counts {counts:.2f} s ({counts / sort:.2f}x the sort); "
        f"BH selection {select:.2f} s ({select / sort:.2f}x); numpy and scipy counts {direct:.2f} s "
        f"({direct / counts:.1f}x slower than figkit's counts)"
    )
    tokens, select_time, figkit_time, variants, direct_time = statistics_speed(args.tokens)
    print(f"statistics of {tokens:,} tokens x {LAYERS} layers x {EXPERTS} experts (BH selections):")
    print(
        f"  RoutingStats, everything {figkit_time:.2f} s; direct numpy loop over layers {direct_time:.2f} s "
        f"({direct_time / figkit_time:.1f}x); the BH selection itself {select_time:.2f} s"
    )
    for name, seconds in variants.items():
        print(f"  RoutingStats without the vocabulary, {name}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
