// Per-op overhead of the TypeScript layer: what one small op costs end to end (N-API call,
// queueing on the stream, the kernel) with and without autograd recording, and a whole
// forward+backward of a tiny graph. The tensors are tiny so the kernel time is negligible and
// the numbers are the fixed cost per op that a SASRec step pays about 200 times.
import { randn, tidy, type Tensor } from '../lib/index.js';
import type { Benchmark } from './harness.js';

function opCase(device: string, requiresGrad: boolean, ops: number) {
  const a = randn([16], { seed: 1, device }).requiresGrad_(requiresGrad);
  const b = randn([16], { seed: 2, device });
  return {
    run() {
      tidy(() => {
        let x: Tensor = a;
        for (let i = 0; i < ops; i++) x = x.add(b);
        if (requiresGrad) x.sum().backward();
      });
      a.zeroGrad();
    },
    dispose() {
      a.dispose();
      b.dispose();
    },
    notes: () => ({ opsPerRun: requiresGrad ? 2 * ops + 2 : ops }),
  };
}

export const benchmarks: Benchmark[] = [
  { name: 'autograd/overhead/add16/no-grad/x100', devices: ['cpu', 'cuda'], setup: (d) => opCase(d, false, 100) },
  { name: 'autograd/overhead/add16/grad+backward/x100', devices: ['cpu', 'cuda'], setup: (d) => opCase(d, true, 100) },
];
