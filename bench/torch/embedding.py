"""PyTorch side of bench/embedding.bench.ts."""

import math

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case


def lookup(device, rows, width, shape, sasrec, backward):
    count = math.prod(shape)
    indices = torch.randint(0, rows, shape, device=device)
    table = torch.randn(rows, width, device=device, requires_grad=backward)
    positions = torch.randn(shape[-1], width, device=device, requires_grad=backward) if sasrec else None
    grad = torch.randn(*shape, width, device=device) if backward else None

    def run():
        if sasrec:
            # pmixer's SASRec: scaled item embedding plus positions, padded positions masked to zero.
            out = F.embedding(indices, table, padding_idx=0) * math.sqrt(width) + positions
            out = out * (indices != 0).unsqueeze(-1)
        else:
            out = F.embedding(indices, table)
        if backward:
            out.backward(grad)
            table.grad = None
            if positions is not None:
                positions.grad = None

    gather_bytes = count * (4 + 8 * width)
    backward_bytes = count * (4 + 4 * width) + 4 * rows * width
    return run, gather_bytes + (backward_bytes if backward else 0)


def main():
    args = parse_args(__doc__)
    device = args.device
    count = 1 << 20 if device.startswith("cuda") else 1 << 18
    shapes = [
        (f"1Mx128/{count}", 1 << 20, 128, (count,), False),
        ("sasrec/100kx64/128x200", 100_000, 64, (128, 200), True),
    ]
    results = []
    for label, rows, width, shape, sasrec in shapes:
        for backward in (False, True):
            name = f"embedding/{'fwd+bwd' if backward else 'fwd'}/f32/{label}"
            if selected(name, args):
                run, moved = lookup(device, rows, width, shape, sasrec, backward)
                results.append(time_case(name, device, run, bytes_moved=moved, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
