"""LLM-SRec's training loss in PyTorch, with transformers' own Qwen2 (v4.43.4, through hf_env.py)
as the frozen LLM and pmixer's SASRec (sasrec.py) as the frozen CF-SRec: the reference that
test/llm-srec.test.ts checks llmrec against (papers.md, "LLM-SRec").

    [HistoryEmb] slots   f_I(SASRec item embedding): Linear, LayerNorm, LeakyReLU, Linear
    [UserOut]/[ItemOut]  two learned vectors
    h_U, h_I             the LM's last hidden state (after the final norm) at the out token
    u = f_user(h_U), i = f_item(h_I)    Linear, LayerNorm, LeakyReLU, Linear
    c = f_CF-user(O_u)                  Linear, LayerNorm, GELU, Linear; O_u = SASRec's last position
    loss = CE over {target, negatives} of u·i (no temperature)
         + MSE(normalise(u), normalise(c))
         + mean over pairs of exp(-2 |x - x'|^2) of normalised u, and the same of c

    python3 bench/torch/llm_srec.py --fixtures test/fixtures/llm-srec/parity
        reads <dir>/inputs.json, <dir>/lm/tokenizer.json's folder and <dir>/sasrec.safetensors
        (written by bench/llm-srec-fixtures.ts, which calls this script), and writes
        <dir>/lm/ (a random-weight Qwen2 by save_pretrained, weights redrawn at a visible scale),
        <dir>/heads.safetensors (the trained modules' initial weights, llmrec's names),
        <dir>/expected.json (the four terms and the total) and <dir>/expected-grads.safetensors
        (every trained parameter's gradient). The reference runs in float64.
    python3 bench/torch/llm_srec.py --bench PROMPTS.json RUN_DIR [--threads 2]
        serving latency on an llmrec llm-srec run folder (its LM, SASRec item table and trained
        modules) for the prompts `node dist/bench/llm-srec-serve.js RUN_DIR --prompts-out
        PROMPTS.json` wrote: u = f_user(h_U) and the scores against the eval stage's item table,
        p50/p99 one prompt at a time, and the 64 prompts as one right-padded batch (f32).
    python3 bench/torch/llm_srec.py --bench-train BATCHES.json RUN_DIR [--threads 2]
        the distillation step on the batches `node dist/bench/llm-srec-step.js RUN_DIR
        --batches-out BATCHES.json` wrote (the same prompts, candidates and SASRec inputs): the
        four loss terms, backward to the trained modules, Adam (lr 1e-4, betas 0.9/0.98), f32;
        the median of the steps after the first (a warm-up), as users/s.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_env  # noqa: E402,F401  (makes transformers importable on Debian's torch)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from llm_reference import read_safetensors, write_safetensors  # noqa: E402
from sasrec import SASRec  # noqa: E402
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM  # noqa: E402


def projection(sizes, activation):
    """The official nn.Sequential: Linear, LayerNorm, activation, Linear."""
    return nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.LayerNorm(sizes[1]), activation, nn.Linear(sizes[1], sizes[2]))


# llmrec's ProjectionMLP names for an nn.Sequential's indices.
MLP_NAMES = {"0": "fc1", "1": "norm", "3": "fc2"}


class Heads(nn.Module):
    """Everything LLM-SRec trains (llmrec's LLMSRecHeads)."""

    def __init__(self, cf_dim, lm_hidden, user_hidden, cf_hidden, out_dim):
        super().__init__()
        self.itemProjection = projection([cf_dim, lm_hidden, lm_hidden], nn.LeakyReLU())
        self.userHead = projection([lm_hidden, user_hidden, out_dim], nn.LeakyReLU())
        self.itemHead = projection([lm_hidden, user_hidden, out_dim], nn.LeakyReLU())
        self.cfUserHead = projection([cf_dim, cf_hidden, out_dim], nn.GELU())
        self.userOut = nn.Parameter(torch.zeros(1, lm_hidden))
        self.itemOut = nn.Parameter(torch.zeros(1, lm_hidden))

    def llmrec_state(self, tensors):
        """{llmrec name: tensor} of a {torch name: tensor} map."""
        out = {}
        for name, t in tensors.items():
            parts = name.split(".")
            if len(parts) == 3:
                parts[1] = MLP_NAMES[parts[1]]
            out[".".join(parts)] = t
        return out

    def load_llmrec_state(self, state):
        by_llmrec = self.llmrec_state({n: n for n, _ in self.named_parameters()})
        with torch.no_grad():
            params = dict(self.named_parameters())
            for llmrec_name, torch_name in by_llmrec.items():
                params[torch_name].copy_(state[llmrec_name])


def load_sasrec(path, c, dtype):
    """pmixer's SASRec with llmrec's weights (q/k/v packed into in_proj, conv1d kernels of size 1,
    llmrec's position j is pmixer's j + 1 for a full-width left-padded input)."""
    w = read_safetensors(path)
    model = SASRec(c["numItems"], c["hidden"], c["blocks"], c["heads"], 0.0, c["maxlen"])
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.eps = c["eps"]
    state = {
        "item_emb.weight": w["items.table.weight"],
        "pos_emb.weight": torch.cat([torch.zeros(1, c["hidden"]), w["positions.weight"]]),
        "last_layernorm.weight": w["finalNorm.weight"],
        "last_layernorm.bias": w["finalNorm.bias"],
    }
    for b in range(c["blocks"]):
        p = f"block{b}."
        attn = f"attention_layers.{b}."
        state[attn + "in_proj_weight"] = torch.cat([w[p + f"attention.{x}.weight"] for x in "qkv"])
        state[attn + "in_proj_bias"] = torch.cat([w[p + f"attention.{x}.bias"] for x in "qkv"])
        state[attn + "out_proj.weight"] = w[p + "attention.out.weight"]
        state[attn + "out_proj.bias"] = w[p + "attention.out.bias"]
        for ours, theirs in (("attentionNorm", "attention_layernorms"), ("forwardNorm", "forward_layernorms")):
            state[f"{theirs}.{b}.weight"] = w[p + ours + ".weight"]
            state[f"{theirs}.{b}.bias"] = w[p + ours + ".bias"]
        for ours, theirs in (("fc1", "conv1"), ("fc2", "conv2")):
            state[f"forward_layers.{b}.{theirs}.weight"] = w[p + ours + ".weight"].unsqueeze(-1)
            state[f"forward_layers.{b}.{theirs}.bias"] = w[p + ours + ".bias"]
    model.load_state_dict(state)
    model.to(dtype).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


class LLMSRec:
    def __init__(self, lm, sasrec, heads):
        self.lm, self.sasrec, self.heads = lm, sasrec, heads

    def hidden_at_out(self, prompts, out_token):
        """The LM's final-norm hidden state at each prompt's out slot, with the [HistoryEmb] slots
        set to f_I(SASRec item embedding) and the out slot to the learned token."""
        width = max(len(p["ids"]) for p in prompts)
        ids = torch.zeros(len(prompts), width, dtype=torch.long)
        mask = torch.zeros(len(prompts), width, dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, : len(p["ids"])] = torch.tensor(p["ids"])
            mask[r, : len(p["ids"])] = 1
        embeds = self.lm.get_input_embeddings()(ids).clone()
        rows = [r for r, p in enumerate(prompts) for _ in p["historySlots"]]
        slots = [s for p in prompts for s in p["historySlots"]]
        items = torch.tensor([i for p in prompts for i in p["historyItems"]])
        embeds[rows, slots] = self.heads.itemProjection(self.sasrec.item_emb(items))
        out_slots = [p["outSlot"] for p in prompts]
        embeds[list(range(len(prompts))), out_slots] = out_token.expand(len(prompts), -1)
        hidden = self.lm.model(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
        return hidden[list(range(len(prompts))), out_slots]

    def users(self, prompts):
        return self.heads.userHead(self.hidden_at_out(prompts, self.heads.userOut))

    def items(self, prompts):
        return self.heads.itemHead(self.hidden_at_out(prompts, self.heads.itemOut))

    def cf_users(self, sasrec_input):
        with torch.no_grad():
            return self.sasrec.log2feats(sasrec_input)[:, -1, :]


def uniformity(x):
    return torch.pdist(F.normalize(x, dim=-1), p=2).pow(2).mul(-2).exp().mean()


def loss_terms(model, user_prompts, item_prompts, sasrec_input, width):
    u = model.users(user_prompts)
    items = model.items(item_prompts)
    b = u.shape[0]
    scores = (items.view(b, width, -1) * u.unsqueeze(1)).sum(-1)
    retrieval = F.cross_entropy(scores, torch.zeros(b, dtype=torch.long))
    c = model.heads.cfUserHead(model.cf_users(sasrec_input))
    distillation = F.mse_loss(F.normalize(u, dim=-1), F.normalize(c, dim=-1))
    terms = {
        "retrieval": retrieval,
        "distillation": distillation,
        "uniformityUser": uniformity(u),
        "uniformityCF": uniformity(c),
    }
    terms["total"] = terms["retrieval"] + terms["distillation"] + terms["uniformityUser"] + terms["uniformityCF"]
    return terms


def write_lm(folder, spec):
    """A random Qwen2 by save_pretrained, every weight redrawn at a visible scale (HF's 0.02
    init hides most mistakes)."""
    torch.manual_seed(15)
    config = Qwen2Config(
        vocab_size=spec["vocabSize"],
        hidden_size=spec["hiddenSize"],
        intermediate_size=spec["intermediateSize"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kvHeads"],
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    lm = Qwen2ForCausalLM(config)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    lm.save_pretrained(folder, safe_serialization=True)


def make_fixtures(folder):
    with open(os.path.join(folder, "inputs.json")) as f:
        inputs = json.load(f)
    lm_dir = os.path.join(folder, "lm")
    write_lm(lm_dir, inputs["lm"])
    dtype = torch.float64
    lm = AutoModelForCausalLM.from_pretrained(lm_dir, attn_implementation="eager").to(dtype).eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    sasrec = load_sasrec(os.path.join(folder, "sasrec.safetensors"), inputs["sasrec"], dtype)
    shape = inputs["shape"]
    torch.manual_seed(16)
    heads = Heads(inputs["sasrec"]["hidden"], inputs["lm"]["hiddenSize"], shape["userHidden"], shape["cfHidden"], shape["outDim"])
    with torch.no_grad():
        table = lm.get_input_embeddings().weight
        for name, p in heads.named_parameters():
            if name in ("userOut", "itemOut"):
                # nn.init.normal_(w, table.mean(), table.std()), as the official code.
                p.normal_(table.mean().item(), table.std().item())
            elif ".1." in name:  # LayerNorm: a visible affine
                p.copy_((1 if name.endswith("weight") else 0) + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.4 * torch.randn_like(p))
    write_safetensors(
        os.path.join(folder, "heads.safetensors"),
        heads.llmrec_state({n: p.detach().float() for n, p in heads.named_parameters()}),
    )
    # The reference from the f32 values as saved, in float64.
    heads.load_llmrec_state({k: v.to(dtype) for k, v in read_safetensors(os.path.join(folder, "heads.safetensors")).items()})
    heads.to(dtype)
    model = LLMSRec(lm, sasrec, heads)
    b = len(inputs["histories"])
    sasrec_input = torch.tensor(inputs["sasrecInput"], dtype=torch.long).view(b, inputs["sasrec"]["maxlen"])
    width = len(inputs["candidates"][0])
    terms = loss_terms(model, inputs["userPrompts"], inputs["itemPrompts"], sasrec_input, width)
    terms["total"].backward()
    assert all(p.grad is None for p in lm.parameters()) and all(p.grad is None for p in sasrec.parameters())
    grads = heads.llmrec_state({n: p.grad.detach().float() for n, p in heads.named_parameters()})
    write_safetensors(os.path.join(folder, "expected-grads.safetensors"), grads)
    out = {"torch": torch.__version__, "transformers": __import__("transformers").__version__, "dtype": "float64"}
    out["terms"] = {k: v.item() for k, v in terms.items()}
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out["terms"]))


def bench(prompts_file, run_dir, threads):
    torch.set_num_threads(threads)
    with open(prompts_file) as f:
        prompts = json.load(f)["prompts"]
    with open(os.path.join(run_dir, "distill", "config.json")) as f:
        saved = json.load(f)
    lm = AutoModelForCausalLM.from_pretrained(saved["lm"], attn_implementation="eager").eval()
    shape = saved["shape"]
    heads = Heads(shape["cfDim"], shape["lmHidden"], shape["userHidden"], shape["cfHidden"], shape["outDim"])
    heads.load_llmrec_state(read_safetensors(os.path.join(run_dir, "distill", "model.safetensors")))
    items = read_safetensors(os.path.join(saved["cf"], "model.safetensors"))["items.table.weight"]
    table = read_safetensors(os.path.join(run_dir, "eval", "item-table.safetensors"))["items"]

    class CfItems:
        item_emb = nn.Embedding.from_pretrained(items)

    model = LLMSRec(lm, CfItems(), heads)

    def serve(batch):
        scores = model.users(batch) @ table.t()
        return torch.topk(scores, 10, dim=1)

    out = {"impl": "torch", "torch": torch.__version__, "threads": threads, "prompts": len(prompts)}
    with torch.no_grad():
        serve(prompts[:1])
        single = []
        for p in prompts[:40]:
            start = time.perf_counter()
            serve([p])
            single.append(1000 * (time.perf_counter() - start))
        single.sort()
        start = time.perf_counter()
        serve(prompts)
        wall = 1000 * (time.perf_counter() - start)
    pick = lambda xs, q: xs[min(len(xs) - 1, int(q / 100 * len(xs)))]  # noqa: E731
    out["batch1"] = {"calls": len(single), "p50Ms": pick(single, 50), "p99Ms": pick(single, 99)}
    out["concurrent64"] = {"oneBatchMs": wall, "note": "64 prompts right-padded in one forward pass"}
    print(json.dumps(out))


def bench_train(batches_file, run_dir, threads):
    torch.set_num_threads(threads)
    with open(batches_file) as f:
        spec = json.load(f)
    with open(os.path.join(run_dir, "distill", "config.json")) as f:
        saved = json.load(f)
    lm = AutoModelForCausalLM.from_pretrained(saved["lm"], attn_implementation="eager").float().eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    sasrec = load_sasrec(os.path.join(saved["cf"], "model.safetensors"), spec["sasrec"], torch.float32)
    shape = saved["shape"]
    heads = Heads(shape["cfDim"], shape["lmHidden"], shape["userHidden"], shape["cfHidden"], shape["outDim"])
    heads.load_llmrec_state(read_safetensors(os.path.join(run_dir, "distill", "model.safetensors")))
    heads.train()
    model = LLMSRec(lm, sasrec, heads)
    optimizer = torch.optim.Adam(heads.parameters(), lr=1e-4, betas=(0.9, 0.98))
    maxlen = spec["sasrec"]["maxlen"]
    times, cpu = [], []
    for k, batch in enumerate(spec["batches"]):
        b = len(batch["userPrompts"])
        sasrec_input = torch.tensor(batch["sasrecInput"], dtype=torch.long).view(b, maxlen)
        start, start_cpu = time.perf_counter(), time.process_time()
        terms = loss_terms(model, batch["userPrompts"], batch["itemPrompts"], sasrec_input, batch["width"])
        terms["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        terms["total"].item()
        if k > 0:  # the first step warms up
            times.append(1000 * (time.perf_counter() - start))
            cpu.append(1000 * (time.process_time() - start_cpu))
    assert all(p.grad is None for p in lm.parameters()), "the frozen LM got a gradient"
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    b = len(spec["batches"][0]["userPrompts"])
    out = {"side": "torch", "torch": torch.__version__, "threads": threads, "batch": b, "steps": len(times)}
    out.update(medianMs=median(times), minMs=min(times), cpuMedianMs=median(cpu), usersPerSecond=b / (median(times) / 1000))
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", help="folder with inputs.json, lm/tokenizer.json and sasrec.safetensors")
    parser.add_argument("--bench", nargs=2, metavar=("PROMPTS_JSON", "RUN_DIR"))
    parser.add_argument("--bench-train", nargs=2, metavar=("BATCHES_JSON", "RUN_DIR"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.fixtures:
        make_fixtures(args.fixtures)
    elif args.bench:
        bench(args.bench[0], args.bench[1], args.threads)
    elif args.bench_train:
        bench_train(args.bench_train[0], args.bench_train[1], args.threads)
    else:
        parser.error("give --fixtures DIR, --bench PROMPTS_JSON RUN_DIR or --bench-train BATCHES_JSON RUN_DIR")


if __name__ == "__main__":
    main()
