"""LLM2Rec's three LM losses in PyTorch, on the hand-written Hugging Face Qwen2/Llama forward of
llm_reference.py: the reference that proves llmrec's composition is the recipe (papers.md,
"LLM2Rec").

  CSFT    causal LM cross-entropy on the target tokens only (labels -100 on the prompt), shifted
  MNTP    the same shifted cross-entropy with bidirectional attention, labels on masked tokens
  SimCSE  two views of each title (dropout off here: the views are equal), mean pooling over
          real tokens, L2-normalised, logits = cos / tau, items with the same text are not
          negatives, cross-entropy of view 1 against view 2

    python3 bench/torch/llm2rec.py --fixtures test/fixtures/llm2rec
        reads <dir>/lm (an HF folder) and <dir>/inputs.json (the batches llmrec built, see
        bench/llm2rec-fixtures.ts) and writes <dir>/expected.json (the three losses) and
        <dir>/expected-grads.safetensors (every parameter's gradient per stage, f32)
    python3 bench/torch/llm2rec.py --bench [--preset tiny] [--threads 2]
        tokens/s of a CSFT and a SimCSE step (forward + backward + AdamW) and items/s of
        embedding, on a random model of the preset, with the shapes of bench/llm2rec.bench.ts
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llm_reference import PRESETS, CausalLM, load_reference, write_safetensors  # noqa: E402


def pad_rows(rows, pad_id, fill=None):
    """Right-padded [B, L] long ids and the 0/1 attention mask."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def labelled_loss(model, rows, pad_id, causal):
    ids, mask = pad_rows([r["ids"] for r in rows], pad_id)
    labels, _ = pad_rows([r["labels"] for r in rows], -100)
    _, loss = model(input_ids=ids, attention_mask=mask, labels=labels, causal=causal)
    return loss


def mean_pool(model, rows, pad_id, causal=False):
    ids, mask = pad_rows(rows, pad_id)
    h = model.hidden(input_ids=ids, attention_mask=mask, causal=causal)
    m = mask[:, :, None].to(h.dtype)
    return (h * m).sum(1) / m.sum(1)


def simcse_loss(model, rows, keys, pad_id, tau):
    b = len(rows)
    pooled = mean_pool(model, rows + rows, pad_id)
    q, k = F.normalize(pooled[:b], dim=-1), F.normalize(pooled[b:], dim=-1)
    logits = q @ k.t() / tau
    keys = torch.tensor(keys)
    false_negative = (keys[:, None] == keys[None, :]) & ~torch.eye(b, dtype=torch.bool)
    logits = logits.masked_fill(false_negative, float("-inf"))
    return F.cross_entropy(logits, torch.arange(b))


def make_fixtures(folder):
    with open(os.path.join(folder, "inputs.json")) as f:
        inputs = json.load(f)
    pad = inputs["padId"]
    stages = {
        "csft": lambda m: labelled_loss(m, inputs["csft"], pad, causal=True),
        "mntp": lambda m: labelled_loss(m, inputs["mntp"], pad, causal=False),
        "simcse": lambda m: simcse_loss(m, inputs["simcse"]["rows"], inputs["simcse"]["keys"], pad, inputs["simcse"]["tau"]),
    }
    losses, grads = {}, {}
    for stage, loss_of in stages.items():
        model, _ = load_reference(os.path.join(folder, "lm"))
        model.train()
        loss = loss_of(model)
        loss.backward()
        losses[stage] = loss.item()
        for name, p in model.named_parameters():
            grads[f"{stage}/{name}"] = p.grad.detach().clone()
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "losses": losses}, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(folder, "expected-grads.safetensors"), grads)
    print(json.dumps(losses))


def bench(preset, threads, steps):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    p = PRESETS[preset]
    model = CausalLM(dict(model_type="qwen2", rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, **p))
    vocab = p["vocab_size"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0)
    out = {"impl": "torch", "torch": torch.__version__, "threads": threads, "preset": preset}
    # The CPU defaults' shapes: CSFT 16 prompts of 100 tokens; SimCSE 64 titles of 10 tokens, twice.
    for name, rows, length in [("csft", 16, 100), ("simcse", 64, 10)]:
        ids = [[(r * 131 + j * 7919 + 13) % vocab for j in range(length)] for r in range(rows)]
        if name == "csft":
            examples = [{"ids": r, "labels": [-100] * 90 + r[90:]} for r in ids]
            loss_of = lambda: labelled_loss(model, examples, 0, True)  # noqa: E731
        else:
            loss_of = lambda: simcse_loss(model, ids, list(range(rows)), 0, 0.1)  # noqa: E731
        tokens = rows * length * (2 if name == "simcse" else 1)
        times = []
        for _ in range(steps + 1):
            start = time.perf_counter()
            opt.zero_grad()
            loss_of().backward()
            opt.step()
            times.append(time.perf_counter() - start)
        out[f"{name}_tokens_per_s"] = tokens / (sorted(times[1:])[steps // 2])
    titles = [[(r * 131 + j * 7919 + 13) % vocab for j in range(10)] for r in range(1024)]
    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        for i in range(0, len(titles), 64):
            mean_pool(model, titles[i : i + 64], 0, causal=False)
        out["embed_items_per_s"] = len(titles) / (time.perf_counter() - start)
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", help="folder with lm/ and inputs.json")
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="--bench: the model shape")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.fixtures:
        make_fixtures(args.fixtures)
    elif args.bench:
        bench(args.preset, args.threads, args.steps)
    else:
        parser.error("give --fixtures DIR or --bench")


if __name__ == "__main__":
    main()
