// Float64 references for the dense families (norm, activation, softmax, loss), shared by their
// test files.
import { randn, type Tensor } from '../lib/index.js';
import { f64 } from './support/reference.js';

/** Seeded values in (-scale, scale)·N(0,1) as float64, for gradCheck inputs. */
export function sample(shape: number[], seed: number, scale = 1): { values: Float64Array; shape: number[] } {
  const t = randn(shape, { seed, std: scale });
  const values = f64(t);
  t.dispose();
  return { values, shape };
}

export function values(t: Tensor): Float64Array {
  return f64(t);
}

/** Applies fn to each row of a [rows, cols] array, writing into a new array. */
export function mapRows(x: ArrayLike<number>, cols: number, fn: (row: number[], r: number) => number[]): Float64Array {
  const rows = x.length / cols;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, i) => x[r * cols + i]!);
    out.set(fn(row, r), r * cols);
  }
  return out;
}

export function normRow(
  row: number[],
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  eps: number,
  rms: boolean,
): number[] {
  const n = row.length;
  const mean = rms ? 0 : row.reduce((a, v) => a + v, 0) / n;
  const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  const rstd = 1 / Math.sqrt(variance + eps);
  return row.map((v, i) => (v - mean) * rstd * w[i]! + (b ? b[i]! : 0));
}

export function softmaxRow(row: number[], log: boolean): number[] {
  const max = Math.max(...row);
  const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
  const lse = max + Math.log(sum);
  return row.map((v) => (log ? v - lse : Math.exp(v - lse)));
}

export function logSumExp(row: number[]): number {
  const max = Math.max(...row);
  return max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
}

export const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is too coarse for 1e-5; use the series / continued fraction split.
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction for large |x|.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
};
