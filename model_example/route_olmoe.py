"""From a model to a results file, offline: a small OLMoE routes held-out text with top-8 and BH.

A byte-level OLMoE (transformers' modelling code, built from its config) is trained for a few
steps on a mix of Markdown, Python and LaTeX, then routes held-out text of each, labelled with
its domain; checkpoints on the way route the same probe, for router saturation. figkit.routing
captures its router logits, selects experts with top-8 and with BH at several α, accumulates the
statistics (and how far BH's experts agree with top-8's), measures perplexity under each rule with
route_with, and writes the results file ``figkit build`` reads. With ``--log-dir`` it logs its training
to TensorBoard as a training script does (the language-model loss, the load-balancing loss, each layer's
load CV under its own top-8, and BH's experts per token on the batch), for ``figkit import``.

    python model_example/route_olmoe.py results.json [--steps 60] [--log-dir runs/topk8]
    figkit import runs/topk8 --method topk8 -o results.json
    figkit build results.json -o build
"""

import argparse
from pathlib import Path

import torch
import transformers

import figkit
from figkit.routing import Perplexity, RouterSaturation, RoutingStats, bh, capture, route_with, top_k

ALPHAS = (0.01, 0.05, 0.10, 0.20)
TOP_K, MAX_K, SEQUENCE = 8, 8, 128
ROOT = Path(__file__).resolve().parent.parent
DOMAINS = {  # a labelled mix of three kinds of text, all figkit's own files, read as bytes
    "Markdown": ("README.md",),
    "Python": ("figkit/pipeline/stages.py",),
    "LaTeX": ("paper_example/main.tex", "templates/appendix.tex", "templates/table.tex"),
}


def model():
    config = transformers.OlmoeConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        num_experts=32,
        num_experts_per_tok=TOP_K,
        norm_topk_prob=False,
        max_position_embeddings=SEQUENCE,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    return transformers.OlmoeForCausalLM(config)


def sequences(data):
    usable = data[: len(data) // SEQUENCE * SEQUENCE]
    return torch.tensor(list(usable), dtype=torch.long).view(-1, SEQUENCE)


def train(net, batches, steps, probe, checkpoints, log=None):
    """Train; return the router logits of ``probe`` at each step of ``checkpoints`` (the last one: the end).
    ``log``: a TensorBoard SummaryWriter for the losses and the routing of each step."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    seen = {}
    for step in range(1, steps + 1):
        net.train()
        batch = batches[(step - 1) % len(batches)]
        out = net(input_ids=batch, labels=batch, output_router_logits=True)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        if log is not None:
            log_step(log, step, out, net.router_aux_loss_coef)
        if step in checkpoints or step == steps:
            net.eval()
            with torch.no_grad(), capture(net) as cap:
                net(input_ids=probe)
            seen[step] = cap.logits
    net.eval()
    return seen


def log_step(log, step, out, coefficient):
    """What a training script logs of a step: its losses, each layer's load CV under top-8 and BH's experts.
    ``coefficient``: the weight of the load-balancing loss in the model's loss."""
    log.add_scalar("train/lm_loss", (out.loss - coefficient * out.aux_loss).item(), step)
    log.add_scalar("train/load_balancing_loss", out.aux_loss.item(), step)
    experts = []
    for layer, logits in enumerate(out.router_logits):
        logits = logits.detach().reshape(-1, logits.shape[-1])
        load = torch.bincount(logits.topk(TOP_K, dim=-1).indices.flatten(), minlength=logits.shape[-1]).double()
        log.add_scalar(f"balance/load_cv/layer_{layer}", (load.std(correction=0) / load.mean()).item(), step)
        experts.append(bh(0.05, max_k=MAX_K).counts(logits).double().mean())
    log.add_scalar("routing/bh05_experts_per_token", torch.stack(experts).mean().item(), step)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results.json")
    parser.add_argument("--steps", type=int, default=60, help="training steps before routing (default: 60)")
    parser.add_argument("--log-dir", help="log the training to TensorBoard in this folder (needs tensorboard)")
    args = parser.parse_args()
    texts = {name: sequences(b"".join((ROOT / f).read_bytes() for f in files)) for name, files in DOMAINS.items()}
    held_out = {name: data[len(data) * 3 // 4 :] for name, data in texts.items()}  # the last quarter of each
    mixed = torch.cat([data[: len(data) * 3 // 4] for data in texts.values()])
    mixed = mixed[torch.randperm(len(mixed), generator=torch.Generator().manual_seed(0))]
    net = model()
    probe = torch.cat([data[:4] for data in held_out.values()])  # the same inputs at every checkpoint
    checkpoints = {max(1, args.steps * share // 100) for share in (5, 10, 20, 40, 70)}
    log = None
    if args.log_dir:
        from torch.utils.tensorboard import SummaryWriter

        log = SummaryWriter(args.log_dir)
    probe_logits = train(net, list(mixed.split(8)), args.steps, probe, checkpoints, log)  # {step: logits}
    if log is not None:
        log.close()
    saturation = RouterSaturation.of_checkpoints(probe_logits, TOP_K)
    rules = {"topk8": top_k(TOP_K)} | {f"bh{round(a * 100):02d}": bh(a, max_k=MAX_K) for a in ALPHAS}
    stats, perplexity = RoutingStats(range(net.config.num_hidden_layers), net.config.num_experts), Perplexity()
    with torch.no_grad():
        for domain, batch in ((d, b) for d, data in held_out.items() for b in data.split(8)):
            with capture(net) as cap:
                net(input_ids=batch)
            selections = {name: rule.select(cap.logits, cap.layers) for name, rule in rules.items()}
            for name, selection in selections.items():
                stats.add(
                    name, selection, cap.token_ids, domain, next_token_ids=cap.next_token_ids, positions=cap.positions
                )
                if name != "topk8":
                    stats.add_agreement(name, "topk8", selection, selections["topk8"])
                with route_with(net, rules[name]):  # weights as OLMoE's own: not renormalised
                    perplexity.add(name, net, batch)
    sections = stats.results(token_strings=lambda byte: chr(byte) if byte < 128 else f"<0x{byte:02X}>")
    mean = {name: stats.mean_experts(name) for name in rules}
    figkit.write_results(
        args.results,
        title="A small OLMoE on held-out text: top-8 against BH",
        model={"name": "OlmoeForCausalLM (byte-level, 4 layers)", "num_layers": 4, "num_experts": 32, "top_k": TOP_K},
        methods=[{"id": "topk8", "label": "Top-8", "family": "topk", "params": {"k": TOP_K}, "baseline": True}]
        + [
            {
                "id": f"bh{round(a * 100):02d}",
                "label": f"BH ($\\alpha$ = {a:g})",
                "family": "bh",
                "params": {"alpha": a},
            }
            for a in ALPHAS
        ],
        metric_info={
            "perplexity": {"label": "Perplexity", "better": "lower"},
            "avg_experts": {"label": "Experts per token", "better": "lower"},
        },
        metrics={name: {"perplexity": perplexity.value(name), "avg_experts": mean[name]} for name in rules},
        sweeps=[
            {
                "method_family": "bh",
                "param": "alpha",
                "values": list(ALPHAS),
                "avg_experts": [mean[f"bh{round(a * 100):02d}"] for a in ALPHAS],
                "baseline_k": TOP_K,
            }
        ],
        **sections,
        **saturation.results(),
    )
    for name in rules:
        print(f"{name}: {mean[name]:.2f} experts per token, perplexity {perplexity.value(name):.2f}")


if __name__ == "__main__":
    main()
