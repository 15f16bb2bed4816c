// Fused attention, forward and forward+backward, at the two sizes the pipelines use: SASRec
// (B=256, short sequences, one or two heads of 64) and the LM (14 query heads over 2 kv heads,
// causal, L=1024). The LM case runs B=8 on CUDA and B=1 on the CPU.
import { randn, scaledDotProductAttention, type Tensor } from '../lib/index.js';
import type { Benchmark } from './harness.js';

interface AttentionCase {
  name: string;
  batch: { cpu: number; cuda: number };
  qHeads: number;
  kvHeads: number;
  len: number;
  dim: number;
  causal: boolean;
}

const cases: AttentionCase[] = [
  { name: 'sasrec-L50-H1', batch: { cpu: 256, cuda: 256 }, qHeads: 1, kvHeads: 1, len: 50, dim: 64, causal: true },
  { name: 'sasrec-L50-H2', batch: { cpu: 256, cuda: 256 }, qHeads: 2, kvHeads: 2, len: 50, dim: 64, causal: true },
  { name: 'sasrec-L200-H1', batch: { cpu: 256, cuda: 256 }, qHeads: 1, kvHeads: 1, len: 200, dim: 64, causal: true },
  { name: 'sasrec-L200-H2', batch: { cpu: 256, cuda: 256 }, qHeads: 2, kvHeads: 2, len: 200, dim: 64, causal: true },
  { name: 'lm-L1024-H14-KV2', batch: { cpu: 1, cuda: 8 }, qHeads: 14, kvHeads: 2, len: 1024, dim: 64, causal: true },
];

/** Query-key pairs that are computed: all of them, or the lower triangle when causal. */
function visiblePairs(c: AttentionCase, batch: number): number {
  const perHead = c.causal ? (c.len * (c.len + 1)) / 2 : c.len * c.len;
  return batch * c.qHeads * perHead;
}

function benchmark(c: AttentionCase, withBackward: boolean): Benchmark {
  return {
    name: `attention/${withBackward ? 'fwd+bwd' : 'fwd'}/f32/${c.name}`,
    devices: ['cpu', 'cuda'],
    setup(device) {
      const batch = device.startsWith('cuda') ? c.batch.cuda : c.batch.cpu;
      const qShape = [batch, c.qHeads, c.len, c.dim];
      const kvShape = [batch, c.kvHeads, c.len, c.dim];
      const q = randn(qShape, { seed: 1, device, requiresGrad: withBackward });
      const k = randn(kvShape, { seed: 2, device, requiresGrad: withBackward });
      const v = randn(kvShape, { seed: 3, device, requiresGrad: withBackward });
      const gradOut = randn(qShape, { seed: 4, device });
      let last: Tensor | undefined;
      // Forward: QKᵀ and PV, 2 FLOPs per multiply-add. Backward (FlashAttention-2 count): 2.5x.
      const forwardFlops = 4 * visiblePairs(c, batch) * c.dim;
      const qBytes = 4 * batch * c.qHeads * c.len * c.dim;
      const kvBytes = 4 * batch * c.kvHeads * c.len * c.dim;
      const rowBytes = 4 * batch * c.qHeads * c.len;
      const forwardBytes = 2 * qBytes + 2 * kvBytes + rowBytes;
      // Backward reads q, k, v, out, dout and lse and writes dq, dk and dv.
      const backwardBytes = 4 * qBytes + 4 * kvBytes + rowBytes;
      return {
        run() {
          for (const t of [q, k, v]) t.zeroGrad();
          last?.dispose();
          last = scaledDotProductAttention(q, k, v, { causal: c.causal });
          if (withBackward) last.backward(gradOut);
        },
        flops: withBackward ? 3.5 * forwardFlops : forwardFlops,
        bytes: withBackward ? forwardBytes + backwardBytes : forwardBytes,
        dispose() {
          for (const t of [q, k, v]) t.zeroGrad();
          for (const t of [q, k, v, gradOut, last]) t?.dispose();
        },
      };
    },
  };
}

export const benchmarks: Benchmark[] = cases.flatMap((c) => [benchmark(c, false), benchmark(c, true)]);
