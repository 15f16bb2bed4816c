// Float64 references and comparisons for kernel tests, following the design's precision rules:
// ||out - ref|| / ||ref|| below 1e-5 for f32, 1e-3 for tf32 and 1e-2 for bf16. NaN never passes.
import { expect } from 'chai';

import { randn, tensor, type DType, type Tensor } from '../../lib/index.js';

export const tolerance: Record<'f32' | 'tf32' | 'bf16', number> = { f32: 1e-5, tf32: 1e-3, bf16: 1e-2 };

export function toleranceFor(dtype: DType): number {
  return dtype === 'bf16' ? tolerance.bf16 : tolerance.f32;
}

/** ||actual - expected||_2 / ||expected||_2 (absolute when expected is all zeros); Infinity on NaN or a length mismatch. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) return Infinity;
    diff += (a - e) * (a - e);
    norm += e * e;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = 'result',
): void {
  const err = relativeError(actual, expected);
  expect(err, `${what}: relative error ${err} exceeds ${tol}`).to.be.at.most(tol);
}

/** The tensor's elements as float64. */
export function f64(t: Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}

/** Seeded normal samples as a tensor, and the same values as float64 (after rounding to dtype). */
export function randomInput(
  shape: readonly number[],
  seed: number,
  device: string,
  dtype: DType = 'f32',
  scale = 1,
): { t: Tensor; values: Float64Array } {
  const t = randn(shape, { seed, device, dtype, std: scale });
  return { t, values: f64(t) };
}

/** Elementwise f64 reference with numpy broadcasting. */
export function broadcastBinary(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  fn: (x: number, y: number) => number,
): { values: Float64Array; shape: number[] } {
  const ndim = Math.max(aShape.length, bShape.length);
  const pad = (s: readonly number[]) => [...Array<number>(ndim - s.length).fill(1), ...s];
  const ea = pad(aShape);
  const eb = pad(bShape);
  const shape = ea.map((d, i) => Math.max(d, eb[i]!));
  const size = shape.reduce((x, y) => x * y, 1);
  const values = new Float64Array(size);
  const index = (coords: number[], s: number[]) => coords.reduce((acc, c, i) => acc * s[i]! + (s[i] === 1 ? 0 : c), 0);
  const coords = new Array<number>(ndim).fill(0);
  for (let flat = 0; flat < size; flat++) {
    let rest = flat;
    for (let d = ndim - 1; d >= 0; d--) {
      coords[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    values[flat] = fn(a[index(coords, ea)]!, b[index(coords, eb)]!);
  }
  return { values, shape };
}

/** Reduction over one axis (or all) in float64. */
export function reduceReference(
  x: ArrayLike<number>,
  shape: readonly number[],
  axis: number | undefined,
  fn: (values: number[]) => number,
): Float64Array {
  if (axis === undefined) return Float64Array.of(fn(Array.from(x)));
  const a = axis < 0 ? axis + shape.length : axis;
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const extent = shape[a]!;
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < inner; j++) {
      const values: number[] = [];
      for (let k = 0; k < extent; k++) values.push(x[(o * extent + k) * inner + j]!);
      out[o * inner + j] = fn(values);
    }
  return out;
}

export interface GradCheckCase {
  /** Input values (float64) and shapes; every input gets a gradient. */
  inputs: { values: Float64Array; shape: number[] }[];
  /** The op under test, on llmrec tensors. */
  forward: (inputs: Tensor[]) => Tensor;
  /** The same function in float64. */
  reference: (inputs: Float64Array[]) => Float64Array;
  device: string;
  /** Relative tolerance for analytic (f32) vs central-difference (f64) gradients. */
  tol?: number;
  step?: number;
  seed?: number;
}

/**
 * Compares the gradients autograd computes for loss = sum(w * forward(x)), w random, with
 * central differences of the float64 reference.
 */
export function gradCheck(c: GradCheckCase): void {
  const step = c.step ?? 1e-6;
  const tol = c.tol ?? 1e-4;
  const xs = c.inputs.map((input) =>
    tensor(Float32Array.from(input.values), { shape: input.shape, device: c.device, requiresGrad: true }),
  );
  // Reference and analytic gradients must see the same (f32-rounded) inputs.
  const values = c.inputs.map((input) => Float64Array.from(Float32Array.from(input.values)));
  const out = c.forward(xs);
  const weights = f64(randn(out.shape, { seed: c.seed ?? 1234 }));
  const w = tensor(Float32Array.from(weights), { shape: [...out.shape], device: c.device });
  const loss = out.mul(w).sum();
  loss.backward();
  const lossOf = (vals: Float64Array[]) => c.reference(vals).reduce((acc, v, i) => acc + v * weights[i]!, 0);
  xs.forEach((x, which) => {
    expect(x.grad, `input ${which} received no gradient`).to.not.equal(null);
    const analytic = f64(x.grad!);
    const numeric = new Float64Array(values[which]!.length);
    for (let i = 0; i < numeric.length; i++) {
      const plus = values.map((v) => Float64Array.from(v));
      const minus = values.map((v) => Float64Array.from(v));
      plus[which]![i] = plus[which]![i]! + step;
      minus[which]![i] = minus[which]![i]! - step;
      numeric[i] = (lossOf(plus) - lossOf(minus)) / (2 * step);
    }
    expectClose(analytic, numeric, tol, `gradient of input ${which}`);
  });
  for (const t of [...xs, out, w, loss]) {
    t.grad?.dispose();
    t.dispose();
  }
}

/** Round-to-nearest-even to bf16, as the kernels store it. */
export function bf16Round(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  const w = u[0]!;
  if ((w & 0x7fffffff) > 0x7f800000) return NaN;
  u[0] = ((w + 0x7fff + ((w >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}
