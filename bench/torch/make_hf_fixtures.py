"""Fixtures from Hugging Face transformers itself (v4.43.4 through hf_env.py) for llmrec's parity test
(test/llm-hf.test.ts): small random Qwen2 (tied, untied) and Llama (llama3 and linear rope scaling)
models saved by transformers (one of them sharded), and what transformers computes on them:

- logits and every hidden state of a left-padded batch at its real positions (positions
  cumsum(mask) - 1, as generate() uses), causal and bidirectional (a 4-D mask over real keys);
- the LM loss of the first prompt; greedy generations of the left-padded batch (model.generate);
- the other direction: llmrec re-saves each model sharded (bench/llm-hf-fixtures.ts, through node),
  transformers loads that folder, and its logits and any warnings it logged are recorded.

    /usr/bin/python3 bench/torch/make_hf_fixtures.py test/fixtures/hf

Needs a built checkout (dist/) for the llmrec step. Weights are redrawn at a visible scale: HF's
N(0, 0.02) initialisation hides most mistakes.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_env  # noqa: E402,F401

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config  # noqa: E402

CHECKOUT = os.path.dirname(os.path.dirname(HERE))
PROMPTS = [[3, 17, 9, 22, 5], [11, 2, 30], [7]]
NEW_TOKENS = 6
LLMREC_SHARD_BYTES = 6000

COMMON = dict(
    vocab_size=48,
    hidden_size=16,
    intermediate_size=24,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-6,
    max_position_embeddings=64,
    eos_token_id=47,
)

CASES = {
    "qwen2-tied": lambda: Qwen2Config(**COMMON, rope_theta=10000.0, tie_word_embeddings=True),
    "qwen2-untied": lambda: Qwen2Config(**COMMON, rope_theta=1000000.0, tie_word_embeddings=False),
    "llama-llama3": lambda: LlamaConfig(
        **COMMON,
        rope_theta=500000.0,
        tie_word_embeddings=False,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8,
        },
    ),
    "llama-linear": lambda: LlamaConfig(
        **COMMON,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        attention_bias=True,
        mlp_bias=True,
        rope_scaling={"rope_type": "linear", "factor": 2.0},
    ),
}
# Saved by transformers in shards of at most this size (the others as one model.safetensors).
HF_SHARDED = {"qwen2-untied": "8KB"}


def redraw(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = name.endswith("norm.weight")
            noise = torch.randn(p.shape, generator=generator)
            p.copy_(1 + 0.2 * noise if is_norm else 0.35 * noise)


def left_pad(prompts):
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    # What generate() passes: cumsum(mask) - 1, padded slots at 1.
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    return ids, mask, positions


def real_rows(x, mask):
    """x [B, L, ...] at the real positions, as nested lists (row by row)."""
    return [[x[r, j].tolist() for j in range(mask.shape[1]) if mask[r, j]] for r in range(mask.shape[0])]


def bidirectional_mask(mask, dtype):
    """HF's inverted 4-D mask [B, 1, L, L]: every query sees every real key."""
    blocked = (mask == 0)[:, None, None, :].expand(-1, 1, mask.shape[1], -1)
    return torch.zeros(blocked.shape, dtype=dtype).masked_fill(blocked, torch.finfo(dtype).min)


def outputs(model):
    ids, mask, positions = left_pad(PROMPTS)
    with torch.no_grad():
        causal = model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True)
        bidir = model(
            input_ids=ids,
            attention_mask=bidirectional_mask(mask, torch.float32),
            position_ids=positions,
            output_hidden_states=True,
        )
        first = torch.tensor([PROMPTS[0]])
        loss = model(input_ids=first, labels=first).loss
        generated = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=NEW_TOKENS,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=None,
        )
    return {
        "logits": real_rows(causal.logits, mask),
        "hidden_states": [real_rows(h, mask) for h in causal.hidden_states],
        "bidirectional_logits": real_rows(bidir.logits, mask),
        "bidirectional_last_hidden": real_rows(bidir.hidden_states[-1], mask),
        "loss_of_prompt0": float(loss),
        "greedy": generated[:, ids.shape[1] :].tolist(),
    }


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def load_capturing_warnings(folder):
    handler = Captured()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager")
    finally:
        logger.removeHandler(handler)
    model.generation_config.eos_token_id = None
    return model.eval(), handler.messages


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", help="fixture folder, e.g. test/fixtures/hf")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    summary = {"transformers": transformers.__version__, "torch": torch.__version__, "prompts": PROMPTS, "cases": {}}
    for index, (name, make_config) in enumerate(CASES.items()):
        torch.manual_seed(index)
        config = make_config()
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32, attn_implementation="eager")
        redraw(model, 100 + index)
        model.eval()
        model.generation_config.eos_token_id = None
        case_dir = os.path.join(args.out, name)
        hf_dir = os.path.join(case_dir, "hf")
        llmrec_dir = os.path.join(case_dir, "llmrec-sharded")
        for d in (hf_dir, llmrec_dir):
            shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(hf_dir, safe_serialization=True, max_shard_size=HF_SHARDED.get(name, "10GB"))
        # generation_config.json is not needed by llmrec's loader; keep the fixture small.
        os.remove(os.path.join(hf_dir, "generation_config.json"))
        expected = outputs(model)

        # The other direction: llmrec saves the transformers folder sharded; transformers loads it.
        subprocess.run(
            ["node", os.path.join(CHECKOUT, "dist", "bench", "llm-hf-fixtures.js"), hf_dir, llmrec_dir, str(LLMREC_SHARD_BYTES)],
            check=True,
        )
        reloaded, warnings = load_capturing_warnings(llmrec_dir)
        back = outputs(reloaded)
        summary["cases"][name] = {
            "hf_sharded": name in HF_SHARDED,
            "llmrec_shard_bytes": LLMREC_SHARD_BYTES,
            "expected": expected,
            "llmrec_saved": {"logits": back["logits"], "greedy": back["greedy"], "warnings": warnings},
        }
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters; llmrec-saved warnings: {warnings}")
    out = os.path.join(args.out, "outputs.json")
    with open(out, "w") as handle:
        json.dump(summary, handle)
    # The style test runs prettier over the repository, fixtures included.
    subprocess.run(["npx", "prettier", "--write", out], cwd=CHECKOUT, check=True, stdout=subprocess.DEVNULL)
    print(f"wrote {args.out} with transformers {transformers.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
