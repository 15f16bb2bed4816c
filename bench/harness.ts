// The benchmark harness: each bench/*.bench.ts exports `benchmarks`, a list of cases; run.ts
// times them and writes JSON. A case reports the FLOPs and the fewest bytes it must move, so
// every result carries its achieved rate and its fraction of the machine's roofline.
import { synchronize } from '../lib/index.js';

export interface BenchCase {
  /**
   * Queues one execution of the work (it may return before the device finishes), or returns a
   * promise for work that is asynchronous by nature (a streamed file read), which is awaited.
   */
  run(): void | Promise<void>;
  /** Floating-point operations per run (multiply-add = 2), for GFLOP/s. */
  flops?: number;
  /** Fewest bytes the run must move through memory (inputs read once, outputs written once). */
  bytes?: number;
  /** Releases the case's tensors. */
  dispose(): void;
  /** Extra facts to record (peak memory, a check value). */
  notes?: () => Record<string, number | string>;
}

export interface Benchmark {
  /** e.g. 'gemm/bf16/4096x4096x4096'; filters match substrings of it. */
  name: string;
  devices: ('cpu' | 'cuda')[];
  setup(device: string): BenchCase;
  /**
   * The kernel variant family it times under `--variants` (lib/kernel-variants.ts); by default the
   * name of its file, bench/<family>.bench.ts.
   */
  family?: string;
}

export interface BenchResult {
  name: string;
  device: string;
  medianMs: number;
  minMs: number;
  runs: number;
  gflops?: number;
  gbPerSecond?: number;
  notes?: Record<string, number | string>;
}

export interface TimingOptions {
  /** Minimum measured time per trial, ms. */
  minTrialMs: number;
  trials: number;
  warmupMs: number;
}

/**
 * Times `c.run()` by wall clock around device synchronisation: batches of runs until a trial
 * lasts `minTrialMs`, then the median over trials of the per-run time.
 */
export async function timeCase(
  name: string,
  device: string,
  c: BenchCase,
  options: TimingOptions,
): Promise<BenchResult> {
  const now = () => performance.now();
  // Warm up: first launches compile, allocate and fill caches.
  const warmEnd = now() + options.warmupMs;
  let warmRuns = 0;
  do {
    const warm = c.run();
    if (warm) await warm;
    synchronize(device);
    warmRuns++;
  } while (now() < warmEnd || warmRuns < 2);
  // Calibrate the batch so one trial lasts at least minTrialMs.
  let batch = 1;
  for (;;) {
    const start = now();
    for (let i = 0; i < batch; i++) {
      // Only an asynchronous case pays for an await: kernel timings stay as they were.
      const pending = c.run();
      if (pending) await pending;
    }
    synchronize(device);
    const elapsed = now() - start;
    if (elapsed >= options.minTrialMs || batch >= 1 << 20) break;
    batch = Math.max(batch * 2, Math.ceil((batch * options.minTrialMs) / Math.max(elapsed, 1e-3)));
  }
  const perRun: number[] = [];
  for (let t = 0; t < options.trials; t++) {
    const start = now();
    for (let i = 0; i < batch; i++) {
      const pending = c.run();
      if (pending) await pending;
    }
    synchronize(device);
    perRun.push((now() - start) / batch);
  }
  perRun.sort((a, b) => a - b);
  const medianMs = perRun[Math.floor(perRun.length / 2)]!;
  const result: BenchResult = { name, device, medianMs, minMs: perRun[0]!, runs: batch * options.trials };
  if (c.flops) result.gflops = c.flops / (medianMs * 1e6);
  if (c.bytes) result.gbPerSecond = c.bytes / (medianMs * 1e6);
  if (c.notes) result.notes = c.notes();
  return result;
}
