"""PyTorch side of bench/attention.bench.ts: F.scaled_dot_product_attention where this torch has it
(2.0 and later), else the same math written out (softmax(q kᵀ · scale + causal mask) v), with the
kv heads repeated for grouped-query attention."""

import math

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case

CASES = [
    # name, batch (cpu, cuda), query heads, kv heads, length, head dim, causal
    ("sasrec-L50-H1", (256, 256), 1, 1, 50, 64, True),
    ("sasrec-L50-H2", (256, 256), 2, 2, 50, 64, True),
    ("sasrec-L200-H1", (256, 256), 1, 1, 200, 64, True),
    ("sasrec-L200-H2", (256, 256), 2, 2, 200, 64, True),
    ("lm-L1024-H14-KV2", (1, 8), 14, 2, 1024, 64, True),
]


def attention(q, k, v, causal):
    group = q.shape[1] // k.shape[1]
    if group > 1:
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        lq, lk = q.shape[2], k.shape[2]
        mask = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(diagonal=lk - lq)
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def main():
    args = parse_args(__doc__)
    device = args.device
    results = []
    for name, batches, hq, hkv, length, dim, causal in CASES:
        batch = batches[1] if device.startswith("cuda") else batches[0]
        pairs = batch * hq * (length * (length + 1) // 2 if causal else length * length)
        forward_flops = 4 * pairs * dim
        q_bytes = 4 * batch * hq * length * dim
        kv_bytes = 4 * batch * hkv * length * dim
        row_bytes = 4 * batch * hq * length
        forward_bytes = 2 * q_bytes + 2 * kv_bytes + row_bytes
        backward_bytes = 4 * q_bytes + 4 * kv_bytes + row_bytes
        q = torch.randn(batch, hq, length, dim, device=device, requires_grad=True)
        k = torch.randn(batch, hkv, length, dim, device=device, requires_grad=True)
        v = torch.randn(batch, hkv, length, dim, device=device, requires_grad=True)
        grad_out = torch.randn(batch, hq, length, dim, device=device)

        def forward():
            with torch.no_grad():
                attention(q, k, v, causal)

        def forward_backward():
            q.grad = k.grad = v.grad = None
            attention(q, k, v, causal).backward(grad_out)

        fwd_name = f"attention/fwd/f32/{name}"
        if selected(fwd_name, args):
            results.append(time_case(fwd_name, device, forward, flops=forward_flops, bytes_moved=forward_bytes, quick=args.quick))
        both_name = f"attention/fwd+bwd/f32/{name}"
        if selected(both_name, args):
            results.append(
                time_case(
                    both_name,
                    device,
                    forward_backward,
                    flops=3.5 * forward_flops,
                    bytes_moved=forward_bytes + backward_bytes,
                    quick=args.quick,
                )
            )
    report(results, args)


if __name__ == "__main__":
    main()
