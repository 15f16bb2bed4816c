// Serving latency of an LLM-SRec run folder through Recommender.load: p50/p99 of recommend() for
// one caller at a time, and for 64 concurrent callers (micro-batched into shared forward passes).
//
//   node dist/bench/llm-srec-serve.js RUN_DIR [--calls 40] [--device cpu|cuda]
//
// Also prints the allocator's peak bytes in use and the process's peak RSS. With --prompts-out
// FILE it writes the 64 callers' encoded user prompts for bench/torch/llm_srec.py --bench.
import * as fs from 'node:fs';

import { memory } from '../lib/device.js';
import { loadLLMSRecRun } from '../lib/pipelines/llm-srec/serving.js';
import { data, Recommender } from '../lib/index.js';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir) throw new Error('usage: node dist/bench/llm-srec-serve.js RUN_DIR [--calls N] [--device D]');
  const flag = (name: string) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : undefined);
  const calls = Number(flag('--calls') ?? 40) || 40;
  const device = flag('--device') ?? 'cpu';
  const split = (await data.loadDefaultDataset()).dataset.leaveOneOut();
  const keys = split.dataset.itemKeys;
  const users = Array.from(split.evaluationUsers().slice(0, calls));
  const request = (u: number) => {
    const items = split.history(u, 'test');
    const at = split.testStart[u]!;
    return {
      history: Array.from(items, (i) => keys[i]!),
      times: Array.from(split.dataset.times.subarray(at, at + items.length)),
    };
  };
  const loadStarted = performance.now();
  const promptsOut = flag('--prompts-out');
  if (promptsOut) {
    const { model } = await loadLLMSRecRun(dir, 'cpu');
    const prompts = Array.from({ length: 64 }, (_, i) => {
      const u = users[i % users.length]!;
      const at = split.testStart[u]!;
      const items = split.history(u, 'test');
      return model.llmSRec.prompts.encodeUser(items, split.dataset.times.subarray(at, at + items.length));
    });
    fs.writeFileSync(promptsOut, JSON.stringify({ prompts }));
    model.dispose();
  }
  const rec = await Recommender.load(dir, { device });
  const loadMs = performance.now() - loadStarted;
  await rec.warmUp();
  const single: number[] = [];
  for (const u of users) {
    const { history, times } = request(u);
    const t = performance.now();
    await rec.recommend(history, { k: 10, times });
    single.push(performance.now() - t);
  }
  const concurrent: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const { history, times } = request(users[i % users.length]!);
      const t = performance.now();
      await rec.recommend(history, { k: 10, times });
      concurrent.push(performance.now() - t);
    }),
  );
  const wall = performance.now() - started;
  await rec.close();
  single.sort((a, b) => a - b);
  concurrent.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      dir,
      device,
      loadMs: Math.round(loadMs),
      batch1: { calls: single.length, p50Ms: percentile(single, 50), p99Ms: percentile(single, 99) },
      concurrent64: { p50Ms: percentile(concurrent, 50), p99Ms: percentile(concurrent, 99), wallMs: wall },
      peakBytesInUse: memory(device).peakBytesInUse,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    }),
  );
}

await main();
