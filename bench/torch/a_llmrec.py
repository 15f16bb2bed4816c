"""A-LLMRec's two training losses in PyTorch, as the reference code computes them, on a fixed tiny
setup: the parity fixtures that test/a-llmrec.test.ts checks llmrec against (1e-4 relative).

- stage 1: two_layer_mlp item and text autoencoders (fc1 -> sigmoid = latent, fc2 = recon);
  L = BCE(mean(u * recon_pos), 1) + BCE(mean(u * recon_neg), 0) + MSE(e, q) (pos + neg)
      + 0.5 * MSE(recon, E) + 0.2 * MSE(text recon, T.detach()); every term and each
      parameter's gradient;
- stage 2: F_U (Linear, LayerNorm, LeakyReLU, Linear) and F_I (Linear, LayerNorm, GELU, Linear)
  write soft tokens over prompt slots of a frozen random Qwen2 (transformers' own model code);
  the loss is the LM's CE on the answer tokens only; the loss and the projectors' gradients.

usage: /usr/bin/python3 bench/torch/a_llmrec.py OUT_DIR   (writes OUT_DIR/parity.json and OUT_DIR/lm/)
"""

import json
import os
import sys

import hf_env  # noqa: F401  (makes transformers importable on Debian's torch)
import torch
import torch.nn as nn
from transformers import Qwen2Config, Qwen2ForCausalLM


class TwoLayerMlp(nn.Module):
    def __init__(self, dims, latent):
        super().__init__()
        self.fc1 = nn.Linear(dims, latent)
        self.fc2 = nn.Linear(latent, dims)

    def forward(self, x):
        x = torch.sigmoid(self.fc1(x))
        return x, self.fc2(x)


def tensors(module, prefix):
    return {f"{prefix}{name}": p.detach().tolist() for name, p in module.named_parameters()}


def grads(module, prefix):
    return {f"{prefix}{name}": p.grad.detach().tolist() for name, p in module.named_parameters()}


def stage1():
    torch.manual_seed(11)
    cf, text, latent, rows = 6, 5, 4, 3
    item, text_ae = TwoLayerMlp(cf, latent), TwoLayerMlp(text, latent)
    user = torch.randn(rows, cf) * 2
    pos, neg = torch.randn(rows, cf) * 1.5, torch.randn(rows, cf) * 1.5
    pos_text, neg_text = torch.randn(rows, text), torch.randn(rows, text)
    bce, mse = nn.BCEWithLogitsLoss(), nn.MSELoss()
    pos_latent, pos_recon = item(pos)
    neg_latent, neg_recon = item(neg)
    pos_text_latent, pos_text_recon = text_ae(pos_text)
    neg_text_latent, neg_text_recon = text_ae(neg_text)
    rec = bce((user * pos_recon).mean(axis=1), torch.ones(rows)) + bce(
        (user * neg_recon).mean(axis=1), torch.zeros(rows)
    )
    matching = mse(pos_latent, pos_text_latent) + mse(neg_latent, neg_text_latent)
    item_recon = mse(pos_recon, pos) + mse(neg_recon, neg)
    text_recon = mse(pos_text_recon, pos_text.data) + mse(neg_text_recon, neg_text.data)
    total = rec + matching + 0.5 * item_recon + 0.2 * text_recon
    total.backward()
    return {
        "dims": {"cf": cf, "text": text, "latent": latent},
        "weights": {**tensors(item, "item."), **tensors(text_ae, "text.")},
        "inputs": {
            "user": user.tolist(),
            "positiveItem": pos.tolist(),
            "negativeItem": neg.tolist(),
            "positiveText": pos_text.tolist(),
            "negativeText": neg_text.tolist(),
        },
        "terms": {
            "rec": rec.item(),
            "matching": matching.item(),
            "itemRecon": item_recon.item(),
            "textRecon": text_recon.item(),
            "total": total.item(),
        },
        "grads": {**grads(item, "item."), **grads(text_ae, "text.")},
    }


def projector(inp, d, activation):
    return nn.Sequential(nn.Linear(inp, d), nn.LayerNorm(d), activation, nn.Linear(d, d))


def stage2(out_dir):
    torch.manual_seed(12)
    vocab, d, cf, latent = 64, 16, 6, 4
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=d,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        eos_token_id=vocab - 1,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    lm = Qwen2ForCausalLM(config).eval()
    for p in lm.parameters():
        p.requires_grad_(False)
    lm.save_pretrained(os.path.join(out_dir, "lm"), safe_serialization=True)
    f_u = projector(cf, d, nn.LeakyReLU())
    f_i = projector(latent, d, nn.GELU())
    # Two prompts, right-padded: slot 0 is the user token; item slots follow titles.
    lengths = [14, 11]
    width = max(lengths)
    ids = torch.randint(0, vocab - 1, (2, width))
    labels = torch.full((2, width), -100)
    labels[0, 10:14] = ids[0, 10:14]
    labels[1, 8:11] = ids[1, 8:11]
    mask = torch.zeros(2, width, dtype=torch.long)
    for r, n in enumerate(lengths):
        mask[r, :n] = 1
    item_slots = [(0, 3), (0, 6), (0, 8), (1, 2), (1, 5)]
    users = torch.randn(2, cf)
    latents = torch.rand(len(item_slots), latent)
    values = torch.cat([f_u(users), f_i(latents)], 0)
    embeds = lm.get_input_embeddings()(ids).clone()
    slots = [(0, 0), (1, 0)] + item_slots
    for k, (b, p) in enumerate(slots):
        embeds[b, p] = values[k]
    loss = lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
    loss.backward()
    return {
        "dims": {"cf": cf, "latent": latent, "lm": d},
        "ids": ids.tolist(),
        "labels": labels.tolist(),
        "lengths": lengths,
        "slots": slots,
        "users": users.tolist(),
        "latents": latents.tolist(),
        "weights": {**tensors(f_u, "user."), **tensors(f_i, "item.")},
        "loss": loss.item(),
        "grads": {**grads(f_u, "user."), **grads(f_i, "item.")},
    }


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    fixture = {"torch": torch.__version__, "stage1": stage1(), "stage2": stage2(out_dir)}
    with open(os.path.join(out_dir, "parity.json"), "w") as handle:
        json.dump(fixture, handle)


if __name__ == "__main__":
    main()
