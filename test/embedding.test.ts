import { expect } from 'chai';

import { embedding, randn, tensor, tidy, type DType, type Tensor } from '../lib/index.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, toleranceFor } from './support/reference.js';
import { expectFlatMemory } from './support/memory.js';

/** Seeded indices in [0, rows), with duplicates, and `padding` at a few places. */
function randomIndices(count: number, rows: number, seed: number, padding?: number): Int32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  const out = Int32Array.from({ length: count }, () => next() % rows);
  if (padding !== undefined) for (let i = 0; i < count; i += 5) out[(i + (next() % 5)) % count] = padding;
  return out;
}

interface Case {
  shape: number[];
  rows: number;
  width: number;
  paddingIdx?: number;
  scale?: number;
  positionRows?: number;
}

/** out[i] = table[idx] * scale + pos[i % L], zeros at padding, in float64. */
function forwardReference(
  indices: Int32Array,
  table: Float64Array,
  positions: Float64Array | null,
  c: Case,
): Float64Array {
  const length = c.shape[c.shape.length - 1] ?? 1;
  const out = new Float64Array(indices.length * c.width);
  indices.forEach((index, i) => {
    if (index === c.paddingIdx) return;
    for (let k = 0; k < c.width; k++) {
      const pos = positions ? positions[(i % length) * c.width + k]! : 0;
      out[i * c.width + k] = table[index * c.width + k]! * (c.scale ?? 1) + pos;
    }
  });
  return out;
}

function backwardReference(
  indices: Int32Array,
  grad: Float64Array,
  c: Case,
): { table: Float64Array; positions: Float64Array } {
  const length = c.shape[c.shape.length - 1] ?? 1;
  const table = new Float64Array(c.rows * c.width);
  const positions = new Float64Array((c.positionRows ?? 0) * c.width);
  indices.forEach((index, i) => {
    if (index === c.paddingIdx) return;
    for (let k = 0; k < c.width; k++) {
      const g = grad[i * c.width + k]!;
      table[index * c.width + k] = table[index * c.width + k]! + g * (c.scale ?? 1);
      if (c.positionRows) positions[(i % length) * c.width + k] = positions[(i % length) * c.width + k]! + g;
    }
  });
  return { table, positions };
}

const cases: Case[] = [
  { shape: [37], rows: 11, width: 1 },
  { shape: [6, 9], rows: 23, width: 3, paddingIdx: 0 },
  { shape: [5, 8], rows: 40, width: 64, paddingIdx: 0, scale: 8, positionRows: 8 },
  { shape: [3, 7], rows: 5, width: 130, scale: 0.5, positionRows: 10 }, // many duplicates, extra position rows
  { shape: [2, 3, 17], rows: 300, width: 32, paddingIdx: 299, positionRows: 17 },
  { shape: [4, 50], rows: 1000, width: 256, paddingIdx: 0, scale: 16, positionRows: 50 },
];

describeEachDevice('embedding', (device) => {
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    cases.forEach((c, which) => {
      const title = `${dtype} indices [${c.shape}] into [${c.rows}, ${c.width}]${c.paddingIdx !== undefined ? ` padding ${c.paddingIdx}` : ''}${c.scale ? ` scale ${c.scale}` : ''}${c.positionRows ? ` + positions [${c.positionRows}]` : ''}`;
      it(`${title}: forward and backward match float64`, () => {
        const count = c.shape.reduce((a, b) => a * b, 1);
        const ids = randomIndices(count, c.rows, 17 + which, c.paddingIdx);
        const indices = tensor(ids, { shape: c.shape, dtype: 'i32', device });
        const table = randn([c.rows, c.width], { seed: 100 + which, device, dtype });
        table.requiresGrad = true;
        const positions = c.positionRows
          ? randn([c.positionRows, c.width], { seed: 200 + which, device, dtype })
          : undefined;
        if (positions) positions.requiresGrad = true;
        const out = embedding(indices, table, { paddingIdx: c.paddingIdx, scale: c.scale, positions });
        expect(out.shape).to.deep.equal([...c.shape, c.width]);
        expect(out.dtype).to.equal(dtype);
        const expected = forwardReference(ids, f64(table), positions ? f64(positions) : null, c);
        expectClose(f64(out), expected, toleranceFor(dtype), 'forward');
        if (c.paddingIdx !== undefined) {
          const values = out.dataSync();
          ids.forEach((index, i) => {
            if (index === c.paddingIdx) for (let k = 0; k < c.width; k++) expect(values[i * c.width + k]).to.equal(0);
          });
        }
        const grad = randn(out.shape, { seed: 300 + which, device, dtype });
        out.backward(grad);
        const reference = backwardReference(ids, f64(grad), c);
        expectClose(f64(table.grad!), reference.table, toleranceFor(dtype), 'table gradient');
        if (positions) expectClose(f64(positions.grad!), reference.positions, toleranceFor(dtype), 'position gradient');
        if (c.paddingIdx !== undefined) {
          const padRow = Array.from(table.grad!.dataSync().slice(c.paddingIdx * c.width, (c.paddingIdx + 1) * c.width));
          expect(padRow.every((v) => v === 0)).to.equal(true);
        }
        if (onGpu(device)) {
          const cpuTable = table.to('cpu');
          const cpuPositions = positions?.to('cpu');
          cpuTable.requiresGrad = true;
          if (cpuPositions) cpuPositions.requiresGrad = true;
          const cpuOut = embedding(indices.to('cpu'), cpuTable, {
            paddingIdx: c.paddingIdx,
            scale: c.scale,
            positions: cpuPositions,
          });
          expectClose(f64(out), f64(cpuOut), toleranceFor(dtype), 'CUDA vs CPU forward');
          cpuOut.backward(grad.to('cpu'));
          expectClose(f64(table.grad!), f64(cpuTable.grad!), toleranceFor(dtype), 'CUDA vs CPU table gradient');
        }
      });
    });
  }

  it('gathers 16-byte-unaligned rows (odd widths) and rows of every width from 1 to 40', () => {
    for (let width = 1; width <= 40; width += 3) {
      const ids = randomIndices(29, 13, width);
      const indices = tensor(ids, { shape: [29], dtype: 'i32', device });
      const table = randn([13, width], { seed: width, device });
      const out = embedding(indices, table, { scale: 2 });
      expectClose(f64(out), forwardReference(ids, f64(table), null, { shape: [29], rows: 13, width, scale: 2 }), 1e-6);
    }
  });

  it('duplicate indices accumulate and the result is repeatable bit for bit', () => {
    const ids = new Int32Array(4000).fill(3);
    ids[17] = 1;
    const indices = tensor(ids, { shape: [4000], dtype: 'i32', device });
    const run = () => {
      const table = randn([5, 48], { seed: 9, device, requiresGrad: true });
      const out = embedding(indices, table);
      out.backward(randn([4000, 48], { seed: 10, device }));
      return table.grad!.dataSync();
    };
    const first = run();
    expect(Array.from(run())).to.deep.equal(Array.from(first));
    const grad = f64(randn([4000, 48], { seed: 10, device }));
    for (const k of [0, 47]) {
      let sum = 0;
      for (let i = 0; i < 4000; i++) if (i !== 17) sum += grad[i * 48 + k]!;
      expect(first[3 * 48 + k]).to.be.closeTo(sum, 1e-3);
      expect(first[1 * 48 + k]).to.equal(Math.fround(grad[17 * 48 + k]!));
      expect(first[0 * 48 + k]).to.equal(0);
    }
  });

  it('gradients match finite differences (table and positions)', () => {
    const ids = Int32Array.from([2, 0, 4, 2, 1, 0, 3, 2]);
    const c: Case = { shape: [2, 4], rows: 5, width: 3, paddingIdx: 0, scale: 1.7, positionRows: 6 };
    const indices = tensor(ids, { shape: c.shape, dtype: 'i32', device });
    const tableValues = f64(randn([5, 3], { seed: 1 }));
    const positionValues = f64(randn([6, 3], { seed: 2 }));
    const table = tensor(Float32Array.from(tableValues), { shape: [5, 3], device, requiresGrad: true });
    const positions = tensor(Float32Array.from(positionValues), { shape: [6, 3], device, requiresGrad: true });
    const out = embedding(indices, table, { paddingIdx: 0, scale: 1.7, positions });
    const weights = randn(out.shape, { seed: 3, device });
    out.mul(weights).sum().backward();
    const w = f64(weights);
    const loss = (t: Float64Array, p: Float64Array) =>
      forwardReference(ids, t, p, c).reduce((acc, v, i) => acc + v * w[i]!, 0);
    const numeric = (values: Float64Array, f: (v: Float64Array) => number) =>
      values.map((_, i) => {
        const plus = Float64Array.from(values);
        const minus = Float64Array.from(values);
        plus[i] = plus[i]! + 1e-6;
        minus[i] = minus[i]! - 1e-6;
        return (f(plus) - f(minus)) / 2e-6;
      });
    const tableF32 = Float64Array.from(Float32Array.from(tableValues));
    const positionsF32 = Float64Array.from(Float32Array.from(positionValues));
    expectClose(
      f64(table.grad!),
      numeric(tableF32, (t) => loss(t, positionsF32)),
      1e-4,
      'table',
    );
    expectClose(
      f64(positions.grad!),
      numeric(positionsF32, (p) => loss(tableF32, p)),
      1e-4,
      'positions',
    );
  });

  it('a frozen table records no gradient; positions can still train', () => {
    const indices = tensor(Int32Array.from([1, 2, 3, 0]), { shape: [2, 2], dtype: 'i32', device });
    const table = randn([4, 8], { seed: 1, device });
    expect(embedding(indices, table).gradNode).to.equal(null);
    const positions = randn([2, 8], { seed: 2, device, requiresGrad: true });
    const out = embedding(indices, table, { positions });
    out.sum().backward();
    expect(table.grad).to.equal(null);
    expect(Array.from(positions.grad!.dataSync())).to.deep.equal(new Array<number>(16).fill(2));
  });

  it('forward and backward release every buffer', () => {
    const run = () =>
      tidy(() => {
        const indices = tensor(Int32Array.from([3, 0, 2, 3, 1, 0]), { shape: [2, 3], dtype: 'i32', device });
        const table = randn([4, 16], { seed: 1, device, requiresGrad: true });
        const positions = randn([3, 16], { seed: 2, device, requiresGrad: true });
        embedding(indices, table, { paddingIdx: 0, scale: 4, positions }).sum().backward();
        const value = table.grad!.sum().item();
        for (const t of [table, positions]) t.grad?.dispose();
        return value;
      });
    expectFlatMemory(device, run, 20, 200);
  });

  it('an out-of-range index is an Error naming the index and the table size', () => {
    const table = randn([50, 4], { seed: 1, device });
    for (const bad of [50, -1, 1 << 30]) {
      const indices = tensor(Int32Array.from([0, 3, bad, 7]), { shape: [4], dtype: 'i32', device });
      const out: Tensor = embedding(indices, table);
      expect(() => out.dataSync()).to.throw(
        new RegExp(`embedding: index ${bad} is out of range for a table of 50 rows`),
      );
    }
    // The context stays usable afterwards.
    const ok = embedding(tensor(Int32Array.from([1]), { shape: [1], dtype: 'i32', device }), table);
    expect(Array.from(ok.dataSync())).to.deep.equal(Array.from(table.dataSync().slice(4, 8)));
  });

  it('bad arguments are Errors naming the op, the argument and the shapes', () => {
    const table = randn([10, 4], { seed: 1, device });
    const ids = tensor(Int32Array.from([1, 2, 3]), { shape: [3], dtype: 'i32', device });
    expect(() => embedding(randn([3], { device }), table)).to.throw(/embedding: 'indices' must be i32 but is f32\[3\]/);
    expect(() => embedding(ids, randn([10], { device }))).to.throw(/embedding: 'table' must be a 2-d .* f32\[10\]/);
    expect(() => embedding(ids, table, { paddingIdx: 10 })).to.throw(
      /'paddingIdx' 10 is out of range for a table of 10 rows/,
    );
    expect(() => embedding(ids, table, { positions: randn([3, 5], { device }) })).to.throw(
      /embedding: 'positions' must be f32\[L, 4\] .* but is f32\[3, 5\]/,
    );
    expect(() => embedding(ids, table, { positions: randn([2, 4], { device }) })).to.throw(
      /'positions' has 2 rows but the last axis of 'indices' \[3\] has 3 positions/,
    );
  });
});
