"""The transformers side of bench/llm-text.ts: the same prompts and item token ids (written by
`node dist/bench/llm-text.js ... --ids-out FILE`), through transformers 4.43.4 (bench/torch/hf_env.py).

    /usr/bin/python3 bench/torch/llm_text.py MODEL_DIR IDS.json [--threads 2]

MODEL_DIR is the folder the llmrec side read (for the Qwen2-0.5B shape, the random f32 folder
written once by `node dist/bench/llm-text.js --init qwen2-0.5b DIR`).

Prefill: one forward over the prompt batch (transformers computes every position's logits).
Decode: model.generate greedy of exactly new_tokens tokens minus that of one token. Embedding: item
ids sorted by length, batches of at most 64 rows and 4096 padded tokens (as TextEmbedder),
right-padded, mean of the last hidden state over the real tokens. Peak RSS is the process's.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_env  # noqa: E402,F401

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def timed(fn, repeats):
    """Median wall and process CPU seconds (all threads) of `repeats` runs after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("ids")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.ids) as handle:
        dump = json.load(handle)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    model.generation_config.eos_token_id = None
    prompts = torch.tensor(dump["prompts"])
    new_tokens = dump["new_tokens"]
    batch, length = prompts.shape
    # One repeat for models of more than 100M parameters (as bench/llm-text.ts).
    repeats = 1 if sum(p.numel() for p in model.parameters()) > 100e6 else 5

    def generate(n):
        return lambda: model.generate(
            input_ids=prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=n,
            min_new_tokens=n, do_sample=False, pad_token_id=0,
        )

    with torch.no_grad():
        prefill = timed(lambda: model(input_ids=prompts, use_cache=True).logits[:, -1].sum().item(), repeats)
        # Decode: generating new_tokens minus generating one (the prefill and its first token).
        one = timed(generate(1), repeats)
        many = timed(generate(new_tokens), repeats)
    result = {
        "impl": "transformers",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": args.model,
        "batch": batch,
        "prompt": length,
        "new_tokens": new_tokens,
        "prefill_tokens_per_s": batch * length / prefill[0],
        "prefill_tokens_per_cpu_s": batch * length / prefill[1],
        "decode_tokens_per_s": batch * (new_tokens - 1) / (many[0] - one[0]),
        "decode_tokens_per_cpu_s": batch * (new_tokens - 1) / (many[1] - one[1]),
    }
    items = dump.get("items")
    if items:
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        out = torch.empty(len(items), model.config.hidden_size)
        start, start_cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            done = 0
            while done < len(order):
                longest = len(items[order[done]])
                rows = min(64, 4096 // longest, len(order) - done)
                chunk = order[done : done + rows]
                ids = torch.zeros(rows, longest, dtype=torch.long)
                mask = torch.zeros(rows, longest, dtype=torch.long)
                for r, i in enumerate(chunk):
                    ids[r, : len(items[i])] = torch.tensor(items[i])
                    mask[r, : len(items[i])] = 1
                hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
                pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
                out[torch.tensor(chunk)] = pooled
                done += rows
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        result.update({"items": len(items), "embed_items_per_s": len(items) / seconds, "embed_items_per_cpu_s": len(items) / cpu})
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
