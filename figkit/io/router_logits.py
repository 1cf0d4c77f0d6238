"""Router logits a model saved (``output_router_logits=True``), routed with the rules asked for and counted
by ``RoutingStats`` into the routing sections of a results file.

What a file may hold (``.npz``, or ``.pt`` read with ``torch.load(weights_only=True)``):

- ``router_logits``: ``[layers, tokens, experts]`` or ``[layers, batch, sequence, experts]``; in a ``.pt``
  also the tuple of per-layer ``[tokens, experts]`` tensors the model returns, saved as it is;
- ``token_ids`` (or ``input_ids``): ``[tokens]`` or ``[batch, sequence]``;
- ``sequence``: which sequence each of ``[tokens]`` is in, or ``attention_mask`` ``[batch, sequence]``
  (its padding is left out: the model's router logits keep padded tokens);
- ``token_strings``: the text of every token id.

Tokens of one sequence come in order; positions count from each sequence's start.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np

from figkit.io.imported import Imported, method_id

MAX_BYTES = 1 << 33  # 8 GiB of logits: 16 layers × 2M tokens × 64 experts in float32
CHUNK_TOKENS = 8192  # tokens routed at once: whole sequences, so positions and next tokens stay in one chunk
KEYS = ("router_logits", "token_ids", "input_ids", "sequence", "attention_mask", "token_strings")
RULES = ("top_k", "top_p", "threshold", "bh")
EXPERTS_PER_TOKEN = {
    "label": "Experts per token",
    "better": "lower",
    "aggregation": "token_mean",
    "description": "experts each token is routed to, over every layer and token (± its standard deviation)",
}


def parse_route(text):
    """``"bh05=bh(0.05, max_k=8)"`` as ``("bh05", bh(0.05, max_k=8))``: a method id and a rule written as in
    Python, with numbers as its arguments."""
    from figkit import routing

    name, equals, call = str(text).partition("=")
    usage = f"--route {text!r}: expected ID=RULE(ARGUMENTS), e.g. topk8=top_k(8) or bh05=bh(0.05, max_k=8)"
    try:
        tree = ast.parse(call.strip(), mode="eval").body if equals else None
    except SyntaxError:
        tree = None
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise ValueError(usage)
    if tree.func.id not in RULES:
        raise ValueError(f"--route {text!r}: {tree.func.id!r} is not a rule; the rules: {', '.join(RULES)}")
    try:
        args = [ast.literal_eval(arg) for arg in tree.args]
        kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in tree.keywords}
    except ValueError:
        raise ValueError(f"--route {text!r}: a rule's arguments are numbers, true/false or None") from None
    if None in kwargs:
        raise ValueError(usage)
    try:
        rule = getattr(routing, tree.func.id)(*args, **kwargs)
    except TypeError as error:
        raise ValueError(f"--route {text!r}: {error}") from None
    return method_id(name.strip(), f"--route {text!r}"), rule


def read_router_logits(path, routes, *, reference=None):
    """The routing sections of saved router logits under each rule of ``routes`` (method id -> rule).

    ``reference``: the method the others' agreement is measured against (default: the first top-k rule).
    Needs torch (``pip install 'figkit[hf]'``).
    """
    try:
        import torch
    except ImportError:
        raise ImportError("routing saved router logits needs torch: pip install 'figkit[hf]'") from None
    from figkit.routing import RoutingStats, top_k

    path = Path(path)
    if not routes:
        raise ValueError(f"{path}: name the rules to route with, e.g. --route topk8=top_k(8) --route bh05=bh(0.05)")
    arrays, left = _arrays(path)
    logits, ids, sequence, strings = _layout(arrays, path)
    layers, tokens, experts = logits.shape
    if reference is None:
        reference = next((name for name, rule in routes.items() if isinstance(rule, top_k)), None)
    elif reference not in routes:
        raise ValueError(f"reference {reference!r} is not among the routes {', '.join(routes)}")
    stats = RoutingStats(range(layers), experts)
    starts = np.r_[0, np.flatnonzero(np.diff(sequence)) + 1, tokens]
    positions = np.arange(tokens) - np.repeat(starts[:-1], np.diff(starts))
    following = None
    if ids is not None:
        following = np.r_[ids[1:], -1]
        following[starts[1:] - 1] = -1  # a sequence's last token has no next token
    for begin, end in _chunks(starts):
        chunk = torch.from_numpy(np.ascontiguousarray(logits[:, begin:end], dtype=np.float32))
        if not torch.isfinite(chunk).all():
            raise ValueError(f"{path}: router_logits holds NaN or infinite values (tokens {begin} to {end - 1})")
        selections = {name: rule.select(chunk, range(layers)) for name, rule in routes.items()}
        for name, selection in selections.items():
            stats.add(
                name,
                selection,
                None if ids is None else ids[begin:end],
                next_token_ids=None if following is None else following[begin:end],
                positions=torch.from_numpy(positions[begin:end]),
            )
            if reference is not None and name != reference:
                stats.add_agreement(name, reference, selection, selections[reference])
    imported = Imported(methods=list(routes), left=left)
    imported.sections = stats.results(token_strings=strings)
    imported.method_info = {
        name: rule.method() | ({"baseline": True} if name == reference else {}) for name, rule in routes.items()
    }
    model = {"num_layers": layers, "num_experts": experts}
    if isinstance(routes.get(reference), top_k):
        model["top_k"] = routes[reference].k
    imported.sections["model"] = model
    spread = _experts_per_token(imported.sections["expert_counts"])
    imported.metrics = {name: {"avg_experts": {"mean": mean, "std": std}} for name, (mean, std) in spread.items()}
    imported.metric_info = {"avg_experts": EXPERTS_PER_TOKEN}
    sweeps = _sweeps(routes, spread, model.get("top_k"))
    if sweeps:
        imported.sections["sweeps"] = sweeps
    described = ", ".join(f"{name} ({rule.method()['label']})" for name, rule in routes.items())
    imported.took.append(f"{path}: {layers} layers × {tokens:,} tokens × {experts} experts, routed by {described}")
    return imported


def _experts_per_token(expert_counts):
    """Method -> (mean, standard deviation) of experts per token, every layer's tokens pooled."""
    pooled = {}
    for entry in expert_counts:
        counts = pooled.setdefault(entry["method"], {})
        for k, n in entry["histogram"].items():
            counts[int(k)] = counts.get(int(k), 0) + n
    spread = {}
    for method, counts in pooled.items():
        k, n = np.array(list(counts.items()), dtype=np.float64).T
        mean = float((k * n).sum() / n.sum())
        spread[method] = mean, float(np.sqrt((n * (k - mean) ** 2).sum() / n.sum()))
    return spread


def _sweeps(routes, spread, baseline_k):
    """A sweep for each family routed at several values of one parameter, the others alike (BH at
    several alphas): the mean experts per token at each value."""
    sweeps = []
    for family in dict.fromkeys(rule.method()["family"] for rule in routes.values()):
        members = {name: rule.method()["params"] for name, rule in routes.items() if rule.method()["family"] == family}
        keys = {key for params in members.values() for key in params}
        differing = [key for key in keys if len({params.get(key) for params in members.values()}) > 1]
        if len(members) < 2 or len(differing) != 1:
            continue
        (param,) = differing
        ordered = sorted(members, key=lambda name: members[name][param])
        entry = {"method_family": family, "param": param, "values": [members[n][param] for n in ordered]}
        entry |= {"avg_experts": [spread[n][0] for n in ordered], "std_experts": [spread[n][1] for n in ordered]}
        sweeps.append(entry | ({"baseline_k": baseline_k} if baseline_k else {}))
    return sweeps


def _arrays(path):
    """The arrays a saved file holds, by name, and the names it holds that figkit does not read."""
    if not path.is_file():
        raise ValueError(f"{path}: not a file of router logits")
    if os.stat(path).st_size > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES >> 30} GiB")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a numpy .npz file ({error})") from None
    else:
        import pickle

        import torch

        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as error:
            raise ValueError(f"{path}: not a file torch.load reads with weights_only=True ({error})") from None
        if isinstance(saved, (tuple, list, torch.Tensor)):
            saved = {"router_logits": saved}
        if not isinstance(saved, dict):
            raise ValueError(f"{path}: holds a {type(saved).__name__}, not router logits or a dict of them")
        arrays = {str(name): _as_array(value, f"{path}: {name}") for name, value in saved.items()}
    left = [f"{path}: {name!r} (figkit reads {', '.join(KEYS)})" for name in arrays if name not in KEYS]
    return arrays, left


def _as_array(value, where):
    import torch

    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        if len({tuple(v.shape) for v in value}) > 1:
            raise ValueError(f"{where}: the layers' logits differ in shape")
        value = torch.stack(list(value))
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy() if value.dtype != torch.bfloat16 else value.float().numpy()
    return np.asarray(value)


def _layout(arrays, path):
    """(logits [layers, tokens, experts], token ids or None, each token's sequence, token strings or None)."""
    if "router_logits" not in arrays:
        raise ValueError(f"{path}: no router_logits in it; it holds {', '.join(arrays) or 'nothing'}")
    logits = arrays["router_logits"]
    if logits.dtype.kind not in "fiu" or logits.ndim not in (3, 4) or 0 in logits.shape:
        raise ValueError(
            f"{path}: router_logits must be numbers of shape [layers, tokens, experts] or "
            f"[layers, batch, sequence, experts], got {logits.dtype} {list(logits.shape)}"
        )
    layers, experts = logits.shape[0], logits.shape[-1]
    ids = arrays.get("token_ids", arrays.get("input_ids"))
    mask = arrays.get("attention_mask")
    batch_shape = logits.shape[1:3] if logits.ndim == 4 else None
    for value in (ids, mask):
        if batch_shape is None and value is not None and value.ndim == 2:
            batch_shape = value.shape
    if batch_shape is not None and "sequence" not in arrays:
        sequence = np.repeat(np.arange(batch_shape[0]), batch_shape[1])
    else:
        sequence = arrays.get("sequence", np.zeros(logits.reshape(layers, -1, experts).shape[1], dtype=np.int64))
    logits = logits.reshape(layers, -1, experts)
    tokens = logits.shape[1]
    if ids is not None:
        if ids.dtype.kind not in "iu":
            raise ValueError(f"{path}: token ids must be whole numbers, got {ids.dtype}")
        ids = ids.reshape(-1).astype(np.int64)
    kept = np.ones(tokens, dtype=bool)
    if mask is not None:
        kept = mask.reshape(-1).astype(bool)
    for name, value in (("token ids", ids), ("sequence", sequence), ("attention_mask", kept)):
        if value is not None and value.size != tokens:
            raise ValueError(f"{path}: {value.size:,} {name} for {tokens:,} tokens of router_logits")
    sequence = np.asarray(sequence).reshape(-1)
    if sequence.dtype.kind not in "iu" or np.any(np.diff(sequence[kept]) < 0):
        raise ValueError(f"{path}: sequence must number each token's sequence, in order")
    strings = arrays.get("token_strings")
    strings = None if strings is None else {i: str(s) for i, s in enumerate(strings.reshape(-1))}
    ids = None if ids is None else ids[kept]
    return logits[:, kept], ids, sequence[kept], strings


def _chunks(starts):
    """(begin, end) token ranges to route at once: whole sequences gathered to about ``CHUNK_TOKENS``, a
    longer sequence in pieces of ``CHUNK_TOKENS`` (its positions go on; only neighbours across a cut are
    not counted for locality), so memory stays bounded."""
    starts = [int(s) for s in starts]
    begin = 0
    for start, end in zip(starts[:-1], starts[1:]):  # each sequence
        if end - start > CHUNK_TOKENS:
            if begin < start:
                yield begin, start
            yield from ((piece, min(piece + CHUNK_TOKENS, end)) for piece in range(start, end, CHUNK_TOKENS))
            begin = end
        elif end - begin >= CHUNK_TOKENS:
            yield begin, end
            begin = end
    if begin < starts[-1]:
        yield begin, starts[-1]
