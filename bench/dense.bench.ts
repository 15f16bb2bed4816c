// Norms, softmax and activations at a Qwen2-0.5B activation shape (8192 tokens x 896): all
// memory-bound, so GB/s against the copy baseline is the figure of merit. GELU and LayerNorm +
// GELU also at SASRec's shape (128 sequences x 200 positions x 64).
import { gelu, layerNorm, randn, rmsNorm, silu, softmax, swiglu, tidy, type Tensor } from '../lib/index.js';
import type { BenchCase, Benchmark } from './harness.js';

const rows = 8192;
const cols = 896;
const n = rows * cols;
const sasRows = 128 * 200;
const sasCols = 64;
const sasN = sasRows * sasCols;

interface DenseCase {
  name: string;
  /** Inputs to create (they need gradients in the backward case); the first names the case. */
  inputs: number[][];
  op: (inputs: Tensor[]) => Tensor;
  /** Per forward: FLOPs and fewest bytes; the backward case doubles reads and adds writes. */
  flops: number;
  bytes: number;
  backwardBytes: number;
}

const cases: DenseCase[] = [
  {
    name: 'layernorm',
    inputs: [[rows, cols], [cols], [cols]],
    op: ([x, w, b]) => layerNorm(x!, w!, b!),
    flops: 8 * n,
    bytes: 8 * n,
    backwardBytes: 12 * n,
  },
  {
    name: 'rmsnorm',
    inputs: [[rows, cols], [cols]],
    op: ([x, w]) => rmsNorm(x!, w!),
    flops: 5 * n,
    bytes: 8 * n,
    backwardBytes: 12 * n,
  },
  {
    name: 'softmax',
    inputs: [[rows, cols]],
    op: ([x]) => softmax(x!),
    flops: 5 * n,
    bytes: 8 * n,
    backwardBytes: 12 * n,
  },
  { name: 'gelu', inputs: [[rows, cols]], op: ([x]) => gelu(x!), flops: 20 * n, bytes: 8 * n, backwardBytes: 12 * n },
  {
    name: 'swiglu',
    inputs: [[rows, 2 * cols]],
    op: ([x]) => swiglu(x!),
    flops: 8 * n,
    bytes: 12 * n,
    backwardBytes: 20 * n,
  },
  { name: 'silu', inputs: [[rows, cols]], op: ([x]) => silu(x!), flops: 5 * n, bytes: 8 * n, backwardBytes: 12 * n },
  {
    name: 'gelu',
    inputs: [[sasRows, sasCols]],
    op: ([x]) => gelu(x!),
    flops: 20 * sasN,
    bytes: 8 * sasN,
    backwardBytes: 12 * sasN,
  },
  {
    name: 'layernorm+gelu',
    inputs: [[sasRows, sasCols], [sasCols], [sasCols]],
    op: ([x, w, b]) => gelu(layerNorm(x!, w!, b!)),
    flops: 28 * sasN,
    bytes: 12 * sasN,
    backwardBytes: 20 * sasN,
  },
];

function makeCase(c: DenseCase, device: string, backward: boolean): BenchCase {
  const inputs = c.inputs.map((shape, i) => randn(shape, { seed: i + 1, device, requiresGrad: backward }));
  const gradOut = backward ? randn(c.op(inputs).shape, { seed: 99, device }) : null;
  let last: Tensor | undefined;
  return {
    run() {
      last?.dispose();
      for (const t of inputs) t.zeroGrad();
      // tidy: a composite case's intermediates are released at once, as PyTorch's refcounts do.
      last = tidy(() => c.op(inputs));
      if (gradOut) last.backward(gradOut);
    },
    flops: backward ? 3 * c.flops : c.flops,
    bytes: backward ? c.bytes + c.backwardBytes : c.bytes,
    dispose() {
      last?.dispose();
      gradOut?.dispose();
      for (const t of inputs) {
        t.zeroGrad();
        t.dispose();
      }
    },
  };
}

export const benchmarks: Benchmark[] = cases.flatMap((c) =>
  [false, true].map((backward): Benchmark => ({
    name: `${c.name}/f32/${c.inputs[0]![0]}x${c.inputs[0]![1]}${backward ? '/fwd+bwd' : ''}`,
    devices: ['cpu', 'cuda'],
    setup: (device) => makeCase(c, device, backward),
  })),
);
