import { expect } from 'chai';

import { gemm, linear, matmul, randn, tensor, type Activation, type DType, type Tensor } from '../lib/index.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, gradCheck, toleranceFor } from './support/reference.js';
import { erf64 as erf } from './support/module-check.js';
import { kernelVariants, withKernelVariant } from './support/variants.js';

const bf16Round = (x: number): number => {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
};

const activations: Record<Activation, (x: number) => number> = {
  none: (x) => x,
  relu: (x) => Math.max(x, 0),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
  silu: (x) => x / (1 + Math.exp(-x)),
};

interface RefOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  c?: Float64Array;
  bias?: Float64Array;
  activation?: Activation;
}

/** act(alpha · op(A) · op(B) + beta · C + bias) in float64, with the kernel's batch broadcasting. */
function referenceGemm(
  a: Float64Array,
  aShape: readonly number[],
  b: Float64Array,
  bShape: readonly number[],
  o: RefOptions = {},
): Float64Array {
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const aBatch = aShape.length === 3 ? aShape[0]! : 1;
  const bBatch = bShape.length === 3 ? bShape[0]! : 1;
  const batch = Math.max(aBatch, bBatch);
  const [m, k] = o.transA ? [ac, ar] : [ar, ac];
  const n = o.transB ? br : bc;
  const act = activations[o.activation ?? 'none'];
  const out = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const aOff = aBatch === 1 ? 0 : p * ar * ac;
    const bOff = bBatch === 1 ? 0 : p * br * bc;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = o.transA ? a[aOff + q * ac + i]! : a[aOff + i * ac + q]!;
          const bv = o.transB ? b[bOff + j * bc + q]! : b[bOff + q * bc + j]!;
          s += av * bv;
        }
        const at = (p * m + i) * n + j;
        let v = (o.alpha ?? 1) * s;
        if (o.beta) v += o.beta * o.c![at]!;
        if (o.bias) v += o.bias[j]!;
        out[at] = act(v);
      }
  }
  return out;
}

function crossCheck(device: string, result: Tensor, onCpu: () => Tensor, tol: number, what: string): void {
  if (!onGpu(device)) return;
  expectClose(f64(result), f64(onCpu()), tol, `${what}: CUDA vs CPU twin`);
}

const stored = (rows: number, cols: number, trans: boolean): number[] => (trans ? [cols, rows] : [rows, cols]);

describeEachDevice('gemm against a float64 reference', (device) => {
  // [m, k, n]: the degenerate case, odd sizes, and one that crosses every CPU blocking boundary.
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [17, 33, 65],
    [64, 128, 96],
    [200, 300, 270],
  ];
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const [m, k, n] of sizes) {
      for (const [transA, transB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as [boolean, boolean][]) {
        if (m === 200 && (transA || transB) && dtype === 'bf16') continue; // covered by the smaller sizes
        it(`${dtype} ${m}x${k}x${n} transA=${transA} transB=${transB}`, () => {
          const aShape = stored(m, k, transA);
          const bShape = stored(k, n, transB);
          const a = randn(aShape, { seed: 1 + m, device, dtype });
          const b = randn(bShape, { seed: 2 + n, device, dtype });
          const out = gemm(a, b, { transA, transB });
          expect(out.shape).to.deep.equal([m, n]);
          expect(out.dtype).to.equal(dtype);
          let expected = referenceGemm(f64(a), aShape, f64(b), bShape, { transA, transB });
          if (dtype === 'bf16') expected = expected.map(bf16Round);
          expectClose(f64(out), expected, toleranceFor(dtype), 'gemm');
          crossCheck(
            device,
            out,
            () => gemm(a.to('cpu'), b.to('cpu'), { transA, transB }),
            toleranceFor(dtype),
            'gemm',
          );
        });
      }
    }
  }

  for (const activation of Object.keys(activations) as Activation[]) {
    for (const dtype of ['f32', 'bf16'] as DType[]) {
      it(`epilogue alpha, beta * c, bias and ${activation} (${dtype})`, () => {
        const [m, k, n] = [19, 40, 23];
        const a = randn([m, k], { seed: 3, device, dtype, std: 0.3 });
        const b = randn([n, k], { seed: 4, device, dtype, std: 0.3 });
        const c = randn([m, n], { seed: 5, device, dtype });
        const bias = randn([n], { seed: 6, device, dtype });
        const options = { transB: true, alpha: 0.75, beta: -0.5, activation };
        const out = gemm(a, b, { ...options, c, bias });
        let expected = referenceGemm(f64(a), [m, k], f64(b), [n, k], { ...options, c: f64(c), bias: f64(bias) });
        if (dtype === 'bf16') expected = expected.map(bf16Round);
        expectClose(f64(out), expected, toleranceFor(dtype), activation);
        crossCheck(
          device,
          out,
          () => gemm(a.to('cpu'), b.to('cpu'), { ...options, c: c.to('cpu'), bias: bias.to('cpu') }),
          toleranceFor(dtype),
          activation,
        );
      });
    }
  }

  it('bf16 inputs with an f32 output keep the f32 accumulation', () => {
    const a = randn([31, 70], { seed: 7, device, dtype: 'bf16' });
    const b = randn([70, 45], { seed: 8, device, dtype: 'bf16' });
    const out = gemm(a, b, { outDtype: 'f32' });
    expect(out.dtype).to.equal('f32');
    expectClose(f64(out), referenceGemm(f64(a), [31, 70], f64(b), [70, 45]), 1e-5, 'bf16 -> f32');
  });

  it('an empty inner dimension leaves only beta * c and the bias', () => {
    const a = randn([3, 0], { seed: 20, device });
    const b = randn([0, 4], { seed: 21, device });
    const c = randn([3, 4], { seed: 22, device });
    const bias = randn([4], { seed: 23, device });
    const out = gemm(a, b, { c, beta: 2, bias });
    const expected = f64(c).map((v, i) => 2 * v + f64(bias)[i % 4]!);
    expectClose(f64(out), expected, 1e-6, 'k = 0');
  });

  it('ignores c when beta is 0, even if c holds NaN', () => {
    const a = randn([5, 6], { seed: 9, device });
    const b = randn([6, 7], { seed: 10, device });
    const c = tensor(new Float32Array(35).fill(NaN), { shape: [5, 7], device });
    const out = gemm(a, b, { c, beta: 0 });
    expectClose(f64(out), referenceGemm(f64(a), [5, 6], f64(b), [6, 7]), 1e-5, 'beta = 0');
  });

  const batchCases: [number[], number[], boolean, boolean][] = [
    [[3, 5, 7], [3, 7, 9], false, false],
    [[3, 7, 5], [3, 9, 7], true, true],
    [[5, 7], [3, 7, 9], false, false], // shared A
    [[3, 5, 7], [9, 7], false, true], // shared B
    [[1, 5, 7], [4, 7, 6], false, false], // a stack of one broadcasts
    [[4, 400, 70], [70, 520], false, false], // enough CPU tiles to group A blocks over one B panel
  ];
  for (const [aShape, bShape, transA, transB] of batchCases) {
    it(`batched [${aShape.join(',')}] x [${bShape.join(',')}] transA=${transA} transB=${transB}`, () => {
      const a = randn(aShape, { seed: 11, device });
      const b = randn(bShape, { seed: 12, device });
      const bias = randn([transB ? bShape[bShape.length - 2]! : bShape[bShape.length - 1]!], { seed: 13, device });
      const out = gemm(a, b, { transA, transB, bias, activation: 'silu' });
      const expected = referenceGemm(f64(a), aShape, f64(b), bShape, {
        transA,
        transB,
        bias: f64(bias),
        activation: 'silu',
      });
      expectClose(f64(out), expected, 1e-5, 'batched');
      crossCheck(
        device,
        out,
        () => gemm(a.to('cpu'), b.to('cpu'), { transA, transB, bias: bias.to('cpu'), activation: 'silu' }),
        1e-5,
        'batched',
      );
    });
  }

  it('matmul follows torch.matmul for matrices, stacks and a shared matrix', () => {
    const a = randn([4, 6, 5], { seed: 14, device });
    const w = randn([5, 3], { seed: 15, device });
    const out = matmul(a, w);
    expect(out.shape).to.deep.equal([4, 6, 3]);
    expectClose(f64(out), referenceGemm(f64(a), [4, 6, 5], f64(w), [5, 3]), 1e-5, 'matmul');
    const x = randn([2, 5], { seed: 16, device });
    expect(matmul(x, w).shape).to.deep.equal([2, 3]);
    expectClose(f64(x.matmul(w)), referenceGemm(f64(x), [2, 5], f64(w), [5, 3]), 1e-5, 'Tensor.matmul');
    expect(() => matmul(randn([5], { seed: 1, device }), w)).to.throw(
      /matmul: needs matrices or \[batch, rows, cols\] stacks/,
    );
  });

  it('linear follows torch.nn.functional.linear on [..., in] inputs', () => {
    const x = randn([2, 3, 8], { seed: 17, device });
    const weight = randn([5, 8], { seed: 18, device });
    const bias = randn([5], { seed: 19, device });
    const out = linear(x, weight, bias, 'gelu');
    expect(out.shape).to.deep.equal([2, 3, 5]);
    const expected = referenceGemm(f64(x), [6, 8], f64(weight), [5, 8], {
      transB: true,
      bias: f64(bias),
      activation: 'gelu',
    });
    expectClose(f64(out), expected, 1e-5, 'linear');
    expect(linear(randn([8], { seed: 1, device }), weight).shape).to.deep.equal([5]);
  });

  it('names the op, the argument and the shapes in its errors', () => {
    const a = randn([4, 5], { seed: 1, device });
    const b = randn([6, 3], { seed: 2, device });
    expect(() => gemm(a, b)).to.throw(
      'gemm: inner dimensions differ: A is [m,k]=[4, 5] (transA=false), B is [k,n]=[6, 3] (transB=false)',
    );
    expect(() => gemm(a, b, { transA: true, transB: true })).to.throw(
      'gemm: inner dimensions differ: A is [k,m]=[4, 5] (transA=true), B is [n,k]=[6, 3] (transB=true)',
    );
    expect(() => gemm(randn([2, 4, 5], { seed: 1, device }), randn([3, 5, 2], { seed: 1, device }))).to.throw(
      /gemm: batch sizes differ: 'a' is \[2, 4, 5\] and 'b' is \[3, 5, 2\]/,
    );
    expect(() => gemm(a, randn([5, 2], { seed: 1, device, dtype: 'bf16' }))).to.throw(
      /gemm: 'a' and 'b' must both be f32 or both bf16, got f32 and bf16/,
    );
    expect(() => gemm(a, randn([5], { seed: 1, device }))).to.throw(/gemm: 'b' must be a matrix .* got shape \[5\]/);
    const w = randn([5, 3], { seed: 3, device });
    expect(() => gemm(a, w, { beta: 0.5 })).to.throw(/gemm: beta is 0.5 but no 'c' was given/);
    expect(() => gemm(a, w, { beta: 1, c: randn([3, 4], { seed: 1, device }) })).to.throw(
      /gemm: 'c' must be f32\[4, 3\] like the result, got f32\[3, 4\]/,
    );
    expect(() => gemm(a, w, { bias: randn([4], { seed: 1, device }) })).to.throw(
      /gemm: 'bias' must be f32\[3\] \(one per output column\), got f32\[4\]/,
    );
    expect(() => gemm(a, w, { activation: 'tanh' as Activation })).to.throw(/gemm: unknown activation 'tanh'/);
    expect(() => linear(randn([2, 7], { seed: 1, device }), w)).to.throw(
      /linear: the last axis of 'x' \[2, 7\] must equal in_features of 'weight' \[5, 3\]/,
    );
  });
});

describeEachDevice('gemm kernel variants agree with the CPU twin', (device) => {
  if (!onGpu(device)) return; // the CPU twin has one variant; the suite above covers it
  // Small tiles with ragged edges, large tiles (enough blocks to fill the GPU) with a K tail, a
  // batch, and an odd K that sends bf16 to the SIMT fallback.
  const shapes: [number, number, number, number][] = [
    [1, 96, 72, 136],
    [1, 1536, 72, 1536],
    [3, 40, 56, 24],
    [2, 33, 17, 65],
  ];
  for (const variant of kernelVariants().find((f) => f.family === 'gemm')!.variants) {
    for (const [batch, m, k, n] of shapes) {
      for (const [transA, transB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as [boolean, boolean][]) {
        it(`${variant}: bf16 ${batch}x${m}x${k}x${n} transA=${transA} transB=${transB}`, () => {
          withKernelVariant('gemm', variant, () => {
            const a = randn([batch, ...stored(m, k, transA)], { seed: 31, device, dtype: 'bf16' });
            const b = randn([batch, ...stored(k, n, transB)], { seed: 32, device, dtype: 'bf16' });
            const bias = randn([n], { seed: 33, device, dtype: 'bf16' });
            const options = { transA, transB, bias, activation: 'gelu_tanh' as Activation, outDtype: 'f32' as DType };
            const out = gemm(a, b, options);
            const cpu = gemm(a.to('cpu'), b.to('cpu'), { ...options, bias: bias.to('cpu') });
            expectClose(f64(out), f64(cpu), 1e-5, `${variant} vs the CPU twin`);
          });
        });
      }
    }
  }
});

describeEachDevice('gemm gradients against central differences', (device) => {
  const input = (shape: number[], seed: number) => ({ values: f64(randn(shape, { seed, std: 0.5 })), shape });

  it('matmul of matrices', () => {
    gradCheck({
      inputs: [input([3, 4], 1), input([4, 5], 2)],
      forward: ([a, b]) => matmul(a!, b!),
      reference: ([a, b]) => referenceGemm(a!, [3, 4], b!, [4, 5]),
      device,
    });
  });

  it('batched matmul, and a stack times a shared matrix', () => {
    gradCheck({
      inputs: [input([2, 3, 4], 3), input([2, 4, 2], 4)],
      forward: ([a, b]) => matmul(a!, b!),
      reference: ([a, b]) => referenceGemm(a!, [2, 3, 4], b!, [2, 4, 2]),
      device,
    });
    gradCheck({
      inputs: [input([2, 3, 4], 5), input([4, 2], 6)],
      forward: ([a, b]) => matmul(a!, b!),
      reference: ([a, b]) => referenceGemm(a!, [2, 3, 4], b!, [4, 2]),
      device,
    });
    gradCheck({
      inputs: [input([3, 4], 7), input([2, 4, 2], 8)],
      forward: ([a, b]) => matmul(a!, b!),
      reference: ([a, b]) => referenceGemm(a!, [3, 4], b!, [2, 4, 2]),
      device,
    });
  });

  it('gemm with both transposes, alpha and beta * c', () => {
    const o = { transA: true, transB: true, alpha: 0.7, beta: 1.3 };
    gradCheck({
      inputs: [input([4, 3], 9), input([2, 4], 10), input([3, 2], 11)],
      forward: ([a, b, c]) => gemm(a!, b!, { ...o, c: c! }),
      reference: ([a, b, c]) => referenceGemm(a!, [4, 3], b!, [2, 4], { ...o, c: c! }),
      device,
    });
  });

  for (const activation of Object.keys(activations) as Activation[]) {
    it(`linear with bias and ${activation}`, () => {
      gradCheck({
        inputs: [input([2, 3, 4], 12), input([5, 4], 13), input([5], 14)],
        forward: ([x, w, bias]) => linear(x!, w!, bias!, activation),
        reference: ([x, w, bias]) => referenceGemm(x!, [6, 4], w!, [5, 4], { transB: true, bias: bias!, activation }),
        device,
      });
    });
  }
});
