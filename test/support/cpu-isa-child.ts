// Run by test/cpu-isa.test.ts in a child process under a given LLMREC_CPU_ISA and
// LLMREC_NUM_THREADS (both are read once, at load): computes GEMMs that take each packing path and
// the activations forward and backward, checks them against float64 references, and prints one
// JSON line with the ISA in use, the worst relative error and a digest of every output's bits.
import { createHash } from 'node:crypto';

import { devices, gelu, geluTanh, gemm, linear, randn, silu, swiglu, type Tensor } from '../../lib/index.js';
import { relativeError } from './reference.js';
import { erf64 as erf } from './module-check.js';

// --isa-only: report the dispatch decision and stop.
if (process.argv.includes('--isa-only')) {
  console.log(JSON.stringify({ isa: devices().cpu.isa, avx512: devices().cpu.avx512, worst: 0, digest: '' }));
  process.exit(0);
}

const hash = createHash('sha256');
let worst = 0;
const digest = (t: Tensor) => hash.update(new Uint8Array(t.dataSync().buffer));
const check = (actual: Tensor, expected: Float64Array) => {
  worst = Math.max(worst, relativeError(actual.dataSync(), expected));
  digest(actual);
};

// [m, k, n, transB, checked against float64]: small shapes with ragged edges for both tiles,
// a K beyond one panel, and two shapes whose packed B (then A) exceed the whole-operand budget,
// so tiles pack their own panels (digest only: a float64 reference would be slow here).
const shapes: [number, number, number, boolean, boolean][] = [
  [37, 301, 45, true, true],
  [200, 520, 300, false, true],
  [7, 4096, 3100, true, false],
  [520, 4096, 2100, false, false],
];
for (const [m, k, n, transB, reference] of shapes) {
  const a = randn([m, k], { seed: m });
  const b = randn(transB ? [n, k] : [k, n], { seed: n });
  const out = gemm(a, b, { transB });
  if (reference) {
    const [x, y] = [a.dataSync(), b.dataSync()];
    const expected = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += x[i * k + p]! * y[transB ? j * k + p : p * n + j]!;
        expected[i * n + j] = s;
      }
    check(out, expected);
  } else {
    digest(out);
  }
  for (const t of [a, b, out]) t.dispose();
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const cases: [string, (t: Tensor) => Tensor, (v: number) => number, (v: number) => number][] = [
  [
    'gelu',
    gelu,
    (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
    (v) => 0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI),
  ],
  [
    'geluTanh',
    geluTanh,
    (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
    (v) => {
      const u = Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3);
      const t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * v * v);
    },
  ],
  ['silu', silu, (v) => v * sigmoid(v), (v) => sigmoid(v) * (1 + v * (1 - sigmoid(v)))],
];
for (const [, op, forward, derivative] of cases) {
  // 3 x 20011 elements: several parallel chunks and a ragged vector tail.
  const x = randn([3, 20011], { seed: 7 }).scale(3).requiresGrad_();
  const g = randn([3, 20011], { seed: 8 });
  const y = op(x);
  y.backward(g);
  const [xs, gs] = [x.dataSync(), g.dataSync()];
  check(y, Float64Array.from(xs, forward));
  check(
    x.grad!,
    Float64Array.from(xs, (v, i) => gs[i]! * derivative(v)),
  );
  for (const t of [x, g, y]) t.dispose();
}
// The GEMM's fused epilogue (bias + activation after the last K panel, vectorised on the CPU)
// and its backward, against float64: 67 x 600 -> 75 (ragged micro-tiles, K over two panels).
for (const [name, , forward, derivative] of cases) {
  const activation = name === 'gelu' ? 'gelu' : name === 'geluTanh' ? 'gelu_tanh' : 'silu';
  const [m, k, n] = [67, 600, 75];
  const x = randn([m, k], { seed: 11, requiresGrad: true });
  const w = randn([n, k], { seed: 12 }).scale(0.05).requiresGrad_();
  const bias = randn([n], { seed: 13, requiresGrad: true });
  const g = randn([m, n], { seed: 14 });
  const y = linear(x, w, bias, activation);
  y.backward(g);
  const [xs, ws, bs, gs] = [x.dataSync(), w.dataSync(), bias.dataSync(), g.dataSync()];
  const pre = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = bs[j]!;
      for (let p = 0; p < k; p++) s += xs[i * k + p]! * ws[j * k + p]!;
      pre[i * n + j] = s;
    }
  check(y, Float64Array.from(pre, forward));
  const dPre = Float64Array.from(pre, (v, i) => gs[i]! * derivative(v));
  const dBias = new Float64Array(n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) dBias[j]! += dPre[i * n + j]!;
  check(bias.grad!, dBias);
  const dx = new Float64Array(m * k);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      const d = dPre[i * n + j]!;
      for (let p = 0; p < k; p++) dx[i * k + p]! += d * ws[j * k + p]!;
    }
  check(x.grad!, dx);
  for (const t of [x, w, bias, g, y]) t.dispose();
}
{
  const h = 1001;
  const x = randn([5, 2 * h], { seed: 9, requiresGrad: true });
  const g = randn([5, h], { seed: 10 });
  const y = swiglu(x);
  y.backward(g);
  const [xs, gs] = [x.dataSync(), g.dataSync()];
  const expected = new Float64Array(5 * h);
  const grad = new Float64Array(5 * 2 * h);
  for (let r = 0; r < 5; r++)
    for (let j = 0; j < h; j++) {
      const [gate, up, gr] = [xs[r * 2 * h + j]!, xs[r * 2 * h + h + j]!, gs[r * h + j]!];
      const s = sigmoid(gate);
      expected[r * h + j] = gate * s * up;
      grad[r * 2 * h + j] = gr * up * s * (1 + gate * (1 - s));
      grad[r * 2 * h + h + j] = gr * gate * s;
    }
  check(y, expected);
  check(x.grad!, grad);
}

console.log(
  JSON.stringify({ isa: devices().cpu.isa, avx512: devices().cpu.avx512, worst, digest: hash.digest('hex') }),
);
