"""PyTorch side of bench/infonce.bench.ts: eager normalize + matmul + cross_entropy."""

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case


def infonce_case(device, batch, dim, backward):
    q = torch.randn(batch, dim, device=device, requires_grad=backward)
    k = torch.randn(batch, dim, device=device, requires_grad=backward)
    labels = torch.arange(batch, device=device)

    def run():
        logits = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T / 0.05
        loss = F.cross_entropy(logits, labels)
        if backward:
            loss.backward()
            q.grad = None
            k.grad = None

    return run


def main():
    args = parse_args(__doc__)
    device = args.device
    shapes = [(4096, 128), (4096, 896)] if device.startswith("cuda") else [(1024, 128), (1024, 896)]
    results = []
    for batch, dim in shapes:
        for backward in (False, True):
            name = f"infonce/{'fwd+bwd' if backward else 'fwd'}/f32/B{batch}xd{dim}"
            if selected(name, args):
                flops = (3 if backward else 1) * 2 * batch * batch * dim
                moved = (4 if backward else 2) * 4 * batch * dim
                results.append(
                    time_case(name, device, infonce_case(device, batch, dim, backward), flops=flops, bytes_moved=moved, quick=args.quick)
                )
    report(results, args)


if __name__ == "__main__":
    main()
