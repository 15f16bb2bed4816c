// The fused linear cross-entropy at Qwen2-0.5B's output layer (d = 896, V = 151936), forward and
// backward, against PyTorch's matmul + F.cross_entropy (bench/torch/loss.py). FLOPs count the
// three GEMMs of an unfused implementation (2NVd each), not the recomputation, so GFLOP/s is
// comparable across the two sides. A small vocabulary gives a quick variant, with the backward
// reading the kept logits (the default there) and recomputing them. The bf16 cases time the
// linear_ce family's variants under `--variants` (reference: f32 SIMT tiles; tensor: bf16 mma),
// at Qwen2's vocabulary and at GPT-2's 50,257, which is not a multiple of 8. gather_dot's cases
// (sampled softmax's scores over an item table) time the gather_dot family's table gradient.
import {
  gatherDot,
  keepLogitsBudgetBytes,
  linearCrossEntropy,
  randn,
  tensor,
  type DType,
  type Tensor,
} from '../lib/index.js';
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
  dtype: DType = 'f32',
): Benchmark {
  const kept = backward && (keepLogits ?? n * vocab * 4 <= keepLogitsBudgetBytes);
  const size = dtype === 'bf16' ? 2 : 4;
  return {
    name: `linear-ce/${dtype}/${n}x${dim}x${vocab}${backward ? '/fwd+bwd' : ''}${keepLogits === false ? '/recompute' : ''}`,
    devices,
    family: 'linear_ce',
    setup(device) {
      const hidden = randn([n, dim], { seed: 1, device, dtype, requiresGrad: backward });
      const weight = randn([vocab, dim], { seed: 2, device, dtype, std: 0.02, requiresGrad: backward });
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
        bytes: size * (n * dim + vocab * dim) * (backward ? 2 : 1),
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

// Sampled softmax's scores: user [n, d] against 1 + negatives items each of an `items` x d table,
// forward and backward. The table gradient is dense: its write is most of the bytes.
function gatherDotCase(n: number, perRow: number, d: number, items: number, dtype: DType): Benchmark {
  const size = dtype === 'bf16' ? 2 : 4;
  return {
    name: `gather-dot/${dtype}/${n}x${perRow}x${d}/items-${items}/fwd+bwd`,
    devices: ['cuda'],
    family: 'gather_dot',
    setup(device) {
      const user = randn([n, d], { seed: 1, device, dtype, requiresGrad: true });
      const table = randn([items, d], { seed: 2, device, dtype, requiresGrad: true });
      const ids = tensor(
        Int32Array.from({ length: n * perRow }, (_, i) => (i * 7919 + (i >> 7)) % items),
        { dtype: 'i32', device, shape: [n, perRow] },
      );
      const grad = randn([n, perRow], { seed: 3, device, dtype });
      let last: Tensor | undefined;
      return {
        run() {
          last?.dispose();
          user.zeroGrad();
          table.zeroGrad();
          last = gatherDot(user, table, ids);
          last.backward(grad);
        },
        flops: 3 * 2 * n * perRow * d,
        bytes: size * (2 * n * d + 2 * n * perRow * d + items * d),
        dispose() {
          last?.dispose();
          for (const t of [user, table]) {
            t.zeroGrad();
            t.dispose();
          }
          ids.dispose();
          grad.dispose();
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
  linearCe(8192, 151936, ['cuda'], false, undefined, 'bf16'),
  linearCe(8192, 151936, ['cuda'], true, undefined, 'bf16'),
  linearCe(8192, 50257, ['cuda'], true, undefined, 'bf16'),
  gatherDotCase(4096, 101, 64, 1_000_000, 'f32'),
  gatherDotCase(4096, 101, 64, 1_000_000, 'bf16'),
];
