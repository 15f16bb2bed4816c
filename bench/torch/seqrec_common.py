"""Shared data, sampling, evaluation and reporting for the PyTorch sequential-recommendation references
(sasrec.py, gru4rec.py). They read a split written by scripts/export-split.mjs, so both sides train
and evaluate on identical users, targets and candidate sets; only the training negatives are drawn
here, by a seeded numpy Generator, with pmixer's WarpSampler semantics (see EpochSampler).

Run as a script, it summarises --out files: mean ± std over seeds per model and implementation.

Python 3.11 stdlib + numpy + torch only (Debian's /usr/bin/python3).
"""

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
import torch


def load_split(directory):
    directory = pathlib.Path(directory)
    meta = json.loads((directory / "meta.json").read_text())
    if meta.get("format") != "llmrec-split/1":
        raise SystemExit(f"{directory}: not an llmrec split (meta.json format {meta.get('format')!r})")
    arrays = {name[: -len(".npy")]: np.load(directory / name) for name in meta["files"]}
    return meta, arrays


class Split:
    """Training sequences as ragged views plus the fixed evaluation candidates of one export."""

    def __init__(self, directory):
        self.meta, arrays = load_split(directory)
        self.num_users = self.meta["num_users"]
        self.num_items = self.meta["num_items"]
        self.offsets = arrays["train_offsets"].astype(np.int64)
        self.items = arrays["train_items"]
        self.valid_target = arrays["valid_target"]
        self.test_target = arrays["test_target"]
        self.users = {stage: arrays[f"{stage}_users"] for stage in ("valid", "test")}
        self.candidates = {stage: arrays[f"{stage}_candidates"] for stage in ("valid", "test")}

    def train(self, user):
        return self.items[self.offsets[user] : self.offsets[user + 1]]

    def history(self, user, stage):
        """The model's input for a stage: training items, plus the validation item for test."""
        train = self.train(user)
        if stage == "test" and self.valid_target[user] > 0:
            return np.append(train, self.valid_target[user])
        return train


def pad_rows(sequences, maxlen, left):
    """The last maxlen items of each sequence in a [rows, maxlen] int64 array, 0 = padding."""
    out = np.zeros((len(sequences), maxlen), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-maxlen:]
        if len(tail):
            if left:
                out[row, maxlen - len(tail) :] = tail
            else:
                out[row, : len(tail)] = tail
    return out


class EpochSampler:
    """pmixer's WarpSampler as epochs: every user with >= 2 training items once per epoch, in a
    seeded shuffled order; the last maxlen (input, next item) pairs, padded; one uniform negative
    per non-pad position from the items outside the user's training items."""

    def __init__(self, split, maxlen, batch_size, seed, left=True, negatives=True):
        self.batch_size = batch_size
        self.draw_negatives = negatives
        self.num_items = split.num_items
        users = [u for u in range(1, split.num_users + 1) if len(split.train(u)) >= 2]
        self.users = np.asarray(users, dtype=np.int64)
        self.input = pad_rows([split.train(u)[:-1] for u in users], maxlen, left)
        self.positive = pad_rows([split.train(u)[1:] for u in users], maxlen, left)
        # Membership of (row, item) as sorted int64 keys: vectorised rejection sampling without a
        # dense users x items table.
        keys = [row * (self.num_items + 1) + np.unique(split.train(u)) for row, u in enumerate(users)]
        self.history_keys = np.sort(np.concatenate(keys).astype(np.int64))
        for u in users:
            if len(np.unique(split.train(u))) >= self.num_items:
                raise SystemExit(f"EpochSampler: user {u} has interacted with every item; no negative exists")
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.users)

    def _in_history(self, rows, items):
        keys = rows * (self.num_items + 1) + items
        at = np.searchsorted(self.history_keys, keys)
        at = np.minimum(at, len(self.history_keys) - 1)
        return self.history_keys[at] == keys

    def _negatives(self, rows):
        positive = self.positive[rows]
        negative = np.zeros_like(positive)
        row_of, col_of = np.nonzero(positive)
        pending = np.arange(len(row_of))
        while len(pending):
            draw = self.rng.integers(1, self.num_items + 1, size=len(pending))
            reject = self._in_history(rows[row_of[pending]], draw)
            negative[row_of[pending[~reject]], col_of[pending[~reject]]] = draw[~reject]
            pending = pending[reject]
        return negative

    def epoch(self):
        """Yields (input, positive, negative) int64 arrays [rows, maxlen] for one epoch (negative is all
        padding when the sampler was built with negatives=False)."""
        order = self.rng.permutation(len(self.users))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            negative = self._negatives(rows) if self.draw_negatives else np.zeros_like(self.positive[rows])
            yield self.input[rows], self.positive[rows], negative


@torch.no_grad()
def evaluate(split, stage, maxlen, score_all, device, left=True, batch_size=512, k=10):
    """1+N sampled HR@k / NDCG@k on the exported candidates, and full-ranking Recall@k / NDCG@k over
    items 1..n (history not masked). Rank = candidates scoring strictly higher than the target.
    score_all(input [rows, maxlen] on device) -> scores [rows, num_items + 1] (column 0 padding)."""
    users = split.users[stage]
    candidates = split.candidates[stage]
    hits = gains = full_hits = full_gains = 0.0
    for start in range(0, len(users), batch_size):
        batch_users = users[start : start + batch_size]
        seqs = pad_rows([split.history(int(u), stage) for u in batch_users], maxlen, left)
        scores = score_all(torch.from_numpy(seqs).to(device)).float()
        cand = torch.from_numpy(candidates[start : start + batch_size].astype(np.int64)).to(device)
        cand_scores = scores.gather(1, cand)
        rank = (cand_scores[:, 1:] > cand_scores[:, :1]).sum(1)
        item_scores = scores[:, 1:]
        target_scores = cand_scores[:, :1]
        full_rank = (item_scores > target_scores).sum(1)
        for ranks, is_full in ((rank, False), (full_rank, True)):
            hit = ranks < k
            gain = (1.0 / torch.log2(ranks.double() + 2.0))[hit].sum().item()
            if is_full:
                full_hits += hit.sum().item()
                full_gains += gain
            else:
                hits += hit.sum().item()
                gains += gain
    n = len(users)
    return {
        f"hr@{k}": hits / n,
        f"ndcg@{k}": gains / n,
        f"recall@{k}_full": full_hits / n,
        f"ndcg@{k}_full": full_gains / n,
        "users": n,
    }


def base_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--split", required=True, help="folder written by scripts/export-split.mjs")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--eval-every", type=int, default=0, help="also evaluate validation every N epochs")
    parser.add_argument("--out", help="append the JSON lines to this file too")
    return parser


def setup(args):
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    return torch.device(args.device)


def machine(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} x{torch.get_num_threads()}"


class Reporter:
    def __init__(self, args):
        self.out = open(args.out, "a") if args.out else None

    def emit(self, record):
        line = json.dumps(record)
        print(line, flush=True)
        if self.out:
            self.out.write(line + "\n")
            self.out.flush()


def train_and_evaluate(model_name, args, config, model, split, sampler, step_loss, score_all, left):
    """The shared loop: per-epoch JSON lines, then the final validation and test metrics."""
    device = next(model.parameters()).device
    reporter = Reporter(args)
    optimizer = config["optimizer"]
    epoch_seconds = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        total, batches = 0.0, 0
        for input_ids, positive, negative in sampler.epoch():
            batch = [torch.from_numpy(a).to(device) for a in (input_ids, positive, negative)]
            optimizer.zero_grad(set_to_none=True)
            loss = step_loss(*batch)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        record = {
            "model": model_name,
            "impl": "torch",
            "event": "epoch",
            "seed": args.seed,
            "epoch": epoch,
            "loss": total / max(batches, 1),
            "epoch_seconds": seconds,
            "seqs_per_second": len(sampler) / seconds,
        }
        if args.eval_every and epoch % args.eval_every == 0 and epoch < args.epochs:
            model.eval()
            record["valid"] = evaluate(split, "valid", config["maxlen"], score_all, device, left)
        reporter.emit(record)
    model.eval()
    # The first epoch includes torch's warm-up; report the steady state when there is one.
    steady = epoch_seconds[1:] or epoch_seconds
    mean_epoch = statistics.fmean(steady)
    reporter.emit(
        {
            "model": model_name,
            "impl": "torch",
            "seed": args.seed,
            "epochs": args.epochs,
            "epoch_seconds": mean_epoch,
            "seqs_per_second": len(sampler) / mean_epoch,
            "train_seconds": sum(epoch_seconds),
            "sequences": len(sampler),
            "config": {k: v for k, v in config.items() if k != "optimizer"},
            "device": machine(device),
            "torch": torch.__version__,
            "dataset": split.meta["dataset"],
            "candidate_seed": split.meta["candidate_seed"],
            "valid": evaluate(split, "valid", config["maxlen"], score_all, device, left),
            "test": evaluate(split, "test", config["maxlen"], score_all, device, left),
        }
    )



def summarize(paths):
    """Mean ± std over seeds of the final lines, per (model, impl): llmrec's lines share the schema,
    so one results file from both sides prints side by side."""
    finals = {}
    for path in paths:
        for line in pathlib.Path(path).read_text().splitlines():
            record = json.loads(line) if line.strip() else {}
            if "test" in record:
                finals.setdefault((record["model"], record["impl"]), []).append(record)

    def mean_std(values):
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):.4f} ± {spread:.4f}"

    for (model, impl), records in sorted(finals.items()):
        print(f"{model} ({impl}), seeds {[r['seed'] for r in records]}, epochs {records[0]['epochs']}")
        for stage in ("valid", "test"):
            for metric in ("hr@10", "ndcg@10", "recall@10_full", "ndcg@10_full"):
                print(f"  {stage:5} {metric:15} {mean_std([r[stage][metric] for r in records])}")
        for field in ("epoch_seconds", "seqs_per_second"):
            print(f"  {field:21} {mean_std([r[field] for r in records])}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python3 bench/torch/seqrec_common.py RESULTS.jsonl... (the --out files)")
    summarize(sys.argv[1:])
