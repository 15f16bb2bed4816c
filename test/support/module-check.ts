// Gradient checks for Modules: the analytic gradients of every parameter and input against
// central differences of a float64 reference that takes the parameters by name.
import { expect } from 'chai';

import { nn, randn, tensor, type Tensor } from '../../lib/index.js';
import { expectClose, f64 } from './reference.js';

export type Params = Record<string, Float64Array>;

export interface ModuleCheck {
  module: nn.Module;
  inputs: { values: Float64Array; shape: number[] }[];
  forward: (inputs: Tensor[]) => Tensor;
  reference: (params: Params, inputs: Float64Array[]) => Float64Array;
  device: string;
  tol?: number;
  step?: number;
  /** Also check the forward values against the reference (default tolerance 1e-5). */
  forwardTol?: number;
}

export function moduleGradCheck(c: ModuleCheck): void {
  const step = c.step ?? 1e-6;
  const tol = c.tol ?? 1e-4;
  const named = c.module.namedParameters().filter(([, p]) => p.requiresGrad);
  const params: Params = Object.fromEntries(named.map(([name, p]) => [name, f64(p)]));
  const xs = c.inputs.map((input) =>
    tensor(Float32Array.from(input.values), { shape: input.shape, device: c.device, requiresGrad: true }),
  );
  const inputs = c.inputs.map((input) => Float64Array.from(Float32Array.from(input.values)));
  const out = c.forward(xs);
  expectClose(f64(out), c.reference(params, inputs), c.forwardTol ?? 1e-5, 'forward');
  const weights = f64(randn(out.shape, { seed: 4321 }));
  out
    .mul(tensor(Float32Array.from(weights), { shape: [...out.shape], device: c.device }))
    .sum()
    .backward();
  const lossOf = (p: Params, x: Float64Array[]): number =>
    c.reference(p, x).reduce((acc, v, i) => acc + v * weights[i]!, 0);
  const numeric = (values: Float64Array, evaluate: () => number): Float64Array => {
    const grad = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const keep = values[i]!;
      values[i] = keep + step;
      const plus = evaluate();
      values[i] = keep - step;
      const minus = evaluate();
      values[i] = keep;
      grad[i] = (plus - minus) / (2 * step);
    }
    return grad;
  };
  // Some gradients are exactly zero in exact arithmetic (a key bias shifts every score of a row
  // equally, and softmax ignores that); compare those absolutely, the rest relatively.
  const compare = (analytic: Float64Array, expected: Float64Array, what: string): void => {
    const scale = Math.sqrt(expected.reduce((a, v) => a + v * v, 0));
    if (scale < 1e-6) {
      const worst = Math.max(...analytic.map(Math.abs));
      expect(worst, `${what}: expected zero, got up to ${worst}`).to.be.below(1e-5);
    } else expectClose(analytic, expected, tol, what);
  };
  for (const [name, p] of named) {
    expect(p.grad, `parameter ${name} received no gradient`).to.not.equal(null);
    compare(
      f64(p.grad!),
      numeric(params[name]!, () => lossOf(params, inputs)),
      `gradient of ${name}`,
    );
  }
  xs.forEach((x, i) => {
    expect(x.grad, `input ${i} received no gradient`).to.not.equal(null);
    compare(
      f64(x.grad!),
      numeric(inputs[i]!, () => lossOf(params, inputs)),
      `gradient of input ${i}`,
    );
  });
  c.module.zeroGrad();
}

// --- float64 building blocks for references ------------------------------------------------

/** x [rows, in] · wᵀ [out, in] + b. */
export function linearRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | undefined,
  inF: number,
  outF: number,
): Float64Array {
  const rows = x.length / inF;
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y[r * outF + o] = s;
    }
  return y;
}

export function layerNormRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | undefined,
  dim: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    const row = x.subarray(r * dim, (r + 1) * dim);
    const mean = row.reduce((a, v) => a + v, 0) / dim;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = (row[i]! - mean) * inv * w[i]! + (b ? b[i]! : 0);
  }
  return y;
}

export const relu64 = (v: number): number => Math.max(v, 0);
export const sigmoid64 = (v: number): number => 1 / (1 + Math.exp(-v));
export function erf64(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for gradient checks; use a series/continued fraction.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let cf = 0;
  for (let n = 60; n >= 1; n--) cf = n / 2 / (t + cf);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + cf));
}
export const gelu64 = (v: number): number => 0.5 * v * (1 + erf64(v / Math.SQRT2));

/** softmax(q kᵀ · scale + mask) v for one head: q [Lq, D], k/v [Lk, D]; mask(i, j) says whether i sees j. */
export function attentionRef(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  lq: number,
  lk: number,
  d: number,
  visible: (i: number, j: number) => boolean,
): Float64Array {
  const out = new Float64Array(lq * d);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < lq; i++) {
    const scores: number[] = [];
    for (let j = 0; j < lk; j++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += q[i * d + e]! * k[j * d + e]!;
      scores.push(visible(i, j) ? s * scale : -Infinity);
    }
    const max = Math.max(...scores);
    if (max === -Infinity) continue;
    const exps = scores.map((s) => Math.exp(s - max));
    const total = exps.reduce((a, b) => a + b, 0);
    for (let j = 0; j < lk; j++)
      for (let e = 0; e < d; e++) out[i * d + e] = out[i * d + e]! + (exps[j]! / total) * v[j * d + e]!;
  }
  return out;
}
