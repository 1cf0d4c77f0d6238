"""figkit import of router logits a model saved: routed by the rules asked for, against numpy on the real
OLMoE slice and against figkit's own capture on the logits transformers' models return."""

import numpy as np
import pytest
import torch

from figkit import load_results
from figkit.io import merge, parse_route, read, read_router_logits
from figkit.io.router_logits import KEYS
from figkit.routing import RoutingStats, bh, capture, top_k
from tests import real_routing
from tests.test_routing import padded_batch, small_model

ROUTES = {"topk8": top_k(8)} | {f"bh{round(a * 100):02d}": bh(a, max_k=8) for a in real_routing.ALPHAS}


def test_the_real_slice_routes_as_numpy_does_and_gives_the_sweep_and_the_table(tmp_path):
    imported = read_router_logits(real_routing.SLICE, ROUTES)
    logits, token_ids, strings = real_routing.load()
    layers, tokens, experts = logits.shape
    histograms = {(e["method"], e["layer"]): e["histogram"] for e in imported.sections["expert_counts"]}
    pooled = {}
    for layer in range(layers):
        p = real_routing.p_values(logits[layer])
        counts = {"topk8": np.full(tokens, 8)} | {
            f"bh{round(a * 100):02d}": real_routing.bh_counts(p, a) for a in real_routing.ALPHAS
        }
        for method, chosen in counts.items():
            expected = {str(k): int(n) for k, n in enumerate(np.bincount(chosen)) if n}
            assert histograms[(method, layer)] == expected, (method, layer)
            pooled.setdefault(method, []).append(chosen)
        load = {e["method"]: e["counts"] for e in imported.sections["expert_load"] if e["layer"] == layer}
        kept = real_routing.keep_largest(logits[layer], counts["bh05"])
        np.testing.assert_array_equal(load["bh05"], kept.sum(axis=0))
    for method, chosen in pooled.items():
        chosen = np.concatenate(chosen)
        value = imported.metrics[method]["avg_experts"]
        assert value["mean"] == pytest.approx(chosen.mean(), rel=1e-12)
        assert value["std"] == pytest.approx(chosen.std(), rel=1e-12, abs=1e-12)
    (sweep,) = imported.sections["sweeps"]
    assert sweep["method_family"] == "bh" and sweep["param"] == "alpha" and sweep["baseline_k"] == 8
    assert sweep["values"] == list(real_routing.ALPHAS)
    assert sweep["avg_experts"] == [
        imported.metrics[f"bh{round(a * 100):02d}"]["avg_experts"]["mean"] for a in real_routing.ALPHAS
    ]
    assert imported.sections["model"] == {"num_layers": layers, "num_experts": experts, "top_k": 8}
    text = imported.sections["token_strings"]
    assert {int(k) for k in text} <= set(token_ids.tolist()) and all(v == str(strings[int(k)]) for k, v in text.items())
    methods = imported.method_info
    assert methods["topk8"] == {"family": "topk", "label": "Top-8", "params": {"k": 8}, "baseline": True}
    assert methods["bh05"] == {
        "family": "bh",
        "label": "BH ($\\alpha$ = 0.05)",
        "params": {"alpha": 0.05, "min_k": 1, "max_k": 8},
    }
    path = merge(tmp_path / "r.json", imported)
    results = load_results(path)
    assert [m["id"] for m in results["methods"]] == list(ROUTES) and results["methods"][0]["baseline"]
    merge(path, read_router_logits(real_routing.SLICE, ROUTES))  # the same routing again: nothing changes
    assert load_results(path) == results


@pytest.mark.parametrize("saved", ["dict", "tuple"])
def test_logits_transformers_returns_route_as_captured_padding_left_out(tmp_path, saved):
    model = small_model("olmoe")
    ids, mask = padded_batch()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_router_logits=True)
        with capture(model) as cap:
            model(input_ids=ids, attention_mask=mask)
    routes = {"topk2": top_k(2), "bh10": bh(0.1, max_k=4)}
    expected = RoutingStats(cap.layers, 8)
    selections = {name: rule.select(cap.logits, cap.layers) for name, rule in routes.items()}
    for name, selection in selections.items():
        expected.add(name, selection, cap.token_ids, next_token_ids=cap.next_token_ids, positions=cap.positions)
        if name != "topk2":
            expected.add_agreement(name, "topk2", selection, selections["topk2"])
    if saved == "dict":
        torch.save(
            {"router_logits": out.router_logits, "input_ids": ids, "attention_mask": mask, "step": 3}, tmp_path / "r.pt"
        )
        imported = read(tmp_path / "r.pt", routes=routes)
        assert imported.sections | {"model": None, "sweeps": None} == expected.results() | {
            "model": None,
            "sweeps": None,
        }
        (left,) = imported.left
        assert left == f"{tmp_path / 'r.pt'}: 'step' (figkit reads {', '.join(KEYS)})"
    else:  # the bare tuple: every row a token, padding and all, in one sequence
        torch.save(out.router_logits, tmp_path / "r.pt")
        imported = read(tmp_path / "r.pt", routes=routes)
        histogram = {e["method"]: e["histogram"] for e in imported.sections["expert_counts"] if e["layer"] == 0}
        assert histogram["topk2"] == {"2": 12}
        assert "token_stats" not in imported.sections or imported.sections["token_stats"] == []


def test_a_route_is_a_rule_written_as_in_python_and_anything_else_is_refused():
    assert parse_route("bh05 = bh(0.05, max_k=8)") == ("bh05", bh(0.05, max_k=8))
    assert parse_route("topk8=top_k(8)") == ("topk8", top_k(8))
    refused = {
        "bh(0.05)": "expected ID=RULE(ARGUMENTS)",
        "x=softmax(8)": "'softmax' is not a rule; the rules: top_k, top_p, threshold, bh",
        "x=bh(__import__('os'))": "a rule's arguments are numbers, true/false or None",
        "x=bh(0.05, maxk=8)": "unexpected keyword argument 'maxk'",
        "x=bh(2)": "alpha must be between 0 and 1",
        "a b=top_k(8)": "'a b' cannot be a method id",
    }
    for text, message in refused.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_route(text)


def test_saved_logits_that_cannot_be_routed_are_refused_by_name(tmp_path):
    good = np.zeros((2, 6, 4), dtype=np.float32)
    cases = {
        "no_logits": ({"logits": good}, "no router_logits in it; it holds logits"),
        "flat": ({"router_logits": good[0]}, r"must be numbers of shape \[layers, tokens, experts\]"),
        "nan": ({"router_logits": np.where(good == 0, np.nan, good)}, "router_logits holds NaN or infinite values"),
        "ids": ({"router_logits": good, "token_ids": np.arange(5)}, "5 token ids for 6 tokens of router_logits"),
        "float_ids": ({"router_logits": good, "token_ids": np.arange(6.0)}, "token ids must be whole numbers"),
        "order": ({"router_logits": good, "sequence": np.array([0, 1, 0, 1, 2, 2])}, "sequence must number"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(ValueError, match=message):
            read_router_logits(tmp_path / f"{name}.npz", {"topk2": top_k(2)})
    with pytest.raises(ValueError, match="name the rules to route with"):
        read_router_logits(tmp_path / "nan.npz", {})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a file torch.load reads with weights_only=True"):
        read_router_logits(tmp_path / "junk.pt", {"topk2": top_k(2)})


def test_long_sequences_are_routed_in_pieces_that_cover_every_token(monkeypatch):
    import figkit.io.router_logits as saved

    monkeypatch.setattr(saved, "CHUNK_TOKENS", 10)
    for starts in ([0, 35], [0, 3, 6, 9, 12, 40, 44], [0, 5], [0, 10, 20]):
        chunks = list(saved._chunks(starts))
        assert [t for begin, end in chunks for t in range(begin, end)] == list(range(starts[-1])), chunks
        assert all(end - begin <= 2 * saved.CHUNK_TOKENS for begin, end in chunks), chunks
    pieces = read_router_logits(real_routing.SLICE, {"topk8": top_k(8)})  # six sequences of 128 in pieces of 10
    monkeypatch.setattr(saved, "CHUNK_TOKENS", 8192)
    whole = read_router_logits(real_routing.SLICE, {"topk8": top_k(8)})
    for name in ("expert_counts", "expert_load", "position_effects", "vocabulary"):
        assert pieces.sections[name] == whole.sections[name], name


def test_the_command_line_routes_saved_logits_and_refuses_a_route_for_anything_else(tmp_path, capsys):
    from figkit.cli import main

    out = tmp_path / "r.json"
    assert (
        main(
            [
                "import",
                str(real_routing.SLICE),
                "--route",
                "topk8=top_k(8)",
                "--route",
                "bh05=bh(0.05, max_k=8)",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.endswith(f"routing sections of topk8, bh05 -> {out}\n")
    assert [m["id"] for m in load_results(out)["methods"]] == ["topk8", "bh05"]
    assert load_results(out)["title"] == "Imported from olmoe_tiny_slice.npz"  # a new file is named after its sources
    assert main(["import", str(out), "--route", "topk8=top_k(8)", "-o", str(tmp_path / "x.json")]) == 2
    assert "--route says how to route saved router logits (.npz, .pt); no SOURCE is one" in capsys.readouterr().err
