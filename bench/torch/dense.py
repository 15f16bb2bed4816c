"""PyTorch side of bench/dense.bench.ts: norms, softmax and activations at 8192 x 896 (f32), and
LayerNorm + GELU at SASRec's 128 x 200 tokens x 64."""

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case

ROWS, COLS = 8192, 896
N = ROWS * COLS
SAS_ROWS, SAS_COLS = 128 * 200, 64
SAS_N = SAS_ROWS * SAS_COLS


def rms_norm(x, w, eps=1e-6):
    # torch 1.13 has no F.rms_norm; this is the Qwen2/Llama reference implementation.
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def swiglu(x):
    gate, up = x.chunk(2, -1)
    return F.silu(gate) * up


CASES = [
    # name, input shapes, op, flops, bytes, backward bytes (as in dense.bench.ts); the first
    # shape names the case
    ("layernorm", [(ROWS, COLS), (COLS,), (COLS,)], lambda x, w, b: F.layer_norm(x, (COLS,), w, b), 8 * N, 8 * N, 12 * N),
    ("rmsnorm", [(ROWS, COLS), (COLS,)], rms_norm, 5 * N, 8 * N, 12 * N),
    ("softmax", [(ROWS, COLS)], lambda x: torch.softmax(x, -1), 5 * N, 8 * N, 12 * N),
    ("gelu", [(ROWS, COLS)], F.gelu, 20 * N, 8 * N, 12 * N),
    ("swiglu", [(ROWS, 2 * COLS)], swiglu, 8 * N, 12 * N, 20 * N),
    ("silu", [(ROWS, COLS)], F.silu, 5 * N, 8 * N, 12 * N),
    ("gelu", [(SAS_ROWS, SAS_COLS)], F.gelu, 20 * SAS_N, 8 * SAS_N, 12 * SAS_N),
    ("layernorm+gelu", [(SAS_ROWS, SAS_COLS), (SAS_COLS,), (SAS_COLS,)],
     lambda x, w, b: F.gelu(F.layer_norm(x, (SAS_COLS,), w, b)), 28 * SAS_N, 12 * SAS_N, 20 * SAS_N),
]


def main():
    args = parse_args(__doc__)
    device = args.device
    results = []
    for name, shapes, op, flops, bytes_fwd, bytes_bwd in CASES:
        for backward in (False, True):
            case = f"{name}/f32/{shapes[0][0]}x{shapes[0][1]}" + ("/fwd+bwd" if backward else "")
            if not selected(case, args):
                continue
            inputs = [torch.randn(*s, device=device, requires_grad=backward) for s in shapes]
            if backward:
                grad_out = torch.randn_like(op(*inputs))

                def run(inputs=inputs, op=op, grad_out=grad_out):
                    for t in inputs:
                        t.grad = None
                    op(*inputs).backward(grad_out)

                results.append(time_case(case, device, run, flops=3 * flops, bytes_moved=bytes_fwd + bytes_bwd, quick=args.quick))
            else:
                with torch.no_grad():
                    results.append(time_case(case, device, lambda: op(*inputs), flops=flops, bytes_moved=bytes_fwd, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
