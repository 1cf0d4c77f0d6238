"""``routing_text``: passages of text with what each method's routing did with every token, per layer."""

from figkit.results.checks import a_list, a_string, an_object, declared, entries, fail, fields, numbers
from figkit.results.section import Section, listed

MAX_TOKENS = 512  # a passage is a picture: set as text, it fills about a page at column width
PER_LAYER = {"type": "array", "minItems": 1, "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}}

ROUTING = {
    "type": "object",
    "required": ["method", "num_experts"],
    "additionalProperties": False,
    "properties": {
        "method": {"type": "string"},
        "num_experts": PER_LAYER
        | {"description": "Per layer of the passage's layers, each token's number of experts."},
        "top_expert": PER_LAYER
        | {"description": "Per layer, each token's top-1 expert: the expert of largest router logit."},
    },
}

ENTRY = {
    "type": "object",
    "required": ["tokens", "layers", "routing"],
    "additionalProperties": False,
    "properties": {
        "label": {"type": "string", "description": "What the passage is, such as its domain."},
        "tokens": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_TOKENS,
            "items": {"type": "string"},
            "description": "Each token's text as the tokenizer decodes it, spaces and newlines included.",
        },
        "token_ids": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "layers": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "integer", "minimum": 0}},
        "routing": {"type": "array", "minItems": 1, "items": ROUTING},
    },
}


def check(value, context):
    labels = {}
    experts = context.model.get("num_experts")
    last = context.model["num_layers"] - 1 if "num_layers" in context.model else None
    for path, passage in entries(value, "routing_text"):
        an_object(passage, path, **fields(ENTRY))
        label = a_string(passage.get("label", ""), f"{path}.label")
        if label in labels:
            fail(f"{path}.label", f"a second passage labelled {label!r}; the first is {labels[label]}")
        labels[label] = path
        tokens = a_list(passage["tokens"], f"{path}.tokens")
        if len(tokens) > MAX_TOKENS:
            fail(f"{path}.tokens", f"{len(tokens):,} tokens; a passage holds at most {MAX_TOKENS}")
        for j, token in enumerate(tokens):
            a_string(token, f"{path}.tokens[{j}]")
        if "token_ids" in passage:
            numbers(passage["token_ids"], f"{path}.token_ids", len(tokens), f"{path}.tokens", integer=True)
        layers = numbers(passage["layers"], f"{path}.layers", integer=True, maximum=last)
        if len(set(layers)) != len(layers):
            fail(f"{path}.layers", "must be distinct")
        methods = {}
        for where, routing in entries(passage["routing"], f"{path}.routing"):
            an_object(routing, where, **fields(ROUTING))
            method = declared(routing["method"], f"{where}.method", context.methods)
            if method in methods:
                fail(where, f"a second entry for method {method!r}; the first is {methods[method]}")
            methods[method] = where
            for name, most in (("num_experts", experts), ("top_expert", None if experts is None else experts - 1)):
                if name in routing:
                    rows = a_list(routing[name], f"{where}.{name}", len(layers), f"{path}.layers")
                    for i, row in enumerate(rows):
                        numbers(row, f"{where}.{name}[{i}]", len(tokens), f"{path}.tokens", integer=True, maximum=most)


SECTION = Section(
    "routing_text",
    listed(
        ENTRY,
        f"Passages of at most {MAX_TOKENS} consecutive tokens of one sequence, with each method's routing of "
        "every token in each of the passage's layers: for drawing routing over the text.",
    ),
    check,
)
