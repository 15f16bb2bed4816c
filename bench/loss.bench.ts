// The fused linear cross-entropy at Qwen2-0.5B's output layer (d = 896, V = 151936), forward and
// backward, against PyTorch's matmul + F.cross_entropy (bench/torch/loss.py). FLOPs count the
// three GEMMs of an unfused implementation (2NVd each), not the recomputation, so GFLOP/s is
// comparable across the two sides. A small vocabulary gives a quick variant, with the backward
// reading the kept logits (the default there) and recomputing them.
import { keepLogitsBudgetBytes, linearCrossEntropy, randn, tensor, type Tensor } from '../lib/index.js';
import type { Benchmark } from './harness.js';

const dim = 896;

function labels(n: number, vocab: number, device: string): Tensor {
  return tensor(
    Int32Array.from({ length: n }, (_, i) => (i * 7919) % vocab),
    { device },
  );
}

// keepLogits: undefined for the default (kept on the CPU up to 64 MiB of logits), false for the
// recomputing backward; the extra memory a case holds is recorded in its notes.
function linearCe(
  n: number,
  vocab: number,
  devices: ('cpu' | 'cuda')[],
  backward: boolean,
  keepLogits?: boolean,
): Benchmark {
  const kept = backward && (keepLogits ?? n * vocab * 4 <= keepLogitsBudgetBytes);
  return {
    name: `linear-ce/f32/${n}x${dim}x${vocab}${backward ? '/fwd+bwd' : ''}${keepLogits === false ? '/recompute' : ''}`,
    devices,
    setup(device) {
      const hidden = randn([n, dim], { seed: 1, device, requiresGrad: backward });
      const weight = randn([vocab, dim], { seed: 2, device, std: 0.02, requiresGrad: backward });
      const y = labels(n, vocab, device);
      let last: Tensor | undefined;
      return {
        run() {
          last?.dispose();
          hidden.zeroGrad();
          weight.zeroGrad();
          last = linearCrossEntropy(hidden, weight, y, { keepLogits });
          if (backward) last.backward();
        },
        flops: (backward ? 6 : 2) * n * vocab * dim,
        bytes: 4 * (n * dim + vocab * dim) * (backward ? 2 : 1),
        notes: () => ({ keptLogitsMiB: kept && device === 'cpu' ? (n * vocab * 4) / 2 ** 20 : 0 }),
        dispose() {
          last?.dispose();
          for (const t of [hidden, weight]) {
            t.zeroGrad();
            t.dispose();
          }
          y.dispose();
        },
      };
    },
  };
}

export const benchmarks: Benchmark[] = [
  linearCe(512, 16384, ['cpu'], false),
  linearCe(512, 16384, ['cpu'], true),
  linearCe(512, 16384, ['cpu'], true, false),
  linearCe(512, 151936, ['cpu'], false),
  linearCe(512, 151936, ['cpu'], true),
  linearCe(8192, 151936, ['cuda'], false),
  linearCe(8192, 151936, ['cuda'], true),
];
