"""PyTorch reference GRU4Rec (the next-item variant LLM2Rec evaluates with), trained and evaluated on a
split exported by scripts/export-split.mjs, for comparison with llmrec's GRU4Rec.

  node scripts/export-split.mjs --out /tmp/split
  /usr/bin/python3 bench/torch/gru4rec.py --split /tmp/split --epochs 20 --seed 0 --threads 2

Item embedding (padding 0) -> dropout -> GRU; the output at every position is scored against the
item table, with softmax cross-entropy over items 1..n at every non-pad position. Sequences are
right-padded (RecBole's layout): a GRU is causal, so trailing pads never reach a real position, and
the user representation is the output at the last real item. LLM2Rec's setting is
--hidden 128 --layers 2 --lr 1e-4.
"""

import torch

from seqrec_common import EpochSampler, Split, base_parser, setup, train_and_evaluate


class GRU4Rec(torch.nn.Module):
    def __init__(self, num_items, hidden, layers, dropout):
        super().__init__()
        self.item_emb = torch.nn.Embedding(num_items + 1, hidden, padding_idx=0)
        self.emb_dropout = torch.nn.Dropout(p=dropout)
        self.gru = torch.nn.GRU(hidden, hidden, num_layers=layers, batch_first=True)

    def states(self, seqs):
        out, _ = self.gru(self.emb_dropout(self.item_emb(seqs)))
        return out

    def score_all(self, seqs):
        """Scores of every item id (column 0 is padding) from the output at the last real item."""
        out = self.states(seqs)
        last = ((seqs != 0).sum(1) - 1).clamp(min=0)
        user = out[torch.arange(len(seqs), device=seqs.device), last]
        return user @ self.item_emb.weight.t()


def main():
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--maxlen", type=int, default=50)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    device = setup(args)

    split = Split(args.split)
    model = GRU4Rec(split.num_items, args.hidden, args.layers, args.dropout).to(device)
    sampler = EpochSampler(split, args.maxlen, args.batch_size, args.seed, left=False, negatives=False)

    def step_loss(input_ids, positive, _negative):
        real = positive != 0
        states = model.states(input_ids)[real]
        logits = states @ model.item_emb.weight[1:].t()
        return torch.nn.functional.cross_entropy(logits, positive[real] - 1)

    config = {
        "hidden": args.hidden,
        "layers": args.layers,
        "dropout": args.dropout,
        "maxlen": args.maxlen,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "padding": "right",
        "parameters": sum(p.numel() for p in model.parameters()),
        "optimizer": torch.optim.Adam(model.parameters(), lr=args.lr),
    }
    train_and_evaluate("gru4rec", args, config, model, split, sampler, step_loss, model.score_all, left=False)


if __name__ == "__main__":
    main()
