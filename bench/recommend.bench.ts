// Recommender latency and throughput over the full catalogue of the embedded dataset: one caller
// at a time (batch 1) and 64 concurrent callers (batched into one forward pass). The model is a
// freshly initialised SASRec of the A-LLMRec preset: latency does not depend on the weights.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { data, manualSeed, models, Recommender } from '../lib/index.js';

export interface LatencyReport {
  callers: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `rounds` rounds of `callers` concurrent recommend() calls and reports their latencies. */
export async function measureRecommend(device: string, callers: number, rounds: number): Promise<LatencyReport> {
  const { dataset } = await data.loadDefaultDataset();
  const split = dataset.leaveOneOut();
  manualSeed(0);
  const model = new models.SASRec(models.sasrecConfig(dataset.numItems, 'a-llmrec'), { device });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-bench-rec-'));
  models.saveTrainedModel(dir, model, split);
  model.dispose();
  const rec = await Recommender.load(dir, { device, maxBatch: 64 });
  const histories = Array.from({ length: 512 }, (_, i) =>
    [...split.history(i + 1, 'test')].map((id) => dataset.itemKeys[id]!),
  );
  const latencies: number[] = [];
  try {
    for (let w = 0; w < 3; w++) await rec.recommend(histories[w]!, { k: 10 }); // warm-up
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      await Promise.all(
        Array.from({ length: callers }, async (_, c) => {
          const t0 = performance.now();
          await rec.recommend(histories[(r * callers + c) % histories.length]!, { k: 10 });
          latencies.push(performance.now() - t0);
        }),
      );
    }
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      callers,
      requests: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      requestsPerSecond: latencies.length / seconds,
    };
  } finally {
    await rec.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Run directly: node dist/bench/recommend.bench.js [device]
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const device = process.argv[2] ?? 'cpu';
  for (const [callers, rounds] of [
    [1, 200],
    [64, 20],
  ] as const)
    console.log(
      JSON.stringify({
        bench: 'recommend',
        device,
        date: new Date().toISOString(),
        ...(await measureRecommend(device, callers, rounds)),
      }),
    );
}
