// Losses, each one autograd node with a native backward. Every cross-entropy loss is f32: a
// scalar for 'mean' and 'sum', one value per row for 'none'.
import { needsGrad, record } from '../autograd.js';
import { native } from '../binding.js';
import { expectTensor, Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

export type Reduction = 'mean' | 'sum' | 'none';

declare module '../binding.js' {
  interface NativeAddon {
    linearCrossEntropy(
      hidden: NativeTensor,
      weight: NativeTensor,
      labels: NativeTensor,
      options: CrossEntropyNativeOptions,
      chunk: number,
      keepLogits: boolean,
    ): [NativeTensor, NativeTensor, NativeTensor | null];
    linearCrossEntropyBackward(
      gradLoss: NativeTensor,
      hidden: NativeTensor,
      weight: NativeTensor,
      labels: NativeTensor,
      lse: NativeTensor,
      options: CrossEntropyNativeOptions,
      chunk: number,
      needHidden: boolean,
      needWeight: boolean,
      logits: NativeTensor | null,
    ): [NativeTensor | null, NativeTensor | null];
    crossEntropy(
      positive: NativeTensor | null,
      logits: NativeTensor,
      labels: NativeTensor | null,
      options: CrossEntropyNativeOptions,
    ): [NativeTensor, NativeTensor];
    crossEntropyBackward(
      gradLoss: NativeTensor,
      positive: NativeTensor | null,
      logits: NativeTensor,
      labels: NativeTensor | null,
      lse: NativeTensor,
      options: CrossEntropyNativeOptions,
    ): [NativeTensor | null, NativeTensor];
    gatherDot(user: NativeTensor, table: NativeTensor, indices: NativeTensor): NativeTensor;
    gatherDotBackward(
      gradOut: NativeTensor,
      user: NativeTensor,
      table: NativeTensor,
      indices: NativeTensor,
      needUser: boolean,
      needTable: boolean,
    ): [NativeTensor | null, NativeTensor | null];
    bceWithLogits(x: NativeTensor, target: NativeTensor, weight: NativeTensor | null): NativeTensor;
    bceWithLogitsBackward(
      gradOut: NativeTensor,
      x: NativeTensor,
      target: NativeTensor,
      weight: NativeTensor | null,
    ): NativeTensor;
  }
}

export interface CrossEntropyOptions {
  /** Rows whose label equals this contribute nothing (default -100). */
  ignoreIndex?: number;
  /** eps: the target is (1 - eps) one-hot + eps / classes (default 0). */
  labelSmoothing?: number;
  /** 'mean' over the rows that are not ignored (default), 'sum', or 'none' (per row). */
  reduction?: Reduction;
}

export interface LinearCrossEntropyOptions extends CrossEntropyOptions {
  /** Vocabulary columns per chunk on CUDA (0 or absent: as many as 128 MiB of logits allow). */
  chunk?: number;
  /**
   * CPU: keep the forward's N x V f32 logits for the backward instead of recomputing them (one
   * GEMM of three less, for N·V·4 bytes held until the backward). Default: when a gradient is
   * needed and the logits take at most 64 MiB. Ignored on CUDA, which always recomputes.
   */
  keepLogits?: boolean;
}

/** The default keepLogits budget: N x V f32 logits up to this many bytes are kept. */
export const keepLogitsBudgetBytes = 64 * 2 ** 20;

/**
 * The options object every native cross-entropy call takes, read by name (its C++ twin is
 * kernels::CrossEntropyOptions in native/kernels/loss.h, which the kernel parameters carry).
 * A missing, mistyped or unknown field, or an unknown reduction, is an Error that names it.
 */
export interface CrossEntropyNativeOptions {
  /** An i32. */
  ignoreIndex: number;
  labelSmoothing: number;
  reduction: Reduction;
}

function resolve(options: CrossEntropyOptions): CrossEntropyNativeOptions {
  return {
    ignoreIndex: options.ignoreIndex ?? -100,
    labelSmoothing: options.labelSmoothing ?? 0,
    reduction: options.reduction ?? 'mean',
  };
}

/**
 * Softmax cross-entropy of (hidden [N, d] · weight [V, d]^T) against labels i32 [N], fused with
 * the output projection: the vocabulary is processed in chunks with an online log-sum-exp, so
 * the N x V logits are never materialised, and the backward recomputes each chunk's logits to
 * produce dHidden and dWeight (on the CPU it keeps them instead while they fit keepLogits).
 */
export function linearCrossEntropy(
  hidden: Tensor,
  weight: Tensor,
  labels: Tensor,
  options: LinearCrossEntropyOptions = {},
): Tensor {
  expectArgs('linearCrossEntropy', { hidden, weight, labels }, Tensor);
  expectArgs('linearCrossEntropy', { options }, 'options');
  const nativeOptions = resolve(options);
  const chunk = options.chunk ?? 0;
  const logitsBytes = (hidden.shape[0] ?? 0) * (weight.shape[0] ?? 0) * 4;
  const keepLogits = needsGrad([hidden, weight]) && (options.keepLogits ?? logitsBytes <= keepLogitsBudgetBytes);
  const [lossH, lseH, logitsH] = native.linearCrossEntropy(
    hidden.native,
    weight.native,
    labels.native,
    nativeOptions,
    chunk,
    keepLogits,
  );
  const loss = new Tensor(lossH);
  const lse = new Tensor(lseH);
  const logits = logitsH ? new Tensor(logitsH) : null;
  const needHidden = hidden.requiresGrad;
  const needWeight = weight.requiresGrad;
  record(
    'linearCrossEntropy',
    [hidden, weight],
    [loss],
    ([g], [h, w, y, l, z]) => {
      const [dh, dw] = native.linearCrossEntropyBackward(
        g!.native,
        h!.native,
        w!.native,
        y!.native,
        l!.native,
        nativeOptions,
        chunk,
        needHidden,
        needWeight,
        z?.native ?? null,
      );
      return [dh ? new Tensor(dh) : null, dw ? new Tensor(dw) : null];
    },
    logits ? [hidden, weight, labels, lse, logits] : [hidden, weight, labels, lse],
  );
  lse.dispose();
  logits?.dispose();
  return loss;
}

/** Softmax cross-entropy of logits [N, C] against labels i32 [N]. */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  expectTensor(logits, 'crossEntropy', 'logits');
  expectTensor(labels, 'crossEntropy', 'labels');
  const nativeOptions = resolve(options);
  const [lossH, lseH] = native.crossEntropy(null, logits.native, labels.native, nativeOptions);
  const loss = new Tensor(lossH);
  const lse = new Tensor(lseH);
  record(
    'crossEntropy',
    [logits],
    [loss],
    ([g], [z, y, l]) => {
      const [, dz] = native.crossEntropyBackward(g!.native, null, z!.native, y!.native, l!.native, nativeOptions);
      return [new Tensor(dz)];
    },
    [logits, labels, lse],
  );
  lse.dispose();
  return loss;
}

/**
 * Sampled softmax: cross-entropy over [positive, negatives...] per row with the positive as the
 * target, from the positive's score [N] and the negatives' scores [N, K]; nothing is
 * concatenated in memory.
 */
export function sampledSoftmaxLoss(
  positive: Tensor,
  negatives: Tensor,
  options: { reduction?: Reduction } = {},
): Tensor {
  expectArgs('sampledSoftmaxLoss', { positive, negatives }, Tensor);
  expectArgs('sampledSoftmaxLoss', { options }, 'options');
  const nativeOptions: CrossEntropyNativeOptions = {
    ignoreIndex: -1,
    labelSmoothing: 0,
    reduction: options.reduction ?? 'mean',
  };
  const [lossH, lseH] = native.crossEntropy(positive.native, negatives.native, null, nativeOptions);
  const loss = new Tensor(lossH);
  const lse = new Tensor(lseH);
  record(
    'sampledSoftmaxLoss',
    [positive, negatives],
    [loss],
    ([g], [pos, neg, l]) => {
      const [dp, dn] = native.crossEntropyBackward(g!.native, pos!.native, neg!.native, null, l!.native, nativeOptions);
      return [new Tensor(dp!), new Tensor(dn)];
    },
    [positive, negatives, lse],
  );
  lse.dispose();
  return loss;
}

/**
 * Scores of items picked from a table: out[n, k] = user[n, :] · table[indices[n, k], :] for
 * user [N, d], table [items, d] and indices i32 [N, K], without gathering the rows into memory.
 * The table's gradient is dense and deterministic.
 */
export function gatherDot(user: Tensor, table: Tensor, indices: Tensor): Tensor {
  expectArgs('gatherDot', { user, table, indices }, Tensor);
  const out = new Tensor(native.gatherDot(user.native, table.native, indices.native));
  const needUser = user.requiresGrad;
  const needTable = table.requiresGrad;
  record(
    'gatherDot',
    [user, table],
    [out],
    ([g], [u, t, i]) => {
      const [du, dt] = native.gatherDotBackward(g!.native, u!.native, t!.native, i!.native, needUser, needTable);
      return [du ? new Tensor(du) : null, dt ? new Tensor(dt) : null];
    },
    [user, table, indices],
  );
  return out;
}

/**
 * Sampled softmax over an item table: the positive item positives[n] against the negatives
 * negatives[n, :] (i32 [N, K]), scored by dot products with user [N, d].
 */
export function sampledSoftmaxFromTable(
  user: Tensor,
  table: Tensor,
  positives: Tensor,
  negatives: Tensor,
  options: { reduction?: Reduction } = {},
): Tensor {
  expectArgs('sampledSoftmaxFromTable', { user, table, positives, negatives }, Tensor);
  expectArgs('sampledSoftmaxFromTable', { options }, 'options');
  if (positives.ndim !== 1)
    throw new Error(`sampledSoftmaxFromTable: 'positives' must be [N] but has shape [${positives.shape.join(', ')}]`);
  const rows = positives.shape[0]!;
  const positiveIndices = positives.reshape([rows, 1]);
  const positiveScores = gatherDot(user, table, positiveIndices);
  const positive = positiveScores.reshape([rows]);
  const negative = gatherDot(user, table, negatives);
  const loss = sampledSoftmaxLoss(positive, negative, options);
  // The graph holds what the backward needs; these handles are no longer needed.
  for (const t of [positiveIndices, positiveScores, positive, negative]) t.dispose();
  return loss;
}

export interface BceOptions {
  /** Per-element weights (or a 0/1 mask) with the logits' shape. */
  weight?: Tensor;
  /** 'mean' over all elements (default), 'sum', or 'none'. */
  reduction?: Reduction;
}

/**
 * Binary cross-entropy on logits in the stable form max(x, 0) - x·y + log(1 + exp(-|x|)).
 * Targets receive no gradient.
 */
export function bceWithLogits(logits: Tensor, targets: Tensor, options: BceOptions = {}): Tensor {
  expectArgs('bceWithLogits', { logits, targets }, Tensor);
  expectArgs('bceWithLogits', { options }, 'options');
  const weight = options.weight ?? null;
  const elementwise = new Tensor(native.bceWithLogits(logits.native, targets.native, weight?.native ?? null));
  record(
    'bceWithLogits',
    [logits],
    [elementwise],
    ([g], [x, y, w]) => [new Tensor(native.bceWithLogitsBackward(g!.native, x!.native, y!.native, w?.native ?? null))],
    weight ? [logits, targets, weight] : [logits, targets],
  );
  const reduction = options.reduction ?? 'mean';
  if (reduction === 'none') return elementwise;
  const reduced = reduction === 'sum' ? elementwise.sum() : elementwise.mean();
  elementwise.dispose();
  return reduced;
}
