// Embedding gather and its sort-based backward: memory-bound, so bytes are what matter. The
// SASRec case is the item + position lookup of a pmixer-style model (batch 128, maxlen 200).
import { embedding, randn, tensor, type Tensor } from '../lib/index.js';
import type { Benchmark, BenchCase } from './harness.js';

function randomIndices(count: number, rows: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % rows;
  });
}

interface Shape {
  rows: number;
  width: number;
  shape: number[];
  sasrec?: boolean;
}

function lookupCase(device: string, s: Shape, withBackward: boolean): BenchCase {
  const count = s.shape.reduce((a, b) => a * b, 1);
  const indices = tensor(randomIndices(count, s.rows, 7), { shape: s.shape, dtype: 'i32', device });
  const table = randn([s.rows, s.width], { seed: 1, device, requiresGrad: withBackward });
  const positions = s.sasrec
    ? randn([s.shape[s.shape.length - 1]!, s.width], { seed: 2, device, requiresGrad: withBackward })
    : undefined;
  const grad = withBackward ? randn([...s.shape, s.width], { seed: 3, device }) : undefined;
  const options = s.sasrec ? { paddingIdx: 0, scale: Math.sqrt(s.width), positions } : {};
  let last: Tensor | undefined;
  const gatherBytes = count * (4 + 8 * s.width);
  const backwardBytes = count * (4 + 4 * s.width) + 4 * s.rows * s.width;
  return {
    run() {
      last?.dispose();
      last = embedding(indices, table, options);
      if (grad) {
        last.backward(grad);
        for (const t of [table, positions]) {
          t?.grad?.dispose();
          if (t) t.grad = null;
        }
      }
    },
    bytes: withBackward ? gatherBytes + backwardBytes : gatherBytes,
    dispose() {
      for (const t of [indices, table, positions, grad, last]) t?.dispose();
    },
  };
}

function cases(device: 'cpu' | 'cuda'): [string, Shape][] {
  // The CPU takes a quarter of the indices so a run stays short; the table is the full 1M x 128.
  const count = device === 'cuda' ? 1 << 20 : 1 << 18;
  return [
    [`1Mx128/${count}`, { rows: 1 << 20, width: 128, shape: [count] }],
    ['sasrec/100kx64/128x200', { rows: 100_000, width: 64, shape: [128, 200], sasrec: true }],
  ];
}

export const benchmarks: Benchmark[] = (['cpu', 'cuda'] as const).flatMap((kind) =>
  cases(kind).flatMap(([name, shape]) =>
    [false, true].map((withBackward): Benchmark => ({
      name: `embedding/${withBackward ? 'fwd+bwd' : 'fwd'}/f32/${name}`,
      devices: [kind],
      setup: (device) => lookupCase(device, shape, withBackward),
    })),
  ),
);
