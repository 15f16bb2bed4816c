"""PyTorch side of bench/gemm.bench.ts: torch.matmul and F.linear on the same shapes."""

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case

QWEN_LINEARS = (("attn-out", 896, 896), ("mlp-up", 896, 4864), ("mlp-down", 4864, 896))


def main():
    args = parse_args(__doc__)
    device = args.device
    on_gpu = device.startswith("cuda")
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}
    cases = []  # (name, a shape, b shape, flops, out elements, fn, dtype)

    def square(n, dtype):
        cases.append((f"gemm/{dtype}/{n}x{n}x{n}", (n, n), (n, n), 2 * n**3, n * n, torch.matmul, dtype))

    square(1024, "f32")
    if on_gpu:
        square(1024, "bf16")
        square(4096, "bf16")
        square(4096, "f32")
    for dtype in ("f32", "bf16") if on_gpu else ("f32",):
        for what, in_f, out_f in QWEN_LINEARS:
            cases.append((f"linear/{dtype}/qwen2-0.5b-{what}-2048x{in_f}->{out_f}", (2048, in_f), (out_f, in_f),
                          2 * 2048 * in_f * out_f, 2048 * out_f, F.linear, dtype))
    if on_gpu:
        # Extents that are not multiples of 8 (llmrec's tensor_unaligned GEMM variant).
        for what, tokens, in_f, out_f in (("items", 8192, 64, 3706), ("gpt2-head", 2048, 768, 50257)):
            cases.append((f"linear/bf16/{what}-{tokens}x{in_f}->{out_f}", (tokens, in_f), (out_f, in_f),
                          2 * tokens * in_f * out_f, tokens * out_f, F.linear, "bf16"))
    if not on_gpu:
        # The `small` LM preset's projections over 1024 tokens, as in gemm.bench.ts.
        for what, in_f, out_f in (("lm-small-mlp-up", 256, 688), ("lm-small-head", 256, 4096)):
            cases.append((f"linear/f32/{what}-1024x{in_f}->{out_f}", (1024, in_f), (out_f, in_f),
                          2 * 1024 * in_f * out_f, 1024 * out_f, F.linear, "f32"))
        bias = torch.randn(688)
        cases.append(("linear+bias+gelu/f32/lm-small-mlp-up-1024x256->688", (1024, 256), (688, 256),
                      2 * 1024 * 256 * 688, 1024 * 688, lambda x, w: F.gelu(F.linear(x, w, bias)), "f32"))
    cases.append(("bmm/f32/64x(128x64x128)", (64, 128, 64), (64, 64, 128), 2 * 64 * 128 * 64 * 128, 64 * 128 * 128,
                  torch.matmul, "f32"))

    if on_gpu:
        # Match llmrec's f32 path, which keeps full f32 precision (no tf32).
        torch.backends.cuda.matmul.allow_tf32 = False
    results = []
    for name, a_shape, b_shape, flops, out_elements, fn, dtype in cases:
        if not selected(name, args):
            continue
        a = torch.randn(*a_shape, device=device, dtype=dtypes[dtype])
        b = torch.randn(*b_shape, device=device, dtype=dtypes[dtype])
        size = 2 if dtype == "bf16" else 4
        moved = size * (a.numel() + b.numel() + out_elements)
        results.append(time_case(name, device, lambda: fn(a, b), flops=flops, bytes_moved=moved, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
