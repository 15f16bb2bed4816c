"""PyTorch side of bench/topk.bench.ts: torch.topk, and retrieval as a full score matrix, history
masking and torch.topk (what llmrec's fused scoreTopk avoids materialising)."""

import torch

from common import parse_args, report, selected, time_case

ROW_CASES = ((256, 50000, 10), (256, 50000, 100), (4096, 1000, 50), (1, 1000000, 100))
RETRIEVAL_CASES = ((1024, 50000, 64, 10), (64, 200000, 128, 100))


def main():
    args = parse_args(__doc__)
    device = args.device
    results = []
    for rows, n, k in ROW_CASES:
        name = f"topk/f32/{rows}x{n}-k{k}"
        if selected(name, args):
            x = torch.randn(rows, n, device=device)
            results.append(time_case(name, device, lambda: torch.topk(x, k, dim=1), bytes_moved=4 * rows * n + 8 * rows * k, quick=args.quick))
    for users, items, dim, k in RETRIEVAL_CASES:
        name = f"scoreTopk/f32/{users}x{items}x{dim}-k{k}"
        if not selected(name, args):
            continue
        q = torch.randn(users, dim, device=device)
        table = torch.randn(items, dim, device=device)
        rows = torch.arange(users, device=device).repeat_interleave(20)
        ids = (torch.arange(20 * users, device=device) * 7919) % items

        def retrieve():
            scores = q @ table.T
            scores[rows, ids] = float("-inf")
            scores[:, 0] = float("-inf")
            return torch.topk(scores, k, dim=1)

        results.append(time_case(name, device, retrieve, flops=2 * users * items * dim,
                                 bytes_moved=4 * (users * dim + items * dim) + 8 * users * k, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
