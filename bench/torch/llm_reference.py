"""A hand-written PyTorch Qwen2/Llama causal LM following Hugging Face's modeling_qwen2.py and
modeling_llama.py (RMSNorm, rotate-half RoPE with llama3 scaling, GQA, SwiGLU, tied or untied
head), with HF's parameter names, a dependency-free safetensors reader/writer, and the PyTorch
side of bench/llm.bench.ts. It needs only torch, so fixtures can be made where transformers is
not installed (see make_llm_fixtures.py).

    python3 bench/torch/llm_reference.py [filters] [--device cpu|cuda] [--quick]
"""

import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I32": torch.int32, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if end > begin else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


def load_state(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        state = {}
        for file in files:
            state.update(read_safetensors(os.path.join(folder, file)))
        return state
    return read_safetensors(os.path.join(folder, "model.safetensors"))


def inverse_frequencies(cfg):
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    scaling = cfg.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        inv = inv / scaling["factor"]
    elif kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, scaled)
    return inv


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, h = cfg["hidden_size"], cfg["num_attention_heads"]
        kv = cfg.get("num_key_value_heads", h)
        self.heads, self.kv_heads = h, kv
        self.head_dim = cfg.get("head_dim") or d // h
        qkv_bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
        o_bias = cfg["model_type"] == "llama" and cfg.get("attention_bias", False)
        self.q_proj = nn.Linear(d, h * self.head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(d, kv * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(d, kv * self.head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(h * self.head_dim, d, bias=o_bias)

    def forward(self, x, cos, sin, mask):
        b, l, _ = x.shape
        q = self.q_proj(x).view(b, l, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, l, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, l, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = self.heads // self.kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        return self.o_proj((probs @ v).transpose(1, 2).reshape(b, l, -1))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg["hidden_size"], cfg["intermediate_size"]
        bias = cfg["model_type"] == "llama" and cfg.get("mlp_bias", False)
        self.gate_proj = nn.Linear(d, f, bias=bias)
        self.up_proj = nn.Linear(d, f, bias=bias)
        self.down_proj = nn.Linear(f, d, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg.get("rms_norm_eps", 1e-6)
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)

    def forward(self, h, cos, sin, mask):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg.get("rms_norm_eps", 1e-6))


class CausalLM(nn.Module):
    """HF's Qwen2ForCausalLM / LlamaForCausalLM forward (eager attention, no cache)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Decoder(cfg)
        self.tied = cfg.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.register_buffer("inv_freq", inverse_frequencies(cfg), persistent=False)

    @property
    def head_weight(self):
        return self.model.embed_tokens.weight if self.tied else self.lm_head.weight

    def hidden(self, input_ids=None, inputs_embeds=None, attention_mask=None, causal=True):
        h = self.model.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        b, l, _ = h.shape
        if attention_mask is None:
            attention_mask = torch.ones(b, l, dtype=torch.long, device=h.device)
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
        angles = positions[:, :, None].float() * self.inv_freq[None, None, :].float()
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos().to(h.dtype)[:, None], emb.sin().to(h.dtype)[:, None]
        allowed = attention_mask[:, None, None, :].bool()
        if causal:
            allowed = allowed & torch.ones(l, l, dtype=torch.bool, device=h.device).tril()
        mask = torch.zeros(b, 1, l, l, dtype=h.dtype, device=h.device).masked_fill(~allowed, torch.finfo(h.dtype).min)
        for layer in self.model.layers:
            h = layer(h, cos, sin, mask)
        return self.model.norm(h)

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, labels=None, causal=True):
        h = self.hidden(input_ids, inputs_embeds, attention_mask, causal)
        logits = (h @ self.head_weight.t()).float()
        if labels is None:
            return logits, None
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
        return logits, loss


def load_reference(folder, dtype=torch.float32):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    model = CausalLM(cfg)
    state = {k: v.to(dtype) for k, v in load_state(folder).items() if not (model.tied and k == "lm_head.weight")}
    model.load_state_dict(state, strict=False)
    missing = set(model.state_dict()) - set(state) - {"inv_freq"}
    if missing:
        raise KeyError(f"{folder}: missing tensors {sorted(missing)}")
    return model.to(dtype), cfg


# --- the PyTorch side of bench/llm.bench.ts ------------------------------------------------------

PRESETS = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=172, vocab_size=1024),
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2, intermediate_size=688, vocab_size=4096),
    "qwen2-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864, vocab_size=151936),
}
CASES = [("tiny", "f32", 8, 128, ("cpu", "cuda")), ("small", "f32", 4, 128, ("cpu", "cuda")), ("qwen2-0.5b", "bf16", 4, 512, ("cuda",))]


def forward_flops(p, batch, length, with_head):
    head_dim = p["hidden_size"] // p["num_attention_heads"]
    q, kv = p["num_attention_heads"] * head_dim, p["num_key_value_heads"] * head_dim
    per_token = 2 * (p["hidden_size"] * (2 * q + 2 * kv) + 3 * p["hidden_size"] * p["intermediate_size"])
    attention = 4 * p["num_attention_heads"] * head_dim * (length * (length + 1) // 2)
    head = 2 * p["hidden_size"] * p["vocab_size"] if with_head else 0
    return batch * (p["num_hidden_layers"] * (length * per_token + attention) + length * head)


def main():
    from common import parse_args, report, selected, time_case

    args = parse_args(__doc__)
    device = args.device
    results = []
    for preset, dtype_name, batch, length, devices in CASES:
        if ("cuda" if device.startswith("cuda") else "cpu") not in devices:
            continue
        p = PRESETS[preset]
        cfg = dict(model_type="qwen2", rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, **p)
        dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
        torch.manual_seed(1)
        model = CausalLM(cfg).to(device=device, dtype=dtype)
        ids = ((torch.arange(batch * length) * 7919 + 13) % p["vocab_size"]).reshape(batch, length).to(device)
        params = sum(t.numel() for t in model.parameters())
        weight_bytes = params * (2 if dtype == torch.bfloat16 else 4)
        label = f"llm/{preset}/{dtype_name}/B{batch}xL{length}"

        def forward():
            with torch.no_grad():
                model.hidden(ids)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            _, loss = model(ids, labels=ids)
            loss.backward()

        tokens = {"tokens": batch * length}
        if selected(f"{label}/forward", args):
            results.append(
                time_case(f"{label}/forward", device, forward, forward_flops(p, batch, length, False), weight_bytes, args.quick, tokens)
            )
        if selected(f"{label}/forward+backward", args):
            results.append(
                time_case(
                    f"{label}/forward+backward", device, forward_backward, 3 * forward_flops(p, batch, length, True), 3 * weight_bytes, args.quick, tokens
                )
            )
    report(results, args)


if __name__ == "__main__":
    main()
