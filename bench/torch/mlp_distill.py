"""PyTorch side of bench/mlp-distill.bench.ts: the same MLP in eager mode, F.linear -> layer_norm
-> activation -> F.linear -> loss, then backward, at the LLM-SRec and A-LLMRec shapes.
CPU: B = 512, f32; with --device cuda: B = 4096, f32 and bf16."""

import torch
import torch.nn.functional as F

from common import parse_args, report, selected, time_case

# name, in, hidden, out, layer_norm, activation, loss, teacher_trainable
SHAPES = [
    ("f_cf_user", 64, 128, 128, True, "gelu", "normalized_mse", True),
    ("f_user", 3072, 2048, 128, True, "leaky_relu", "normalized_mse", True),
    ("item_ae", 50, 128, 50, False, "sigmoid", "mse", False),
    ("text_ae", 768, 128, 768, False, "sigmoid", "mse", False),
    ("projector", 50, 4096, 4096, True, "leaky_relu", "mse", False),
]

ACTIVATIONS = {
    "gelu": F.gelu,
    "leaky_relu": lambda v: F.leaky_relu(v, 0.01),
    "sigmoid": torch.sigmoid,
    "relu": F.relu,
}


def distill_loss(kind, y, t):
    if kind == "mse":
        return F.mse_loss(y, t)
    if kind == "cosine":
        return (1 - F.cosine_similarity(y, t, dim=-1)).mean()
    return F.mse_loss(F.normalize(y, dim=-1), F.normalize(t, dim=-1))


def main():
    args = parse_args(__doc__)
    device = args.device
    on_cuda = device.startswith("cuda")
    batch = 4096 if on_cuda else 512
    dtypes = [("f32", torch.float32), ("bf16", torch.bfloat16)] if on_cuda else [("f32", torch.float32)]
    results = []
    for dtype_name, dtype in dtypes:
        for name, d_in, hidden, d_out, layer_norm, activation, loss, teacher_trainable in SHAPES:
            case = f"mlp-distill/{dtype_name}/{name}/{batch}x{d_in}x{hidden}x{d_out}/fwd+bwd"
            if not selected(case, args):
                continue

            def param(*shape, std=1.0, mean=0.0, grad=True):
                return (torch.randn(*shape, device=device) * std + mean).to(dtype).requires_grad_(grad)

            x = param(batch, d_in)
            w1 = param(hidden, d_in, std=d_in**-0.5)
            b1 = param(hidden, std=0.1)
            w2 = param(d_out, hidden, std=hidden**-0.5)
            b2 = param(d_out, std=0.1)
            teacher = param(batch, d_out, grad=teacher_trainable)
            ln_w = param(hidden, std=0.1, mean=1.0)
            ln_b = param(hidden, std=0.1)
            tensors = [x, w1, b1, w2, b2, teacher, ln_w, ln_b]
            act = ACTIVATIONS[activation]

            def run(
                x=x, w1=w1, b1=b1, w2=w2, b2=b2, teacher=teacher, ln_w=ln_w, ln_b=ln_b,
                tensors=tensors, act=act, layer_norm=layer_norm, loss=loss, hidden=hidden,
            ):
                for t in tensors:
                    t.grad = None
                h = F.linear(x, w1, b1)
                if layer_norm:
                    h = F.layer_norm(h, (hidden,), ln_w, ln_b)
                y = F.linear(act(h), w2, b2)
                distill_loss(loss, y.float(), teacher.float()).backward()

            macs = batch * (d_in * hidden + hidden * d_out)
            element = 2 if dtype_name == "bf16" else 4
            bytes_moved = element * 2 * (batch * d_in + hidden * d_in + d_out * hidden + batch * d_out)
            results.append(time_case(case, device, run, flops=6 * macs, bytes_moved=bytes_moved, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
