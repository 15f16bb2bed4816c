// Losses built from elementwise ops: their gradients come from autograd, with no native code of
// their own. The fused, vocabulary- and batch-scale losses (cross-entropy, sampled softmax,
// InfoNCE, distillation) live with their kernel families and register in ./registry.ts.
import { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  switch (reduction) {
    case 'mean':
      return loss.mean();
    case 'sum':
      return loss.sum();
    case 'none':
      return loss;
  }
}

function expectSameShape(op: string, a: Tensor, b: Tensor, names: [string, string]): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
    throw new Error(
      `${op}: '${names[0]}' has shape [${a.shape.join(', ')}] but '${names[1]}' has [${b.shape.join(', ')}]`,
    );
}

/** Mean squared error. */
export function mse(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  expectArgs('mse', { input, target }, Tensor);
  expectArgs('mse', { reduction }, 'string');
  expectSameShape('mse', input, target, ['input', 'target']);
  return reduce(input.sub(target).square(), reduction);
}

/** 1 − cos(input, target) along the last axis (the distillation loss of LLM-SRec's variants). */
export function cosineDistance(input: Tensor, target: Tensor, reduction: Reduction = 'mean', eps = 1e-8): Tensor {
  expectArgs('cosineDistance', { input, target }, Tensor);
  expectArgs('cosineDistance', { reduction }, 'string');
  expectArgs('cosineDistance', { eps }, 'number');
  expectSameShape('cosine', input, target, ['input', 'target']);
  const axis = input.shape.length - 1;
  const dot = input.mul(target).sum(axis);
  const norms = input
    .square()
    .sum(axis)
    .mul(target.square().sum(axis))
    .add(eps * eps)
    .sqrt();
  return reduce(dot.div(norms).neg().add(1), reduction);
}

/** x / max(||x||, eps) along the last axis. */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  expectArgs('l2Normalize', { x }, Tensor);
  expectArgs('l2Normalize', { eps }, 'number');
  const axis = x.shape.length - 1;
  return x.mul(
    x
      .square()
      .sum(axis, true)
      .add(eps * eps)
      .rsqrt(),
  );
}

/** MSE after L2-normalising both sides (LLM-SRec's distillation; equals 2 − 2·cos per row, over d). */
export function normalizedMse(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  expectArgs('normalizedMse', { input, target }, Tensor);
  expectArgs('normalizedMse', { reduction }, 'string');
  expectSameShape('normalizedMse', input, target, ['input', 'target']);
  return mse(l2Normalize(input), l2Normalize(target), reduction);
}

/**
 * Binary cross-entropy on logits, in the overflow-free form max(x, 0) − x·y + log(1 + e^−|x|).
 * `weight` (same shape) masks or weights elements; 'mean' then divides by the weights' sum
 * (SASRec's BCE averages over the non-padded positions this way).
 */
export function bceWithLogits(logits: Tensor, targets: Tensor, reduction: Reduction = 'mean', weight?: Tensor): Tensor {
  expectArgs('bceWithLogits', { logits, targets }, Tensor);
  expectArgs('bceWithLogits', { reduction }, 'string');
  expectSameShape('bceWithLogits', logits, targets, ['logits', 'targets']);
  const zero = logits.mul(0);
  const elementwise = logits.maximum(zero).sub(logits.mul(targets)).add(logits.abs().neg().exp().add(1).log());
  if (!weight) return reduce(elementwise, reduction);
  expectSameShape('bceWithLogits', logits, weight, ['logits', 'weight']);
  const weighted = elementwise.mul(weight);
  if (reduction === 'mean') return weighted.sum().div(weight.sum()); // all-zero weights give NaN, as in torch
  return reduce(weighted, reduction);
}
