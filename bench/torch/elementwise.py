"""PyTorch side of bench/elementwise.bench.ts."""

import torch

from common import parse_args, report, selected, time_case


def main():
    args = parse_args(__doc__)
    device = args.device
    results = []
    copy_sizes = (1 << 20, 1 << 24, 1 << 28) if device.startswith("cuda") else (1 << 20, 1 << 24)
    for n in copy_sizes:
        if selected(f"copy/f32/{n}", args):
            x = torch.randn(n, device=device)
            results.append(time_case(f"copy/f32/{n}", device, lambda: x.clone(), bytes_moved=8 * n, quick=args.quick))
    for n in (1 << 20, 1 << 24):
        x = torch.randn(n, device=device)
        y = torch.randn(n, device=device)
        if selected(f"add/f32/{n}", args):
            results.append(time_case(f"add/f32/{n}", device, lambda: x + y, flops=n, bytes_moved=12 * n, quick=args.quick))
    m = torch.randn(4096, 4096, device=device)
    if selected("sum/f32/rows-4096x4096", args):
        results.append(time_case("sum/f32/rows-4096x4096", device, lambda: m.sum(1), flops=4096 * 4096, bytes_moved=4 * 4096 * 4096, quick=args.quick))
    if selected("sum/f32/cols-4096x4096", args):
        results.append(time_case("sum/f32/cols-4096x4096", device, lambda: m.sum(0), flops=4096 * 4096, bytes_moved=4 * 4096 * 4096, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
