"""Cut the test slice of real OLMoE routing from ../shared/data/olmoe-tiny (run from the repository root).

    python tests/data/make_olmoe_slice.py

The slice keeps the first six of the 32 held-out sequences (768 tokens) of every layer: the router
logits as float16, the token ids, the sequence of each token and the decoded text of every token id.
See ../shared/data/README.md for how the logits were made (transformers' OlmoeForCausalLM, 16 layers,
64 experts, top-8, trained briefly on CPU).
"""

from pathlib import Path

import numpy as np

SOURCE = Path("../shared/data/olmoe-tiny/olmoe-tiny-router-logits.npz")
TARGET = Path(__file__).with_name("olmoe_tiny_slice.npz")
SEQUENCES = 6


def main():
    data = np.load(SOURCE)
    keep = data["sequence"] < SEQUENCES
    np.savez_compressed(
        TARGET,
        router_logits=data["router_logits"][:, keep],
        token_ids=data["token_ids"][keep],
        sequence=data["sequence"][keep],
        token_strings=data["token_strings"],
    )
    print(f"{TARGET}: {TARGET.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
