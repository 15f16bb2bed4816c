// Top-k selection along the last axis, and scoreTopk: full-catalogue retrieval that scores
// queries against every item tile by tile and keeps a running top-k per query, so the
// users x items score matrix never exists. Neither is differentiable (they select).
import { record } from '../autograd.js';
import { native } from '../binding.js';
import { Tensor, tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

declare module '../binding.js' {
  interface NativeAddon {
    topk(x: NativeTensor, k: number): [NativeTensor, NativeTensor];
    scoreTopk(
      queries: NativeTensor,
      items: NativeTensor,
      k: number,
      excludeOffsets: NativeTensor | null,
      excludeIds: NativeTensor | null,
      excludePadding: boolean,
    ): [NativeTensor, NativeTensor];
  }
}

export interface TopkResult {
  /** The selected values, best first. */
  values: Tensor;
  /** Their i32 positions (item ids for scoreTopk); -1 where nothing was left to select. */
  indices: Tensor;
}

function selection(name: string, inputs: Tensor[], handles: [unknown, unknown]): TopkResult {
  const [values, indices] = handles.map((h) => new Tensor(h as Tensor['native']));
  record(name, inputs, [values!], () => {
    throw new Error(`backward: ${name} selects and is not differentiable; detach() its inputs or use noGrad()`);
  });
  return { values: values!, indices: indices! };
}

/**
 * The k largest entries along the last axis (k <= 1024), sorted descending; ties go to the
 * lower index and NaN ranks first, as in torch.topk.
 */
export function topk(x: Tensor, k: number): TopkResult {
  expectArgs('topk', { x }, Tensor);
  expectArgs('topk', { k }, 'integer');
  return selection('topk', [x], native.topk(x.native, k));
}

export type IdList = Tensor | Int32Array | readonly number[];

export interface ScoreTopkOptions {
  /** Items each query must not get (its history): CSR offsets [users + 1] into ids. */
  exclude?: { offsets: IdList; ids: IdList };
  /** Never return item 0, the padding row of an item table. */
  excludePadding?: boolean;
}

function idTensor(list: IdList, device: string): Tensor {
  return list instanceof Tensor ? list.share() : tensor(Int32Array.from(list), { dtype: 'i32', device });
}

/**
 * For each query row of `queries` [U, d]: the k items of `items` [N, d] with the highest dot
 * product, best first (f32 scores, i32 item ids), skipping excluded items.
 */
export function scoreTopk(queries: Tensor, items: Tensor, k: number, options: ScoreTopkOptions = {}): TopkResult {
  expectArgs('scoreTopk', { queries, items }, Tensor);
  expectArgs('scoreTopk', { k }, 'integer');
  expectArgs('scoreTopk', { options }, 'options');
  const offsets = options.exclude ? idTensor(options.exclude.offsets, queries.device) : null;
  const ids = options.exclude ? idTensor(options.exclude.ids, queries.device) : null;
  try {
    return selection(
      'scoreTopk',
      [queries, items],
      native.scoreTopk(
        queries.native,
        items.native,
        k,
        offsets?.native ?? null,
        ids?.native ?? null,
        options.excludePadding ?? false,
      ),
    );
  } finally {
    offsets?.dispose();
    ids?.dispose();
  }
}

declare module '../tensor.js' {
  interface Tensor {
    /** The k largest entries along the last axis: see {@link topk}. */
    topk(k: number): TopkResult;
  }
}

Tensor.prototype.topk = function (this: Tensor, k: number): TopkResult {
  return topk(this, k);
};
