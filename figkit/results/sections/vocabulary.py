"""``vocabulary``: how often each token id goes to its most frequent expert, per method and layer."""

from figkit.results.checks import a_list, an_object, entries, fail, fields, method_and_layer, numbers, shown
from figkit.results.section import Section, listed

ID_LISTS = {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}}

ENTRY = {
    "type": "object",
    "required": ["method", "occurrences", "top_expert_routings", "id_count"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "layer": {"$ref": "#/$defs/layer"},
        "token": {
            "enum": ["input", "next"],
            "description": "Whose id groups the routings: the token routed (default) or the token after it.",
        },
        "occurrences": {"$ref": "#/$defs/counts"},
        "top_expert_routings": {"$ref": "#/$defs/counts"},
        "id_count": {"$ref": "#/$defs/counts"},
        "expert_tokens": ID_LISTS
        | {
            "description": "Each expert's token ids, most specialised first (most routed first without "
            "expert_token_occurrences; empty for an expert nothing was routed to)."
        },
        "expert_token_routings": ID_LISTS,
        "expert_token_occurrences": ID_LISTS
        | {
            "description": "Each listed token's occurrences: the share routed to the expert ranks the tokens "
            "by specialisation."
        },
    },
}


def check(value, context):
    seen = {}
    for path, entry in entries(value, "vocabulary"):
        an_object(entry, path, **fields(ENTRY))
        token = entry.get("token", "input")
        if token not in ("input", "next"):
            fail(
                f"{path}.token", f'must be "input" (the token routed) or "next" (the one after it), got {shown(token)}'
            )
        method_and_layer(entry, path, context, seen, token=token)
        occurrences = numbers(entry["occurrences"], f"{path}.occurrences", integer=True, minimum=1)
        n = len(occurrences)
        top = numbers(
            entry["top_expert_routings"], f"{path}.top_expert_routings", n, f"{path}.occurrences", integer=True
        )
        numbers(entry["id_count"], f"{path}.id_count", n, f"{path}.occurrences", integer=True, minimum=1)
        over = next((i for i, (t, o) in enumerate(zip(top, occurrences)) if t > o), None)
        if over is not None:
            fail(
                f"{path}.top_expert_routings[{over}]",
                f"{top[over]} routings to one expert of a token seen {occurrences[over]} times",
            )
        if ("expert_tokens" in entry) != ("expert_token_routings" in entry):
            fail(path, "give expert_tokens and expert_token_routings together")
        if "expert_tokens" in entry:
            _expert_tokens(entry, path, context.model)
        if "expert_token_occurrences" in entry:
            _token_occurrences(entry, path)


def _expert_tokens(entry, path, model):
    """Each expert's listed token ids and, as long, their routings to it."""
    tokens = a_list(entry["expert_tokens"], f"{path}.expert_tokens", model.get("num_experts"), "model.num_experts")
    counts = a_list(
        entry["expert_token_routings"], f"{path}.expert_token_routings", len(tokens), f"{path}.expert_tokens"
    )
    for e, (ids, routings) in enumerate(zip(tokens, counts)):
        if ids:
            numbers(ids, f"{path}.expert_tokens[{e}]", integer=True)
            numbers(
                routings, f"{path}.expert_token_routings[{e}]", len(ids), f"{path}.expert_tokens[{e}]", integer=True
            )
        elif routings:
            fail(f"{path}.expert_token_routings[{e}]", f"has entries but expert_tokens[{e}] has none")


def _token_occurrences(entry, path):
    """Each listed token's occurrences: as long as its routings and at least as many."""
    if "expert_tokens" not in entry:
        fail(path, "give expert_token_occurrences with expert_tokens")
    name = f"{path}.expert_token_occurrences"
    lists = a_list(entry["expert_token_occurrences"], name, len(entry["expert_tokens"]), f"{path}.expert_tokens")
    for e, (seen, routings) in enumerate(zip(lists, entry["expert_token_routings"])):
        if seen or routings:
            numbers(seen, f"{name}[{e}]", len(routings), f"{path}.expert_token_routings[{e}]", integer=True)
            over = next((j for j, (n, r) in enumerate(zip(seen, routings)) if r > n), None)
            if over is not None:
                fail(f"{name}[{e}][{over}]", f"{seen[over]} occurrences of a token routed {routings[over]} times")


SECTION = Section(
    "vocabulary",
    listed(
        ENTRY,
        "Vocabulary specialisation per method and layer: id_count[i] token ids were seen occurrences[i] times "
        "and routed top_expert_routings[i] times to their most frequent expert.",
    ),
    check,
)
