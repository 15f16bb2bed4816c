"""PyTorch reference SASRec, as pmixer/SASRec.pytorch builds it (the CF-SRec of LLM-SRec and A-LLMRec),
trained and evaluated on a split exported by scripts/export-split.mjs, for comparison with llmrec's
lib/models/sasrec.ts on quality and speed.

  node scripts/export-split.mjs --out /tmp/split
  /usr/bin/python3 bench/torch/sasrec.py --split /tmp/split --preset a-llmrec --epochs 20 --seed 0 --threads 2

Prints one JSON line per epoch and a final line with the validation and test metrics.
"""

import torch

from seqrec_common import EpochSampler, Split, base_parser, setup, train_and_evaluate

PRESETS = {
    "a-llmrec": {"hidden": 50, "blocks": 2, "heads": 1, "dropout": 0.5, "maxlen": 50},
    "llm-srec": {"hidden": 64, "blocks": 2, "heads": 1, "dropout": 0.1, "maxlen": 128},
}
EPS = 1e-8


class PointWiseFeedForward(torch.nn.Module):
    def __init__(self, hidden, dropout):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(hidden, hidden, kernel_size=1)
        self.dropout1 = torch.nn.Dropout(p=dropout)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv1d(hidden, hidden, kernel_size=1)
        self.dropout2 = torch.nn.Dropout(p=dropout)

    def forward(self, inputs):
        outputs = self.dropout2(self.conv2(self.relu(self.dropout1(self.conv1(inputs.transpose(-1, -2))))))
        return outputs.transpose(-1, -2) + inputs


class SASRec(torch.nn.Module):
    def __init__(self, num_items, hidden, blocks, heads, dropout, maxlen):
        super().__init__()
        self.item_emb = torch.nn.Embedding(num_items + 1, hidden, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(maxlen + 1, hidden, padding_idx=0)
        self.emb_dropout = torch.nn.Dropout(p=dropout)
        self.attention_layernorms = torch.nn.ModuleList()
        self.attention_layers = torch.nn.ModuleList()
        self.forward_layernorms = torch.nn.ModuleList()
        self.forward_layers = torch.nn.ModuleList()
        for _ in range(blocks):
            self.attention_layernorms.append(torch.nn.LayerNorm(hidden, eps=EPS))
            self.attention_layers.append(torch.nn.MultiheadAttention(hidden, heads, dropout))
            self.forward_layernorms.append(torch.nn.LayerNorm(hidden, eps=EPS))
            self.forward_layers.append(PointWiseFeedForward(hidden, dropout))
        self.last_layernorm = torch.nn.LayerNorm(hidden, eps=EPS)
        # pmixer's init: Xavier-normal wherever it applies (>= 2 dims); biases and LayerNorm keep
        # torch's defaults. The padding rows go back to zero, as in pmixer's main.py.
        for _, param in self.named_parameters():
            try:
                torch.nn.init.xavier_normal_(param.data)
            except ValueError:
                pass
        self.item_emb.weight.data[0].zero_()
        self.pos_emb.weight.data[0].zero_()

    def log2feats(self, log_seqs):
        seqs = self.item_emb(log_seqs) * self.item_emb.embedding_dim**0.5
        length = log_seqs.shape[1]
        real = log_seqs != 0
        positions = torch.arange(1, length + 1, device=log_seqs.device).unsqueeze(0) * real
        seqs = self.emb_dropout(seqs + self.pos_emb(positions))
        timeline = real.unsqueeze(-1)
        seqs = seqs * timeline
        causal = ~torch.tril(torch.ones((length, length), dtype=torch.bool, device=log_seqs.device))
        for i in range(len(self.attention_layers)):
            seqs = seqs.transpose(0, 1)
            q = self.attention_layernorms[i](seqs)
            attended, _ = self.attention_layers[i](q, seqs, seqs, attn_mask=causal, need_weights=False)
            seqs = (q + attended).transpose(0, 1)
            seqs = self.forward_layers[i](self.forward_layernorms[i](seqs))
            seqs = seqs * timeline
        return self.last_layernorm(seqs)

    def forward(self, log_seqs, pos_seqs, neg_seqs):
        feats = self.log2feats(log_seqs)
        pos_logits = (feats * self.item_emb(pos_seqs)).sum(-1)
        neg_logits = (feats * self.item_emb(neg_seqs)).sum(-1)
        return pos_logits, neg_logits

    def score_all(self, log_seqs):
        """Scores of every item id (column 0 is padding) from the last position's output."""
        user = self.log2feats(log_seqs)[:, -1, :]
        return user @ self.item_emb.weight.t()


def main():
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="a-llmrec")
    for name in ("hidden", "blocks", "heads", "maxlen"):
        parser.add_argument(f"--{name}", type=int, help="overrides the preset")
    parser.add_argument("--dropout", type=float, help="overrides the preset")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    device = setup(args)
    config = dict(PRESETS[args.preset])
    for name in config:
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)

    split = Split(args.split)
    model = SASRec(split.num_items, **config).to(device)
    sampler = EpochSampler(split, config["maxlen"], args.batch_size, args.seed, left=True)
    bce = torch.nn.BCEWithLogitsLoss()

    def step_loss(input_ids, positive, negative):
        pos_logits, neg_logits = model(input_ids, positive, negative)
        real = positive != 0
        return bce(pos_logits[real], torch.ones_like(pos_logits[real])) + bce(
            neg_logits[real], torch.zeros_like(neg_logits[real])
        )

    config.update(
        preset=args.preset,
        lr=args.lr,
        batch_size=args.batch_size,
        parameters=sum(p.numel() for p in model.parameters()),
        optimizer=torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98)),
    )
    train_and_evaluate("sasrec", args, config, model, split, sampler, step_loss, model.score_all, left=True)


if __name__ == "__main__":
    main()
