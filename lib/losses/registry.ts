// Named losses, and the one signature every loss has, built-in or written by a user:
//
//   (inputs, context) => scalar Tensor
//
// `inputs` holds the tensors the pipeline stage produced (e.g. { logits, labels } or
// { student, teacher }); `context` says where training is (step, epoch), so a loss can follow
// its own schedule. A user-defined loss built from ops gets its gradient from autograd: no
// native code, and any pipeline takes it through its `loss` option in place of a name.
import type { Tensor } from '../tensor.js';
import { bceWithLogits, cosineDistance, mse, normalizedMse } from './functional.js';
import { expectArgs, expectFields } from '../guard.js';

export type LossInputs = Record<string, Tensor | undefined>;

export interface LossContext {
  /** Optimiser steps taken before this one. */
  step: number;
  epoch: number;
}

export type LossFn = (inputs: LossInputs, context: LossContext) => Tensor;
/** Makes a loss from its options (e.g. a temperature). */
export type LossFactory = (options?: Record<string, unknown>) => LossFn;
/** What a pipeline's `loss` option accepts. */
export type LossSpec = string | LossFn | { name: string; options?: Record<string, unknown> };

const registry = new Map<string, { factory: LossFactory; description: string }>();

/** Adds a named loss; names are unique. */
export function registerLoss(name: string, factory: LossFactory, description = ''): void {
  expectArgs('registerLoss', { name, description }, 'string');
  expectArgs('registerLoss', { factory }, 'function');
  if (!/^[a-z][\w-]*$/.test(name))
    throw new Error(`registerLoss: '${name}' is not a valid loss name (lower-case, digits, - and _)`);
  if (registry.has(name)) throw new Error(`registerLoss: a loss named '${name}' is already registered`);
  registry.set(name, { factory, description });
}

/** The registered names with their descriptions. */
export function lossNames(): { name: string; description: string }[] {
  return [...registry.entries()].map(([name, { description }]) => ({ name, description }));
}

/** Resolves a name, a { name, options } object or a function to a loss function. */
export function resolveLoss(spec: LossSpec): LossFn {
  if (typeof spec === 'function') return spec;
  if (typeof spec !== 'string') expectFields('resolveLoss', 'spec', spec, { name: 'string' });
  const { name, options } = typeof spec === 'string' ? { name: spec, options: undefined } : spec;
  const entry = registry.get(name);
  if (!entry) throw new Error(`loss: unknown loss '${name}'; registered: ${[...registry.keys()].join(', ')}`);
  return entry.factory(options);
}

/** The named input a loss needs, or an Error that says which loss wanted it and what it got. */
export function requireInput(inputs: LossInputs, name: string, loss: string): Tensor {
  expectArgs('requireInput', { inputs }, 'object');
  expectArgs('requireInput', { name, loss }, 'string');
  const t = inputs[name];
  if (!t)
    throw new Error(`loss '${loss}': needs the input '${name}'; got ${Object.keys(inputs).join(', ') || 'nothing'}`);
  return t;
}

registerLoss(
  'mse',
  () => (inputs) => mse(requireInput(inputs, 'input', 'mse'), requireInput(inputs, 'target', 'mse')),
  'mean squared error of input against target',
);
registerLoss(
  'cosine',
  () => (inputs) => cosineDistance(requireInput(inputs, 'input', 'cosine'), requireInput(inputs, 'target', 'cosine')),
  '1 − cosine similarity of input and target rows',
);
registerLoss(
  'normalized-mse',
  () => (inputs) =>
    normalizedMse(requireInput(inputs, 'input', 'normalized-mse'), requireInput(inputs, 'target', 'normalized-mse')),
  'MSE after L2-normalising input and target rows',
);
registerLoss(
  'bce',
  () => (inputs) =>
    bceWithLogits(requireInput(inputs, 'logits', 'bce'), requireInput(inputs, 'targets', 'bce'), 'mean', inputs.weight),
  'binary cross-entropy on logits against 0/1 targets, optionally weighted',
);
registerLoss(
  'distill',
  (options = {}) => {
    const kind = String(options.kind ?? 'mse');
    const fns: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
      mse,
      cosine: cosineDistance,
      'normalized-mse': normalizedMse,
    };
    const fn = fns[kind];
    if (!fn) throw new Error(`loss 'distill': 'kind' must be one of ${Object.keys(fns).join(', ')}, got '${kind}'`);
    return (inputs) => fn(requireInput(inputs, 'student', 'distill'), requireInput(inputs, 'teacher', 'distill'));
  },
  "student against teacher representations; options.kind: 'mse' | 'cosine' | 'normalized-mse'",
);
