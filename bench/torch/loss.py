"""PyTorch side of bench/loss.bench.ts: the unfused output projection + cross-entropy
(hidden @ weight.T, then F.cross_entropy), which materialises the N x V logits. CPU shapes
N = 512 (V = 16384 and 151936); with --device cuda, N = 8192 and V = 151936."""

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case

DIM = 896


def main():
    args = parse_args(__doc__)
    device = args.device
    shapes = [(8192, 151936)] if device.startswith("cuda") else [(512, 16384), (512, 151936)]
    results = []
    for n, vocab in shapes:
        for backward in (False, True):
            name = f"linear-ce/f32/{n}x{DIM}x{vocab}" + ("/fwd+bwd" if backward else "")
            if not selected(name, args):
                continue
            hidden = torch.randn(n, DIM, device=device, requires_grad=backward)
            weight = (torch.randn(vocab, DIM, device=device) * 0.02).requires_grad_(backward)
            labels = (torch.arange(n, device=device) * 7919) % vocab
            flops = (6 if backward else 2) * n * vocab * DIM
            bytes_moved = 4 * (n * DIM + vocab * DIM) * (2 if backward else 1)
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
    report(results, args)


if __name__ == "__main__":
    main()
