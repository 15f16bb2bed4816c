// Top-k selection over rows, and full-catalogue retrieval (score every item, keep the best k per
// query, skip each query's history) at recommendation-evaluation sizes.
import { randn, scoreTopk, topk, type Tensor, type TopkResult } from '../lib/index.js';
import type { Benchmark } from './harness.js';

const rowCases: [number, number, number][] = [
  [256, 50000, 10],
  [256, 50000, 100],
  [4096, 1000, 50],
  // One row over a 1M-item catalogue: the topk family's split variant spreads it over the SMs.
  [1, 1000000, 100],
];

const retrievalCases: [number, number, number, number][] = [
  // users, items, dim, k
  [1024, 50000, 64, 10],
  [64, 200000, 128, 100],
];

function release(result: TopkResult | undefined): void {
  result?.values.dispose();
  result?.indices.dispose();
}

export const benchmarks: Benchmark[] = [
  ...rowCases.map(([rows, n, k]): Benchmark => ({
    name: `topk/f32/${rows}x${n}-k${k}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const x = randn([rows, n], { seed: 1, device });
      let last: TopkResult | undefined;
      return {
        run() {
          release(last);
          last = topk(x, k);
        },
        bytes: 4 * rows * n + 8 * rows * k,
        dispose() {
          x.dispose();
          release(last);
        },
      };
    },
  })),
  ...retrievalCases.map(([users, items, dim, k]): Benchmark => ({
    name: `scoreTopk/f32/${users}x${items}x${dim}-k${k}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const queries = randn([users, dim], { seed: 1, device });
      const table = randn([items, dim], { seed: 2, device });
      // A history of 20 items per user, as in leave-one-out evaluation.
      const offsets = Array.from({ length: users + 1 }, (_, u) => 20 * u);
      const ids = Array.from({ length: 20 * users }, (_, e) => (e * 7919) % items);
      let last: TopkResult | undefined;
      const held: Tensor[] = [queries, table];
      return {
        run() {
          release(last);
          last = scoreTopk(queries, table, k, { exclude: { offsets, ids }, excludePadding: true });
        },
        flops: 2 * users * items * dim,
        bytes: 4 * (users * dim + items * dim) + 8 * users * k,
        dispose() {
          for (const t of held) t.dispose();
          release(last);
        },
      };
    },
  })),
];
