// Deterministic memory management: tidy() scopes and keep(). Tensors register here when they are
// created; a scope disposes, when it ends, every tensor created inside it that its result does
// not reach. Saved tensors that autograd needs for a returned result's backward() are reached
// through the result's graph, so they survive too.

/** What a scope needs of a tensor; Tensor implements it. */
export interface Trackable {
  dispose(): void;
  /** Tensors this one keeps alive for backward(): the saved tensors of its graph. */
  retainedByGraph(): Iterable<Trackable>;
}

const scopes: Set<Trackable>[] = [];

export function track(tensor: Trackable): void {
  scopes[scopes.length - 1]?.add(tensor);
}

/** Removes the tensor from every open scope: it lives until disposed explicitly. */
export function keep<T extends Trackable>(tensor: T): T {
  for (const scope of scopes) scope.delete(tensor);
  return tensor;
}

function collectReachable(value: unknown, out: Set<Trackable>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTrackable(value)) {
    const stack: Trackable[] = [value];
    while (stack.length > 0) {
      const tensor = stack.pop()!;
      if (out.has(tensor)) continue;
      out.add(tensor);
      for (const saved of tensor.retainedByGraph()) stack.push(saved);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collectReachable(item, out, seen);
  } else if (value instanceof Map) {
    for (const item of value.values()) collectReachable(item, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collectReachable(item, out, seen);
  }
}

function isTrackable(value: object): value is Trackable {
  return (
    typeof (value as Trackable).dispose === 'function' && typeof (value as Trackable).retainedByGraph === 'function'
  );
}

/**
 * Runs `fn` and disposes every tensor it created that its result does not contain (in arrays,
 * plain objects or Maps, to any depth). The kept tensors move to the enclosing scope, if any.
 * `fn` must be synchronous: await inside it would let unrelated work join the scope.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new Error(`tidy: 'fn' must be a function, got ${typeof fn}`);
  const scope = new Set<Trackable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const tensor of scope) tensor.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const tensor of scope) tensor.dispose();
    throw new Error(
      'tidy: the function returned a Promise; tidy() takes synchronous functions only. Dispose tensors explicitly in async code.',
    );
  }
  const reachable = new Set<Trackable>();
  collectReachable(result, reachable, new Set());
  const parent = scopes[scopes.length - 1];
  for (const tensor of scope) {
    if (!reachable.has(tensor)) tensor.dispose();
    else parent?.add(tensor);
  }
  return result;
}
