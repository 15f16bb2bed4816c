// Tape-based reverse-mode autodiff. An op that may need gradients calls record() with its inputs,
// outputs, the tensors its backward needs and a backward function; the graph is the set of
// GradNodes reachable from a tensor. backward() walks it in reverse topological order, frees
// each node's saved tensors as soon as the node is done, and accumulates into leaf .grad.
//
// Backward functions must not capture tensors in their closures, only shapes and numbers: the
// tensors they need go through `saved`, which is what lets memory be released deterministically.
//
// This module knows tensors only through GradTensor, which Tensor implements, so that tensor.ts
// imports autograd.ts and not the other way round (test/imports.test.ts keeps it so).
import { keep, tidy, type Trackable } from './scope.js';

/** What autograd needs of a tensor; Tensor implements it. */
export interface GradTensor extends Trackable {
  readonly shape: readonly number[];
  /** Set by record() on the outputs of a recorded op; read to decide whether to record. */
  requiresGrad: boolean;
  /** The gradient accumulated into a leaf by backward(). */
  grad: GradTensor | null;
  readonly gradNode: GradNode | null;
  /** Which of its node's outputs this tensor is. */
  readonly gradOutputIndex: number;
  /** A new handle on the same storage. */
  share(): GradTensor;
  clone(): GradTensor;
  addInPlace(other: GradTensor): unknown;
  attachGradNode(node: GradNode, outputIndex: number): void;
}

export type BackwardFn<T extends GradTensor = GradTensor> = (gradOutputs: (T | null)[], saved: T[]) => (T | null)[];

export class GradNode {
  released = false;
  constructor(
    readonly name: string,
    /** One slot per op input; null where the input needs no gradient. */
    readonly inputs: (GradTensor | null)[],
    public saved: GradTensor[],
    readonly backward: BackwardFn,
    readonly numOutputs: number,
    /** The backward returns new tensors that share no storage with its gradient outputs. */
    readonly freshGradients = false,
  ) {}

  release(): void {
    for (const tensor of this.saved) tensor.dispose();
    this.saved = [];
    this.released = true;
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Turns recording on or off; returns the previous setting. For async code, where noGrad() cannot scope. */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}

/** Runs `fn` with recording off: no graph is built and nothing is saved for backward. */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new Error(`noGrad: 'fn' must be a function, got ${typeof fn}`);
  const previous = setGradEnabled(false);
  try {
    return fn();
  } finally {
    setGradEnabled(previous);
  }
}

export function needsGrad(inputs: readonly (GradTensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t?.requiresGrad === true);
}

export interface RecordOptions {
  /**
   * The backward writes every gradient it returns into a new buffer (no pass-through, no view of
   * a gradient output), so backward() can lend it the caller's gradient instead of a copy.
   */
  freshGradients?: boolean;
}

/**
 * Records an op for backward. Does nothing (and saves nothing) unless recording is on and some
 * input requires a gradient. `saved` tensors are shared, not copied: the op's inputs and outputs
 * may be disposed by the caller without breaking backward.
 */
export function record<T extends GradTensor>(
  name: string,
  inputs: readonly (T | null | undefined)[],
  outputs: readonly T[],
  backward: BackwardFn<T>,
  saved: readonly T[] = [],
  options: RecordOptions = {},
): void {
  if (!needsGrad(inputs)) return;
  const node = new GradNode(
    name,
    inputs.map((t) => (t?.requiresGrad ? t : null)),
    saved.map((t) => t.share()),
    // The node hands the backward only tensors of the kind T its op was given: its saved tensors
    // (shares of T), and gradients that backward functions of T-ops returned.
    backward as unknown as BackwardFn,
    outputs.length,
    options.freshGradients ?? false,
  );
  outputs.forEach((output, index) => output.attachGradNode(node, index));
}

function topologicalOrder(root: GradNode): GradNode[] {
  const order: GradNode[] = [];
  const visited = new Set<GradNode>();
  const stack: [GradNode, boolean][] = [[root, false]];
  while (stack.length > 0) {
    const [node, expanded] = stack.pop()!;
    if (expanded) {
      order.push(node);
      continue;
    }
    if (visited.has(node)) continue;
    visited.add(node);
    stack.push([node, true]);
    for (const input of node.inputs) {
      const next = input?.gradNode;
      if (next && !visited.has(next)) stack.push([next, false]);
    }
  }
  return order.reverse(); // consumers before producers
}

function accumulate(existing: GradTensor | null, grad: GradTensor): GradTensor {
  if (existing === null) return grad;
  existing.addInPlace(grad);
  grad.dispose();
  return existing;
}

function checkGradShape(node: GradNode, input: GradTensor, grad: GradTensor): void {
  const same = grad.shape.length === input.shape.length && grad.shape.every((d, i) => d === input.shape[i]);
  if (!same) {
    throw new Error(
      `backward of ${node.name}: produced a gradient of shape [${grad.shape.join(', ')}] for an input of shape [${input.shape.join(', ')}]`,
    );
  }
}

export interface BackwardOptions {
  /** Keep the graph's saved tensors so backward() can run through it again. */
  retainGraph?: boolean;
}

export function runBackward(root: GradTensor, gradient: GradTensor, options: BackwardOptions = {}): void {
  const previous = setGradEnabled(false);
  try {
    const rootNode = root.gradNode;
    if (!rootNode) {
      root.grad = keep(accumulate(root.grad, gradient.clone()));
      return;
    }
    const pending = new Map<GradNode, (GradTensor | null)[]>();
    const rootGrads: (GradTensor | null)[] = new Array<GradTensor | null>(rootNode.numOutputs).fill(null);
    // Gradients are accumulated in place, and the caller's tensor must not change: it is copied,
    // unless the root's backward only reads it (freshGradients; nothing accumulates into the
    // root's slots, which run first), so such an op pays no clone.
    const lent = rootNode.freshGradients ? gradient : null;
    rootGrads[root.gradOutputIndex] = lent ?? gradient.clone();
    pending.set(rootNode, rootGrads);

    for (const node of topologicalOrder(rootNode)) {
      const gradOutputs = pending.get(node);
      pending.delete(node);
      if (!gradOutputs || gradOutputs.every((g) => g === null)) continue;
      if (node.released) {
        for (const g of gradOutputs) g?.dispose();
        throw new Error(
          `backward: the graph through ${node.name} was freed by an earlier backward(); ` +
            'pass { retainGraph: true } to the first backward() to run it twice',
        );
      }
      // Intermediates a backward creates are freed here; only the gradients it returns survive.
      const gradInputs = tidy(() => node.backward(gradOutputs, node.saved));
      // A backward may hand the same tensor to several inputs (add returns g twice), or pass an
      // output gradient straight through. Gradients are accumulated in place, so every consumer
      // gets storage of its own.
      const handedOut = new Set<GradTensor>();
      const owned = gradInputs.map((g) => {
        if (g === null) return null;
        if (handedOut.has(g) || g === lent) return g.clone();
        handedOut.add(g);
        return g;
      });
      for (const g of gradOutputs) if (g !== null && g !== lent && !handedOut.has(g)) g.dispose();
      node.inputs.forEach((input, i) => {
        const grad = owned[i] ?? null;
        if (input === null || grad === null) {
          grad?.dispose();
          return;
        }
        checkGradShape(node, input, grad);
        const producer = input.gradNode;
        if (producer) {
          let slots = pending.get(producer);
          if (!slots) {
            slots = new Array<GradTensor | null>(producer.numOutputs).fill(null);
            pending.set(producer, slots);
          }
          slots[input.gradOutputIndex] = accumulate(slots[input.gradOutputIndex] ?? null, grad);
        } else {
          input.grad = keep(accumulate(input.grad, grad));
        }
      });
      if (!options.retainGraph) node.release();
    }
  } finally {
    setGradEnabled(previous);
  }
}
