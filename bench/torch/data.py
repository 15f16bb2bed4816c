"""Python/PyTorch side of bench/data.bench.ts: the same Online Retail 2010-2011 work done the way a
PyTorch recommender codebase does it (csv module, dicts, torch ops for k-core and metrics, torch.save
for the cache, pmixer-style rejection sampling for candidates).

Needs the shared data: $LLMREC_SHARED_DATA or ../shared/data relative to the repository root.
"""

import csv
import io
import os
import pathlib
import subprocess
import tempfile

import numpy as np
import torch

from common import parse_args, report, selected, time_case

NON_PRODUCT = {"POST", "DOT", "M", "C2", "D", "S", "B", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES"}
NON_PRODUCT_PREFIXES = ("GIFT_", "TEST", "ADJUST")


def shared_data():
    env = os.environ.get("LLMREC_SHARED_DATA")
    if env:
        return pathlib.Path(env)
    root = pathlib.Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared" / "data", root.parent.parent / "shared" / "data"):
        if candidate.exists():
            return candidate
    raise SystemExit("bench/torch/data.py: shared data not found; set LLMREC_SHARED_DATA")


def is_product(code):
    upper = code.upper()
    return upper not in NON_PRODUCT and not upper.startswith(NON_PRODUCT_PREFIXES)


def parse(text):
    users, items = {}, {}
    user_col, item_col, time_col, basket_col = [], [], [], []
    baskets = {}
    reader = csv.reader(io.StringIO(text))
    next(reader)
    for row in reader:
        if len(row) != 8:
            continue
        invoice, code, _desc, qty, date, _price, customer, _country = row
        if invoice.startswith("C") or float(qty) <= 0 or not customer or not is_product(code):
            continue
        user_col.append(users.setdefault(customer, len(users)))
        item_col.append(items.setdefault(code, len(items)))
        time_col.append(np.datetime64(date.replace(" ", "T"), "m").astype(np.int64))
        basket_col.append(baskets.setdefault(invoice, len(baskets)))
    return (
        torch.tensor(user_col),
        torch.tensor(item_col),
        torch.tensor(time_col),
        torch.tensor(basket_col),
        len(users),
        len(items),
    )


def prepare(log, k=5):
    user, item, t, basket, num_users, num_items = log
    n = user.numel()
    index = torch.arange(n)
    # Chronological per user with stable ties: lexsort by (user, time, row).
    order = np.lexsort((index.numpy(), t.numpy(), user.numpy()))
    order = torch.from_numpy(order)
    user, item, t, basket = user[order], item[order], t[order], basket[order]
    # Dedupe (user, basket, item): keep the first.
    key = (user * (basket.max() + 1) + basket) * num_items + item
    _, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), n, dtype=torch.long).scatter_reduce(0, inverse, torch.arange(n), "amin")
    keep = torch.zeros(n, dtype=torch.bool)
    keep[first] = True
    while True:
        uc = torch.bincount(user[keep], minlength=num_users)
        ic = torch.bincount(item[keep], minlength=num_items)
        next_keep = keep & (uc[user] >= k) & (ic[item] >= k)
        if int(next_keep.sum()) == int(keep.sum()):
            break
        keep = next_keep
    user, item, t = user[keep], item[keep], t[keep]
    users, user_ids = torch.unique(user, return_inverse=True)
    items, item_ids = torch.unique(item, return_inverse=True)
    counts = torch.bincount(user_ids, minlength=users.numel())
    offsets = torch.zeros(users.numel() + 2, dtype=torch.long)
    offsets[2:] = torch.cumsum(counts, 0)
    return offsets, (item_ids + 1).to(torch.int32), t, users.numel(), items.numel()


def sample_candidates(dataset, negatives=99, seed=1):
    offsets, items, _t, num_users, num_items = dataset
    rng = np.random.default_rng(seed)
    off = offsets.tolist()
    seq = items.tolist()
    out = []
    for u in range(1, num_users + 1):
        history = seq[off[u] : off[u + 1]]
        if len(history) < 3:
            continue
        rated = set(history)
        row = [history[-1]]
        while len(row) < negatives + 1:
            c = int(rng.integers(1, num_items + 1))
            if c not in rated:
                rated.add(c)
                row.append(c)
        out.append(row)
    return out


def main():
    args = parse_args(__doc__)
    raw = subprocess.run(["xz", "-dc", str(shared_data() / "online-retail" / "OnlineRetail.csv.xz")], check=True, capture_output=True).stdout
    text = raw.decode("utf-8")
    results = []
    log = parse(text)
    dataset = prepare(log)
    if selected("data/parse/online-retail-2010-2011", args):
        results.append(time_case("data/parse/online-retail-2010-2011", "cpu", lambda: parse(text), bytes_moved=len(raw), quick=args.quick, notes={"rows": 541909}))
    if selected("data/prepare/online-retail-2010-2011-5core", args):
        results.append(time_case("data/prepare/online-retail-2010-2011-5core", "cpu", lambda: prepare(log), quick=args.quick, notes={"rows": log[0].numel()}))
    if selected("data/parse+prepare/online-retail-2010-2011", args):
        results.append(time_case("data/parse+prepare/online-retail-2010-2011", "cpu", lambda: prepare(parse(text)), bytes_moved=len(raw), quick=args.quick, notes={"rows": 541909}))
    if selected("data/cache-reload/online-retail-2010-2011", args):
        with tempfile.TemporaryDirectory() as tmp:
            file = os.path.join(tmp, "dataset.pt")
            torch.save({"offsets": dataset[0], "items": dataset[1], "times": dataset[2], "users": dataset[3], "items_n": dataset[4]}, file)
            results.append(time_case("data/cache-reload/online-retail-2010-2011", "cpu", lambda: torch.load(file), quick=args.quick, notes={"interactions": dataset[1].numel()}))
    if selected("data/candidates/1+99/all-users", args):
        results.append(time_case("data/candidates/1+99/all-users", "cpu", lambda: sample_candidates(dataset), quick=args.quick))
    if selected("metrics/full-ranking/4096x3180", args):
        g = torch.Generator().manual_seed(1)
        scores = torch.rand(4096, 3180, generator=g)
        targets = torch.randint(1, 3180, (4096,), generator=g)

        def full_ranking():
            s = scores.clone()
            s[:, 0] = -float("inf")
            target = s.gather(1, targets[:, None])
            rank = (s > target).sum(1).double()
            metrics = {}
            for k in (1, 5, 10, 20):
                hit = rank < k
                metrics[f"HR@{k}"] = hit.double().mean()
                metrics[f"NDCG@{k}"] = torch.where(hit, 1 / torch.log2(rank + 2), torch.zeros_like(rank)).mean()
            metrics["MRR"] = (1 / (rank + 1)).mean()
            return metrics

        results.append(time_case("metrics/full-ranking/4096x3180", "cpu", full_ranking, bytes_moved=4 * 4096 * 3180, quick=args.quick))
    report(results, args)


if __name__ == "__main__":
    main()
