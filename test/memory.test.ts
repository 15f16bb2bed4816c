import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  CausalLM,
  manualSeed,
  memory,
  models,
  nn,
  optim,
  pipelines,
  presetConfig,
  randn,
  Recommender,
  synchronize,
  tidy,
  training,
} from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { embeddedSplit, histories, writeSasrecRun } from './support/serving.js';
import { expectFlatMemory } from './support/memory.js';

const gc = (globalThis as { gc?: () => void }).gc;

function cycle(device: string, i: number): number {
  const a = randn([256], { seed: i, device });
  const b = a.mul(2);
  const c = b.add(1);
  const s = c.sum();
  const value = s.item();
  for (const t of [a, b, c, s]) t.dispose();
  return value;
}

describeEachDevice('memory stays flat', (device) => {
  it('over 10,000 create/dispose cycles, by allocator statistics and by RSS', () => {
    for (let i = 0; i < 500; i++) cycle(device, i); // warm caches and the allocator
    synchronize(device);
    gc?.();
    const before = memory(device);
    const rssBefore = process.memoryUsage().rss;
    let checksum = 0;
    for (let i = 0; i < 10_000; i++) checksum += cycle(device, i);
    synchronize(device);
    gc?.();
    const after = memory(device);
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    expect(Number.isFinite(checksum)).to.equal(true);
    expect(after.bytesInUse, 'bytes held by live tensors').to.equal(before.bytesInUse);
    expect(after.liveBlocks, 'live blocks').to.equal(before.liveBlocks);
    expect(after.totalAllocations - before.totalAllocations).to.equal(40_000);
    // ASan's quarantine holds freed blocks back from the C allocator, so RSS is no measure there.
    if (!process.env.LLMREC_ASAN)
      expect(rssGrowth, `RSS grew by ${(rssGrowth / 2 ** 20).toFixed(1)} MiB`).to.be.below(32 * 2 ** 20);
  });

  it('with tidy() doing the disposing', () => {
    const run = () =>
      tidy(() => {
        const x = randn([64, 64], { seed: 1, device });
        return x.mul(x).sum().add(1).item();
      });
    expectFlatMemory(device, run, 100, 2000);
  });
});

// The allocator's own count of bytes held by live tensors, read once the queued work has run.
// Unlike RSS it does not depend on when the garbage collector or the C allocator give memory
// back, so a leak of one block per step shows at once. No explicit gc() runs in these loops: a
// handle that only the collector frees is exactly the leak they exist to catch.
function bytesInUse(device: string): { bytes: number; blocks: number } {
  synchronize(device);
  const stats = memory(device);
  return { bytes: stats.bytesInUse, blocks: stats.liveBlocks };
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

describeEachDevice('memory stays flat over real workloads', (device) => {
  it('over 1,000 SASRec training steps of the real trainer (tied item table, Adam with clipping)', async () => {
    const split = await embeddedSplit();
    manualSeed(3);
    const model = new models.SASRec(
      models.sasrecConfig(split.dataset.numItems, 'a-llmrec', { hidden: 16, ffnDim: 16, maxlen: 8, dropout: 0.2 }),
    );
    model.to(device);
    const batches = [...pipelines.seqrec.sequenceBatches(split, 8, 8, 0, 0)].slice(0, 10);
    const optimizer = new optim.Adam(model.trainableParameters(), { lr: 1e-3, maxGradNorm: 1 });
    const samples: { bytes: number; blocks: number }[] = [];
    const rssBefore = process.memoryUsage().rss;
    const result = await training.train({
      model,
      optimizer,
      batches: () => batches,
      loss: (batch) => model.loss(batch),
      epochs: 100,
      evaluate: () => {
        samples.push(bytesInUse(device));
        return { loss: 0 };
      },
      evalEvery: 10,
    });
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    expect(result.steps).to.equal(1000);
    const [warm, ...rest] = samples; // after 100 steps: Adam's state exists, caches are warm
    const last = rest[rest.length - 1]!;
    console.log(
      `      SASRec: ${mib(warm!.bytes)} in use after 100 steps, ${mib(last.bytes)} after 1,000; RSS grew ${mib(rssGrowth)}`,
    );
    for (const s of rest) expect(s, 'allocator bytes and blocks in use, every 100 steps').to.deep.equal(warm);
    optimizer.dispose();
    model.dispose();
  });

  it('over 2,000 in-place updates: clipGradNorm, addInPlace, loadStateDict', () => {
    // Each step's gradient and module are new and then disposed, as in training: an in-place op
    // that left a second handle on them would keep their storage until a garbage collection.
    const source = new nn.Linear(32, 32, { device });
    const state = source.stateDict();
    const step = (i: number) => {
      const layer = new nn.Linear(32, 32, { device });
      layer.loadStateDict(state);
      const weight = layer.weight;
      weight.grad = randn([32, 32], { seed: i, device });
      optim.clipGradNorm([weight], 0.5)!.dispose();
      weight.grad.addInPlace(weight);
      weight.zeroGrad();
      layer.dispose();
    };
    for (let i = 0; i < 10; i++) step(i);
    const before = bytesInUse(device);
    for (let i = 0; i < 2000; i++) step(i);
    expect(bytesInUse(device)).to.deep.equal(before);
    for (const t of state.values()) t.dispose();
    source.dispose();
  });

  it('over 1,000 training steps of a tiny causal LM', async () => {
    const config = {
      ...presetConfig('tiny', 64),
      hiddenSize: 64,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      intermediateSize: 96,
    };
    const model = new CausalLM(config, { device, seed: 1 });
    const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-3 });
    const ids = Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 7 + 3) % 64);
    const samples: { bytes: number; blocks: number }[] = [];
    await training.train({
      model,
      optimizer,
      batches: () => [ids],
      loss: (batch) => model.forward({ inputIds: batch, shape: [2, 8], labels: batch }).loss!,
      epochs: 1000,
      evaluate: () => {
        samples.push(bytesInUse(device));
        return { loss: 0 };
      },
      evalEvery: 100,
    });
    const [warm, ...rest] = samples;
    for (const s of rest) expect(s, 'allocator bytes and blocks in use, every 100 steps').to.deep.equal(warm);
    optimizer.dispose();
    model.dispose();
  });

  it('over 20,000 Recommender calls', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-memory-'));
    try {
      await writeSasrecRun(dir, 1);
      const rec = await Recommender.load(dir, { device });
      const users = await histories(50);
      // 200 concurrent calls a round: the Recommender batches them as a server's load would.
      const round = () =>
        Promise.all(Array.from({ length: 200 }, (_, i) => rec.recommend(users[i % 50]!, { k: 1 + (i % 10) })));
      for (let i = 0; i < 5; i++) await round(); // 1,000 calls to warm up
      const before = bytesInUse(device);
      for (let i = 0; i < 100; i++) await round();
      const after = bytesInUse(device);
      console.log(`      Recommender: ${mib(before.bytes)} in use before 20,000 calls, ${mib(after.bytes)} after`);
      expect(after).to.deep.equal(before);
      await rec.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
