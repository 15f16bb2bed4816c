import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import {
  randn,
  rope,
  scaledDotProductAttention,
  tensor,
  Tensor,
  type AttentionNativeOptions,
  type AttentionOptions,
  type DType,
} from '../lib/index.js';
import { native } from '../lib/binding.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, gradCheck, relativeError, toleranceFor } from './support/reference.js';
import { kernelVariants, withKernelVariant } from './support/variants.js';

interface Dims {
  B: number;
  Hq: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  D: number;
}

interface RefOptions {
  causal?: boolean;
  lengths?: number[];
  side?: 'left' | 'right';
  scale?: number;
  dropout?: { p: number; seed: bigint; offset: bigint };
}

// Philox4x32-10 in JS (BigInt arithmetic), the generator native/kernels/philox.h implements.
function philox(seed: bigint, counter: bigint): number[] {
  let c = [Number(counter & 0xffffffffn), Number((counter >> 32n) & 0xffffffffn), 0, 0];
  let k0 = Number(seed & 0xffffffffn);
  let k1 = Number((seed >> 32n) & 0xffffffffn);
  const mulhilo = (a: number, b: number): [number, number] => {
    const product = BigInt(a) * BigInt(b);
    return [Number(product >> 32n), Number(product & 0xffffffffn)];
  };
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulhilo(0xd2511f53, c[0]!);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c[2]!);
    c = [(hi1 ^ c[1]! ^ k0) >>> 0, lo1, (hi0 ^ c[3]! ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return c;
}

/** The dropout factor (0 or 1/(1-p)) of every probability, [B, Hq, Lq, Lk]. */
function dropoutFactors(dims: Dims, dropout: { p: number; seed: bigint; offset: bigint }): Float64Array {
  const n = dims.B * dims.Hq * dims.Lq * dims.Lk;
  const factors = new Float64Array(n);
  for (let e = 0; e < n; e += 4) {
    const bits = philox(dropout.seed, dropout.offset + BigInt(e / 4));
    for (let lane = 0; lane < 4 && e + lane < n; lane++) {
      const u = (bits[lane]! >>> 8) * 5.9604644775390625e-8;
      factors[e + lane] = u >= Math.fround(dropout.p) ? 1 / (1 - Math.fround(dropout.p)) : 0;
    }
  }
  return factors;
}

function visible(dims: Dims, o: RefOptions, b: number, i: number, j: number): boolean {
  let begin = 0;
  let end = dims.Lk;
  if (o.lengths) {
    const len = Math.min(Math.max(o.lengths[b]!, 0), dims.Lk);
    if (o.side === 'left') begin = dims.Lk - len;
    else end = len;
  }
  if (o.causal) end = Math.min(end, i + (dims.Lk - dims.Lq) + 1);
  return j >= begin && j < end;
}

/** Explicit-score attention in float64: probabilities, dropout factors and the output. */
function referenceAttention(q: Float64Array, k: Float64Array, v: Float64Array, dims: Dims, o: RefOptions) {
  const { B, Hq, Hkv, Lq, Lk, D } = dims;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const probs = new Float64Array(B * Hq * Lq * Lk);
  const factors = o.dropout ? dropoutFactors(dims, o.dropout) : new Float64Array(probs.length).fill(1);
  const out = new Float64Array(B * Hq * Lq * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / (Hq / Hkv));
      for (let i = 0; i < Lq; i++) {
        const qRow = ((b * Hq + h) * Lq + i) * D;
        const scores = new Float64Array(Lk).fill(-Infinity);
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) {
          if (!visible(dims, o, b, i, j)) continue;
          let dot = 0;
          const kRow = ((b * Hkv + hk) * Lk + j) * D;
          for (let d = 0; d < D; d++) dot += q[qRow + d]! * k[kRow + d]!;
          scores[j] = dot * scale;
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j < Lk; j++) sum += scores[j] === -Infinity ? 0 : Math.exp(scores[j]! - max);
        const pRow = ((b * Hq + h) * Lq + i) * Lk;
        for (let j = 0; j < Lk; j++) {
          const p = scores[j] === -Infinity ? 0 : Math.exp(scores[j]! - max) / sum;
          probs[pRow + j] = p;
          const w = p * factors[pRow + j]!;
          const vRow = ((b * Hkv + hk) * Lk + j) * D;
          for (let d = 0; d < D; d++) out[qRow + d] = out[qRow + d]! + w * v[vRow + d]!;
        }
      }
    }
  return { out, probs, factors };
}

/** Analytic float64 gradients of sum(gradOut * attention(q, k, v)). */
function referenceGradients(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  gradOut: Float64Array,
  dims: Dims,
  o: RefOptions,
) {
  const { B, Hq, Hkv, Lq, Lk, D } = dims;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const { probs, factors } = referenceAttention(q, k, v, dims, o);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / (Hq / Hkv));
      for (let i = 0; i < Lq; i++) {
        const qRow = ((b * Hq + h) * Lq + i) * D;
        const pRow = ((b * Hq + h) * Lq + i) * Lk;
        const dp = new Float64Array(Lk);
        let rowDot = 0;
        for (let j = 0; j < Lk; j++) {
          const vRow = ((b * Hkv + hk) * Lk + j) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += gradOut[qRow + d]! * v[vRow + d]!;
          dp[j] = dot * factors[pRow + j]!;
          rowDot += probs[pRow + j]! * dp[j]!;
        }
        for (let j = 0; j < Lk; j++) {
          const p = probs[pRow + j]!;
          const ds = p * (dp[j]! - rowDot) * scale;
          const kRow = ((b * Hkv + hk) * Lk + j) * D;
          const w = p * factors[pRow + j]!;
          for (let d = 0; d < D; d++) {
            dq[qRow + d] = dq[qRow + d]! + ds * k[kRow + d]!;
            dk[kRow + d] = dk[kRow + d]! + ds * q[qRow + d]!;
            dv[kRow + d] = dv[kRow + d]! + w * gradOut[qRow + d]!;
          }
        }
      }
    }
  return { dq, dk, dv };
}

function toOptions(o: RefOptions): AttentionOptions {
  return {
    causal: o.causal,
    keyPadding: o.lengths ? { lengths: o.lengths, side: o.side ?? 'right' } : undefined,
    scale: o.scale,
    dropout: o.dropout ? { p: o.dropout.p, seed: o.dropout.seed, offset: o.dropout.offset } : undefined,
  };
}

function inputs(dims: Dims, device: string, dtype: DType = 'f32', seed = 1, std = 1) {
  const q = randn([dims.B, dims.Hq, dims.Lq, dims.D], { seed, device, dtype, std });
  const k = randn([dims.B, dims.Hkv, dims.Lk, dims.D], { seed: seed + 1, device, dtype, std });
  const v = randn([dims.B, dims.Hkv, dims.Lk, dims.D], { seed: seed + 2, device, dtype });
  return { q, k, v };
}

function disposeAll(...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) {
    t?.grad?.dispose();
    t?.dispose();
  }
}

/** On CUDA, the CPU twin must give the same answer as the device. */
function crossCheck(device: string, result: Tensor, onCpu: () => Tensor, tol: number, what: string): void {
  if (!onGpu(device)) return;
  const cpu = onCpu();
  expectClose(f64(result), f64(cpu), tol, `${what}: CUDA vs CPU twin`);
  cpu.dispose();
}

const forwardCases: [string, Dims, RefOptions][] = [
  ['bidirectional', { B: 2, Hq: 2, Hkv: 2, Lq: 9, Lk: 9, D: 8 }, {}],
  ['causal, lengths not multiples of the blocks', { B: 2, Hq: 2, Hkv: 2, Lq: 70, Lk: 70, D: 32 }, { causal: true }],
  ['causal with Lq < Lk (end-aligned)', { B: 1, Hq: 2, Hkv: 1, Lq: 37, Lk: 130, D: 16 }, { causal: true }],
  ['right padding', { B: 3, Hq: 2, Hkv: 2, Lq: 50, Lk: 50, D: 64 }, { lengths: [50, 17, 1], side: 'right' }],
  [
    'left padding, causal',
    { B: 3, Hq: 1, Hkv: 1, Lq: 50, Lk: 50, D: 64 },
    { causal: true, lengths: [33, 50, 4], side: 'left' },
  ],
  ['GQA 6 query heads over 2 kv heads', { B: 2, Hq: 6, Hkv: 2, Lq: 40, Lk: 72, D: 24 }, { causal: true }],
  ['head dim 128, custom scale', { B: 1, Hq: 2, Hkv: 2, Lq: 33, Lk: 65, D: 128 }, { scale: 0.3 }],
  [
    'dropout',
    { B: 2, Hq: 2, Hkv: 1, Lq: 45, Lk: 45, D: 16 },
    { causal: true, dropout: { p: 0.3, seed: 7n, offset: 5n } },
  ],
  // Past 64 keys the CPU backward takes its two-pass path (dq over query blocks, dk/dv over key blocks).
  [
    'dropout and left padding with long keys',
    { B: 2, Hq: 2, Hkv: 1, Lq: 33, Lk: 100, D: 16 },
    { causal: true, lengths: [100, 30], side: 'left', dropout: { p: 0.2, seed: 11n, offset: 0n } },
  ],
  ['right padding with long keys', { B: 2, Hq: 3, Hkv: 3, Lq: 70, Lk: 70, D: 8 }, { lengths: [70, 10], side: 'right' }],
];

describeEachDevice('scaledDotProductAttention', (device) => {
  for (const [title, dims, o] of forwardCases) {
    for (const dtype of ['f32', 'bf16'] as DType[]) {
      it(`forward ${dtype}: ${title}`, () => {
        const { q, k, v } = inputs(dims, device, dtype);
        const out = scaledDotProductAttention(q, k, v, toOptions(o));
        expect(out.shape).to.deep.equal([dims.B, dims.Hq, dims.Lq, dims.D]);
        expect(out.dtype).to.equal(dtype);
        const ref = referenceAttention(f64(q), f64(k), f64(v), dims, o);
        expectClose(f64(out), ref.out, toleranceFor(dtype), `${title} ${dtype}`);
        crossCheck(
          device,
          out,
          () => scaledDotProductAttention(q.to('cpu'), k.to('cpu'), v.to('cpu'), toOptions(o)),
          toleranceFor(dtype),
          title,
        );
        disposeAll(q, k, v, out);
      });
    }

    it(`backward f32 against analytic float64 gradients: ${title}`, () => {
      const { q, k, v } = inputs(dims, device, 'f32', 11);
      for (const t of [q, k, v]) t.requiresGrad = true;
      const out = scaledDotProductAttention(q, k, v, toOptions(o));
      const gradOut = randn(out.shape, { seed: 99, device });
      out.backward(gradOut);
      const ref = referenceGradients(f64(q), f64(k), f64(v), f64(gradOut), dims, o);
      expectClose(f64(q.grad!), ref.dq, 1e-5, 'dq');
      expectClose(f64(k.grad!), ref.dk, 1e-5, 'dk');
      expectClose(f64(v.grad!), ref.dv, 1e-5, 'dv');
      disposeAll(q, k, v, out, gradOut);
    });
  }

  it('backward bf16 against analytic float64 gradients (GQA, causal, padding)', () => {
    const dims = { B: 2, Hq: 4, Hkv: 2, Lq: 35, Lk: 35, D: 32 };
    const o: RefOptions = { causal: true, lengths: [30, 35], side: 'left' };
    const { q, k, v } = inputs(dims, device, 'bf16', 5);
    for (const t of [q, k, v]) t.requiresGrad = true;
    const out = scaledDotProductAttention(q, k, v, toOptions(o));
    const gradOut = randn(out.shape, { seed: 98, device, dtype: 'bf16' });
    out.backward(gradOut);
    const ref = referenceGradients(f64(q), f64(k), f64(v), f64(gradOut), dims, o);
    expect(q.grad!.dtype).to.equal('bf16');
    expectClose(f64(q.grad!), ref.dq, 1e-2, 'dq');
    expectClose(f64(k.grad!), ref.dk, 1e-2, 'dk');
    expectClose(f64(v.grad!), ref.dv, 1e-2, 'dv');
    disposeAll(q, k, v, out, gradOut);
  });

  const gradCases: [string, Dims, RefOptions][] = [
    ['bidirectional', { B: 2, Hq: 2, Hkv: 2, Lq: 7, Lk: 7, D: 4 }, {}],
    ['causal, Lq < Lk', { B: 2, Hq: 2, Hkv: 2, Lq: 5, Lk: 9, D: 8 }, { causal: true }],
    ['GQA with right padding', { B: 2, Hq: 4, Hkv: 2, Lq: 6, Lk: 8, D: 4 }, { lengths: [5, 8], side: 'right' }],
    [
      'left padding, causal',
      { B: 2, Hq: 2, Hkv: 1, Lq: 9, Lk: 9, D: 6 },
      { causal: true, lengths: [9, 3], side: 'left' },
    ],
    ['dropout', { B: 2, Hq: 2, Hkv: 2, Lq: 8, Lk: 8, D: 4 }, { dropout: { p: 0.25, seed: 3n, offset: 0n } }],
  ];
  for (const [title, dims, o] of gradCases) {
    it(`gradCheck: ${title}`, () => {
      const shapes = [
        [dims.B, dims.Hq, dims.Lq, dims.D],
        [dims.B, dims.Hkv, dims.Lk, dims.D],
        [dims.B, dims.Hkv, dims.Lk, dims.D],
      ];
      gradCheck({
        inputs: shapes.map((shape, n) => ({ shape, values: f64(randn(shape, { seed: 20 + n })) })),
        forward: ([q, k, v]) => scaledDotProductAttention(q!, k!, v!, toOptions(o)),
        reference: ([q, k, v]) => referenceAttention(q!, k!, v!, dims, o).out,
        device,
      });
    });
  }

  it('padded keys get no weight: changing their K and V changes nothing, and their gradients are zero', () => {
    const dims = { B: 2, Hq: 2, Hkv: 2, Lq: 40, Lk: 40, D: 16 };
    for (const side of ['left', 'right'] as const) {
      const lengths = [25, 40];
      const { q, k, v } = inputs(dims, device, 'f32', 3);
      const kv = [f64(k), f64(v)];
      const padded = (b: number, j: number) => (side === 'right' ? j >= lengths[b]! : j < dims.Lk - lengths[b]!);
      // Large garbage in the padded rows.
      const altered = kv.map((values) => {
        const copy = Float32Array.from(values);
        for (let b = 0; b < dims.B; b++)
          for (let h = 0; h < dims.Hkv; h++)
            for (let j = 0; j < dims.Lk; j++)
              if (padded(b, j))
                for (let d = 0; d < dims.D; d++) copy[((b * dims.Hkv + h) * dims.Lk + j) * dims.D + d] = 1e4 * (d + 1);
        return tensor(copy, { shape: [...k.shape], device });
      });
      const options: AttentionOptions = { causal: side === 'left', keyPadding: { lengths, side } };
      const a = scaledDotProductAttention(q, k, v, options);
      altered[0]!.requiresGrad = true;
      altered[1]!.requiresGrad = true;
      const b = scaledDotProductAttention(q, altered[0]!, altered[1]!, options);
      expect(Array.from(f64(b))).to.deep.equal(Array.from(f64(a)));
      b.backward(randn(b.shape, { seed: 4, device }));
      for (const grad of [altered[0]!.grad!, altered[1]!.grad!]) {
        const g = f64(grad);
        for (let bb = 0; bb < dims.B; bb++)
          for (let h = 0; h < dims.Hkv; h++)
            for (let j = 0; j < dims.Lk; j++)
              if (padded(bb, j))
                for (let d = 0; d < dims.D; d++)
                  expect(g[((bb * dims.Hkv + h) * dims.Lk + j) * dims.D + d]).to.equal(0);
      }
      disposeAll(q, k, v, a, b, ...altered);
    }
  });

  it('a query row with no visible key outputs zeros and gets zero gradients, never NaN', () => {
    const dims = { B: 2, Hq: 2, Hkv: 2, Lq: 12, Lk: 12, D: 8 };
    const { q, k, v } = inputs(dims, device);
    for (const t of [q, k, v]) t.requiresGrad = true;
    // Batch 0 has no valid key; in batch 1 (left padding, causal) the first rows see nothing.
    const out = scaledDotProductAttention(q, k, v, { causal: true, keyPadding: { lengths: [0, 5], side: 'left' } });
    const values = f64(out);
    expect(values.every((x) => Number.isFinite(x))).to.equal(true);
    const rowSize = dims.Lq * dims.D;
    for (let h = 0; h < dims.Hq; h++) {
      for (let e = 0; e < rowSize; e++) expect(values[h * rowSize + e]).to.equal(0);
      // Batch 1: rows i < 7 see no key (keys start at 7, causal end i + 1).
      for (let e = 0; e < 7 * dims.D; e++) expect(values[(dims.Hq + h) * rowSize + e]).to.equal(0);
    }
    out.backward(randn(out.shape, { seed: 2, device }));
    const dq = f64(q.grad!);
    expect(dq.every((x) => Number.isFinite(x))).to.equal(true);
    for (let e = 0; e < dims.Hq * rowSize; e++) expect(dq[e]).to.equal(0);
    expect(f64(k.grad!).every((x) => Number.isFinite(x))).to.equal(true);
    disposeAll(q, k, v, out);
  });

  it('handles empty sequences: no keys gives zero outputs and gradients, no queries gives empty outputs', () => {
    for (const [Lq, Lk] of [
      [5, 0],
      [0, 5],
    ] as const) {
      const q = randn([2, 2, Lq, 8], { device, requiresGrad: true });
      const k = randn([2, 1, Lk, 8], { device, requiresGrad: true });
      const v = randn([2, 1, Lk, 8], { device, requiresGrad: true });
      const out = scaledDotProductAttention(q, k, v, { causal: true });
      expect(out.shape).to.deep.equal([2, 2, Lq, 8]);
      expect(Array.from(f64(out)).every((x) => x === 0)).to.equal(true);
      out.sum().backward();
      for (const t of [q, k, v]) expect(Array.from(f64(t.grad!)).every((x) => x === 0)).to.equal(true);
      disposeAll(q, k, v, out);
    }
  });

  it('large magnitudes do not overflow (scores near 100, beyond exp range in f32)', () => {
    const dims = { B: 2, Hq: 2, Hkv: 2, Lq: 33, Lk: 70, D: 16 };
    const { q, k, v } = inputs(dims, device, 'f32', 8, 10);
    for (const t of [q, k, v]) t.requiresGrad = true;
    const out = scaledDotProductAttention(q, k, v, { causal: true });
    const ref = referenceAttention(f64(q), f64(k), f64(v), dims, { causal: true });
    expect(Math.max(...Array.from(f64(q)).map(Math.abs))).to.be.greaterThan(20);
    expectClose(f64(out), ref.out, 1e-5, 'out');
    const gradOut = randn(out.shape, { seed: 9, device });
    out.backward(gradOut);
    const grads = referenceGradients(f64(q), f64(k), f64(v), f64(gradOut), dims, { causal: true });
    expectClose(f64(v.grad!), grads.dv, 1e-5, 'dv');
    // dq and dk carry the scores' conditioning (|s| ~ 100): f32 rounding of s is amplified there.
    expectClose(f64(q.grad!), grads.dq, 1e-3, 'dq');
    expectClose(f64(k.grad!), grads.dk, 1e-3, 'dk');
    disposeAll(q, k, v, out, gradOut);
  });

  it('dropout is deterministic, keyed by seed and offset, and drops about p of the weights', () => {
    const dims = { B: 2, Hq: 2, Hkv: 2, Lq: 64, Lk: 64, D: 16 };
    const { q, k, v } = inputs(dims, device);
    const run = (seed: bigint, offset: bigint) =>
      scaledDotProductAttention(q, k, v, { dropout: { p: 0.5, seed, offset } });
    const [a, b, c, d] = [run(1n, 0n), run(1n, 0n), run(2n, 0n), run(1n, 1000n)];
    expect(Array.from(f64(a))).to.deep.equal(Array.from(f64(b)));
    expect(relativeError(f64(a), f64(c))).to.be.greaterThan(0.1);
    expect(relativeError(f64(a), f64(d))).to.be.greaterThan(0.1);
    const factors = dropoutFactors(dims, { p: 0.5, seed: 1n, offset: 0n });
    const dropped = factors.reduce((n, f) => n + (f === 0 ? 1 : 0), 0) / factors.length;
    expect(dropped).to.be.within(0.47, 0.53);
    const ref = referenceAttention(f64(q), f64(k), f64(v), dims, { dropout: { p: 0.5, seed: 1n, offset: 0n } });
    expectClose(f64(a), ref.out, 1e-5, 'dropout against the Philox reference');
    disposeAll(q, k, v, a, b, c, d);
  });

  it('dropout without a seed draws from the global generator (different masks per call)', () => {
    const dims = { B: 1, Hq: 1, Hkv: 1, Lq: 16, Lk: 16, D: 8 };
    const { q, k, v } = inputs(dims, device);
    const a = scaledDotProductAttention(q, k, v, { dropout: { p: 0.5 } });
    const b = scaledDotProductAttention(q, k, v, { dropout: { p: 0.5 } });
    expect(relativeError(f64(a), f64(b))).to.be.greaterThan(0.05);
    disposeAll(q, k, v, a, b);
  });

  it('rejects bad inputs with messages that name the op, the argument and the shapes', () => {
    const q = randn([2, 3, 5, 8], { device });
    const k = randn([2, 2, 5, 8], { device });
    expect(() => scaledDotProductAttention(q, k, k)).to.throw(
      /attention: the query heads of 'q' \[2, 3, 5, 8\] must be a multiple of the kv heads of 'k' \[2, 2, 5, 8\]/,
    );
    const q2 = randn([2, 2, 5, 8], { device });
    const kb = randn([2, 2, 5, 8], { device, dtype: 'bf16' });
    expect(() => scaledDotProductAttention(q2, kb, kb)).to.throw(
      /attention: q, k and v must share a dtype, got q f32, k bf16/,
    );
    const k4 = randn([2, 2, 5, 4], { device });
    expect(() => scaledDotProductAttention(q2, k4, k4)).to.throw(
      /attention: 'q' \[2, 2, 5, 8\] and 'k' \[2, 2, 5, 4\] have different head dims/,
    );
    const k3 = randn([3, 2, 5, 8], { device });
    expect(() => scaledDotProductAttention(q2, k3, k3)).to.throw(/different batch sizes/);
    expect(() => scaledDotProductAttention(q2, q2, randn([2, 2, 6, 8], { device }))).to.throw(
      /attention: 'k' \[2, 2, 5, 8\] and 'v' \[2, 2, 6, 8\] must have the same shape/,
    );
    expect(() => scaledDotProductAttention(randn([2, 5, 8], { device }), q2, q2)).to.throw(
      /attention: 'q' must be 4-D \[B, Hq, Lq, D\], got \[2, 5, 8\]/,
    );
    expect(() => scaledDotProductAttention(q2, q2, q2, { keyPadding: { lengths: [1, 2, 3], side: 'right' } })).to.throw(
      /attention: 'keyLengths' must be i32 \[2\] \(one valid length per batch row\), got i32\[3\]/,
    );
    expect(() => scaledDotProductAttention(q2, q2, q2, { dropout: { p: 1, seed: 1 } })).to.throw(
      /attention: dropout must be in \[0, 1\), got 1/,
    );
    expect(() => rope(randn([1, 1, 4, 5], { device }), [0, 1, 2, 3])).to.throw(
      /rope: the head dim of 'x' \[1, 1, 4, 5\] must be even/,
    );
    expect(() => rope(randn([1, 1, 4, 6], { device }), [0, 1, 2])).to.throw(
      /rope: 'positions' must be i32 \[4\] or \[1, 4\] for 'x' \[1, 1, 4, 6\], got i32\[3\]/,
    );
    disposeAll(q, k, q2, kb, k4, k3);
  });

  it('every CUDA kernel variant (the attention variant table) agrees with the CPU twin, forward and backward', function () {
    if (!onGpu(device)) this.skip();
    const configs: [Dims, RefOptions, DType][] = [
      [{ B: 2, Hq: 6, Hkv: 2, Lq: 40, Lk: 72, D: 24 }, { causal: true, lengths: [60, 72], side: 'left' }, 'f32'],
      [
        { B: 2, Hq: 2, Hkv: 1, Lq: 50, Lk: 50, D: 64 },
        { causal: true, dropout: { p: 0.1, seed: 5n, offset: 3n } },
        'f32',
      ],
      [{ B: 1, Hq: 2, Hkv: 2, Lq: 33, Lk: 65, D: 128 }, { lengths: [40], side: 'right' }, 'bf16'],
      [
        { B: 5, Hq: 4, Hkv: 2, Lq: 10, Lk: 13, D: 40 },
        { causal: true, lengths: [13, 0, 5, 9, 1], side: 'left', dropout: { p: 0.2, seed: 8n, offset: 1n } },
        'f32',
      ],
    ];
    for (const variant of kernelVariants().find((f) => f.family === 'attention')!.variants) {
      withKernelVariant('attention', variant, () => {
        for (const [dims, o, dtype] of configs) {
          const { q, k, v } = inputs(dims, device, dtype, 31);
          const cpu = [q, k, v].map((t) => t.to('cpu'));
          const onDevice = [q, k, v];
          const gradOut = randn([dims.B, dims.Hq, dims.Lq, dims.D], { seed: 32, device, dtype });
          const results = [onDevice, cpu].map((xs) => {
            for (const t of xs) t.requiresGrad = true;
            const out = scaledDotProductAttention(xs[0]!, xs[1]!, xs[2]!, toOptions(o));
            out.backward(xs === cpu ? gradOut.to('cpu') : gradOut);
            return [out, ...xs.map((t) => t.grad!)].map(f64);
          });
          const names = ['out', 'dq', 'dk', 'dv'];
          results[0]!.forEach((values, n) =>
            expectClose(values, results[1]![n]!, toleranceFor(dtype), `${variant} ${names[n]} (D=${dims.D}, ${dtype})`),
          );
          disposeAll(...onDevice, ...cpu, gradOut);
        }
      });
    }
  });

  it('rejects head dims above 128 on CUDA (and computes them on the CPU)', function () {
    const q = randn([1, 1, 4, 160], { device });
    if (onGpu(device)) {
      expect(() => scaledDotProductAttention(q, q, q)).to.throw(
        /attention: head dim 160 of 'q' \[1, 1, 4, 160\] is above the CUDA kernels' limit of 128/,
      );
    } else {
      const out = scaledDotProductAttention(q, q, q);
      const dims = { B: 1, Hq: 1, Hkv: 1, Lq: 4, Lk: 4, D: 160 };
      expectClose(f64(out), referenceAttention(f64(q), f64(q), f64(q), dims, {}).out, 1e-5, 'D = 160');
      out.dispose();
    }
    q.dispose();
  });
});

describe('attention on the CPU does not depend on the thread count', () => {
  it('gives bit-identical outputs and gradients with 1 and 3 threads (both backward paths)', () => {
    const index = pathToFileURL(
      path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'index.js'),
    ).href;
    const script = `
      import { createHash } from 'node:crypto';
      import { randn, scaledDotProductAttention } from '${index}';
      const hash = createHash('sha256');
      for (const L of [50, 100]) {
        const q = randn([3, 4, L, 24], { seed: 1, requiresGrad: true });
        const k = randn([3, 2, L, 24], { seed: 2, requiresGrad: true });
        const v = randn([3, 2, L, 24], { seed: 3, requiresGrad: true });
        const out = scaledDotProductAttention(q, k, v, {
          causal: true, keyPadding: { lengths: [L, 7, 30], side: 'left' }, dropout: { p: 0.2, seed: 9 },
        });
        out.backward(randn(out.shape, { seed: 4 }));
        for (const t of [out, q.grad, k.grad, v.grad]) hash.update(new Uint8Array(t.dataSync().buffer));
      }
      console.log(hash.digest('hex'));`;
    const digest = (threads: number) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, LLMREC_NUM_THREADS: String(threads) },
      });
      expect(r.status, r.stderr).to.equal(0);
      return r.stdout.trim();
    };
    const one = digest(1);
    expect(one).to.match(/^[0-9a-f]{64}$/);
    expect(digest(3)).to.equal(one);
  });
});

/** Rotate-half RoPE in float64. */
function referenceRope(
  x: Float64Array,
  shape: number[],
  positions: number[],
  perBatch: boolean,
  theta: number,
): Float64Array {
  const [B, H, L, D] = shape as [number, number, number, number];
  const half = D / 2;
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let l = 0; l < L; l++) {
        const pos = positions[perBatch ? b * L + l : l]!;
        const base = ((b * H + h) * L + l) * D;
        for (let kk = 0; kk < half; kk++) {
          const angle = pos * Math.pow(theta, (-2 * kk) / D);
          const [c, s] = [Math.cos(angle), Math.sin(angle)];
          out[base + kk] = x[base + kk]! * c - x[base + kk + half]! * s;
          out[base + kk + half] = x[base + kk + half]! * c + x[base + kk]! * s;
        }
      }
  return out;
}

describeEachDevice('rope', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    it(`forward ${dtype}: shared positions and per-batch positions`, () => {
      const shape = [2, 3, 17, 64];
      const x = randn(shape, { seed: 4, device, dtype });
      const shared = Array.from({ length: 17 }, (_, l) => l * 37);
      const perBatch = Array.from({ length: 34 }, (_, i) => (i * 7919) % 4096);
      const a = rope(x, shared, 10000);
      expectClose(f64(a), referenceRope(f64(x), shape, shared, false, 10000), toleranceFor(dtype), 'shared positions');
      const positions = tensor(Int32Array.from(perBatch), { shape: [2, 17], dtype: 'i32', device });
      const b = rope(x, positions, 1e6);
      expectClose(
        f64(b),
        referenceRope(f64(x), shape, perBatch, true, 1e6),
        toleranceFor(dtype),
        'per-batch positions',
      );
      crossCheck(device, b, () => rope(x.to('cpu'), positions.to('cpu'), 1e6), toleranceFor(dtype), 'rope');
      disposeAll(x, a, b, positions);
    });
  }

  it('gradCheck', () => {
    const shape = [2, 2, 5, 8];
    const positions = [3, 0, 9, 1, 4];
    gradCheck({
      inputs: [{ shape, values: f64(randn(shape, { seed: 6 })) }],
      forward: ([x]) => rope(x!, positions, 500),
      reference: ([x]) => referenceRope(x!, shape, positions, false, 500),
      device,
    });
  });
});

describe('the attention options object crossing N-API', () => {
  const options: AttentionNativeOptions = {
    causal: false,
    keyLengths: null,
    leftPadding: false,
    scale: null,
    dropout: 0,
    seed: 0n,
    offset: 0n,
  };
  const call = (o: Record<string, unknown>) => {
    const q = randn([1, 1, 2, 4], { seed: 1 });
    try {
      return native.attentionForward(q.native, q.native, q.native, o as unknown as AttentionNativeOptions);
    } finally {
      q.dispose();
    }
  };

  it('is read by name, the same object for the forward and the backward', () => {
    const [out, lse] = call({ ...options, scale: 0.5 });
    const q = randn([1, 1, 2, 4], { seed: 1 });
    const outTensor = new Tensor(out);
    const lseTensor = new Tensor(lse);
    const grads = native.attentionBackward(q.native, q.native, q.native, out, lse, q.native, {
      ...options,
      scale: 0.5,
    });
    expect(grads).to.have.length(3);
    disposeAll(q, outTensor, lseTensor, ...grads.map((h) => new Tensor(h)));
  });

  it('names a missing, mistyped or unknown field', () => {
    const { seed: _seed, ...noSeed } = options;
    expect(() => call(noSeed)).to.throw('attention: options.seed is missing');
    expect(() => call({ ...options, causal: 1 })).to.throw("attention: 'options.causal' must be a boolean");
    expect(() => call({ ...options, sclae: 2 })).to.throw(
      'attention: options.sclae is not an option of attention (its options: causal, keyLengths, leftPadding, scale, dropout, seed, offset)',
    );
    expect(() => call({ ...options, keyLengths: 3 })).to.throw("attention: 'options.keyLengths' must be a Tensor");
  });
});
