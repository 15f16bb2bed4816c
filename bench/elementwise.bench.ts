// Memory-bound baselines: they give the copy bandwidth that the roofline of every other kernel
// is measured against.
import { randn, type Tensor } from '../lib/index.js';
import type { Benchmark } from './harness.js';

const sizes = [1 << 20, 1 << 24];

export const benchmarks: Benchmark[] = [
  ...sizes.map((n): Benchmark => ({
    name: `copy/f32/${n}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const x = randn([n], { seed: 1, device });
      let last: Tensor | undefined;
      return {
        run() {
          last?.dispose();
          last = x.clone();
        },
        bytes: 8 * n,
        dispose() {
          last?.dispose();
          x.dispose();
        },
      };
    },
  })),
  ...sizes.map((n): Benchmark => ({
    name: `add/f32/${n}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const a = randn([n], { seed: 1, device });
      const b = randn([n], { seed: 2, device });
      let last: Tensor | undefined;
      return {
        run() {
          last?.dispose();
          last = a.add(b);
        },
        flops: n,
        bytes: 12 * n,
        dispose() {
          for (const t of [a, b, last]) t?.dispose();
        },
      };
    },
  })),
  ...(['rows', 'cols'] as const).map((direction): Benchmark => ({
    name: `sum/f32/${direction}-4096x4096`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const x = randn([4096, 4096], { seed: 1, device });
      let last: Tensor | undefined;
      return {
        run() {
          last?.dispose();
          last = x.sum(direction === 'rows' ? 1 : 0);
        },
        flops: 4096 * 4096,
        bytes: 4 * 4096 * 4096,
        dispose() {
          x.dispose();
          last?.dispose();
        },
      };
    },
  })),
];
