// The Tensor: a handle to native storage plus the autograd fields. Elementwise arithmetic and
// reductions live here as methods; other kernel families add functions in lib/ops/.
import { record, runBackward, type BackwardOptions, type GradNode, type GradTensor } from './autograd.js';
import { native, type DType, type HostArray, type NativeTensor, type UnaryOpName } from './binding.js';
import { expectArgs } from './guard.js';
import { keep, track, type Trackable } from './scope.js';

export type { DType } from './binding.js';
/** 'cpu', 'cuda' (device 0) or 'cuda:N'. */
export type DeviceSpec = string;
export type NestedNumbers = number | NestedNumbers[];
export type ValuesLike = NestedNumbers | Float32Array | Float64Array | Int32Array | Uint16Array;

export interface TensorOptions {
  dtype?: DType;
  device?: DeviceSpec;
  requiresGrad?: boolean;
}

export interface RandomOptions extends TensorOptions {
  /** Seeds a fresh Philox stream for this call; without it the global generator advances. */
  seed?: number | bigint;
  /** Counter offset into the seeded stream (default 0). */
  offset?: number | bigint;
}

let defaultDevice: DeviceSpec = 'cpu';

/** Device used when an option omits `device` (initially 'cpu'). Refuses a device that cannot be used. */
export function setDefaultDevice(device: DeviceSpec): void {
  try {
    native.memory(device); // parses the spec and checks the device exists in this build and machine
  } catch (error) {
    throw new Error(`setDefaultDevice: ${(error as Error).message.replace(/^memory: /, '')}`, { cause: error });
  }
  defaultDevice = device;
}

/** `value` as a Tensor, or an Error naming the op and the argument. */
export function expectTensor(value: unknown, op: string, arg: string): Tensor {
  if (value instanceof Tensor) return value;
  throw new Error(`${op}: '${arg}' must be a Tensor, got ${kindOf(value)}`);
}

export function getDefaultDevice(): DeviceSpec {
  return defaultDevice;
}

export class Tensor implements GradTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: DeviceSpec;
  /** When true, backward() accumulates a gradient into `grad` (leaves) or through this tensor. */
  requiresGrad = false;
  grad: Tensor | null = null;
  #handle: NativeTensor;
  #node: GradNode | null = null;
  #outputIndex = 0;

  /** @internal Wraps a native handle; use the factory functions to create tensors. */
  constructor(handle: NativeTensor) {
    if (!(handle instanceof native.NativeTensor))
      throw new Error(
        `new Tensor: 'handle' must be a native tensor handle (create tensors with tensor(), zeros()...), got ${kindOf(handle)}`,
      );
    this.#handle = handle;
    this.shape = Object.freeze(handle.shape);
    this.dtype = handle.dtype;
    this.device = handle.device;
    track(this);
  }

  /** @internal The native handle, for lib/ code that calls the addon. */
  get native(): NativeTensor {
    return this.#handle;
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.#handle.disposed;
  }
  /** The node that produced this tensor in the autograd graph, if recorded. */
  get gradNode(): GradNode | null {
    return this.#node;
  }
  /** @internal */
  get gradOutputIndex(): number {
    return this.#outputIndex;
  }
  /** True for tensors that no recorded op produced (parameters and inputs). */
  get isLeaf(): boolean {
    return this.#node === null;
  }

  /** @internal Called by autograd.record(). */
  attachGradNode(node: GradNode, outputIndex: number): void {
    this.requiresGrad = true;
    this.#node = node;
    this.#outputIndex = outputIndex;
  }

  *retainedByGraph(): Iterable<Trackable> {
    const seen = new Set<GradNode>();
    const stack = this.#node ? [this.#node] : [];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (seen.has(node)) continue;
      seen.add(node);
      yield* node.saved;
      for (const input of node.inputs) if (input?.gradNode) stack.push(input.gradNode);
    }
  }

  /** Releases this handle's reference to the storage now. Idempotent. */
  dispose(): void {
    this.#handle.dispose();
  }

  /** A new handle on the same storage (free); it has no autograd history. */
  share(): Tensor {
    return new Tensor(this.#handle.share());
  }

  /** Copies the elements to the host without blocking the event loop. bf16 reads back as f32. */
  async data(): Promise<Float32Array | Int32Array> {
    const stack = new Error().stack; // native errors arrive on another tick; keep the caller's stack
    try {
      return (await this.#handle.data()) as Float32Array | Int32Array;
    } catch (error) {
      if (error instanceof Error && stack) error.stack = `${error.message}\n${stack.split('\n').slice(1).join('\n')}`;
      throw error;
    }
  }

  /** Copies the elements to the host, blocking until queued work is done. bf16 reads back as f32. */
  dataSync(): Float32Array | Int32Array {
    return this.#handle.dataSync() as Float32Array | Int32Array;
  }

  /** The raw bits of a bf16 tensor as a Uint16Array (other dtypes as with dataSync()). */
  rawDataSync(): HostArray {
    return this.#handle.dataSync(true);
  }

  /** The single element of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new Error(`item: the tensor has shape [${this.shape.join(', ')}]; item() needs exactly one element`);
    return this.dataSync()[0]!;
  }

  /** The elements as nested arrays shaped like the tensor. */
  async array(): Promise<NestedNumbers> {
    return nest(await this.data(), this.shape);
  }

  /** Overwrites the elements, in stream order, from host values of the same length. */
  write(values: Float32Array | Int32Array | Uint16Array): this {
    this.#handle.write(values);
    return this;
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(', ')}] on ${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // --- autograd -------------------------------------------------------------------------------

  /** Sets requiresGrad in place and returns this tensor. */
  requiresGrad_(flag = true): this {
    if (flag && this.dtype === 'i32') throw new Error('requiresGrad_: integer tensors cannot require gradients');
    this.requiresGrad = flag;
    return this;
  }

  /** A tensor on the same storage, cut from the graph. */
  detach(): Tensor {
    return this.share();
  }

  /** Backpropagates from this tensor; a scalar gets an implicit gradient of one. */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    if (!this.requiresGrad) {
      throw new Error(
        'backward: this tensor does not require grad; no input of the ops that made it had requiresGrad set',
      );
    }
    if (gradient === undefined) {
      if (this.size !== 1) {
        throw new Error(
          `backward: a gradient can be implied only for a one-element output; this one has shape [${this.shape.join(', ')}], so pass one`,
        );
      }
      const ones = onesLike(this);
      try {
        runBackward(this, ones, options);
      } finally {
        ones.dispose();
      }
      return;
    }
    if (!sameShape(gradient.shape, this.shape)) {
      throw new Error(
        `backward: the gradient has shape [${gradient.shape.join(', ')}] but the tensor has [${this.shape.join(', ')}]`,
      );
    }
    runBackward(this, gradient, options);
  }

  /** Disposes and clears the accumulated gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  // --- shape and movement ---------------------------------------------------------------------

  /** A view with another shape (one axis may be -1). Costs nothing. */
  reshape(...shape: (number | readonly number[])[]): Tensor {
    const target = inferShape(shape.flat() as number[], this.size, this.shape);
    const out = new Tensor(this.#handle.reshape(target));
    const inputShape = [...this.shape];
    record('reshape', [this], [out], ([g]) => [g!.reshape(inputShape)]);
    return out;
  }

  /** All elements in one axis. */
  flatten(): Tensor {
    return this.reshape(this.size);
  }

  /** Inserts an axis of extent 1 at `axis`. */
  unsqueeze(axis: number): Tensor {
    const shape = [...this.shape];
    shape.splice(normalizeAxis(axis, this.ndim + 1, 'unsqueeze'), 0, 1);
    return this.reshape(shape);
  }

  /** Removes an axis of extent 1. */
  squeeze(axis: number): Tensor {
    const a = normalizeAxis(axis, this.ndim, 'squeeze');
    if (this.shape[a] !== 1) throw new Error(`squeeze: axis ${axis} has extent ${this.shape[a]}, not 1`);
    const shape = [...this.shape];
    shape.splice(a, 1);
    return this.reshape(shape);
  }

  /** A copy on `device`; gradients flow back to this tensor's device. */
  to(device: DeviceSpec): Tensor {
    const out = new Tensor(this.#handle.to(device));
    const from = this.device;
    record('to', [this], [out], ([g]) => [g!.to(from)]);
    return out;
  }

  /** An independent copy on the same device. */
  clone(): Tensor {
    const out = new Tensor(this.#handle.to(this.device));
    record('clone', [this], [out], ([g]) => [g!.clone()]);
    return out;
  }

  /** Converts the elements to another dtype (floats truncate toward zero into i32). */
  cast(dtype: DType): Tensor {
    if (dtype === this.dtype) return this.share();
    const out = new Tensor(native.cast(this.#handle, dtype));
    const from = this.dtype;
    if (from !== 'i32' && dtype !== 'i32') record('cast', [this], [out], ([g]) => [g!.cast(from)]);
    return out;
  }

  /** Broadcasts to `shape` (numpy rules) as a new tensor; the gradient sums back. */
  expand(shape: readonly number[]): Tensor {
    if (!Array.isArray(shape)) throw new Error(`expand: 'shape' must be an array of sizes, got ${kindOf(shape)}`);
    const out = new Tensor(native.expand(this.#handle, [...shape]));
    const inputShape = [...this.shape];
    record('expand', [this], [out], ([g]) => [sumToShape(g!, inputShape)]);
    return out;
  }

  // --- elementwise ----------------------------------------------------------------------------

  add(other: Tensor | number): Tensor {
    if (typeof other === 'number') return this.affine(1, other);
    const out = new Tensor(native.binary('add', this.#handle, operand('add', other).#handle));
    const [sa, sb] = [[...this.shape], [...other.shape]];
    record('add', [this, other], [out], ([g]) => [sumToShape(g!, sa), sumToShape(g!, sb)]);
    return out;
  }

  sub(other: Tensor | number): Tensor {
    if (typeof other === 'number') return this.affine(1, -other);
    const out = new Tensor(native.binary('sub', this.#handle, operand('sub', other).#handle));
    const [sa, sb] = [[...this.shape], [...other.shape]];
    record('sub', [this, other], [out], ([g]) => [sumToShape(g!, sa), sumToShape(g!.neg(), sb)]);
    return out;
  }

  mul(other: Tensor | number): Tensor {
    if (typeof other === 'number') return this.affine(other, 0);
    const out = new Tensor(native.binary('mul', this.#handle, operand('mul', other).#handle));
    const [sa, sb] = [[...this.shape], [...other.shape]];
    record('mul', [this, other], [out], ([g], [a, b]) => [reduceProduct(g!, b!, sa), reduceProduct(g!, a!, sb)], [
      this,
      other,
    ]);
    return out;
  }

  div(other: Tensor | number): Tensor {
    if (typeof other === 'number') return this.affine(1 / other, 0);
    const out = new Tensor(native.binary('div', this.#handle, operand('div', other).#handle));
    const [sa, sb] = [[...this.shape], [...other.shape]];
    record(
      'div',
      [this, other],
      [out],
      ([g], [b, result]) => {
        const gradA = g!.div(b!);
        // d(a/b)/db = -(a/b)/b
        const gradB = gradA.mul(result!).neg();
        return [sumToShape(gradA, sa), sumToShape(gradB, sb)];
      },
      [other, out],
    );
    return out;
  }

  /** Elementwise maximum with broadcasting (not differentiable). */
  maximum(other: Tensor): Tensor {
    return this.nonDifferentiable(
      'maximum',
      new Tensor(native.binary('maximum', this.#handle, operand('maximum', other, false).#handle)),
      other,
    );
  }

  /** Elementwise minimum with broadcasting (not differentiable). */
  minimum(other: Tensor): Tensor {
    return this.nonDifferentiable(
      'minimum',
      new Tensor(native.binary('minimum', this.#handle, operand('minimum', other, false).#handle)),
      other,
    );
  }

  /** alpha * x + beta, in one pass. */
  affine(alpha: number, beta: number): Tensor {
    const out = this.unary('affine', alpha, beta);
    record('affine', [this], [out], ([g]) => [g!.affine(alpha, 0)]);
    return out;
  }

  /** alpha * x. */
  scale(alpha: number): Tensor {
    return this.affine(alpha, 0);
  }

  neg(): Tensor {
    const out = this.unary('neg');
    record('neg', [this], [out], ([g]) => [g!.neg()]);
    return out;
  }

  exp(): Tensor {
    const out = this.unary('exp');
    record('exp', [this], [out], ([g], [y]) => [g!.mul(y!)], [out]);
    return out;
  }

  log(): Tensor {
    const out = this.unary('log');
    record('log', [this], [out], ([g], [x]) => [g!.div(x!)], [this]);
    return out;
  }

  sqrt(): Tensor {
    const out = this.unary('sqrt');
    record('sqrt', [this], [out], ([g], [y]) => [g!.div(y!).scale(0.5)], [out]);
    return out;
  }

  rsqrt(): Tensor {
    const out = this.unary('rsqrt');
    // d(x^-1/2)/dx = -1/2 x^-3/2 = -1/2 y^3
    record('rsqrt', [this], [out], ([g], [y]) => [g!.mul(y!.square().mul(y!)).scale(-0.5)], [out]);
    return out;
  }

  abs(): Tensor {
    const out = this.unary('abs');
    record('abs', [this], [out], ([g], [x]) => [g!.mul(x!.sign())], [this]);
    return out;
  }

  square(): Tensor {
    const out = this.unary('square');
    record('square', [this], [out], ([g], [x]) => [g!.mul(x!).scale(2)], [this]);
    return out;
  }

  reciprocal(): Tensor {
    const out = this.unary('reciprocal');
    record('reciprocal', [this], [out], ([g], [y]) => [g!.mul(y!.square()).neg()], [out]);
    return out;
  }

  tanh(): Tensor {
    const out = this.unary('tanh');
    record('tanh', [this], [out], ([g], [y]) => [g!.mul(y!.square().affine(-1, 1))], [out]);
    return out;
  }

  sigmoid(): Tensor {
    const out = this.unary('sigmoid');
    record('sigmoid', [this], [out], ([g], [y]) => [g!.mul(y!).mul(y!.affine(-1, 1))], [out]);
    return out;
  }

  /** -1, 0 or 1 per element (gradient zero). */
  sign(): Tensor {
    return this.nonDifferentiable('sign', this.unary('sign'));
  }

  /** In place: this += other (broadcast to this shape). Not recorded by autograd. */
  addInPlace(other: Tensor): this {
    native.binary('add', this.#handle, expectTensor(other, 'addInPlace', 'other').#handle, this.#handle);
    return this;
  }

  /** In place: every element becomes `value`. Not recorded by autograd. */
  fill(value: number): this {
    native.fill_(this.#handle, value);
    return this;
  }

  // --- reductions -----------------------------------------------------------------------------

  /** Sum over `axis`, or over all elements when no axis is given. */
  sum(axis?: number, keepDims = false): Tensor {
    const out = new Tensor(native.reduce('sum', this.#handle, axis ?? null, keepDims));
    const inputShape = [...this.shape];
    const keptShape = reducedShape(inputShape, axis);
    record('sum', [this], [out], ([g]) => [g!.reshape(keptShape).expand(inputShape)]);
    return out;
  }

  /** Mean over `axis`, or over all elements when no axis is given. */
  mean(axis?: number, keepDims = false): Tensor {
    const out = new Tensor(native.reduce('mean', this.#handle, axis ?? null, keepDims));
    const inputShape = [...this.shape];
    const keptShape = reducedShape(inputShape, axis);
    const count = axis === undefined ? this.size : this.shape[normalizeAxis(axis, this.ndim, 'mean')]!;
    record('mean', [this], [out], ([g]) => [
      g!
        .reshape(keptShape)
        .scale(1 / count)
        .expand(inputShape),
    ]);
    return out;
  }

  /** Maximum over `axis` or all elements (not differentiable). */
  max(axis?: number, keepDims = false): Tensor {
    return this.nonDifferentiable('max', new Tensor(native.reduce('max', this.#handle, axis ?? null, keepDims)));
  }

  /** Minimum over `axis` or all elements (not differentiable). */
  min(axis?: number, keepDims = false): Tensor {
    return this.nonDifferentiable('min', new Tensor(native.reduce('min', this.#handle, axis ?? null, keepDims)));
  }

  private unary(op: UnaryOpName, alpha = 1, beta = 0): Tensor {
    return new Tensor(native.unary(op, this.#handle, alpha, beta));
  }

  private nonDifferentiable(name: string, out: Tensor, ...others: Tensor[]): Tensor {
    record(name, [this, ...others], [out], () => {
      throw new Error(`backward: ${name} is not differentiable; detach() its inputs or compute it under noGrad()`);
    });
    return out;
  }
}

// --- helpers shared by backward functions ---------------------------------------------------

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function normalizeAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis)) throw new Error(`${op}: axis must be an integer, got ${axis}`);
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new Error(`${op}: axis ${axis} is out of range for ${ndim} axes`);
  return a;
}

function reducedShape(shape: readonly number[], axis: number | undefined): number[] {
  if (axis === undefined) return shape.map(() => 1);
  const kept = [...shape];
  kept[normalizeAxis(axis, shape.length, 'reduce')] = 1;
  return kept;
}

function inferShape(requested: number[], size: number, from: readonly number[]): number[] {
  const unknown = requested.indexOf(-1);
  if (unknown !== requested.lastIndexOf(-1)) throw new Error('reshape: only one axis can be -1');
  if (unknown >= 0) {
    const known = requested.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
    if (known === 0 || size % known !== 0) {
      throw new Error(`reshape: cannot reshape [${from.join(', ')}] (${size} elements) to [${requested.join(', ')}]`);
    }
    const shape = [...requested];
    shape[unknown] = size / known;
    return shape;
  }
  return requested;
}

/**
 * Sums a broadcast gradient back to `shape`: over leading axes the input lacked and over axes
 * where it had extent 1. Returns `grad` itself when nothing needs summing.
 */
export function sumToShape(grad: Tensor, shape: readonly number[]): Tensor {
  expectArgs('sumToShape', { grad }, Tensor);
  expectArgs('sumToShape', { shape }, 'array');
  if (sameShape(grad.shape, shape)) return grad;
  let current = grad;
  const lead = grad.ndim - shape.length;
  if (lead > 0) {
    const leadSize = grad.shape.slice(0, lead).reduce((a, b) => a * b, 1);
    current = current.reshape([leadSize, ...grad.shape.slice(lead)]).sum(0);
  }
  for (let axis = 0; axis < shape.length; axis++) {
    if (shape[axis] === 1 && current.shape[axis] !== 1) current = current.sum(axis, true);
  }
  return current;
}

function reduceProduct(grad: Tensor, other: Tensor, shape: readonly number[]): Tensor {
  return sumToShape(grad.mul(other), shape);
}

function nest(values: Float32Array | Int32Array, shape: readonly number[]): NestedNumbers {
  if (shape.length === 0) return values[0]!;
  const build = (axis: number, offset: number): NestedNumbers => {
    const extent = shape[axis]!;
    if (axis === shape.length - 1) return Array.from(values.subarray(offset, offset + extent));
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: extent }, (_, i) => build(axis + 1, offset + i * stride));
  };
  return build(0, 0);
}

// --- factories ------------------------------------------------------------------------------

function flattenNested(values: NestedNumbers): { flat: number[]; shape: number[] } {
  const shape: number[] = [];
  let probe: NestedNumbers = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] ?? 0;
  }
  const flat: number[] = [];
  const walk = (value: NestedNumbers, axis: number): void => {
    if (axis === shape.length) {
      if (typeof value !== 'number') throw new Error(`tensor: ragged nested array: expected a number at depth ${axis}`);
      flat.push(value);
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[axis]) {
      throw new Error(`tensor: ragged nested array: every array at depth ${axis} must have length ${shape[axis]}`);
    }
    for (const item of value) walk(item, axis + 1);
  };
  walk(values, 0);
  return { flat, shape };
}

function finish(handle: NativeTensor, options: TensorOptions): Tensor {
  const t = new Tensor(handle);
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

/**
 * A tensor from values: a number, nested arrays or a typed array (flat, with `shape`).
 * The dtype defaults to i32 for an Int32Array and f32 otherwise; a Uint16Array holds raw bf16.
 */
export function tensor(values: ValuesLike, options: TensorOptions & { shape?: readonly number[] } = {}): Tensor {
  let host: Float32Array | Int32Array | Uint16Array;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(values)) {
    dtype = options.dtype ?? (values instanceof Int32Array ? 'i32' : values instanceof Uint16Array ? 'bf16' : 'f32');
    shape = options.shape ? [...options.shape] : [values.length];
    if (values instanceof Uint16Array && dtype !== 'bf16')
      throw new Error('tensor: a Uint16Array holds raw bf16 bits; use dtype bf16');
    if (dtype === 'i32' && !(values instanceof Int32Array)) checkI32(values);
    host =
      values instanceof Uint16Array
        ? values
        : dtype === 'i32'
          ? values instanceof Int32Array
            ? values
            : Int32Array.from(values)
          : values instanceof Float32Array
            ? values
            : Float32Array.from(values);
  } else {
    const { flat, shape: inferred } = flattenNested(values);
    shape = options.shape ? [...options.shape] : inferred;
    dtype = options.dtype ?? 'f32';
    if (dtype === 'i32') checkI32(flat);
    host = dtype === 'i32' ? Int32Array.from(flat) : Float32Array.from(flat);
  }
  return finish(native.fromTypedArray(host, shape, dtype, options.device ?? defaultDevice), options);
}

// Int32Array.from would truncate fractions and wrap large values silently.
function checkI32(values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
      throw new Error(`tensor: i32 values must be integers in [-2^31, 2^31), got ${v} at flat index ${i}`);
  }
}

/** An uninitialised tensor (its contents are whatever the memory held). */
/**
 * A shape argument as the creation functions take it: an array of non-negative integers (checked
 * here too, in the native layer's words, because randn/rand size the generator's draw from it
 * before the addon sees it).
 */
function shapeArg(shape: unknown, op: string): number[] {
  if (!Array.isArray(shape)) throw new Error(`${op}: 'shape' must be an array of sizes, got ${kindOf(shape)}`);
  (shape as unknown[]).forEach((extent, i) => {
    if (typeof extent !== 'number') throw new Error(`${op}: 'shape'[${i}] is not a number`);
    if (!Number.isInteger(extent) || extent < 0)
      throw new Error(`${op}: 'shape'[${i}] = ${extent} is not a non-negative integer`);
    if (extent > 2 ** 53) throw new Error(`${op}: 'shape'[${i}] = ${extent} is too large and would overflow memory`);
  });
  return [...(shape as number[])];
}

/** An options argument: an object or undefined. */
function optionsArg<T extends object>(options: T | undefined, op: string): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new Error(`${op}: 'options' must be an object, got ${kindOf(options)}`);
  return options;
}

export function empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
  shape = shapeArg(shape, 'empty');
  options = optionsArg(options, 'empty');
  return finish(native.empty([...shape], options.dtype ?? 'f32', options.device ?? defaultDevice), options);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  shape = shapeArg(shape, 'full');
  options = optionsArg(options, 'full');
  if (typeof value !== 'number') throw new Error(`full: 'value' must be a number, got ${kindOf(value)}`);
  return finish(native.full([...shape], value, options.dtype ?? 'f32', options.device ?? defaultDevice), options);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  if (!(t instanceof Tensor)) throw new Error(`zerosLike: 't' must be a Tensor, got ${kindOf(t)}`);
  options = optionsArg(options, 'zerosLike');
  return full(t.shape, 0, { dtype: t.dtype, device: t.device, ...options });
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  if (!(t instanceof Tensor)) throw new Error(`onesLike: 't' must be a Tensor, got ${kindOf(t)}`);
  options = optionsArg(options, 'onesLike');
  return full(t.shape, 1, { dtype: t.dtype, device: t.device, ...options });
}

/** What a value is, for messages about an argument of the wrong kind. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Tensor) return 'a Tensor';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  if (typeof value === 'string') return `the string '${value.slice(0, 40)}'`;
  return `${typeof value} ${String(value)}`;
}

/** The other operand of a binary method: a Tensor (numbers are handled before), else an Error naming it. */
function operand(op: string, other: unknown, orNumber = true): Tensor {
  if (!(other instanceof Tensor))
    throw new Error(`${op}: 'other' must be a Tensor${orNumber ? ' or a number' : ''}, got ${kindOf(other)}`);
  return other;
}

/** 0, 1, ..., n-1 (or start..end by step). */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  for (const [name, value] of [
    ['start', start],
    ['end', end ?? 0],
    ['step', step],
  ] as const)
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`arange: '${name}' must be a finite number, got ${String(value)}`);
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  if (step === 0) throw new Error('arange: step must not be 0');
  const count = Math.max(0, Math.ceil((hi - lo) / step));
  const values = Array.from({ length: count }, (_, i) => lo + i * step);
  return tensor(values, {
    dtype: options.dtype ?? (Number.isInteger(lo) && Number.isInteger(step) ? 'i32' : 'f32'),
    ...options,
  });
}

/** The global Philox generator used by rand/randn calls without a seed. */
class Generator {
  seed = 0n;
  offset = 0n;
  manualSeed(seed: number | bigint): void {
    this.seed = checkSeed(seed, 'manualSeed', 'seed');
    this.offset = 0n;
  }
  /** Reserves `counters` Philox counters and returns where they start. */
  next(counters: bigint): bigint {
    const at = this.offset;
    this.offset += counters;
    return at;
  }
}

export const generator = new Generator();

/** Seeds the global generator: later rand/randn calls without a seed repeat exactly. */
export function manualSeed(seed: number | bigint): void {
  generator.manualSeed(seed);
}

function checkSeed(value: number | bigint, op: string, name: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 1n << 64n) throw new Error(`${op}: ${name} must be in [0, 2^64), got ${value}`);
    return value;
  }
  if (typeof value !== 'number' || Number.isNaN(value))
    throw new Error(`${op}: ${name} must be a non-negative integer, got ${String(value)}`);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${op}: ${name} must be a non-negative integer up to 2^53, got ${value}`);
  return BigInt(value);
}

function randomTensor(
  shape: readonly number[],
  distribution: 'uniform' | 'normal',
  a: number,
  b: number,
  options: RandomOptions,
): Tensor {
  const op = distribution === 'uniform' ? 'rand' : 'randn';
  shape = shapeArg(shape, op);
  options = optionsArg(options, op);
  const size = shape.reduce((x, y) => x * y, 1);
  let seed: bigint;
  let offset: bigint;
  if (options.seed !== undefined) {
    seed = checkSeed(options.seed, op, 'seed');
    offset = options.offset === undefined ? 0n : checkSeed(options.offset, op, 'offset');
  } else {
    seed = generator.seed;
    offset = generator.next(BigInt(Math.ceil(size / 4)));
  }
  const handle = native.random(
    [...shape],
    distribution,
    a,
    b,
    seed,
    offset,
    options.dtype ?? 'f32',
    options.device ?? defaultDevice,
  );
  return finish(handle, options);
}

/** Uniform samples in [low, high) (default [0, 1)). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return randomTensor(shape, 'uniform', options.low ?? 0, options.high ?? 1, options);
}

/** Normal samples with the given mean and std (default 0 and 1). */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return randomTensor(shape, 'normal', options.mean ?? 0, options.std ?? 1, options);
}

export { keep };
