// Layout ops with autograd: permute/transpose, narrow/split, concat. Each makes a new contiguous
// tensor with one strided copy (tensors in llmrec are always contiguous).
import { record } from '../autograd.js';
import { native } from '../binding.js';
import { kindOf, normalizeAxis, Tensor } from '../tensor.js';
import { expectArgs, expectArrayOf } from '../guard.js';

declare module '../binding.js' {
  interface NativeAddon {
    permute(x: NativeTensor, dims: number[]): NativeTensor;
    narrow(x: NativeTensor, axis: number, start: number, length: number): NativeTensor;
    concat(tensors: NativeTensor[], axis: number): NativeTensor;
    narrowBackward(grad: NativeTensor, shape: number[], axis: number, start: number): NativeTensor;
  }
}

/** The axes of x reordered: out.shape[i] = x.shape[dims[i]] (torch.permute). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  expectArgs('permute', { x }, Tensor);
  expectArgs('permute', { dims }, 'array');
  const out = new Tensor(native.permute(x.native, [...dims]));
  const resolved = dims.map((d) => normalizeAxis(d, x.ndim, 'permute'));
  const inverse = new Array<number>(resolved.length);
  resolved.forEach((axis, i) => (inverse[axis] = i));
  record('permute', [x], [out], ([g]) => [permute(g!, inverse)]);
  return out;
}

/** Swaps two axes. */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  expectArgs('transpose', { x }, Tensor);
  expectArgs('transpose', { a, b }, 'integer');
  const dims = x.shape.map((_, i) => i);
  const [i, j] = [normalizeAxis(a, x.ndim, 'transpose'), normalizeAxis(b, x.ndim, 'transpose')];
  [dims[i], dims[j]] = [dims[j]!, dims[i]!];
  return permute(x, dims);
}

/** Elements [start, start + length) along `axis`, as a new tensor (torch.narrow, then contiguous). */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  expectArgs('narrow', { x }, Tensor);
  expectArgs('narrow', { axis, start, length }, 'integer');
  const out = new Tensor(native.narrow(x.native, axis, start, length));
  const shape = [...x.shape];
  record('narrow', [x], [out], ([g]) => [new Tensor(native.narrowBackward(g!.native, shape, axis, start))]);
  return out;
}

/** Splits along `axis` into pieces of the given sizes (or equal pieces of that size). */
export function split(x: Tensor, sizes: number | readonly number[], axis = -1): Tensor[] {
  if (!(x instanceof Tensor)) throw new Error(`split: 'x' must be a Tensor, got ${kindOf(x)}`);
  const a = normalizeAxis(axis, x.ndim, 'split');
  const extent = x.shape[a]!;
  if (typeof sizes === 'number' && !(Number.isInteger(sizes) && sizes > 0))
    throw new Error(`split: a chunk size must be a positive integer, got ${sizes}`);
  if (typeof sizes !== 'number' && !Array.isArray(sizes))
    throw new Error(`split: 'sizes' must be a chunk size or an array of sizes, got ${kindOf(sizes)}`);
  const list =
    typeof sizes === 'number'
      ? Array.from({ length: Math.ceil(extent / sizes) }, (_, i) => Math.min(sizes, extent - i * sizes))
      : [...sizes];
  const total = list.reduce((s, v) => s + v, 0);
  if (total !== extent)
    throw new Error(`split: sizes [${list.join(', ')}] add up to ${total}, not the extent ${extent} of axis ${a}`);
  let start = 0;
  return list.map((size) => {
    const piece = narrow(x, a, start, size);
    start += size;
    return piece;
  });
}

/** Joins tensors along an existing axis (torch.cat). */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  expectArrayOf('concat', { tensors }, Tensor);
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const out = new Tensor(
    native.concat(
      tensors.map((t) => t.native),
      axis,
    ),
  );
  const a = normalizeAxis(axis, tensors[0]!.ndim, 'concat');
  const extents = tensors.map((t) => t.shape[a]!);
  record('concat', [...tensors], [out], ([g]) => {
    let start = 0;
    return extents.map((extent) => {
      const piece = new Tensor(native.narrow(g!.native, a, start, extent));
      start += extent;
      return piece;
    });
  });
  return out;
}

/** Joins tensors along a new axis (torch.stack). */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  expectArrayOf('stack', { tensors }, Tensor);
  if (tensors.length === 0) throw new Error('stack: needs at least one tensor');
  const a = axis < 0 ? axis + tensors[0]!.ndim + 1 : axis;
  return concat(
    tensors.map((t) => t.unsqueeze(a)),
    a,
  );
}
