import { spawnSync } from 'node:child_process';

import { expect } from 'chai';

import {
  bceWithLogits,
  crossEntropy,
  gatherDot,
  linearCrossEntropy,
  randn,
  sampledSoftmaxFromTable,
  sampledSoftmaxLoss,
  tensor,
  type DType,
  type Reduction,
} from '../lib/index.js';
import { logSumExp, sample } from './dense-reference.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, gradCheck } from './support/reference.js';

/** Per-row cross-entropy in float64 (0 for ignored rows) and the reduction. */
function ceReference(
  logits: ArrayLike<number>,
  cols: number,
  labels: ArrayLike<number>,
  ignoreIndex: number,
  smoothing: number,
  reduction: Reduction,
): Float64Array {
  const rows = labels.length;
  const perRow = new Float64Array(rows);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const y = labels[r]!;
    if (y === ignoreIndex) continue;
    count++;
    const row = Array.from({ length: cols }, (_, j) => logits[r * cols + j]!);
    const sum = row.reduce((a, v) => a + v, 0);
    perRow[r] = logSumExp(row) - (1 - smoothing) * row[y]! - (smoothing / cols) * sum;
  }
  if (reduction === 'none') return perRow;
  const total = perRow.reduce((a, v) => a + v, 0);
  return Float64Array.of(reduction === 'sum' ? total : total / count);
}

function matmulNT(h: ArrayLike<number>, w: ArrayLike<number>, rows: number, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(rows * vocab);
  for (let r = 0; r < rows; r++)
    for (let v = 0; v < vocab; v++) {
      let acc = 0;
      for (let k = 0; k < dim; k++) acc += h[r * dim + k]! * w[v * dim + k]!;
      out[r * vocab + v] = acc;
    }
  return out;
}

function labelsWithIgnored(rows: number, classes: number, seed: number, ignored: number[] = []): Int32Array {
  let s = seed;
  const labels = Int32Array.from({ length: rows }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % classes;
  });
  for (const r of ignored) labels[r] = -100;
  return labels;
}

describeEachDevice('fused linear cross-entropy', (device) => {
  const rows = 37;
  const dim = 40;
  const vocab = 1000; // not a multiple of any chunk size used below
  const labels = labelsWithIgnored(rows, vocab, 5, [3, 17]);
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const reduction of ['mean', 'sum', 'none'] as Reduction[]) {
      for (const smoothing of [0, 0.1]) {
        it(`${dtype} ${reduction}, label smoothing ${smoothing}, ignored rows, matches float64`, () => {
          const hidden = randn([rows, dim], { seed: 1, device, dtype });
          const weight = randn([vocab, dim], { seed: 2, device, dtype, std: 0.5 });
          const y = tensor(labels, { device });
          const loss = linearCrossEntropy(hidden, weight, y, { labelSmoothing: smoothing, reduction, chunk: 96 });
          expect(loss.dtype).to.equal('f32');
          expect(loss.shape).to.deep.equal(reduction === 'none' ? [rows] : []);
          const logits = matmulNT(f64(hidden), f64(weight), rows, vocab, dim);
          const expected = ceReference(logits, vocab, labels, -100, smoothing, reduction);
          // bf16 inputs are exact in the reference; only the f32 accumulation differs.
          expectClose(f64(loss), expected, dtype === 'bf16' ? 1e-4 : 1e-5, 'loss');
          if (onGpu(device)) {
            const cpu = linearCrossEntropy(hidden.to('cpu'), weight.to('cpu'), y.to('cpu'), {
              labelSmoothing: smoothing,
              reduction,
            });
            expectClose(f64(loss), f64(cpu), 1e-5, 'CUDA vs CPU');
          }
        });
      }
    }
  }

  it('a chunk wider than 65535 tiles of 64 columns (few rows, a 4.2M vocabulary) on CUDA', function () {
    if (!onGpu(device)) this.skip(); // the CUDA GEMM's gridDim.y limit; the CPU twin has none
    this.timeout(120_000);
    const [n, d, v] = [2, 4, 4_200_000];
    const y = tensor(Int32Array.from([5, v - 1]), { device });
    const hidden = randn([n, d], { seed: 41, device });
    const weight = randn([v, d], { seed: 42, device, std: 0.5 });
    const results = [
      [hidden, weight, y],
      [hidden.to('cpu'), weight.to('cpu'), y.to('cpu')],
    ].map(([h, w, labels]) => {
      h!.requiresGrad = true;
      w!.requiresGrad = true;
      const loss = linearCrossEntropy(h!, w!, labels!, { reduction: 'sum' });
      loss.backward();
      return [loss, h!.grad!, w!.grad!].map(f64);
    });
    ['loss', 'dHidden', 'dWeight'].forEach((what, i) =>
      expectClose(results[0]![i]!, results[1]![i]!, 1e-5, `${what}: CUDA vs CPU`),
    );
  });

  // Gradients of hidden and weight against float64, over a vocabulary of 150 (chunks of 64 and a
  // remainder), with the given keepLogits (undefined: the default, as when the option is absent).
  const checkChunkedGradients = (keepLogits?: boolean) => {
    const [n, d, v] = [6, 8, 150];
    const y = tensor(labelsWithIgnored(n, v, 9, [2]), { device });
    const yv = Array.from(y.dataSync());
    gradCheck({
      device,
      inputs: [sample([n, d], 3), sample([v, d], 4, 0.5)],
      forward: ([h, w]) => linearCrossEntropy(h!, w!, y, { labelSmoothing: 0.2, chunk: 64, keepLogits }),
      reference: ([h, w]) => ceReference(matmulNT(h!, w!, n, v, d), v, yv, -100, 0.2, 'mean'),
    });
  };

  it('gradients of hidden and weight (vocabulary of 150: chunks of 64 and a remainder)', () => {
    checkChunkedGradients();
  });

  it('gradients with the logits recomputed (keepLogits false) match float64 and the kept-logits path', () => {
    checkChunkedGradients(false);
    const hidden = randn([rows, dim], { seed: 7, device }).requiresGrad_();
    const weight = randn([vocab, dim], { seed: 8, device, std: 0.5 }).requiresGrad_();
    const labelsT = tensor(labels, { device });
    const grads = [true, false].map((keepLogits) => {
      hidden.zeroGrad();
      weight.zeroGrad();
      linearCrossEntropy(hidden, weight, labelsT, { labelSmoothing: 0.1, keepLogits }).backward();
      return [f64(hidden.grad!), f64(weight.grad!)];
    });
    expectClose(grads[0]![0]!, grads[1]![0]!, 1e-6, 'dHidden');
    expectClose(grads[0]![1]!, grads[1]![1]!, 1e-6, 'dWeight');
  });

  it("gradients with reduction 'none' (per-row upstream gradients)", () => {
    const [n, d, v] = [5, 6, 70];
    const y = tensor(labelsWithIgnored(n, v, 11), { device });
    const yv = Array.from(y.dataSync());
    gradCheck({
      device,
      inputs: [sample([n, d], 5), sample([v, d], 6, 0.5)],
      forward: ([h, w]) => linearCrossEntropy(h!, w!, y, { reduction: 'none', chunk: 64 }),
      reference: ([h, w]) => ceReference(matmulNT(h!, w!, n, v, d), v, yv, -100, 0, 'none'),
    });
  });

  it('ignored rows get zero hidden gradients; the gradients are bit-identical across runs', () => {
    const hidden = randn([rows, dim], { seed: 7, device }).requiresGrad_();
    const weight = randn([vocab, dim], { seed: 8, device, std: 0.5 }).requiresGrad_();
    const y = tensor(labels, { device });
    const runs: [number[], number[]][] = [];
    for (let run = 0; run < 2; run++) {
      hidden.zeroGrad();
      weight.zeroGrad();
      linearCrossEntropy(hidden, weight, y, { chunk: 128 }).backward();
      runs.push([Array.from(hidden.grad!.dataSync()), Array.from(weight.grad!.dataSync())]);
    }
    expect(runs[0]![0]).to.deep.equal(runs[1]![0]);
    expect(runs[0]![1]).to.deep.equal(runs[1]![1]);
    const gradHidden = runs[0]![0];
    for (const r of [3, 17]) expect(gradHidden.slice(r * dim, (r + 1) * dim).every((v) => v === 0)).to.equal(true);
  });

  it('bf16 gradients agree with f32 gradients on the same values', () => {
    const y = tensor(labelsWithIgnored(rows, vocab, 12, [5]), { device });
    const grads = (['bf16', 'f32'] as DType[]).map((dtype) => {
      const hidden = randn([rows, dim], { seed: 13, device, dtype: 'bf16' }).cast(dtype).requiresGrad_();
      const weight = randn([vocab, dim], { seed: 14, device, dtype: 'bf16', std: 0.5 }).cast(dtype).requiresGrad_();
      linearCrossEntropy(hidden, weight, y, { labelSmoothing: 0.1, chunk: 96 }).backward();
      return [f64(hidden.grad!), f64(weight.grad!)];
    });
    expectClose(grads[0]![0]!, grads[1]![0]!, 1e-2, 'dHidden');
    expectClose(grads[0]![1]!, grads[1]![1]!, 1e-2, 'dWeight');
  });

  it('a mean over only ignored rows is NaN, as in PyTorch', () => {
    const loss = linearCrossEntropy(
      randn([2, 4], { device }),
      randn([5, 4], { device }),
      tensor(new Int32Array([-100, -100]), { device }),
    );
    expect(Number.isNaN(loss.item())).to.equal(true);
  });

  it('labels out of range are reported with the row and the value', () => {
    const bad = Int32Array.from(labels);
    bad[4] = vocab;
    const loss = linearCrossEntropy(
      randn([rows, dim], { device }),
      randn([vocab, dim], { device }),
      tensor(bad, { device }),
    );
    expect(() => loss.dataSync()).to.throw(/linearCrossEntropy: labels\[4\] = 1000 is out of range/);
  });

  it('shape and dtype errors name the argument and the shapes', () => {
    const h = randn([4, 8], { device });
    const y = tensor(new Int32Array(4), { device });
    expect(() => linearCrossEntropy(h, randn([10, 7], { device }), y)).to.throw(
      /linearCrossEntropy: 'weight' must be \[V, 8\] .* but has shape \[10, 7\]/,
    );
    expect(() => linearCrossEntropy(h, randn([10, 8], { device }), tensor(new Int32Array(3), { device }))).to.throw(
      /linearCrossEntropy: 'labels' has shape \[3\] but must be \[4\]/,
    );
    expect(() => linearCrossEntropy(h, randn([10, 8], { device }), randn([4], { device }))).to.throw(
      /linearCrossEntropy: 'labels' must be i32 but is f32\[4\]/,
    );
    expect(() => linearCrossEntropy(h, randn([10, 8], { device, dtype: 'bf16' }), y)).to.throw(
      /linearCrossEntropy: 'weight' is bf16\[10, 8\] but 'hidden' is f32/,
    );
    expect(() => linearCrossEntropy(h, randn([10, 8], { device }), y, { reduction: 'avg' as Reduction })).to.throw(
      /linearCrossEntropy: 'options.reduction' must be 'mean', 'sum' or 'none', got 'avg'/,
    );
  });
});

describeEachDevice('cross-entropy over logits, sampled softmax, BCE with logits', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    it(`crossEntropy ${dtype} with ignore index and label smoothing matches float64`, () => {
      const logits = randn([23, 31], { seed: 4, device, dtype, std: 3 });
      const labels = labelsWithIgnored(23, 31, 3, [0, 9]);
      for (const reduction of ['mean', 'sum', 'none'] as Reduction[]) {
        const loss = crossEntropy(logits, tensor(labels, { device }), { labelSmoothing: 0.05, reduction });
        expectClose(f64(loss), ceReference(f64(logits), 31, labels, -100, 0.05, reduction), 1e-5, reduction);
      }
    });
  }

  it('crossEntropy is stable for logits of magnitude 1e4', () => {
    const logits = randn([8, 50], { seed: 5, device, std: 1e4 });
    const labels = labelsWithIgnored(8, 50, 6);
    const loss = crossEntropy(logits, tensor(labels, { device }), { reduction: 'none' });
    expect(f64(loss).every(Number.isFinite)).to.equal(true);
    expectClose(f64(loss), ceReference(f64(logits), 50, labels, -100, 0, 'none'), 1e-5, 'loss');
  });

  it('crossEntropy gradient, with a custom ignore index', () => {
    const labels = labelsWithIgnored(5, 7, 8);
    labels[1] = 3;
    labels[2] = 6;
    const y = tensor(labels, { device });
    gradCheck({
      device,
      inputs: [sample([5, 7], 9, 2)],
      forward: ([z]) => crossEntropy(z!, y, { ignoreIndex: 6, labelSmoothing: 0.1 }),
      reference: ([z]) => ceReference(z!, 7, labels, 6, 0.1, 'mean'),
    });
  });

  it('crossEntropy reports a negative label with its row', () => {
    const loss = crossEntropy(randn([3, 4], { device }), tensor(new Int32Array([0, -2, 1]), { device }));
    expect(() => loss.dataSync()).to.throw(/crossEntropy: labels\[1\] = -2 is out of range/);
  });

  const sampledReference = (pos: ArrayLike<number>, neg: ArrayLike<number>, k: number, reduction: Reduction) => {
    const n = pos.length;
    const logits = new Float64Array(n * (k + 1));
    for (let r = 0; r < n; r++) {
      logits[r * (k + 1)] = pos[r]!;
      for (let j = 0; j < k; j++) logits[r * (k + 1) + 1 + j] = neg[r * k + j]!;
    }
    return ceReference(logits, k + 1, new Int32Array(n), -100, 0, reduction);
  };

  it('sampledSoftmaxLoss matches cross-entropy with the positive at index 0', () => {
    const pos = randn([12], { seed: 1, device, std: 2 });
    const neg = randn([12, 9], { seed: 2, device, std: 2 });
    for (const reduction of ['mean', 'sum', 'none'] as Reduction[])
      expectClose(
        f64(sampledSoftmaxLoss(pos, neg, { reduction })),
        sampledReference(f64(pos), f64(neg), 9, reduction),
        1e-5,
        reduction,
      );
  });

  it('sampledSoftmaxLoss gradients reach the positive and the negatives', () => {
    gradCheck({
      device,
      inputs: [sample([4], 3), sample([4, 5], 4)],
      forward: ([p, n]) => sampledSoftmaxLoss(p!, n!, { reduction: 'sum' }),
      reference: ([p, n]) => sampledReference(p!, n!, 5, 'sum'),
    });
    expect(() => sampledSoftmaxLoss(randn([4], { device }), randn([3, 5], { device }))).to.throw(
      /sampledSoftmax: 'negatives' must be \[4, K\] to match 'positive' \[4\] but has shape \[3, 5\]/,
    );
  });

  const gatherDotRef = (u: ArrayLike<number>, t: ArrayLike<number>, idx: ArrayLike<number>, k: number, d: number) =>
    Float64Array.from({ length: idx.length }, (_, i) => {
      const r = Math.floor(i / k);
      let acc = 0;
      for (let c = 0; c < d; c++) acc += u[r * d + c]! * t[idx[i]! * d + c]!;
      return acc;
    });

  it('gatherDot scores items from a table; repeated items accumulate their table gradient', () => {
    const user = randn([6, 12], { seed: 1, device });
    const table = randn([20, 12], { seed: 2, device });
    const idx = Int32Array.from({ length: 6 * 4 }, (_, i) => (i * 7) % 20);
    const indices = tensor(idx, { shape: [6, 4], device });
    expectClose(f64(gatherDot(user, table, indices)), gatherDotRef(f64(user), f64(table), idx, 4, 12), 1e-5, 'scores');
    const small = Int32Array.from([0, 2, 2, 1, 0, 0]);
    const smallIndices = tensor(small, { shape: [3, 2], device });
    gradCheck({
      device,
      inputs: [sample([3, 5], 3), sample([4, 5], 4)],
      forward: ([u, t]) => gatherDot(u!, t!, smallIndices),
      reference: ([u, t]) => gatherDotRef(u!, t!, small, 2, 5),
    });
  });

  it('gatherDot reports an index out of range and rejects bad shapes', () => {
    const scores = gatherDot(
      randn([2, 4], { device }),
      randn([5, 4], { device }),
      tensor(new Int32Array([0, 1, 5, 2]), { shape: [2, 2], device }),
    );
    expect(() => scores.dataSync()).to.throw(/gatherDot: indices \(flattened\) \[2\] = 5 is out of range/);
    expect(() =>
      gatherDot(
        randn([2, 4], { device }),
        randn([5, 3], { device }),
        tensor(new Int32Array(4), { shape: [2, 2], device }),
      ),
    ).to.throw(/gatherDot: 'table' must be \[items, 4\] to match 'user' \[2, 4\] but has shape \[5, 3\]/);
  });

  it('sampledSoftmaxFromTable equals sampledSoftmaxLoss on gathered scores, gradients included', () => {
    const positives = Int32Array.from([3, 0, 7]);
    const negatives = Int32Array.from([1, 2, 5, 3, 3, 6, 0, 4, 2]);
    const posT = tensor(positives, { device });
    const negT = tensor(negatives, { shape: [3, 3], device });
    gradCheck({
      device,
      inputs: [sample([3, 6], 5), sample([8, 6], 6)],
      forward: ([u, t]) => sampledSoftmaxFromTable(u!, t!, posT, negT),
      reference: ([u, t]) =>
        sampledReference(gatherDotRef(u!, t!, positives, 1, 6), gatherDotRef(u!, t!, negatives, 3, 6), 3, 'mean'),
    });
  });

  const bceRef = (x: ArrayLike<number>, y: ArrayLike<number>, w: ArrayLike<number> | null) =>
    Float64Array.from(
      x,
      (xv, i) => (w ? w[i]! : 1) * (Math.max(xv, 0) - xv * y[i]! + Math.log1p(Math.exp(-Math.abs(xv)))),
    );

  it('bceWithLogits with weights matches float64 and stays finite for |x| = 100', () => {
    const x = randn([9, 13], { seed: 1, device, std: 3 });
    const y = randn([9, 13], { seed: 2, device }).sigmoid();
    const w = randn([9, 13], { seed: 3, device }).abs();
    const ref = bceRef(f64(x), f64(y), f64(w));
    expectClose(f64(bceWithLogits(x, y, { weight: w, reduction: 'none' })), ref, 1e-5, 'none');
    expectClose(
      f64(bceWithLogits(x, y, { weight: w, reduction: 'sum' })),
      [ref.reduce((a, v) => a + v, 0)],
      1e-5,
      'sum',
    );
    expectClose(
      f64(bceWithLogits(x, y)),
      [bceRef(f64(x), f64(y), null).reduce((a, v) => a + v, 0) / 117],
      1e-5,
      'mean',
    );
    const big = tensor([100, -100], { device });
    expectClose(f64(bceWithLogits(big, tensor([0, 1], { device }), { reduction: 'none' })), [100, 100], 1e-6, 'large');
  });

  it('bceWithLogits gradient (weights as a mask)', () => {
    const y = randn([3, 4], { seed: 5, device }).sigmoid();
    const mask = tensor([1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1], { shape: [3, 4], device });
    const yv = f64(y);
    const mv = f64(mask);
    gradCheck({
      device,
      inputs: [sample([3, 4], 6, 2)],
      forward: ([x]) => bceWithLogits(x!, y, { weight: mask }),
      reference: ([x]) => Float64Array.of(bceRef(x!, yv, mv).reduce((a, v) => a + v, 0) / 12),
    });
    expect(() => bceWithLogits(randn([3, 4], { device }), randn([4, 3], { device }))).to.throw(
      /bceWithLogits: 'target' has shape \[4, 3\] but 'x' has shape \[3, 4\]/,
    );
  });
});

describe('dense CPU twins do not depend on the thread count', () => {
  it('linear cross-entropy, its gradients and the norm weight gradients are bit-identical with 1 and 3 threads', () => {
    const lib = new URL('../lib/index.js', import.meta.url).href;
    const script = `
      import { layerNorm, linearCrossEntropy, randn, tensor } from '${lib}';
      const h = randn([70, 24], { seed: 1, requiresGrad: true });
      const w = randn([500, 24], { seed: 2, requiresGrad: true });
      const y = tensor(Int32Array.from({ length: 70 }, (_, i) => (i * 37) % 500));
      const loss = linearCrossEntropy(h, w, y, { labelSmoothing: 0.1 });
      loss.backward();
      const x = randn([300, 40], { seed: 3 });
      const g = randn([40], { seed: 4, requiresGrad: true });
      layerNorm(x, g, null).sum().backward();
      const bits = [loss, h.grad, w.grad, g.grad].map((t) => Buffer.from(t.dataSync().buffer).toString('base64'));
      process.stdout.write(JSON.stringify(bits));
    `;
    const run = (threads: string) => {
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, LLMREC_NUM_THREADS: threads },
        encoding: 'utf8',
      });
      expect(result.status, result.stderr).to.equal(0);
      return JSON.parse(result.stdout) as string[];
    };
    expect(run('1')).to.deep.equal(run('3'));
  });
});
