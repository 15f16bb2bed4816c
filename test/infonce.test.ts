import { expect } from 'chai';
import { execFileSync } from 'node:child_process';

import { infonce, randn, tensor, tidy, type DType, type InfoNceOptions, type Tensor } from '../lib/index.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, gradCheck, toleranceFor } from './support/reference.js';
import { expectFlatMemory } from './support/memory.js';

interface RefOptions {
  temperature: number;
  normalize?: boolean;
  positives?: number[];
  itemIds?: number[];
  symmetric?: boolean;
  uniformity?: { t: number; weight: number };
}

function logSumExp(values: number[]): number {
  const m = Math.max(...values);
  if (m === -Infinity) return m;
  return m + Math.log(values.reduce((acc, v) => acc + Math.exp(v - m), 0));
}

/** The InfoNCE loss in float64 with explicit logits (see native/kernels/infonce.h). */
function reference(
  q: Float64Array,
  k: Float64Array,
  negatives: Float64Array | null,
  B: number,
  d: number,
  o: RefOptions,
): number {
  const keys = negatives ? Float64Array.from([...k, ...negatives]) : Float64Array.from(k);
  const T = keys.length / d;
  const normalise = (x: Float64Array, rows: number) => {
    if (!o.normalize) return x;
    const out = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[r * d + t]! ** 2;
      const n = Math.max(Math.sqrt(s), 1e-12);
      for (let t = 0; t < d; t++) out[r * d + t] = x[r * d + t]! / n;
    }
    return out;
  };
  const Q = normalise(q, B);
  const K = normalise(keys, T);
  const dot = (A: Float64Array, i: number, C: Float64Array, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += A[i * d + t]! * C[j * d + t]!;
    return s / o.temperature;
  };
  const pos = o.positives ?? Array.from({ length: B }, (_, i) => i);
  const ids = o.itemIds;
  let forward = 0;
  for (let i = 0; i < B; i++) {
    const logits: number[] = [];
    for (let j = 0; j < T; j++) if (!(ids && j !== pos[i] && ids[j] === ids[pos[i]!])) logits.push(dot(Q, i, K, j));
    forward += logSumExp(logits) - dot(Q, i, K, pos[i]!);
  }
  let loss = forward / B;
  if (o.symmetric) {
    let backward = 0;
    for (let i = 0; i < B; i++) {
      const logits: number[] = [];
      for (let c = 0; c < B; c++)
        if (!(ids && c !== i && ids[pos[c]!] === ids[pos[i]!])) logits.push(dot(Q, c, K, pos[i]!));
      backward += logSumExp(logits) - dot(Q, i, K, pos[i]!);
    }
    loss = (loss + backward / B) / 2;
  }
  if (o.uniformity) {
    const values: number[] = [];
    for (let i = 0; i < B; i++)
      for (let c = 0; c < B; c++) {
        if (i === c) continue;
        let s = 0;
        for (let t = 0; t < d; t++) s += (Q[i * d + t]! - Q[c * d + t]!) ** 2;
        values.push(-o.uniformity.t * s);
      }
    loss += o.uniformity.weight * (logSumExp(values) - Math.log(B * (B - 1)));
  }
  return loss;
}

interface Case extends RefOptions {
  name: string;
  B: number;
  N?: number;
  M?: number;
  d: number;
  scale?: number;
}

const cases: Case[] = [
  { name: 'in-batch', B: 37, d: 64, temperature: 0.5 },
  { name: 'normalised, tau 0.07', B: 70, d: 33, temperature: 0.07, normalize: true },
  { name: 'extra negatives', B: 17, M: 50, d: 16, temperature: 0.2, normalize: true },
  {
    name: 'positives and false-negative mask',
    B: 20,
    N: 30,
    M: 9,
    d: 24,
    temperature: 0.3,
    normalize: true,
    positives: Array.from({ length: 20 }, (_, i) => (i * 7 + 3) % 30),
    itemIds: Array.from({ length: 39 }, (_, j) => j % 11),
  },
  { name: 'symmetric', B: 33, d: 20, temperature: 0.1, normalize: true, symmetric: true },
  {
    name: 'symmetric, masked, repeated positives',
    B: 19,
    N: 12,
    M: 5,
    d: 8,
    temperature: 0.4,
    normalize: true,
    symmetric: true,
    positives: Array.from({ length: 19 }, (_, i) => (i * 5) % 12),
    itemIds: Array.from({ length: 17 }, (_, j) => j % 7),
  },
  { name: 'uniformity', B: 40, d: 12, temperature: 0.2, normalize: true, uniformity: { t: 2, weight: 0.3 } },
  { name: 'large magnitudes, unnormalised', B: 21, d: 10, temperature: 0.05, scale: 30 },
];

function inputs(c: Case, device: string, dtype: DType, seed: number) {
  const N = c.N ?? c.B;
  const q = randn([c.B, c.d], { seed, device, dtype, std: c.scale ?? 1 });
  const k = randn([N, c.d], { seed: seed + 1, device, dtype, std: c.scale ?? 1 });
  const negatives = c.M ? randn([c.M, c.d], { seed: seed + 2, device, dtype }) : undefined;
  return { q, k, negatives };
}

function apiOptions(c: Case, negatives?: Tensor): InfoNceOptions {
  return {
    temperature: c.temperature,
    normalize: c.normalize,
    positives: c.positives,
    itemIds: c.itemIds,
    symmetric: c.symmetric,
    uniformity: c.uniformity,
    extraNegatives: negatives,
  };
}

describeEachDevice('infonce', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    cases.forEach((c, which) => {
      it(`${dtype} ${c.name} (B=${c.B}, d=${c.d}): loss matches float64`, () => {
        const { q, k, negatives } = inputs(c, device, dtype, 10 * which + 1);
        const loss = infonce(q, k, apiOptions(c, negatives));
        expect(loss.shape).to.deep.equal([]);
        expect(loss.dtype).to.equal('f32');
        const expected = reference(f64(q), f64(k), negatives ? f64(negatives) : null, c.B, c.d, c);
        // Inputs are already bf16-rounded, so only f32 accumulation separates the two.
        expectClose([loss.item()], [expected], dtype === 'bf16' ? 1e-4 : 1e-5, 'loss');
        if (onGpu(device)) {
          const cpu = infonce(q.to('cpu'), k.to('cpu'), apiOptions(c, negatives?.to('cpu')));
          expectClose([loss.item()], [cpu.item()], 1e-5, 'CUDA vs CPU loss');
        }
      });
    });
  }

  // Central differences of the float64 reference on a medium case whose B is not a multiple of
  // any tile, for every option at once.
  cases.forEach((c, which) => {
    it(`gradients of ${c.name} match finite differences of the float64 reference`, function () {
      const B = Math.min(c.B, 21);
      const small: Case = {
        ...c,
        B,
        N: c.N ?? B,
        d: Math.min(c.d, 9),
        scale: c.scale ? 3 : undefined,
        positives: c.positives?.slice(0, B),
      };
      const N = small.N!;
      const withNegatives = (c.M ?? 0) > 0;
      const shapes = [[B, small.d], [N, small.d], ...(withNegatives ? [[c.M!, small.d]] : [])];
      gradCheck({
        device,
        inputs: shapes.map((shape, i) => ({
          values: f64(randn(shape, { seed: 100 * which + i, std: small.scale ?? 1 })),
          shape,
        })),
        forward: ([q, k, n]) => infonce(q!, k!, apiOptions(small, n)),
        reference: ([q, k, n]) => Float64Array.of(reference(q!, k!, n ?? null, B, small.d, small)),
        tol: 1e-3,
      });
    });
  });

  for (const [name, options] of [
    ['plain', { temperature: 0.7 }],
    ['normalised', { temperature: 0.3, normalize: true }],
    ['masked', { temperature: 0.3, normalize: true, itemIds: [1, 2, 1, 3, 4, 2, 5, 1] }],
    ['symmetric', { temperature: 0.3, normalize: true, symmetric: true, itemIds: [1, 2, 1, 3, 4, 2, 5, 1] }],
    ['uniformity', { temperature: 0.5, normalize: true, uniformity: { t: 2, weight: 0.5 } }],
  ] as [string, RefOptions][]) {
    it(`gradCheck B=5, d=7, 3 extra negatives: ${name}`, () => {
      const shapes = [
        [5, 7],
        [5, 7],
        [3, 7],
      ];
      gradCheck({
        device,
        inputs: shapes.map((shape, i) => ({ values: f64(randn(shape, { seed: 40 + i })), shape })),
        forward: ([q, k, n]) => infonce(q!, k!, { ...options, extraNegatives: n }),
        reference: ([q, k, n]) => Float64Array.of(reference(q!, k!, n!, 5, 7, options)),
      });
    });
  }

  it('bf16 gradients agree with the f32 computation on the same values', () => {
    const c = cases[3]!;
    const { q, k, negatives } = inputs(c, device, 'bf16', 5);
    const q32 = q.cast('f32');
    const k32 = k.cast('f32');
    const n32 = negatives!.cast('f32');
    for (const t of [q, k, negatives!]) t.requiresGrad = true;
    infonce(q, k, apiOptions(c, negatives)).backward();
    for (const t of [q32, k32, n32]) t.requiresGrad = true;
    infonce(q32, k32, apiOptions(c, n32)).backward();
    expect(q.grad!.dtype).to.equal('bf16');
    expectClose(f64(q.grad!), f64(q32.grad!), toleranceFor('bf16'), 'dq');
    expectClose(f64(k.grad!), f64(k32.grad!), toleranceFor('bf16'), 'dk');
    expectClose(f64(negatives!.grad!), f64(n32.grad!), toleranceFor('bf16'), 'dnegatives');
  });

  it('masked keys get exactly zero weight, whatever their values', () => {
    // Every query's positive is key 0 (item 10); both extra negatives are item 10 as well.
    const q = randn([4, 6], { seed: 1, device, requiresGrad: true });
    const k = randn([4, 6], { seed: 2, device, requiresGrad: true });
    const options = { temperature: 0.2, positives: [0, 0, 0, 0], itemIds: [10, 11, 12, 13, 10, 10] };
    const small = randn([2, 6], { seed: 3, device, requiresGrad: true });
    const huge = randn([2, 6], { seed: 4, device, std: 1e4 });
    const a = infonce(q, k, { ...options, extraNegatives: small });
    const b = infonce(q, k, { ...options, extraNegatives: huge });
    expect(a.item()).to.equal(b.item());
    a.backward();
    expect(Array.from(small.grad!.dataSync()).every((v) => v === 0)).to.equal(true);
    const unmasked = reference(f64(q), f64(k), null, 4, 6, { temperature: 0.2, positives: [0, 0, 0, 0] });
    expectClose([a.item()], [unmasked], 1e-5, 'loss without the masked keys');
  });

  it('ties: identical keys and identical queries', () => {
    const row = f64(randn([1, 8], { seed: 5 }));
    const same = Float32Array.from({ length: 6 * 8 }, (_, e) => row[e % 8]!);
    const q = tensor(same, { shape: [6, 8], device, requiresGrad: true });
    const k = tensor(same, { shape: [6, 8], device, requiresGrad: true });
    const loss = infonce(q, k, { temperature: 0.1, normalize: true, uniformity: { t: 2, weight: 1 } });
    // Every logit is equal: -log(1/6); every distance is 0: log mean exp(0) = 0.
    expect(loss.item()).to.be.closeTo(Math.log(6), 1e-5);
    loss.backward();
    for (const g of [q.grad!, k.grad!])
      expect(Array.from(g.dataSync()).every((v) => Math.abs(v) < 1e-5)).to.equal(true);
  });

  it('forward and backward release every buffer (saved stats and index tensors included)', () => {
    const run = () =>
      tidy(() => {
        const q = randn([9, 5], { seed: 1, device, requiresGrad: true });
        const k = randn([9, 5], { seed: 2, device, requiresGrad: true });
        const n = randn([4, 5], { seed: 3, device, requiresGrad: true });
        const loss = infonce(q, k, {
          temperature: 0.2,
          normalize: true,
          symmetric: true,
          extraNegatives: n,
          positives: [1, 0, 2, 3, 4, 5, 6, 8, 7],
          itemIds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4],
          uniformity: { t: 2, weight: 0.1 },
        });
        loss.backward();
        const value = loss.item();
        for (const t of [q, k, n]) t.grad?.dispose();
        return value;
      });
    expectFlatMemory(device, run, 20, 200);
  });

  if (device === 'cpu')
    it('CPU results are bit-identical for any thread count (embedding and infonce)', () => {
      const script = `
        import { embedding, infonce, randn, tensor } from ${JSON.stringify(new URL('../lib/index.js', import.meta.url).href)};
        const q = randn([70, 40], { seed: 1, requiresGrad: true });
        const k = randn([70, 40], { seed: 2, requiresGrad: true });
        const n = randn([30, 40], { seed: 3, requiresGrad: true });
        const loss = infonce(q, k, { temperature: 0.1, normalize: true, symmetric: true, extraNegatives: n,
          uniformity: { t: 2, weight: 0.2 } });
        loss.backward();
        const ids = Int32Array.from({ length: 3000 }, (_, i) => (i * 7919) % 37);
        const table = randn([37, 24], { seed: 4, requiresGrad: true });
        embedding(tensor(ids, { shape: [3000], dtype: 'i32' }), table).backward(randn([3000, 24], { seed: 5 }));
        const bits = (t) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
        console.log(JSON.stringify([bits(loss), bits(q.grad), bits(k.grad), bits(n.grad), bits(table.grad)]));`;
      const run = (threads: number) =>
        execFileSync(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, LLMREC_NUM_THREADS: String(threads) },
          encoding: 'utf8',
        });
      const single = run(1);
      expect(JSON.parse(single)).to.have.length(5);
      expect(run(3)).to.equal(single);
    });

  it('bad arguments and bad positives are Errors naming the op, the argument and the shapes', () => {
    const q = randn([5, 7], { seed: 1, device });
    const k = randn([5, 7], { seed: 2, device });
    expect(() => infonce(randn([5, 0], { device }), k)).to.throw(
      /infonce: 'q' must be a non-empty 2-d .* but is f32\[5, 0\]/,
    );
    expect(() => infonce(q, randn([5, 6], { device }))).to.throw(
      /infonce: 'k' must be f32\[N, 7\] .* but is f32\[5, 6\]/,
    );
    expect(() => infonce(q, randn([4, 7], { device }))).to.throw(/'k' \[4, 7\] needs at least 5 rows for 'q' \[5, 7\]/);
    expect(() => infonce(q, k, { positives: [0, 1] })).to.throw(/'positives' must be i32\[5\] .* but is i32\[2\]/);
    expect(() => infonce(q, k, { itemIds: [1, 2, 3] })).to.throw(/'itemIds' must be i32\[5\] .* but is i32\[3\]/);
    expect(() => infonce(q, k, { temperature: 0 })).to.throw(/'temperature' must be a positive number/);
    expect(() =>
      infonce(q.reshape(35, 1).reshape(1, 35), k.reshape(1, 35), { uniformity: { t: 2, weight: 1 } }),
    ).to.throw(/'uniformity' .* needs B >= 2/);
    expect(() => infonce(q, k, { extraNegatives: randn([2, 3], { device }) })).to.throw(
      /'extraNegatives' must be f32\[M, 7\] .* but is f32\[2, 3\]/,
    );
    const bad = infonce(q, k, { positives: [0, 1, 9, 2, 3] });
    expect(() => bad.item()).to.throw(/infonce: positive index 9 is out of range for 5 keys/);
  });
});
