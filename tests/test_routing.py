"""figkit.routing on real transformers modelling code (small models built offline from their configs)
and on real router logits (tests/data): capture, selection rules, running a model under a rule."""

import warnings

import numpy as np
import pytest
import torch
import transformers
from scipy.stats import false_discovery_control

from figkit.routing import (
    CalibratedNull,
    Perplexity,
    RoutingNote,
    RoutingStats,
    bh,
    capture,
    next_token_loss,
    route_with,
    threshold,
    top_k,
    top_p,
)
from tests import real_routing

SMALL = {
    "vocab_size": 128,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "bos_token_id": None,
}
DEEPSEEK = {
    "n_routed_experts": 8,
    "moe_intermediate_size": 32,
    "first_k_dense_replace": 1,
    "n_shared_experts": 1,
    "kv_lora_rank": 16,
    "q_lora_rank": None,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 8,
    "n_group": 1,
    "topk_group": 1,
}
# family: (model class, config fields, MoE layer ids, whether the router weights by softmax probabilities)
FAMILIES = {
    "olmoe": ("Olmoe", {"num_experts": 8}, [0, 1, 2, 3], True),
    "mixtral": ("Mixtral", {"num_local_experts": 8}, [0, 1, 2, 3], True),
    "qwen2_moe": (
        "Qwen2Moe",
        {
            "num_experts": 8,
            "moe_intermediate_size": 32,
            "shared_expert_intermediate_size": 32,
            "mlp_only_layers": [1, 3],
        },
        [0, 2],
        True,
    ),
    "qwen3_moe": ("Qwen3Moe", {"num_experts": 8, "moe_intermediate_size": 32, "head_dim": 8}, [0, 1, 2, 3], True),
    "deepseek_v2": ("DeepseekV2", DEEPSEEK, [1, 2, 3], True),
    "deepseek_v3": ("DeepseekV3", DEEPSEEK, [1, 2, 3], False),  # sigmoid scores
}


def small_model(family, **changes):
    prefix, fields, _, _ = FAMILIES[family]
    config = getattr(transformers, f"{prefix}Config")(**SMALL, num_experts_per_tok=2, **fields, **changes)
    torch.manual_seed(0)
    return getattr(transformers, f"{prefix}ForCausalLM")(config).eval()


def padded_batch():
    """Two sequences of 6 tokens, the second left-padded by 2."""
    ids = torch.randint(2, 128, (2, 6), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, :2] = 0
    return ids, mask


@pytest.mark.parametrize("family", FAMILIES)
def test_capture_gives_the_logits_of_output_router_logits_without_padding(family):
    model = small_model(family)
    ids, mask = padded_batch()
    with torch.no_grad(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with capture(model) as cap:
            out = model(input_ids=ids, attention_mask=mask, output_router_logits=True)
    layers = FAMILIES[family][2]
    assert cap.layers == layers  # real ids, also where dense layers are left out
    expected = torch.stack([logits[mask.reshape(-1).bool()] for logits in out.router_logits])
    assert torch.equal(cap.logits, expected)
    assert cap.logits.shape == (len(layers), 10, 8)
    assert cap.token_ids.tolist() == ids[mask.bool()].tolist()
    real = [ids[0].tolist(), ids[1, 2:].tolist()]  # the second sequence is left-padded
    assert cap.next_token_ids.tolist() == [t for row in real for t in row[1:] + [-1]]
    dense = [i for i in range(4) if i not in layers]
    assert cap.dense_layers == dense
    notes = [str(w.message) for w in said if w.category is RoutingNote]
    assert notes == (
        [
            f"skipped the dense layers (no router): {', '.join(map(str, dense))}; "
            f"the {len(layers)} MoE layers keep their own ids: {', '.join(map(str, layers))}"
        ]
        if dense
        else []
    )
    assert not cap.probabilities


def test_capture_by_pattern_over_batches_and_after_the_block():
    model = small_model("olmoe")
    ids, mask = padded_batch()
    with torch.no_grad(), capture(model, routers="model.layers.*.mlp.gate") as cap:
        first = model(input_ids=ids, attention_mask=mask, output_router_logits=True)
        second = model(input_ids=ids[:1], output_router_logits=True)
    model(input_ids=ids)  # hooks are gone after the block
    assert cap.logits.shape == (4, 10 + 6, 8)
    assert torch.equal(cap.logits[:, 10:], torch.stack(second.router_logits))
    assert torch.equal(cap.logits[:, :10], torch.stack([r[mask.reshape(-1).bool()] for r in first.router_logits]))
    with pytest.raises(ValueError, match="no module of the model matches 'model.layers.*.moe'"):
        capture(model, routers="model.layers.*.moe")
    with pytest.raises(ValueError, match="found no MoE router"):
        capture(torch.nn.Linear(2, 2))


def test_next_token_ids_stop_at_right_padding_and_at_the_end_of_each_call():
    model = small_model("olmoe")
    ids, mask = padded_batch()
    mask = mask.flip(-1)  # the second sequence right-padded
    with torch.no_grad(), capture(model) as cap:
        model(input_ids=ids, attention_mask=mask)
        model(input_ids=ids[:1, :2])
    real = [ids[0].tolist(), ids[1, :4].tolist(), ids[0, :2].tolist()]
    assert cap.next_token_ids.tolist() == [t for row in real for t in row[1:] + [-1]]
    assert cap.next_token_ids.shape == cap.token_ids.shape


def test_positions_count_real_tokens_from_each_sequences_start_also_when_generating_with_a_cache():
    model = small_model("olmoe")
    ids, mask = padded_batch()  # the second sequence left-padded by 2
    with torch.no_grad(), capture(model) as cap:
        model(input_ids=ids, attention_mask=mask)
    assert cap.positions.tolist() == [0, 1, 2, 3, 4, 5] + [0, 1, 2, 3]
    assert cap.positions.shape == cap.token_ids.shape
    prompt, grown = ids[1:, :4], mask[1:, :4]  # two pads, then two real tokens
    with torch.no_grad(), capture(model) as cap:
        out = model(input_ids=prompt, attention_mask=grown, use_cache=True)
        step = torch.cat([grown, torch.ones(1, 1, dtype=torch.long)], dim=1)
        model(input_ids=ids[1:, 4:5], attention_mask=step, past_key_values=out.past_key_values, use_cache=True)
    assert cap.positions.tolist() == [0, 1, 2]  # the generated token is the sequence's third real one
    with torch.no_grad(), capture(model) as cap:
        model(input_ids=ids[:1, :3])
    assert cap.positions.tolist() == [0, 1, 2]  # no mask: every position is real


def test_probabilities_in_place_of_logits_are_detected_and_said():
    """transformers 5.0-5.5 returned softmax probabilities as router_logits."""
    model = small_model("olmoe")
    for layer in model.model.layers:
        forward = layer.mlp.gate.forward
        layer.mlp.gate.forward = lambda h, forward=forward: (forward(h)[0].softmax(-1), *forward(h)[1:])
    with torch.no_grad(), pytest.warns(RoutingNote, match="the routers return probabilities"), capture(model) as cap:
        out = model(input_ids=padded_batch()[0], output_router_logits=True)
    assert cap.probabilities
    probabilities = torch.stack(out.router_logits)
    torch.testing.assert_close(cap.logits.softmax(-1), probabilities)  # logits up to a per-token constant


@pytest.mark.parametrize("family", ["olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2"])
def test_route_with_the_models_own_top_k_changes_nothing(family):
    model = small_model(family)
    ids, mask = padded_batch()
    with torch.no_grad():
        own = model(input_ids=ids, attention_mask=mask, labels=ids)
        with route_with(model, top_k(2)) as routing:
            routed = model(input_ids=ids, attention_mask=mask, labels=ids)
        after = model(input_ids=ids, attention_mask=mask, labels=ids)
    assert torch.equal(routed.logits, own.logits) and torch.equal(routed.loss, own.loss)
    own_convention = getattr(model.config, "norm_topk_prob", family == "mixtral")  # Mixtral always renormalises
    assert routing.renormalized == dict.fromkeys(FAMILIES[family][2], own_convention)
    assert torch.equal(after.logits, own.logits)  # the routers are restored


def test_perplexity_masks_padding_as_the_models_own_loss_with_pads_ignored():
    model = small_model("mixtral")
    ids, mask = padded_batch()
    right = mask.flip(-1)  # right padding: the model's loss with pads at -100 scores the same tokens
    perplexity = Perplexity()
    with torch.no_grad():
        own = model(input_ids=ids, attention_mask=right, labels=ids.masked_fill(right == 0, -100)).loss
        batch_loss = perplexity.add("topk2", model, {"input_ids": ids, "attention_mask": right, "labels": ids})
        perplexity.add("topk2", model, ids[:1])  # bare ids: every token is real
        logits = model(input_ids=ids, attention_mask=mask).logits
        left_loss, left_predictions = next_token_loss(logits, ids, mask)
    assert batch_loss == pytest.approx(own.item(), rel=1e-5)
    assert perplexity.predictions == {"topk2": 5 + 3 + 5}
    rows = [(logits[0, :-1], ids[0, 1:]), (logits[1, 2:-1], ids[1, 3:])]  # left padding: the first real token
    expected = sum(torch.nn.functional.cross_entropy(x, y, reduction="sum").item() for x, y in rows)  # is not scored
    assert (left_loss, left_predictions) == (pytest.approx(expected, rel=1e-5), 5 + 3)
    assert Perplexity().merge(perplexity).metrics() == {"topk2": {"perplexity": perplexity.value("topk2")}}
    with pytest.raises(ValueError, match="no tokens were predicted for 'bh05'; methods: topk2"):
        perplexity.value("bh05")


@pytest.mark.parametrize("implementation", ["eager", "batched_mm", "grouped_mm"])
def test_route_with_bh_gives_a_finite_loss_with_every_experts_kernel(implementation):
    """A variable number of experts per token is padded with real experts at weight 0, never with the
    out-of-range id that the grouped-matmul kernels turn into NaN."""
    model = small_model("olmoe", experts_implementation=implementation)
    ids, mask = padded_batch()
    rule = bh(0.2, max_k=8)
    with torch.no_grad(), capture(model) as cap, route_with(model, rule):
        routed = model(input_ids=ids, attention_mask=mask, labels=ids)
    assert torch.isfinite(routed.loss)
    counts = rule.select(cap.logits, cap.layers).counts
    assert counts.min() >= 1 and counts.max() > 1 and len(set(counts.flatten().tolist())) > 1
    eager = small_model("olmoe", experts_implementation="eager")
    with torch.no_grad(), route_with(eager, rule):
        reference = eager(input_ids=ids, attention_mask=mask, labels=ids)
    torch.testing.assert_close(routed.loss, reference.loss)


def test_route_with_refuses_routers_that_do_not_weight_by_softmax():
    model = small_model("deepseek_v3")
    with torch.no_grad(), route_with(model, top_k(2)), pytest.raises(TypeError, match="weights experts by softmax"):
        model(input_ids=padded_batch()[0])
    with pytest.raises(TypeError, match="rule must be a figkit.routing rule"):
        route_with(model, 2)


# --- selection rules on the real router logits -------------------------------------------------


def assert_largest_chosen(logits, selection):
    """The chosen experts are those of largest logit (ties in the float16 data may go either way)."""
    lowest_chosen = logits.masked_fill(~selection.mask, float("inf")).amin(-1)
    highest_left = logits.masked_fill(selection.mask, float("-inf")).amax(-1)
    assert (lowest_chosen >= highest_left).all() and torch.equal(selection.mask.sum(-1), selection.counts)


@pytest.fixture(scope="module")
def real_logits():
    logits, _, _ = real_routing.load()
    return torch.from_numpy(logits)


@pytest.mark.parametrize("alpha", real_routing.ALPHAS)
def test_bh_with_the_robust_null_is_scipys_step_up_on_every_token(real_logits, alpha):
    rule = bh(alpha, min_k=1, max_k=8)
    selection = rule.select(real_logits)
    for layer in range(real_logits.shape[0]):
        p = rule.p_values(real_logits[layer]).numpy()
        np.testing.assert_allclose(p, real_routing.p_values(real_logits[layer].numpy()), rtol=1e-12, atol=1e-300)
        rejected = (false_discovery_control(p, axis=1) <= alpha).sum(axis=1)
        assert np.array_equal(selection.counts[layer].numpy(), np.clip(rejected, 1, 8))
    assert_largest_chosen(real_logits, selection)
    assert torch.equal(selection.top_expert, real_logits.argmax(dim=-1))
    probabilities = torch.softmax(real_logits.float(), dim=-1)  # not renormalised unless asked
    torch.testing.assert_close(selection.weights, torch.where(selection.mask, probabilities, 0.0))
    renormalized = bh(alpha, max_k=8, renormalize=True).select(real_logits).weights
    torch.testing.assert_close(renormalized.sum(-1), torch.ones_like(renormalized[..., 0]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_bh_in_half_precision_is_the_rule_on_the_same_numbers_in_double(dtype):
    """A bf16 model's logits are bf16: the rule's median and MAD must not round in it (138 of 42,240
    counts differed in bf16 when the deviations were taken in the logits' precision)."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20_000, 64, generator=generator)
    logits[:, :6] += 4 * torch.rand(20_000, 6, generator=generator)
    logits = logits.to(dtype)
    exact = logits.double().numpy()  # the same numbers, every one exact in double
    rejected = (false_discovery_control(real_routing.p_values(exact), axis=1) <= 0.05).sum(axis=1)
    counts = bh(0.05, min_k=1, max_k=8).select(logits).counts.numpy()
    assert np.array_equal(counts, np.clip(rejected, 1, 8)), int((counts != np.clip(rejected, 1, 8)).sum())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_the_largest_experts_are_a_stable_sorts_first_even_among_tied_logits(dtype):
    """Selection cuts at the count-th largest logit; of logits tied at the cut the first ones are kept."""
    from figkit.routing.rules import select_largest, sort_descending

    generator = torch.Generator().manual_seed(1)
    logits = (torch.randn(2, 5000, 16, generator=generator) * 3).round().to(dtype)  # whole numbers: many ties
    logits[0, :10] = float("-inf")  # a router that masks experts
    counts = torch.randint(0, 17, (2, 5000), generator=generator)
    assert torch.equal(sort_descending(logits).to(dtype), logits.sort(dim=-1, descending=True).values)
    selection = select_largest(logits, counts)
    order = logits.argsort(dim=-1, descending=True, stable=True)
    expected = torch.zeros_like(selection.mask).scatter_(-1, order, torch.arange(16) < counts.unsqueeze(-1))
    assert torch.equal(selection.mask, expected)
    assert torch.equal(selection.top_expert, order[..., 0])


@pytest.mark.parametrize("experts", [1, 2, 3, 7, 8, 60, 65])
def test_bh_median_and_mad_without_sorting_deviations_are_numpys_at_any_expert_count(experts):
    """The MAD merges the deviations above and below the median; rows of whole numbers tie often."""
    from figkit.routing.rules import _robust_null

    generator = torch.Generator().manual_seed(experts)
    logits = torch.randn(3000, experts, generator=generator, dtype=torch.float64)
    logits[:1000] = logits[:1000].mul(2).round()
    median, spread = _robust_null(logits.sort(dim=-1, descending=True).values)
    exact = logits.numpy()
    expected_median = np.median(exact, axis=1, keepdims=True)
    expected_mad = 1.4826 * np.median(np.abs(exact - expected_median), axis=1, keepdims=True)
    assert np.array_equal(median.numpy(), expected_median)
    assert np.array_equal(spread.numpy(), np.maximum(expected_mad, np.finfo(np.float64).tiny))
    p = bh(0.2).p_values(logits).numpy()  # degenerate rows (MAD 0) included
    rejected = (false_discovery_control(p, axis=1) <= 0.2).sum(axis=1)
    assert np.array_equal(bh(0.2, min_k=0).select(logits).counts.numpy(), rejected)


def test_bh_with_a_calibrated_null_matches_an_empirical_cdf_and_scipy(real_logits, tmp_path):
    calibration, routed = real_logits[:, :512], real_logits[:, 512:]
    null = CalibratedNull.fit(calibration, layers=range(16))
    null = CalibratedNull.load(null.save(tmp_path / "null.npz"))
    rule = bh(0.05, max_k=8, null=null)
    for layer in (0, 7, 15):
        pooled = np.sort(calibration[layer].numpy().ravel())
        values = routed[layer].numpy()
        exceed = 1 - np.searchsorted(pooled, values, side="right") / pooled.size  # the empirical survival
        p = rule.p_values(routed[layer], layer).numpy()
        assert np.abs(p - np.clip(exceed, 1 / (pooled.size + 1), 1)).max() < 2 / 1024  # the quantile grid
        counts = rule.select(routed[layer], layer).counts.numpy()
        assert np.array_equal(counts, np.clip((false_discovery_control(p, axis=1) <= 0.05).sum(axis=1), 1, 8))
    with pytest.raises(ValueError, match="the calibrated null has no layer 16"):
        rule.select(routed[0], 16)


def test_top_k_top_p_and_threshold_against_numpy(real_logits):
    logits = real_logits[3]
    probabilities = torch.softmax(logits, -1).numpy()
    order = np.sort(probabilities, axis=1)[:, ::-1]
    k = top_k(8).select(logits)
    assert_largest_chosen(logits, k)
    assert (k.counts == 8).all()
    np.testing.assert_allclose(k.weights.sum(-1).numpy(), order[:, :8].sum(1), rtol=1e-6)  # not renormalised
    p = top_p(0.5).select(logits)
    expected = (np.cumsum(order, axis=1) < 0.5).sum(axis=1) + 1
    assert np.array_equal(p.counts.numpy(), expected)
    assert np.array_equal(top_p(0.5, max_k=4).select(logits).counts.numpy(), np.minimum(expected, 4))
    t = threshold(0.02, max_k=8, renormalize=True).select(logits)
    assert np.array_equal(t.counts.numpy(), np.clip((probabilities >= 0.02).sum(axis=1), 1, 8))
    torch.testing.assert_close(t.weights.sum(-1), torch.ones(logits.shape[0]))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: bh(1.5), "bh: alpha must be between 0 and 1"),
        (lambda: bh(0.05, min_k=4, max_k=2), r"max_k \(2\) must be at least min_k \(4\)"),
        (lambda: bh(0.05, null="kde"), 'bh: null must be "robust" or a CalibratedNull'),
        (lambda: top_k(0), "k must be a positive integer, got 0"),
        (lambda: top_p(0.0), r"top_p: p must be in \(0, 1\]"),
        (lambda: threshold(2), r"threshold: probability must be in \(0, 1\]"),
        (lambda: top_k(2).select(torch.zeros(8)), r"router logits must be \[..., tokens, experts\]"),
        (  # top_p gave the token 0 experts
            lambda: top_p(0.5).select(torch.tensor([[0.0, 1.0], [float("nan"), 1.0]])),
            r"router logits hold NaN \(first at index 1, 0\); a router gives numbers",
        ),
    ],
)
def test_bad_rules_are_named(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


# --- mergeable statistics ----------------------------------------------------------------------


def expected_stats(selection, ids, experts):
    """The same statistics computed at once with numpy, for comparison."""
    mask, counts = selection.mask.numpy(), selection.counts.numpy()
    histogram = np.stack([np.bincount(c, minlength=experts + 1) for c in counts])
    coactivation = np.einsum("lte,ltf->lef", mask.astype(np.int64), mask.astype(np.int64))
    by_token = np.zeros((ids.max() + 1, experts + 1), dtype=np.int64)
    np.add.at(by_token, (np.tile(ids, counts.shape[0]), counts.reshape(-1)), 1)
    return histogram, mask.sum(axis=1), coactivation, by_token


def expected_transitions(logits, counts):
    """[layers - 1, experts, experts]: (largest logit in a layer, in the next) for tokens routed in both."""
    top1 = logits.argmax(axis=-1)
    experts = logits.shape[-1]
    paths = np.zeros((len(top1) - 1, experts, experts), dtype=np.int64)
    for layer in range(len(top1) - 1):
        both = (counts[layer] > 0) & (counts[layer + 1] > 0)
        np.add.at(paths[layer], (top1[layer][both], top1[layer + 1][both]), 1)
    return paths


def test_statistics_batch_by_batch_and_merged_equal_numpy_at_once(real_logits, tmp_path):
    from figkit import load_results, write_results
    from figkit.results import token_cells

    ids = torch.from_numpy(real_routing.load()[1])
    rule = bh(0.05, max_k=8)
    layers = list(range(16))
    whole = rule.select(real_logits, layers)
    shards = []
    for part in torch.arange(ids.numel()).chunk(3):
        shard = RoutingStats(layers, 64, sample_tokens=40)
        for batch in part.chunk(4):
            shard.add("bh05", rule.select(real_logits[:, batch], layers), ids[batch])
        shards.append(shard)
    stats = shards[0] + shards[1] + shards[2]
    histogram, load, coactivation, by_token = expected_stats(whole, ids.numpy(), 64)
    counters = stats.methods["bh05"]
    assert np.array_equal(counters.histogram.numpy(), histogram)
    assert np.array_equal(counters.load.numpy(), load)
    assert np.array_equal(stats.coactivation("bh05", 7).numpy(), coactivation[7])
    assert np.array_equal(counters.by_token.numpy(), by_token)
    transitions = expected_transitions(real_logits.numpy(), whole.counts.numpy())
    assert np.array_equal(counters.transitions.numpy(), transitions)
    torch.testing.assert_close(counters.sample_weights, whole.weights[:, :40])  # the first 40 tokens
    assert (shards[0] + shards[1]).methods["bh05"].histogram.sum() < counters.histogram.sum()
    strings = {int(t): f"tok{t}" for t in np.unique(ids.numpy())}
    sections = stats.results(token_strings=strings)
    loaded = load_results(write_results(tmp_path / "r.json", methods=[{"id": "bh05"}], **sections))
    assert [e["layer"] for e in loaded["expert_counts"]] == layers
    tokens = ids.numel()
    assert [(e["layer"], e["counts"], e["num_tokens"]) for e in loaded["expert_load"]] == [
        (layer, load[layer].tolist(), tokens) for layer in layers
    ]
    assert [e["layer"] for e in loaded["coactivation"]] == [8]
    assert [(e["layer"], e["next_layer"], e["counts"]) for e in loaded["cross_layer"]] == [
        (8, 9, transitions[8].tolist())
    ]
    (sample,) = loaded["routing_samples"]
    assert sample["layer"] == 8 and sample["tokens"] == [f"tok{t}" for t in ids[:40].tolist()]
    cell_ids, cell_experts, cell_tokens, _ = token_cells(loaded["token_stats"][0])
    assert sum(cell_tokens) == tokens * 16  # every token in every layer
    assert dict(zip(zip(cell_ids, cell_experts), cell_tokens)) == {
        (t, k): int(by_token[t, k]) for t, k in zip(*np.nonzero(by_token))
    }
    assert loaded["token_strings"] == {str(t): s for t, s in sorted(strings.items())}
    assert [e["layer"] for e in stats.results(layers=[0, 15])["coactivation"]] == [0, 15]
    mean_by_layer = [float((np.arange(65) * row).sum() / row.sum()) for row in histogram]
    assert [stats.mean_experts("bh05", layer) for layer in layers] == pytest.approx(mean_by_layer, rel=1e-12)
    assert stats.mean_experts("bh05") == pytest.approx(whole.counts.double().mean().item(), rel=1e-12)
    with pytest.raises(ValueError, match="no selections of 'topk8' were added; methods: bh05"):
        stats.mean_experts("topk8")
    listed = RoutingStats(layers, 64, coactivation=[12, 3])  # only these layers' pairs: counted and written
    listed.add("bh05", whole, ids)
    assert [e["layer"] for e in listed.results()["coactivation"]] == [3, 12]
    assert np.array_equal(listed.coactivation("bh05", 12).numpy(), coactivation[12])
    with pytest.raises(ValueError, match=r"counted in layers \[3, 12\], not in layer 7"):
        listed.coactivation("bh05", 7)
    with pytest.raises(ValueError, match=r"layers \[16\] are not among"):
        stats.results(layers=[16])


def test_statistics_refuse_what_does_not_fit(real_logits):
    stats = RoutingStats([0, 1], 64)
    with pytest.raises(ValueError, match="does not fit 2 layers of 64 experts"):
        stats.add("bh05", bh(0.05).select(real_logits[:3]))
    with pytest.raises(ValueError, match="bh05: 5 token ids for 768 tokens"):
        stats.add("bh05", bh(0.05).select(real_logits[:2]), torch.arange(5))
    with pytest.raises(ValueError, match="only statistics of the same layers"):
        stats.merge(RoutingStats([0, 1, 2], 64))
    light = RoutingStats([0, 1], 64, coactivation=False)
    light.add("bh05", bh(0.05).select(real_logits[:2]))
    assert not light.methods["bh05"].coactivation.any()
    with pytest.raises(ValueError, match="made with coactivation=False"):
        light.coactivation("bh05", 0)
    with pytest.raises(ValueError, match=r"coactivation: layers \[5\] are not among the statistics' layers \[0, 1\]"):
        RoutingStats([0, 1], 64, coactivation=[1, 5])


def _rank(rank, world, path, logits, ids, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=world)
    part = torch.arange(ids.numel()).chunk(world)[rank]
    stats = RoutingStats(list(range(logits.shape[0])), 64)
    stats.add("bh05", bh(0.05, max_k=8).select(logits[:, part]), ids[part])
    stats.all_reduce()
    if rank == 0:
        counters = stats.methods["bh05"]
        torch.save({k: getattr(counters, k) for k in ("histogram", "load", "coactivation", "by_token")}, out)
    dist.destroy_process_group()


@pytest.mark.slow
def test_all_reduce_over_two_processes_equals_one_process(real_logits, tmp_path):
    import torch.multiprocessing as mp

    logits, ids = real_logits[:4], torch.from_numpy(real_routing.load()[1])
    mp.spawn(_rank, args=(2, tmp_path / "rendezvous", logits, ids, tmp_path / "merged.pt"), nprocs=2)
    merged = torch.load(tmp_path / "merged.pt")
    one = RoutingStats(list(range(4)), 64)
    one.add("bh05", bh(0.05, max_k=8).select(logits), ids)
    for name, value in merged.items():
        assert torch.equal(value, getattr(one.methods["bh05"], name)), name


def test_the_readmes_model_to_results_example_runs_as_written(tmp_path, monkeypatch):
    """The README's snippet, on a small OLMoE and a padded batch: no glue beyond what it shows."""
    import re
    from pathlib import Path

    import figkit
    from figkit import load_results

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    snippet = re.search(r"```python\n(from tqdm import tqdm\n.*?)```", readme, re.S).group(1)
    model = small_model("olmoe")
    ids, mask = padded_batch()
    monkeypatch.chdir(tmp_path)
    scope = {"torch": torch, "figkit": figkit, "model": model}
    scope["batches"] = [{"input_ids": ids, "attention_mask": mask}] * 2
    scope["tokenizer"] = lambda token: f"t{token}"
    exec(snippet, scope)
    results = load_results(tmp_path / "results.json")
    assert results["metrics"]["topk8"]["avg_experts"] == 8  # top-8 of the small model's 8 experts
    assert sum(results["expert_counts"][0]["histogram"].values()) == 2 * 10  # the real tokens of two batches


@pytest.mark.parametrize(
    "layers, quantiles, sizes, message",
    [
        ([0, 1], np.full((2, 1025), np.nan), [9, 9], "quantiles must be finite numbers"),  # every p-value was NaN
        ([0, 1], np.linspace(1, 0, 1025)[None].repeat(2, 0), [9, 9], "the quantiles of layer 0 must not decrease"),
        ([0, 0], np.zeros((2, 1025)), [9, 9], r"layers must be distinct, got \[0, 0\]"),
        ([0.5, 1], np.zeros((2, 1025)), [9, 9], r"layers must be whole numbers of at least 0, got \[0.5, 1.0\]"),
        ([0, 1], np.zeros((2, 1025)), [9], "1 sample sizes for 2 layers; give one each"),
        ([0, 1], np.zeros((2, 1025)), [9, 0], r"sample_sizes must be whole numbers of at least 1, got \[9, 0\]"),
        ([0, 1], np.zeros((2, 3)), [9, 9], r"needs 1025 quantiles for each of its 2 layers, got an array of shape"),
    ],
)
def test_a_calibrated_null_is_checked_whole_with_one_error_type(tmp_path, layers, quantiles, sizes, message):
    np.savez(tmp_path / "null.npz", layers=np.array(layers), quantiles=quantiles, sample_sizes=sizes)
    with pytest.raises(ValueError, match=message):
        CalibratedNull.load(tmp_path / "null.npz")


def test_a_calibrated_null_file_is_refused_before_it_unpacks(tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.npz"  # 80 KB that would unpack to 80 MB (a 3 MB one took 3.3 GB for 39 s)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("layers.npy", "quantiles.npy", "sample_sizes.npy"):
            with archive.open(name, "w") as member:
                for _ in range(78 if name == "quantiles.npy" else 1):
                    member.write(bytes(2**20))
    with pytest.raises(ValueError, match=r"bomb.npz: unpacks to 83,886,080 bytes; a calibrated null is at most"):
        CalibratedNull.load(bomb)
    (tmp_path / "other.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="other.npz: not a calibrated null written by CalibratedNull.save"):
        CalibratedNull.load(tmp_path / "other.npz")
    np.savez(tmp_path / "extra.npz", layers=[0], quantiles=np.zeros((1, 1025)), sample_sizes=[9], code=[1])
    with pytest.raises(ValueError, match="it holds code.npy, layers.npy, quantiles.npy, sample_sizes.npy"):
        CalibratedNull.load(tmp_path / "extra.npz")


def test_statistics_refuse_bad_token_ids_merges_and_a_second_reduction(real_logits):
    selection = bh(0.05).select(real_logits[:2, :4])
    stats = RoutingStats([0, 1], 64)
    for ids, error, message in [
        ([0, 1, -1, 3], ValueError, r"bh05: token_ids: token id -1 is outside 0 to 16,777,215"),  # a RuntimeError
        ([0, 1, 2**40, 3], ValueError, r"token id 1099511627776 is outside 0 to 16,777,215"),  # a 79 TB table
        ([0.0, 1.5, 2.0, 3.0], TypeError, "bh05: token_ids must be whole numbers, got torch.float"),  # truncated
    ]:
        with pytest.raises(error, match=message):
            stats.add("bh05", selection, ids)
    with pytest.raises(ValueError, match=r"next_token_ids: token id -2 is outside -1 \(none\) to"):
        stats.add("bh05", selection, [0, 1, 2, 3], next_token_ids=[1, 2, 3, -2])
    with pytest.raises(ValueError, match="domain: 3 names for 4 tokens"):
        stats.add("bh05", selection, [0, 1, 2, 3], domain=["code"] * 3)
    assert not stats.methods  # a refused batch counts nowhere
    with pytest.raises(TypeError, match="only RoutingStats merge with RoutingStats, got NoneType"):
        stats.merge(None)  # an AttributeError
    stats.add("bh05", selection, [0, 1, 2, 3])
    stats.reduced = True  # as all_reduce leaves it (tests/test_routing.py runs all_reduce over two processes)
    for again in (lambda: stats.add("bh05", selection), lambda: stats.all_reduce()):
        with pytest.raises(ValueError, match="were all-reduced and hold every rank's counts"):
            again()  # all_reduce twice counted every other rank twice


def test_merging_moves_the_others_counters_to_this_ones_device(real_logits):
    """No GPU here: the other statistics' tensors are moved by hand onto a device of their own ("meta")."""
    from figkit.routing.stats import _moved

    ours, theirs = RoutingStats([0, 1], 64, sample_tokens=8), RoutingStats([0, 1], 64, sample_tokens=8)
    ours.add("bh05", bh(0.05).select(real_logits[:2, :3]))
    theirs.add("bh05", bh(0.05).select(real_logits[:2, 3:10]))
    theirs.add("topk8", top_k(8).select(real_logits[:2, 3:10]))
    moved = []
    real_to = torch.Tensor.to

    def to(tensor, *args, **kwargs):
        moved.append(args[0] if args else kwargs.get("device"))
        return real_to(tensor, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.Tensor, "to", to)
        ours.merge(theirs)
    assert moved and all(torch.device(device) == torch.device("cpu") for device in moved if device is not None)
    assert ours.methods["bh05"].sample_weights.shape[1] == 8  # the sample filled up from theirs
    assert _moved(ours.methods["topk8"], torch.device("meta")).histogram.device.type == "meta"
    before = theirs.methods["topk8"].histogram.clone()
    ours.add("topk8", top_k(8).select(real_logits[:2, :3]))  # the method came from theirs in the merge
    assert torch.equal(theirs.methods["topk8"].histogram, before)  # and still shares no counter with it
