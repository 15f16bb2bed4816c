"""Reference outputs of a Hugging Face model folder for llmrec's LM tests, as JSON: logits of a
left-padded causal batch at its real positions, the shifted LM loss, and greedy continuations.

With transformers installed (the GPU machine) the outputs come from AutoModelForCausalLM, the
ground truth; without it (this CPU machine) from the hand-written llm_reference.py, which checks
llmrec against an independent implementation but not against HF itself.

    python3 bench/torch/make_llm_fixtures.py MODEL_DIR OUT.json [--backend auto|transformers|reference]
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llm_reference import load_reference  # noqa: E402

PROMPTS = [[3, 17, 9, 22, 5], [11, 2, 30], [7]]
NEW_TOKENS = 8


def left_pad(prompts, pad):
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def greedy(step, prompt):
    """Greedy by re-running the full forward each step: the definition the KV cache must meet."""
    seq = list(prompt)
    for _ in range(NEW_TOKENS):
        seq.append(int(step(torch.tensor([seq]))[0, -1].argmax()))
    return seq[len(prompt):]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir")
    parser.add_argument("out")
    parser.add_argument("--backend", default="auto", choices=["auto", "transformers", "reference"])
    args = parser.parse_args()
    backend = args.backend
    if backend == "auto":
        try:
            import transformers  # noqa: F401

            backend = "transformers"
        except ImportError:
            backend = "reference"
    torch.manual_seed(0)
    if backend == "transformers":
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(args.model_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()

        def run(ids, mask=None, labels=None):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            return out.logits.float(), out.loss
    else:
        model, _ = load_reference(args.model_dir)
        model.eval()

        def run(ids, mask=None, labels=None):
            return model(ids, attention_mask=mask, labels=labels)

    ids, mask = left_pad(PROMPTS, pad=0)
    with torch.no_grad():
        logits, _ = run(ids, mask)
        labels = torch.tensor([PROMPTS[0]])
        _, loss = run(labels, None, labels)
        continuations = [greedy(lambda x: run(x)[0], p) for p in PROMPTS]
    real = [[logits[r, j].tolist() for j in range(ids.shape[1]) if mask[r, j]] for r in range(len(PROMPTS))]
    fixture = {
        "backend": backend,
        "prompts": PROMPTS,
        "left_padded_logits": real,
        "loss_of_prompt0": float(loss),
        "greedy": continuations,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f)
    print(f"wrote {args.out} ({backend})")


if __name__ == "__main__":
    main()
