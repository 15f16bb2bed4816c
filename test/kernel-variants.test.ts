// The kernel variant tables: on every build, the table and its selection rules; where a GPU
// exists, every variant of every family against the family's reference variant (llm.c's
// validate step; `npm run bench -- --variants` is the benchmark step).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import {
  embedding,
  gatherDot,
  gemm,
  infonce,
  linearCrossEntropy,
  randn,
  scaledDotProductAttention,
  tensor,
  topk,
  type DType,
  type Tensor,
} from '../lib/index.js';
import { setKernelVariant } from '../lib/kernel-variants.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, toleranceFor } from './support/reference.js';
import { kernelVariants, withKernelVariant } from './support/variants.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('kernel variant tables', () => {
  it('list each family once, the reference first, with the default rule', () => {
    const table = kernelVariants();
    const families = table.map((f) => f.family);
    expect(new Set(families).size).to.equal(families.length);
    expect(families).to.include.members([
      'attention',
      'gemm',
      'embedding',
      'gather_dot',
      'linear_ce',
      'infonce',
      'topk',
    ]);
    for (const f of table) {
      expect(f.variants[0]).to.equal('reference');
      expect(f.reference).to.equal('reference');
      expect(f.variants.length).to.be.greaterThan(1);
      expect(f.defaultRule).to.be.a('string').and.not.equal('');
    }
  });

  it('select a variant by name and restore the previous selection', () => {
    expect(kernelVariants().find((f) => f.family === 'gemm')!.selected).to.equal(null);
    withKernelVariant('gemm', 'simt', () => {
      expect(kernelVariants().find((f) => f.family === 'gemm')!.selected).to.equal('simt');
    });
    expect(kernelVariants().find((f) => f.family === 'gemm')!.selected).to.equal(null);
  });

  it('name the choices when a family or a variant is unknown', () => {
    expect(() => setKernelVariant('attention', 'fastest')).to.throw(
      "attention: unknown kernel variant 'fastest' (reference, fast, packed)",
    );
    expect(() => setKernelVariant('softmax', 'reference')).to.throw(
      "kernel variants: unknown family 'softmax' (families with variants: attention, gemm, embedding, gather_dot, linear_ce, infonce, topk)",
    );
    expect(kernelVariants().find((f) => f.family === 'attention')!.selected).to.equal(null);
  });

  it('read LLMREC_KERNEL_<FAMILY> once per process, and reject an unknown name there', () => {
    const script = `import('${path.join(here, '..', 'lib', 'kernel-variants.js')}').then((m) => {
      try { console.log(JSON.stringify(m.kernelVariants().map((f) => [f.family, f.selected]))); }
      catch (e) { console.log('error: ' + e.message); }
    })`;
    const run = (env: Record<string, string>) =>
      execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
    expect(JSON.parse(run({ LLMREC_KERNEL_GEMM: 'simt' }))).to.deep.include(['gemm', 'simt']);
    expect(run({ LLMREC_KERNEL_EMBEDDING: 'scalar' })).to.equal(
      "error: embedding: unknown kernel variant 'scalar' in LLMREC_KERNEL_EMBEDDING (reference, vector)",
    );
  });
});

/** One representative call per family; what it returns is compared across variants. */
const cases: Record<string, (device: string, dtype: DType) => Tensor[]> = {
  attention: (device, dtype) => {
    const q = randn([2, 4, 40, 64], { seed: 1, device, dtype });
    const k = randn([2, 2, 72, 64], { seed: 2, device, dtype });
    const v = randn([2, 2, 72, 64], { seed: 3, device, dtype });
    for (const t of [q, k, v]) t.requiresGrad = true;
    const out = scaledDotProductAttention(q, k, v, {
      causal: true,
      keyPadding: { lengths: [60, 72], side: 'left' },
      dropout: { p: 0.1, seed: 5n, offset: 3n },
    });
    out.backward(randn(out.shape, { seed: 4, device, dtype }));
    return [out, q.grad!, k.grad!, v.grad!];
  },
  gemm: (device, dtype) => {
    const a = randn([2, 96, 72], { seed: 11, device, dtype });
    const b = randn([2, 72, 136], { seed: 12, device, dtype });
    const bias = randn([136], { seed: 13, device, dtype });
    // Extents that are not multiples of 8 (odd, and even but not 4-aligned: the two load modes of
    // tensor_unaligned), transposed operands, and more than one k-step and tile.
    const odd = randn([3, 45, 141], { seed: 14, device, dtype });
    const oddB = randn([3, 133, 45], { seed: 15, device, dtype });
    const even = randn([2, 150, 70], { seed: 16, device, dtype });
    const evenB = randn([2, 70, 138], { seed: 17, device, dtype });
    const c = randn([2, 150, 138], { seed: 18, device, dtype: 'f32' });
    return [
      gemm(a, b, { bias, activation: 'relu', outDtype: 'f32' }),
      gemm(odd, oddB, { transA: true, transB: true, activation: 'gelu', outDtype: 'f32' }),
      gemm(even, evenB, { beta: 0.5, c, outDtype: 'f32' }),
    ];
  },
  embedding: (device, dtype) => {
    const table = randn([50, 64], { seed: 21, device, dtype });
    table.requiresGrad = true;
    const ids = tensor(
      Int32Array.from({ length: 96 }, (_, i) => (i * 7) % 50),
      { dtype: 'i32', device, shape: [8, 12] },
    );
    const out = embedding(ids, table);
    out.backward(randn(out.shape, { seed: 22, device, dtype }));
    return [out, table.grad!];
  },
  gather_dot: (device, dtype) => {
    // 300 items of which 48 rows touch a few, repeatedly: untouched rows must come back zero.
    const user = randn([48, 40], { seed: 31, device, dtype, requiresGrad: true });
    const table = randn([300, 40], { seed: 32, device, dtype, requiresGrad: true });
    const ids = tensor(
      Int32Array.from({ length: 48 * 6 }, (_, i) => (i * 37) % 97),
      { dtype: 'i32', device, shape: [48, 6] },
    );
    const out = gatherDot(user, table, ids);
    out.backward(randn(out.shape, { seed: 33, device, dtype }));
    return [out, user.grad!, table.grad!];
  },
  linear_ce: (device, dtype) => {
    // A vocabulary that is not a multiple of 8 over several chunks (the last one ragged).
    const hidden = randn([70, 96], { seed: 41, device, dtype, requiresGrad: true });
    const weight = randn([1001, 96], { seed: 42, device, dtype, std: 0.1, requiresGrad: true });
    const labels = tensor(
      Int32Array.from({ length: 70 }, (_, i) => (i * 131) % 1001),
      { dtype: 'i32', device },
    );
    const loss = linearCrossEntropy(hidden, weight, labels, { chunk: 256, labelSmoothing: 0.1 });
    loss.backward();
    return [loss, hidden.grad!, weight.grad!];
  },
  infonce: (device, dtype) => {
    // More queries than the finishing block has threads, positives that repeat (the sorted
    // scatter's runs), the symmetric loss and the uniformity term.
    const q = randn([1100, 48], { seed: 51, device, dtype, requiresGrad: true });
    const k = randn([700, 48], { seed: 52, device, dtype, requiresGrad: true });
    const loss = infonce(q, k, {
      temperature: 0.1,
      normalize: true,
      symmetric: true,
      positives: Array.from({ length: 1100 }, (_, i) => (i * 13) % 700),
      uniformity: { t: 2, weight: 0.1 },
    });
    loss.backward();
    return [loss, q.grad!, k.grad!];
  },
  topk: (device, dtype) => {
    // Rows long enough to split into several slices, and a k above one round of a block.
    const x = randn([3, 5000], { seed: 61, device, dtype });
    const { values, indices } = topk(x, 300);
    return [values, indices];
  },
};

describeEachDevice('every kernel variant agrees with the reference variant', (device) => {
  it('has a case for every family in the table', () => {
    for (const f of kernelVariants()) expect(cases, `no case for family '${f.family}'`).to.have.property(f.family);
  });
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    it(`every family, every variant (${dtype})`, function () {
      if (!onGpu(device)) this.skip(); // the CPU twin has one implementation per kernel
      for (const f of kernelVariants()) {
        const reference = withKernelVariant(f.family, f.reference, () => cases[f.family]!(device, dtype).map(f64));
        for (const variant of f.variants.slice(1)) {
          const got = withKernelVariant(f.family, variant, () => cases[f.family]!(device, dtype).map(f64));
          got.forEach((values, i) =>
            expectClose(values, reference[i]!, toleranceFor(dtype), `${f.family} ${variant} output ${i} (${dtype})`),
          );
        }
      }
    });
  }
});
