// InfoNCE, fused: similarities are computed in tiles with an online log-sum-exp, so neither the
// forward nor the backward ever holds a B x N logits matrix; see native/kernels/infonce.h for the
// exact definition of every option.
import { record } from '../autograd.js';
import { native, type NativeTensor } from '../binding.js';
import { Tensor, tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

declare module '../binding.js' {
  interface NativeAddon {
    infonce(...args: InfoNceNativeArgs): [NativeTensor, NativeTensor];
    /** Returns [gradQ, gradK, gradExtraNegatives | null] for the forward call with the same arguments. */
    infonceBackward(
      ...args: [...InfoNceNativeArgs, stats: NativeTensor, gradLoss: NativeTensor]
    ): [NativeTensor, NativeTensor, NativeTensor | null];
  }
}

/** The arguments the forward and the backward native calls share, in their order. */
export type InfoNceNativeArgs = [
  q: NativeTensor,
  k: NativeTensor,
  extraNegatives: NativeTensor | null,
  positives: NativeTensor | null,
  itemIds: NativeTensor | null,
  options: InfoNceNativeOptions,
];

/**
 * The options object both native InfoNCE calls take, read by name (its C++ twin is
 * kernels::InfoNceOptions in native/kernels/infonce.h, which the kernel parameters carry).
 * A missing, mistyped or unknown field is an Error that names it.
 */
export interface InfoNceNativeOptions {
  temperature: number;
  normalize: boolean;
  symmetric: boolean;
  uniformityT: number;
  /** 0: no uniformity term. */
  uniformityWeight: number;
}

export type IndexLike = Tensor | Int32Array | readonly number[];

export interface InfoNceOptions {
  /** Logits are q·k / temperature (default 1). */
  temperature?: number;
  /** L2-normalise queries and keys first (fused, with its backward). Default false. */
  normalize?: boolean;
  /** Index into k of each query's positive (i32 [B]); default: query i pairs with key i. */
  positives?: IndexLike;
  /** Extra negatives [M, d], appended to the keys in every query's denominator. */
  extraNegatives?: Tensor;
  /**
   * Item id of every key then every extra negative (i32 [N + M]). A key sharing the item id of a
   * query's positive (other than the positive itself) is left out of that query's denominator.
   */
  itemIds?: IndexLike;
  /** Average of the q→k and k→q losses (CLIP-style). Default false. */
  symmetric?: boolean;
  /** Adds weight · log mean_{i≠i'} exp(-t·||q_i - q_i'||²) over the (normalised) queries. */
  uniformity?: { t: number; weight: number };
}

function indexTensor(values: IndexLike | undefined, device: string): Tensor | null {
  if (values === undefined) return null;
  if (values instanceof Tensor) return values;
  return tensor(Int32Array.from(values), { shape: [values.length], dtype: 'i32', device });
}

/**
 * The InfoNCE loss of queries `q` [B, d] against keys `k` [N, d] (f32 or bf16), as an f32 scalar
 * tensor: mean_i -log softmax_j(q_i·k_j / temperature)[positives[i]]. Gradients flow to q, k and
 * the extra negatives. Memory is O((B + N + M)·d).
 */
export function infonce(q: Tensor, k: Tensor, options: InfoNceOptions = {}): Tensor {
  expectArgs('infonce', { q, k }, Tensor);
  expectArgs('infonce', { options }, 'options');
  const nativeOptions: InfoNceNativeOptions = {
    temperature: options.temperature ?? 1,
    normalize: options.normalize ?? false,
    symmetric: options.symmetric ?? false,
    uniformityT: options.uniformity?.t ?? 2,
    uniformityWeight: options.uniformity?.weight ?? 0,
  };
  const negatives = options.extraNegatives ?? null;
  const positives = indexTensor(options.positives, q.device);
  const itemIds = indexTensor(options.itemIds, q.device);
  const [lossHandle, statsHandle] = native.infonce(
    q.native,
    k.native,
    negatives?.native ?? null,
    positives?.native ?? null,
    itemIds?.native ?? null,
    nativeOptions,
  );
  const loss = new Tensor(lossHandle);
  const stats = new Tensor(statsHandle);
  const hasNegatives = negatives !== null;
  const hasPositives = positives !== null;
  const hasItemIds = itemIds !== null;
  const saved = [q, k, stats, ...(negatives ? [negatives] : []), ...(positives ? [positives] : [])];
  if (itemIds) saved.push(itemIds);
  record(
    'infonce',
    [q, k, negatives],
    [loss],
    ([grad], s) => {
      const savedNegatives = hasNegatives ? s[3]! : null;
      const savedPositives = hasPositives ? s[hasNegatives ? 4 : 3]! : null;
      const savedItemIds = hasItemIds ? s[s.length - 1]! : null;
      const [gq, gk, gn] = native.infonceBackward(
        s[0]!.native,
        s[1]!.native,
        savedNegatives?.native ?? null,
        savedPositives?.native ?? null,
        savedItemIds?.native ?? null,
        nativeOptions,
        s[2]!.native,
        grad!.native,
      );
      return [new Tensor(gq), new Tensor(gk), gn ? new Tensor(gn) : null];
    },
    saved,
  );
  stats.dispose();
  if (positives && !(options.positives instanceof Tensor)) positives.dispose();
  if (itemIds && !(options.itemIds instanceof Tensor)) itemIds.dispose();
  return loss;
}
