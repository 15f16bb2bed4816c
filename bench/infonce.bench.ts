// InfoNCE forward + backward with normalisation, as LLM2Rec's item-level contrastive stage and
// A-LLMRec's alignment use it. FLOPs count the work an unfused implementation needs (logits,
// then dQ and dK: 3 GEMMs of B x N x d); the fused kernels recompute tiles on top of that.
import { infonce, randn, type Tensor } from '../lib/index.js';
import type { Benchmark, BenchCase } from './harness.js';

// symmetric: CLIP-style, with positives that repeat (key i % (batch / 2)), which takes the key
// gradient's scatter step (the infonce family's `grid` variant sorts it; the reference walks it on
// one block).
function infonceCase(device: string, batch: number, dim: number, withBackward: boolean, symmetric = false): BenchCase {
  const q = randn([batch, dim], { seed: 1, device, requiresGrad: withBackward });
  const k = randn([batch, dim], { seed: 2, device, requiresGrad: withBackward });
  const positives = Array.from({ length: batch }, (_, i) => i % Math.max(1, batch >> 1));
  let last: Tensor | undefined;
  return {
    run() {
      last?.dispose();
      last = infonce(
        q,
        k,
        symmetric
          ? { temperature: 0.05, normalize: true, symmetric, positives }
          : { temperature: 0.05, normalize: true },
      );
      if (withBackward) {
        last.backward();
        for (const t of [q, k]) {
          t.grad?.dispose();
          t.grad = null;
        }
      }
    },
    flops: (withBackward ? 3 : 1) * 2 * batch * batch * dim * (symmetric ? 2 : 1),
    bytes: (withBackward ? 4 : 2) * 4 * batch * dim,
    dispose() {
      for (const t of [q, k, last]) t?.dispose();
    },
  };
}

const shapes: Record<'cpu' | 'cuda', [number, number][]> = {
  cpu: [
    [1024, 128],
    [1024, 896],
  ],
  cuda: [
    [4096, 128],
    [4096, 896],
  ],
};

export const benchmarks: Benchmark[] = [
  ...(['cpu', 'cuda'] as const).flatMap((kind) =>
    shapes[kind].flatMap(([batch, dim]) =>
      [false, true].map((withBackward): Benchmark => ({
        name: `infonce/${withBackward ? 'fwd+bwd' : 'fwd'}/f32/B${batch}xd${dim}`,
        devices: [kind],
        setup: (device) => infonceCase(device, batch, dim, withBackward),
      })),
    ),
  ),
  // The small-batch case (B = 256 leaves most SMs idle) with the symmetric scatter.
  {
    name: 'infonce/fwd+bwd/f32/B256xd128/symmetric-positives',
    devices: ['cuda'],
    setup: (device) => infonceCase(device, 256, 128, true, true),
  },
];
