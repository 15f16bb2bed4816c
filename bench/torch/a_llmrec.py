"""A-LLMRec's two training losses in PyTorch, as the reference code computes them, on a fixed tiny
setup: the parity fixtures that test/a-llmrec.test.ts checks llmrec against (1e-4 relative).

- stage 1: two_layer_mlp item and text autoencoders (fc1 -> sigmoid = latent, fc2 = recon);
  L = BCE(mean(u * recon_pos), 1) + BCE(mean(u * recon_neg), 0) + MSE(e, q) (pos + neg)
      + 0.5 * MSE(recon, E) + 0.2 * MSE(text recon, T.detach()); every term and each
      parameter's gradient;
- stage 2: F_U (Linear, LayerNorm, LeakyReLU, Linear) and F_I (Linear, LayerNorm, GELU, Linear)
  write soft tokens over prompt slots of a frozen random Qwen2 (transformers' own model code);
  the loss is the LM's CE on the answer tokens only; the loss and the projectors' gradients.

usage: /usr/bin/python3 bench/torch/a_llmrec.py OUT_DIR   (writes OUT_DIR/parity.json and OUT_DIR/lm/)

--bench: the PyTorch side of bench/a-llmrec-step.ts, on the same prompts and the same LM folder:
the stage-2 training step (soft tokens from F_U/F_I, the frozen LM's CE on the answer, backward,
Adam on the projectors; median of STEPS after a warm-up) and generation latency (one prompt at a
time, greedy with repetition penalty 1.5 over the prompt and generated ids as HF's processor, KV
cache, exactly NEW tokens; p50/p99).

  node dist/bench/a-llmrec-step.js --ids-out /tmp/a-llmrec-ids.json
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch/a_llmrec.py --bench /tmp/a-llmrec-ids.json LM_DIR \
      [--threads 2] [--steps 10] [--requests 20]
"""

import json
import os
import sys

import hf_env  # noqa: F401  (makes transformers importable on Debian's torch)
import torch
import torch.nn as nn
from transformers import Qwen2Config, Qwen2ForCausalLM


class TwoLayerMlp(nn.Module):
    def __init__(self, dims, latent):
        super().__init__()
        self.fc1 = nn.Linear(dims, latent)
        self.fc2 = nn.Linear(latent, dims)

    def forward(self, x):
        x = torch.sigmoid(self.fc1(x))
        return x, self.fc2(x)


def tensors(module, prefix):
    return {f"{prefix}{name}": p.detach().tolist() for name, p in module.named_parameters()}


def grads(module, prefix):
    return {f"{prefix}{name}": p.grad.detach().tolist() for name, p in module.named_parameters()}


def stage1():
    torch.manual_seed(11)
    cf, text, latent, rows = 6, 5, 4, 3
    item, text_ae = TwoLayerMlp(cf, latent), TwoLayerMlp(text, latent)
    user = torch.randn(rows, cf) * 2
    pos, neg = torch.randn(rows, cf) * 1.5, torch.randn(rows, cf) * 1.5
    pos_text, neg_text = torch.randn(rows, text), torch.randn(rows, text)
    bce, mse = nn.BCEWithLogitsLoss(), nn.MSELoss()
    pos_latent, pos_recon = item(pos)
    neg_latent, neg_recon = item(neg)
    pos_text_latent, pos_text_recon = text_ae(pos_text)
    neg_text_latent, neg_text_recon = text_ae(neg_text)
    rec = bce((user * pos_recon).mean(axis=1), torch.ones(rows)) + bce(
        (user * neg_recon).mean(axis=1), torch.zeros(rows)
    )
    matching = mse(pos_latent, pos_text_latent) + mse(neg_latent, neg_text_latent)
    item_recon = mse(pos_recon, pos) + mse(neg_recon, neg)
    text_recon = mse(pos_text_recon, pos_text.data) + mse(neg_text_recon, neg_text.data)
    total = rec + matching + 0.5 * item_recon + 0.2 * text_recon
    total.backward()
    return {
        "dims": {"cf": cf, "text": text, "latent": latent},
        "weights": {**tensors(item, "item."), **tensors(text_ae, "text.")},
        "inputs": {
            "user": user.tolist(),
            "positiveItem": pos.tolist(),
            "negativeItem": neg.tolist(),
            "positiveText": pos_text.tolist(),
            "negativeText": neg_text.tolist(),
        },
        "terms": {
            "rec": rec.item(),
            "matching": matching.item(),
            "itemRecon": item_recon.item(),
            "textRecon": text_recon.item(),
            "total": total.item(),
        },
        "grads": {**grads(item, "item."), **grads(text_ae, "text.")},
    }


def projector(inp, d, activation):
    return nn.Sequential(nn.Linear(inp, d), nn.LayerNorm(d), activation, nn.Linear(d, d))


def stage2(out_dir):
    torch.manual_seed(12)
    vocab, d, cf, latent = 64, 16, 6, 4
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=d,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=vocab - 1,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    lm = Qwen2ForCausalLM(config).eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    lm.save_pretrained(os.path.join(out_dir, "lm"), safe_serialization=True)
    f_u = projector(cf, d, nn.LeakyReLU())
    f_i = projector(latent, d, nn.GELU())
    # Two prompts, right-padded: slot 0 is the user token; item slots follow titles.
    lengths = [14, 11]
    width = max(lengths)
    ids = torch.randint(0, vocab - 1, (2, width))
    labels = torch.full((2, width), -100)
    labels[0, 10:14] = ids[0, 10:14]
    labels[1, 8:11] = ids[1, 8:11]
    mask = torch.zeros(2, width, dtype=torch.long)
    for r, n in enumerate(lengths):
        mask[r, :n] = 1
    item_slots = [(0, 3), (0, 6), (0, 8), (1, 2), (1, 5)]
    users = torch.randn(2, cf)
    latents = torch.rand(len(item_slots), latent)
    values = torch.cat([f_u(users), f_i(latents)], 0)
    embeds = lm.get_input_embeddings()(ids).clone()
    slots = [(0, 0), (1, 0)] + item_slots
    for k, (b, p) in enumerate(slots):
        embeds[b, p] = values[k]
    loss = lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
    loss.backward()
    return {
        "dims": {"cf": cf, "latent": latent, "lm": d},
        "ids": ids.tolist(),
        "labels": labels.tolist(),
        "lengths": lengths,
        "slots": slots,
        "users": users.tolist(),
        "latents": latents.tolist(),
        "weights": {**tensors(f_u, "user."), **tensors(f_i, "item.")},
        "loss": loss.item(),
        "grads": {**grads(f_u, "user."), **grads(f_i, "item.")},
    }


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def bench(args):
    import time

    ids_file, lm_dir = args[0], args[1]

    def option(name, default):
        return int(args[args.index(name) + 1]) if name in args else default

    torch.set_num_threads(option("--threads", 2))
    device = torch.device(args[args.index("--device") + 1] if "--device" in args else "cpu")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    steps, requests = option("--steps", 10), option("--requests", 20)
    with open(ids_file) as handle:
        spec = json.load(handle)
    eos, batch, new_tokens, cases = spec["eos"], spec["batch"], spec["newTokens"], spec["cases"]
    lm = Qwen2ForCausalLM.from_pretrained(lm_dir, torch_dtype=torch.float32, attn_implementation="eager")
    lm = lm.to(device).eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    d = lm.config.hidden_size
    torch.manual_seed(0)
    f_u, f_i = projector(50, d, nn.LeakyReLU()).to(device), projector(128, d, nn.GELU()).to(device)
    optimizer = torch.optim.Adam(list(f_u.parameters()) + list(f_i.parameters()), lr=1e-4, betas=(0.9, 0.98))
    train = cases[:batch]
    width = max(len(c["ids"]) + len(c["answer"]) for c in train)
    ids = torch.full((batch, width), eos, dtype=torch.long)
    labels = torch.full((batch, width), -100, dtype=torch.long)
    mask = torch.zeros(batch, width, dtype=torch.long)
    for r, c in enumerate(train):
        n, a = len(c["ids"]), len(c["answer"])
        ids[r, :n] = torch.tensor(c["ids"])
        ids[r, n : n + a] = torch.tensor(c["answer"])
        labels[r, n : n + a] = torch.tensor(c["answer"])
        mask[r, : n + a] = 1
    slots = [(r, c["slots"][0]) for r, c in enumerate(train)] + [
        (r, s) for r, c in enumerate(train) for s in c["slots"][1:]
    ]
    ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
    users = torch.randn(batch, 50, device=device)
    latents = torch.rand(len(slots) - batch, 128, device=device)
    rows = torch.tensor([b for b, _ in slots], device=device)
    cols = torch.tensor([p for _, p in slots], device=device)

    step_cpu = []

    def step():
        t = time.perf_counter()
        c = time.process_time()
        values = torch.cat([f_u(users), f_i(latents)], 0)
        embeds = lm.get_input_embeddings()(ids).clone()
        embeds[rows, cols] = values
        loss = lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        sync()
        step_cpu.append((time.process_time() - c) * 1000)
        return (time.perf_counter() - t) * 1000

    step()
    step_cpu.clear()
    step_ms = sorted(step() for _ in range(steps))
    generation_cpu = []

    def one(c):
        with torch.no_grad():
            prompt = torch.tensor([c["ids"]], device=device)
            values = torch.cat(
                [f_u(torch.randn(1, 50, device=device)), f_i(torch.rand(len(c["slots"]) - 1, 128, device=device))], 0
            )
            sync()
            t = time.perf_counter()
            cpu0 = time.process_time()
            embeds = lm.get_input_embeddings()(prompt).clone()
            embeds[0, torch.tensor(c["slots"], device=device)] = values
            out = lm(inputs_embeds=embeds, use_cache=True)
            seen = prompt[0].tolist()
            past, logits = out.past_key_values, out.logits[0, -1]
            for _ in range(new_tokens):
                index = torch.tensor(sorted(set(seen)), device=device)
                picked = logits[index]
                logits = logits.clone()
                logits[index] = torch.where(picked < 0, picked * 1.5, picked / 1.5)
                token = int(torch.argmax(logits))
                seen.append(token)
                out = lm(input_ids=torch.tensor([[token]], device=device), past_key_values=past, use_cache=True)
                past, logits = out.past_key_values, out.logits[0, -1]
            generation_cpu.append((time.process_time() - cpu0) * 1000)
            return (time.perf_counter() - t) * 1000

    one(cases[0])
    generation_cpu.clear()
    generation = [one(cases[r % len(cases)]) for r in range(requests)]
    prompt_tokens = [len(c["ids"]) for c in cases[:requests]]
    print(
        json.dumps(
            {
                "side": "torch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "device": str(device),
                "step": {
                    "batch": batch,
                    "tokens": width,
                    "medianMs": percentile(step_ms, 50),
                    "minMs": step_ms[0],
                    "cpuMedianMs": percentile(step_cpu, 50),
                    "tokensPerSecond": batch * width / (percentile(step_ms, 50) / 1000),
                },
                "generation": {
                    "requests": requests,
                    "newTokens": new_tokens,
                    "promptTokensMean": sum(prompt_tokens) / len(prompt_tokens),
                    "p50Ms": percentile(generation, 50),
                    "p99Ms": percentile(generation, 99),
                    "cpuP50Ms": percentile(generation_cpu, 50),
                    "cpuP99Ms": percentile(generation_cpu, 99),
                },
            }
        )
    )


def main():
    if sys.argv[1] == "--bench":
        bench(sys.argv[2:])
        return
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    fixture = {"torch": torch.__version__, "stage1": stage1(), "stage2": stage2(out_dir)}
    with open(os.path.join(out_dir, "parity.json"), "w") as handle:
        json.dump(fixture, handle)


if __name__ == "__main__":
    main()
