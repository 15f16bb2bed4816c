import { expect } from 'chai';

import { randn, scoreTopk, tensor, topk, type DType, type Tensor } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { f64 } from './support/reference.js';
import { crossCheckExact } from './support/twins.js';

/** Small integers: many exact ties, and dot products that are exact in f32 and bf16. */
function integerTensor(shape: number[], seed: number, device: string, dtype: DType = 'f32', spread = 3): Tensor {
  const values = Array.from(f64(randn(shape, { seed })), (v) => Math.round(v * spread));
  return tensor(Float32Array.from(values), { shape, device, dtype });
}

/** Best first: larger value, then lower index; NaN first. */
function referenceTopk(row: ArrayLike<number>, k: number, skip: (i: number) => boolean = () => false) {
  const order = Array.from({ length: row.length }, (_, i) => i).filter((i) => !skip(i));
  order.sort((a, b) => {
    const nanA = Number.isNaN(row[a]);
    if (nanA !== Number.isNaN(row[b])) return nanA ? -1 : 1;
    if (!nanA && row[a] !== row[b]) return row[a]! > row[b]! ? -1 : 1;
    return a - b;
  });
  const indices = order.slice(0, k);
  while (indices.length < k) indices.push(-1);
  return { indices, values: indices.map((i) => (i < 0 ? -Infinity : row[i]!)) };
}

function expectRows(
  result: { values: Tensor; indices: Tensor },
  rows: number,
  k: number,
  ref: (r: number) => ReturnType<typeof referenceTopk>,
) {
  const values = result.values.dataSync();
  const indices = result.indices.dataSync();
  for (let r = 0; r < rows; r++) {
    const expected = ref(r);
    expect(Array.from(indices.subarray(r * k, (r + 1) * k)), `indices of row ${r}`).to.deep.equal(expected.indices);
    expect(Array.from(values.subarray(r * k, (r + 1) * k)), `values of row ${r}`).to.deep.equal(expected.values);
  }
}

describeEachDevice('topk against a brute-force reference', (device) => {
  const cases: [number[], number, string][] = [
    [[5, 1000], 10, 'ties'],
    [[3, 37], 37, 'k = n'],
    [[2, 5000], 1024, 'the largest k'],
    [[100], 5, 'a vector'],
    [[2, 3, 300], 7, 'three axes'],
  ];
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const [shape, k, what] of cases) {
      it(`${dtype} ${what}: [${shape.join(',')}] k=${k}`, () => {
        const x = integerTensor(shape, shape.length + k, device, dtype);
        const result = topk(x, k);
        expect(result.values.shape).to.deep.equal([...shape.slice(0, -1), k]);
        expect(result.values.dtype).to.equal(dtype);
        expect(result.indices.dtype).to.equal('i32');
        const n = shape[shape.length - 1]!;
        const rows = x.size / n;
        const data = x.dataSync();
        expectRows(result, rows, k, (r) => referenceTopk(data.subarray(r * n, (r + 1) * n), k));
        crossCheckExact(device, result, () => topk(x.to('cpu'), k), 'topk');
      });
    }
  }

  it('distinct random floats', () => {
    const x = randn([4, 3000], { seed: 5, device });
    const data = x.dataSync();
    expectRows(topk(x, 50), 4, 50, (r) => referenceTopk(data.subarray(r * 3000, (r + 1) * 3000), 50));
  });

  it('ranks NaN first, like torch.topk', () => {
    const x = tensor([[1, NaN, 3, -Infinity, 3]], { device });
    const { values, indices } = topk(x, 5);
    expect(Array.from(indices.dataSync())).to.deep.equal([1, 2, 4, 0, 3]);
    expect(Array.from(values.dataSync())).to.deep.equal([NaN, 3, 3, 1, -Infinity]);
    expect(Array.from(x.topk(2).indices.dataSync())).to.deep.equal([1, 2]);
  });

  it('names the op, the argument and the shapes in its errors', () => {
    const x = randn([3, 4], { seed: 1, device });
    expect(() => topk(x, 5)).to.throw("topk: 'k' = 5 is larger than the last axis of 'x' [3, 4] (4)");
    expect(() => topk(x, 0)).to.throw("topk: 'k' must be at least 1, got 0");
    expect(() => topk(randn([2, 2000], { seed: 1, device }), 1025)).to.throw(
      "topk: 'k' = 1025 is above the supported maximum of 1024",
    );
    expect(() => topk(tensor(Int32Array.of(1, 2), { device }), 1)).to.throw("topk: 'x' must be f32 or bf16, got i32");
  });
});

describeEachDevice('scoreTopk against a brute-force reference', (device) => {
  /** Random exclusion lists (some empty, some with repeats), as CSR. */
  function exclusions(users: number, items: number, seed: number) {
    const draws = f64(randn([users * 40], { seed }));
    const offsets = [0];
    const ids: number[] = [];
    for (let u = 0; u < users; u++) {
      const count = u % 4 === 0 ? 0 : Math.floor(Math.abs(draws[u * 40]!) * 15) + 1;
      for (let e = 0; e < count; e++) ids.push(Math.floor(Math.abs(draws[u * 40 + 1 + e]! * 1e6)) % items);
      offsets.push(ids.length);
    }
    return { offsets, ids };
  }

  function reference(
    q: Float64Array,
    it: Float64Array,
    items: number,
    dim: number,
    k: number,
    ex?: { offsets: number[]; ids: number[] },
    excludePadding = false,
  ) {
    return (u: number) => {
      const scores = new Float64Array(items);
      for (let i = 0; i < items; i++) {
        let s = 0;
        for (let c = 0; c < dim; c++) s += q[u * dim + c]! * it[i * dim + c]!;
        scores[i] = s;
      }
      const banned = new Set(ex ? ex.ids.slice(ex.offsets[u], ex.offsets[u + 1]) : []);
      return referenceTopk(scores, k, (i) => banned.has(i) || (excludePadding && i === 0));
    };
  }

  const cases: [number, number, number, number, boolean, string][] = [
    [13, 3000, 24, 20, true, 'many queries'],
    [3, 9000, 17, 50, true, 'few queries over a long catalogue'],
    [5, 40, 8, 40, true, 'k = numItems, so exclusions leave empty slots'],
    [6, 500, 33, 7, false, 'no exclusions'],
  ];
  for (const dtype of ['f32', 'bf16'] as DType[]) {
    for (const [users, items, dim, k, exclude, what] of cases) {
      it(`${dtype} ${what}: U=${users} N=${items} d=${dim} k=${k}`, () => {
        const queries = integerTensor([users, dim], 1 + users, device, dtype, 2);
        const table = integerTensor([items, dim], 2 + items, device, dtype, 2);
        const ex = exclude ? exclusions(users, items, 3) : undefined;
        const options = ex ? { exclude: ex, excludePadding: true } : {};
        const result = scoreTopk(queries, table, k, options);
        expect(result.values.shape).to.deep.equal([users, k]);
        expectRows(result, users, k, reference(f64(queries), f64(table), items, dim, k, ex, exclude));
        crossCheckExact(device, result, () => scoreTopk(queries.to('cpu'), table.to('cpu'), k, options), 'scoreTopk');
      });
    }
  }

  it('accepts exclusion lists as tensors', () => {
    const queries = integerTensor([2, 4], 1, device);
    const table = integerTensor([30, 4], 2, device);
    const offsets = tensor(Int32Array.of(0, 2, 3), { device });
    const ids = tensor(Int32Array.of(5, 7, 29), { device });
    const result = scoreTopk(queries, table, 30, { exclude: { offsets, ids } });
    const ex = { offsets: [0, 2, 3], ids: [5, 7, 29] };
    expectRows(result, 2, 30, reference(f64(queries), f64(table), 30, 4, 30, ex));
  });

  it('names the op, the argument and the shapes in its errors', () => {
    const q = randn([2, 4], { seed: 1, device });
    const items = randn([10, 4], { seed: 2, device });
    expect(() => scoreTopk(q, randn([10, 5], { seed: 2, device }), 3)).to.throw(
      "scoreTopk: 'queries' must be [users, dim] and 'items' [numItems, dim] with the same dim, got [2, 4] and [10, 5]",
    );
    expect(() => scoreTopk(q, items, 11)).to.throw(
      "scoreTopk: 'k' = 11 is larger than the number of items in 'items' [10, 4] (10)",
    );
    expect(() => scoreTopk(q, items, 3, { exclude: { offsets: [0, 1], ids: [1] } })).to.throw(
      "scoreTopk: 'excludeOffsets' must be i32[3] (one more than the number of queries), got i32[2]",
    );
    expect(() => scoreTopk(q, items, 3, { exclude: { offsets: [0, 1, 2], ids: [1, 10] } }).values.dataSync()).to.throw(
      /scoreTopk: excluded item id 10 is out of range for a catalogue of 10 items/,
    );
    expect(() => scoreTopk(q, items, 3, { exclude: { offsets: [0, 2, 1], ids: [1, 2] } }).values.dataSync()).to.throw(
      /scoreTopk: 'excludeOffsets' must start at 0, never decrease and end at the number of ids/,
    );
  });
});
