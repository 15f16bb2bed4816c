import { expect } from 'chai';

import {
  mlpDistill,
  randn,
  tensor,
  type DistillActivation,
  type DistillLoss,
  type DType,
  type Tensor,
} from '../lib/index.js';
import { sample } from './dense-reference.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { gelu64, sigmoid64 } from './support/module-check.js';
import { expectClose, f64, gradCheck, toleranceFor } from './support/reference.js';

const ACTIVATIONS: DistillActivation[] = ['gelu', 'leaky_relu', 'sigmoid', 'relu'];
const LOSSES: DistillLoss[] = ['mse', 'cosine', 'normalized_mse'];
const SLOPE = 0.2;
const LN_EPS = 1e-5;

interface Dims {
  batch: number;
  inDim: number;
  hidden: number;
  out: number;
}

/** The op's inputs as float64, in the order x, w1, b1, w2, b2, teacher, lnWeight?, lnBias?. */
interface RefInputs {
  x: Float64Array;
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: Float64Array;
  t: Float64Array;
  lnW?: Float64Array;
  lnB?: Float64Array;
}

interface RefResult {
  loss: number;
  grads: Record<'x' | 'w1' | 'b1' | 'w2' | 'b2' | 't' | 'lnW' | 'lnB', Float64Array>;
}

function act64(name: DistillActivation, v: number): number {
  if (name === 'gelu') return gelu64(v);
  if (name === 'leaky_relu') return v > 0 ? v : SLOPE * v;
  if (name === 'sigmoid') return sigmoid64(v);
  return Math.max(v, 0);
}

function actDerivative64(name: DistillActivation, v: number): number {
  if (name === 'gelu') return 0.5 * (1 + erfOf(v)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
  if (name === 'leaky_relu') return v > 0 ? 1 : SLOPE;
  if (name === 'sigmoid') return sigmoid64(v) * (1 - sigmoid64(v));
  return v > 0 ? 1 : 0;
}

// erf through gelu64: gelu(v) = v/2 (1 + erf(v/√2)).
function erfOf(v: number): number {
  return v === 0 ? 0 : (2 * gelu64(v)) / v - 1;
}

// out [m, n] = a [m, k] · bᵀ with b [n, k]
function matmulNT(a: Float64Array, b: Float64Array, m: number, n: number, k: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += a[i * k + p]! * b[j * k + p]!;
      out[i * n + j] = acc;
    }
  return out;
}

// out [m, n] = aᵀ · b with a [k, m], b [k, n]
function matmulTN(a: Float64Array, b: Float64Array, m: number, n: number, k: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let p = 0; p < k; p++)
    for (let i = 0; i < m; i++) {
      const av = a[p * m + i]!;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + av * b[p * n + j]!;
    }
  return out;
}

// out [m, n] = a [m, k] · b [k, n]
function matmulNN(a: Float64Array, b: Float64Array, m: number, n: number, k: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + av * b[p * n + j]!;
    }
  return out;
}

function columnSums(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[j] = out[j]! + a[r * cols + j]!;
  return out;
}

/** Float64 forward and hand-derived backward of the whole fused op. */
function reference(v: RefInputs, d: Dims, activation: DistillActivation, loss: DistillLoss): RefResult {
  const { batch: B, inDim, hidden: H, out: O } = d;
  const pre = matmulNT(v.x, v.w1, B, H, inDim);
  for (let r = 0; r < B; r++) for (let j = 0; j < H; j++) pre[r * H + j] = pre[r * H + j]! + v.b1[j]!;
  const xhat = new Float64Array(B * H);
  const rstd = new Float64Array(B);
  const u = Float64Array.from(pre);
  if (v.lnW) {
    for (let r = 0; r < B; r++) {
      let mean = 0;
      for (let j = 0; j < H; j++) mean += pre[r * H + j]!;
      mean /= H;
      let variance = 0;
      for (let j = 0; j < H; j++) variance += (pre[r * H + j]! - mean) ** 2;
      rstd[r] = 1 / Math.sqrt(variance / H + LN_EPS);
      for (let j = 0; j < H; j++) {
        xhat[r * H + j] = (pre[r * H + j]! - mean) * rstd[r]!;
        u[r * H + j] = xhat[r * H + j]! * v.lnW[j]! + v.lnB![j]!;
      }
    }
  }
  const a = u.map((value) => act64(activation, value));
  const y = matmulNT(a, v.w2, B, O, H);
  for (let r = 0; r < B; r++) for (let j = 0; j < O; j++) y[r * O + j] = y[r * O + j]! + v.b2[j]!;

  const dy = new Float64Array(B * O);
  const dt = new Float64Array(B * O);
  let total = 0;
  const count = loss === 'cosine' ? B : B * O;
  for (let r = 0; r < B; r++) {
    const yr = y.subarray(r * O, (r + 1) * O);
    const tr = v.t.subarray(r * O, (r + 1) * O);
    if (loss === 'mse') {
      for (let j = 0; j < O; j++) {
        const diff = yr[j]! - tr[j]!;
        total += diff * diff;
        dy[r * O + j] = (2 * diff) / count;
        dt[r * O + j] = (-2 * diff) / count;
      }
      continue;
    }
    let yy = 0;
    let tt = 0;
    let yt = 0;
    for (let j = 0; j < O; j++) {
      yy += yr[j]! * yr[j]!;
      tt += tr[j]! * tr[j]!;
      yt += yr[j]! * tr[j]!;
    }
    const ny = Math.sqrt(yy);
    const nt = Math.sqrt(tt);
    if (loss === 'cosine') {
      const cos = yt / (ny * nt);
      total += 1 - cos;
      for (let j = 0; j < O; j++) {
        dy[r * O + j] = -(tr[j]! / (ny * nt) - (cos * yr[j]!) / (ny * ny)) / count;
        dt[r * O + j] = -(yr[j]! / (ny * nt) - (cos * tr[j]!) / (nt * nt)) / count;
      }
      continue;
    }
    const diff = Array.from(yr, (value, j) => value / ny - tr[j]! / nt);
    let projY = 0;
    let projT = 0;
    for (let j = 0; j < O; j++) {
      total += diff[j]! ** 2;
      projY += diff[j]! * (yr[j]! / ny);
      projT += diff[j]! * (tr[j]! / nt);
    }
    for (let j = 0; j < O; j++) {
      dy[r * O + j] = ((2 / count) * (diff[j]! - (yr[j]! / ny) * projY)) / ny;
      dt[r * O + j] = ((-2 / count) * (diff[j]! - (tr[j]! / nt) * projT)) / nt;
    }
  }

  const dw2 = matmulTN(dy, a, O, H, B);
  const db2 = columnSums(dy, B, O);
  const da = matmulNN(dy, v.w2, B, H, O);
  const du = da.map((g, i) => g * actDerivative64(activation, u[i]!));
  let dpre: Float64Array = du;
  let dLnW: Float64Array = new Float64Array(0);
  let dLnB: Float64Array = new Float64Array(0);
  if (v.lnW) {
    dLnW = columnSums(
      du.map((g, i) => g * xhat[i]!),
      B,
      H,
    );
    dLnB = columnSums(du, B, H);
    dpre = new Float64Array(B * H);
    for (let r = 0; r < B; r++) {
      let m1 = 0;
      let m2 = 0;
      for (let j = 0; j < H; j++) {
        const dxh = du[r * H + j]! * v.lnW[j]!;
        m1 += dxh;
        m2 += dxh * xhat[r * H + j]!;
      }
      m1 /= H;
      m2 /= H;
      for (let j = 0; j < H; j++)
        dpre[r * H + j] = rstd[r]! * (du[r * H + j]! * v.lnW[j]! - m1 - xhat[r * H + j]! * m2);
    }
  }
  return {
    loss: total / count,
    grads: {
      x: matmulNN(dpre, v.w1, B, inDim, H),
      w1: matmulTN(dpre, v.x, H, inDim, B),
      b1: columnSums(dpre, B, H),
      w2: dw2,
      b2: db2,
      t: dt,
      lnW: dLnW,
      lnB: dLnB,
    },
  };
}

interface Case {
  dims: Dims;
  activation: DistillActivation;
  loss: DistillLoss;
  layerNorm: boolean;
  teacherTrainable: boolean;
}

function makeInputs(device: string, dtype: DType, d: Dims, layerNorm: boolean, seed: number): Tensor[] {
  const { batch, inDim, hidden, out } = d;
  const opts = (s: number, std = 1) => ({ seed: seed + s, device, dtype, std });
  const list = [
    randn([batch, inDim], opts(1)),
    randn([hidden, inDim], opts(2, 1 / Math.sqrt(inDim))),
    randn([hidden], opts(3, 0.5)),
    randn([out, hidden], opts(4, 1 / Math.sqrt(hidden))),
    randn([out], opts(5, 0.5)),
    randn([batch, out], opts(6)),
  ];
  if (layerNorm) list.push(randn([hidden], { ...opts(7, 0.3), mean: 1 }), randn([hidden], opts(8, 0.3)));
  return list;
}

function run(inputs: Tensor[], c: Omit<Case, 'dims'>): Tensor {
  const [x, w1, b1, w2, b2, t, lnW, lnB] = inputs;
  return mlpDistill(x!, w1!, b1!, w2!, b2!, t!, {
    activation: c.activation,
    slope: SLOPE,
    loss: c.loss,
    teacherTrainable: c.teacherTrainable,
    layerNorm: lnW ? { weight: lnW, bias: lnB!, eps: LN_EPS } : undefined,
  });
}

function refInputs(values: Float64Array[]): RefInputs {
  const [x, w1, b1, w2, b2, t, lnW, lnB] = values;
  return { x: x!, w1: w1!, b1: b1!, w2: w2!, b2: b2!, t: t!, lnW, lnB };
}

const GRAD_NAMES = ['x', 'w1', 'b1', 'w2', 'b2', 't', 'lnW', 'lnB'] as const;

/** Forward and every gradient of the op against the float64 reference. */
function checkAgainstReference(device: string, dtype: DType, c: Case, seed: number): void {
  const inputs = makeInputs(device, dtype, c.dims, c.layerNorm, seed);
  for (const t of inputs) t.requiresGrad_();
  const loss = run(inputs, c);
  expect(loss.shape).to.deep.equal([]);
  expect(loss.dtype).to.equal('f32');
  loss.backward();
  const ref = reference(refInputs(inputs.map(f64)), c.dims, c.activation, c.loss);
  const tol = toleranceFor(dtype);
  expectClose([loss.item()], [ref.loss], tol, 'loss');
  inputs.forEach((t, i) => {
    const name = GRAD_NAMES[i]!;
    if (name === 't' && !c.teacherTrainable) {
      expect(t.grad, 'the teacher is frozen').to.equal(null);
      return;
    }
    expect(t.grad, `gradient of ${name}`).to.not.equal(null);
    expect(t.grad!.dtype).to.equal(dtype);
    expectClose(f64(t.grad!), ref.grads[name], tol, `gradient of ${name}`);
  });
  if (onGpu(device)) {
    const cpuInputs = inputs.map((t) => t.to('cpu').requiresGrad_());
    const cpuLoss = run(cpuInputs, c);
    cpuLoss.backward();
    expectClose([loss.item()], [cpuLoss.item()], tol, 'CUDA vs CPU loss');
    inputs.forEach((t, i) => {
      if (t.grad) expectClose(f64(t.grad), f64(cpuInputs[i]!.grad!), tol, `CUDA vs CPU gradient of ${GRAD_NAMES[i]}`);
    });
  }
}

describeEachDevice('mlpDistill', (device) => {
  const small: Dims = { batch: 3, inDim: 5, hidden: 7, out: 4 };
  let seed = 100;
  for (const loss of LOSSES)
    for (const activation of ACTIVATIONS)
      for (const layerNorm of [false, true])
        for (const teacherTrainable of [false, true]) {
          const caseSeed = (seed += 10);
          const c = { activation, loss, layerNorm, teacherTrainable };
          const label = `${loss} ${activation}${layerNorm ? ' +LN' : ''}${teacherTrainable ? ' teacher-trainable' : ''}`;
          it(`${label}: loss and gradients match central differences and the float64 reference`, () => {
            checkAgainstReference(device, 'f32', { ...c, dims: small }, caseSeed);
            const dims = small;
            const shapes = [
              [dims.batch, dims.inDim],
              [dims.hidden, dims.inDim],
              [dims.hidden],
              [dims.out, dims.hidden],
              [dims.out],
              [dims.batch, dims.out],
              ...(layerNorm ? [[dims.hidden], [dims.hidden]] : []),
            ];
            const all = shapes.map((shape, i) => sample(shape, caseSeed + i, i === 1 || i === 3 ? 0.5 : 1));
            if (layerNorm) all[6]!.values = all[6]!.values.map((w) => 1 + 0.3 * w);
            // A frozen teacher is a constant of the checked function, not one of its inputs.
            const teacherIndex = 5;
            const frozen = all[teacherIndex]!;
            const varying = teacherTrainable ? all : all.filter((_, i) => i !== teacherIndex);
            const withTeacher = <T>(list: T[], teacher: T): T[] =>
              teacherTrainable ? list : [...list.slice(0, teacherIndex), teacher, ...list.slice(teacherIndex)];
            gradCheck({
              device,
              inputs: varying,
              forward: (ts) =>
                run(withTeacher(ts, tensor(Float32Array.from(frozen.values), { shape: frozen.shape, device })), c),
              reference: (vals) =>
                Float64Array.of(
                  reference(
                    refInputs(withTeacher(vals, Float64Array.from(Float32Array.from(frozen.values)))),
                    dims,
                    activation,
                    loss,
                  ).loss,
                ),
            });
          });
        }

  const shapes: [string, Dims][] = [
    ['LLM-SRec f_CF-user 64→128→128', { batch: 9, inDim: 64, hidden: 128, out: 128 }],
    ['A-LLMRec autoencoder 50→128→50', { batch: 70, inDim: 50, hidden: 128, out: 50 }],
    ['A-LLMRec autoencoder 768→128→768', { batch: 4, inDim: 768, hidden: 128, out: 768 }],
    ['LLM-SRec f_user 3072→2048→128', { batch: 2, inDim: 3072, hidden: 2048, out: 128 }],
    ['A-LLMRec projector 50→4096→4096', { batch: 2, inDim: 50, hidden: 4096, out: 4096 }],
  ];
  shapes.forEach(([name, dims], i) => {
    for (const dtype of ['f32', 'bf16'] as DType[]) {
      const loss = LOSSES[i % LOSSES.length]!;
      const activation = ACTIVATIONS[i % ACTIVATIONS.length]!;
      it(`${name} ${dtype} (${loss}, ${activation}, LN, teacher trainable) matches float64`, () => {
        checkAgainstReference(
          device,
          dtype,
          { dims, loss, activation, layerNorm: true, teacherTrainable: true },
          7 + i,
        );
      });
    }
  });

  for (const loss of LOSSES) {
    it(`bf16 ${loss} without LayerNorm, frozen teacher, matches float64 within 1e-2`, () => {
      const dims = { batch: 33, inDim: 40, hidden: 96, out: 24 };
      checkAgainstReference(
        device,
        'bf16',
        { dims, loss, activation: 'gelu', layerNorm: false, teacherTrainable: false },
        3,
      );
    });
  }

  it('gradients reach x only when it requires grad, and are bit-identical across runs', () => {
    const dims = { batch: 100, inDim: 12, hidden: 40, out: 16 };
    const inputs = makeInputs(device, 'f32', dims, true, 50);
    for (const t of inputs.slice(1)) t.requiresGrad_();
    const grads: number[][][] = [];
    for (let runIndex = 0; runIndex < 2; runIndex++) {
      for (const t of inputs) t.zeroGrad();
      run(inputs, { activation: 'gelu', loss: 'cosine', layerNorm: true, teacherTrainable: false }).backward();
      expect(inputs[0]!.grad).to.equal(null);
      grads.push([1, 2, 3, 4, 6, 7].map((i) => Array.from(inputs[i]!.grad!.dataSync())));
    }
    expect(grads[0]).to.deep.equal(grads[1]);
  });

  it('scales the gradients by the upstream gradient', () => {
    const dims = { batch: 6, inDim: 5, hidden: 8, out: 3 };
    const inputs = makeInputs(device, 'f32', dims, false, 60);
    inputs[1]!.requiresGrad_();
    run(inputs, { activation: 'relu', loss: 'mse', layerNorm: false, teacherTrainable: false }).scale(-2.5).backward();
    const ref = reference(refInputs(inputs.map(f64)), dims, 'relu', 'mse');
    expectClose(
      f64(inputs[1]!.grad!),
      ref.grads.w1.map((g) => -2.5 * g),
      1e-5,
      'scaled w1 gradient',
    );
  });

  it('rejects mismatched shapes and dtypes with messages naming the argument and the shapes', () => {
    const dims = { batch: 4, inDim: 6, hidden: 5, out: 3 };
    const [x, w1, b1, w2, b2, t] = makeInputs(device, 'f32', dims, false, 70);
    const opts = { activation: 'relu', loss: 'mse' } as const;
    const bad = (shape: number[], dtype: DType = 'f32') => randn(shape, { device, dtype });
    expect(() => mlpDistill(x!, bad([5, 7]), b1!, w2!, b2!, t!, opts)).to.throw(
      /mlpDistill: 'w1' has shape \[5, 7\] but must be \[5, 6\]/,
    );
    expect(() => mlpDistill(x!, w1!, bad([4]), w2!, b2!, t!, opts)).to.throw(
      /mlpDistill: 'b1' has shape \[4\] but must be \[5\]/,
    );
    expect(() => mlpDistill(x!, w1!, b1!, bad([3, 4]), b2!, t!, opts)).to.throw(
      /mlpDistill: 'w2' has shape \[3, 4\] but must be \[3, 5\]/,
    );
    expect(() => mlpDistill(x!, w1!, b1!, w2!, bad([2]), t!, opts)).to.throw(
      /mlpDistill: 'b2' has shape \[2\] but must be \[3\]/,
    );
    expect(() => mlpDistill(x!, w1!, b1!, w2!, b2!, bad([4, 2]), opts)).to.throw(
      /mlpDistill: 'teacher' has shape \[4, 2\] but must be \[4, 3\]/,
    );
    expect(() => mlpDistill(bad([4, 6, 1]), w1!, b1!, w2!, b2!, t!, opts)).to.throw(
      /mlpDistill: 'x' must be a matrix but has shape \[4, 6, 1\]/,
    );
    expect(() => mlpDistill(x!, w1!, b1!, w2!, bad([3], 'bf16'), t!, opts)).to.throw(
      /mlpDistill: 'b2' is bf16\[3\] but 'x' is f32/,
    );
    expect(() =>
      mlpDistill(x!, w1!, b1!, w2!, b2!, t!, { ...opts, layerNorm: { weight: bad([4]), bias: bad([5]) } }),
    ).to.throw(/mlpDistill: 'lnWeight' has shape \[4\] but must be \[5\]/);
    expect(() =>
      mlpDistill(x!, w1!, b1!, w2!, b2!, t!, { activation: 'tanh' as DistillActivation, loss: 'mse' }),
    ).to.throw(/mlpDistill: unknown activation 'tanh'/);
    expect(() => mlpDistill(x!, w1!, b1!, w2!, b2!, t!, { activation: 'relu', loss: 'kl' as DistillLoss })).to.throw(
      /mlpDistill: unknown loss 'kl'/,
    );
  });
});
