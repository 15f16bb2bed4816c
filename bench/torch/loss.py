"""PyTorch side of bench/loss.bench.ts: the unfused output projection + cross-entropy
(hidden @ weight.T, then F.cross_entropy), which materialises the N x V logits. CPU shapes
N = 512 (V = 16384 and 151936); with --device cuda, N = 8192 and V = 151936 in f32 and bf16, and
V = 50257 in bf16. With --device cuda also gather-dot (sampled softmax's scores over an item
table: torch.einsum over the gathered rows, backward included)."""

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case

DIM = 896


def main():
    args = parse_args(__doc__)
    device = args.device
    on_gpu = device.startswith("cuda")
    # (rows, vocabulary, dtype, which passes)
    shapes = [(8192, 151936, "f32", (False, True)), (8192, 151936, "bf16", (False, True)),
              (8192, 50257, "bf16", (True,))] if on_gpu else [(512, 16384, "f32", (False, True)),
                                                             (512, 151936, "f32", (False, True))]
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16}
    results = []
    for n, vocab, dtype, passes in shapes:
        for backward in passes:
            name = f"linear-ce/{dtype}/{n}x{DIM}x{vocab}" + ("/fwd+bwd" if backward else "")
            if not selected(name, args):
                continue
            hidden = torch.randn(n, DIM, device=device, dtype=dtypes[dtype], requires_grad=backward)
            weight = (torch.randn(vocab, DIM, device=device, dtype=dtypes[dtype]) * 0.02).requires_grad_(backward)
            labels = (torch.arange(n, device=device) * 7919) % vocab
            flops = (6 if backward else 2) * n * vocab * DIM
            size = 2 if dtype == "bf16" else 4
            bytes_moved = size * (n * DIM + vocab * DIM) * (2 if backward else 1)
            if backward:

                def run(hidden=hidden, weight=weight, labels=labels):
                    hidden.grad = None
                    weight.grad = None
                    F.cross_entropy(hidden @ weight.t(), labels).backward()

            else:

                def run(hidden=hidden, weight=weight, labels=labels):
                    with torch.no_grad():
                        F.cross_entropy(hidden @ weight.t(), labels)

            peak = None
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            result = time_case(name, device, run, flops=flops, bytes_moved=bytes_moved, quick=args.quick)
            if device.startswith("cuda"):
                peak = torch.cuda.max_memory_allocated()
                result["notes"] = {"peakBytes": peak}
            results.append(result)
    if on_gpu:
        for dtype in ("f32", "bf16"):
            results += gather_dot(4096, 101, 64, 1_000_000, dtype, dtypes[dtype], args)
    report(results, args)


def gather_dot(n, per_row, d, items, dtype, torch_dtype, args):
    """llmrec's gatherDot: user [n, d] against table rows picked by ids [n, per_row], fwd + bwd."""
    name = f"gather-dot/{dtype}/{n}x{per_row}x{d}/items-{items}/fwd+bwd"
    if not selected(name, args):
        return []
    device = args.device
    user = torch.randn(n, d, device=device, dtype=torch_dtype, requires_grad=True)
    table = torch.randn(items, d, device=device, dtype=torch_dtype, requires_grad=True)
    i = torch.arange(n * per_row, device=device)
    ids = ((i * 7919 + (i >> 7)) % items).reshape(n, per_row)
    grad = torch.randn(n, per_row, device=device, dtype=torch_dtype)

    def run():
        user.grad = None
        table.grad = None
        torch.einsum("nd,nkd->nk", user, table[ids]).backward(grad)

    size = 2 if dtype == "bf16" else 4
    return [time_case(name, device, run, flops=3 * 2 * n * per_row * d,
                      bytes_moved=size * (2 * n * d + 2 * n * per_row * d + items * d), quick=args.quick)]


if __name__ == "__main__":
    main()
