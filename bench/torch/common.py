"""Shared timing for the PyTorch side of the benchmarks: the same JSON-lines schema as bench/run.ts
(name, device, medianMs, minMs, runs, gflops, gbPerSecond, machine, date), so results from both
sides of one run can be joined by name.

Run with Debian's python3 on the CPU (bench/torch/install-cpu-torch.sh) and with the GPU machine's
python3 on CUDA.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import torch

# Debian's build starts with one OpenMP thread; compare at the thread count llmrec uses.
torch.set_num_threads(int(os.environ.get("LLMREC_NUM_THREADS", os.cpu_count() or 1)))


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("filters", nargs="*", help="run only cases whose name contains one of these")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="append JSON lines here")
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args()


def machine(device):
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} x{torch.get_num_threads()}"


def synchronize(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_case(name, device, fn, flops=None, bytes_moved=None, quick=False, notes=None):
    """Median per-run time of fn() over trials of at least min_trial_ms, after warm-up."""
    min_trial_ms, trials, warmup_ms = (20, 3, 20) if quick else (200, 7, 200)
    now = lambda: time.perf_counter() * 1e3  # noqa: E731
    end = now() + warmup_ms
    runs = 0
    while now() < end or runs < 2:
        fn()
        synchronize(device)
        runs += 1
    batch = 1
    while True:
        start = now()
        for _ in range(batch):
            fn()
        synchronize(device)
        elapsed = now() - start
        if elapsed >= min_trial_ms or batch >= 1 << 20:
            break
        batch = max(batch * 2, int(batch * min_trial_ms / max(elapsed, 1e-3)) + 1)
    per_run = []
    for _ in range(trials):
        start = now()
        for _ in range(batch):
            fn()
        synchronize(device)
        per_run.append((now() - start) / batch)
    median = statistics.median(per_run)
    result = {"name": name, "device": device, "medianMs": median, "minMs": min(per_run), "runs": batch * trials}
    if flops:
        result["gflops"] = flops / (median * 1e6)
    if bytes_moved:
        result["gbPerSecond"] = bytes_moved / (median * 1e6)
    if notes:
        result["notes"] = notes
    return result


def report(results, args, side="torch"):
    context = {
        "machine": machine(args.device),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "side": side,
        "torch": torch.__version__,
    }
    for r in results:
        line = json.dumps({**r, **context})
        rate = ", ".join(
            x for x in [f"{r['gflops']:.1f} GFLOP/s" if "gflops" in r else "", f"{r['gbPerSecond']:.1f} GB/s" if "gbPerSecond" in r else ""] if x
        )
        print(f"{r['name']:<48} {r['medianMs']:12.4f} ms  {rate}")
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")


def selected(name, args):
    return not args.filters or any(f in name for f in args.filters)
