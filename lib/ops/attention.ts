// Fused scaled-dot-product attention and rotary position embeddings, each one autograd node.
// The kernels live in native/{kernels,cpu,ops,addon}/attention.* and cuda/attention.cu.
import { record } from '../autograd.js';
import { native, type NativeTensor } from '../binding.js';
import { generator, tensor, Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

declare module '../binding.js' {
  interface NativeAddon {
    /** Returns [out, lse]. */
    attentionForward(
      q: NativeTensor,
      k: NativeTensor,
      v: NativeTensor,
      options: AttentionNativeOptions,
    ): [NativeTensor, NativeTensor];
    /** Returns [dq, dk, dv] for the forward call with the same options. */
    attentionBackward(
      q: NativeTensor,
      k: NativeTensor,
      v: NativeTensor,
      out: NativeTensor,
      lse: NativeTensor,
      gradOut: NativeTensor,
      options: AttentionNativeOptions,
    ): [NativeTensor, NativeTensor, NativeTensor];
    rope(x: NativeTensor, positions: NativeTensor, theta: number, inverse: boolean): NativeTensor;
  }
}

/**
 * Key padding as per-batch valid lengths: with side 'right' the first lengths[b] keys of batch
 * row b are real; with side 'left' the last lengths[b] are. Padded keys get no weight.
 */
export interface KeyPadding {
  lengths: Tensor | readonly number[] | Int32Array;
  side: 'left' | 'right';
}

export interface AttentionDropout {
  /** Probability of dropping each attention probability; kept ones are scaled by 1 / (1 - p). */
  p: number;
  /** Philox seed and counter offset; by default the global generator's (see manualSeed). */
  seed?: number | bigint;
  offset?: number | bigint;
}

export interface AttentionOptions {
  /** Query i sees keys j <= i + (Lk - Lq). */
  causal?: boolean;
  keyPadding?: KeyPadding;
  dropout?: AttentionDropout;
  /** Multiplies q·k; default 1 / sqrt(D). */
  scale?: number;
}

/**
 * The options object both native attention calls take, read by name: the one declaration of
 * each option on this side. Its C++ twin is kernels::AttentionOptions (native/kernels/attention.h),
 * whose fields() the addon reads and which the kernel parameters carry to both twins. A missing,
 * mistyped or unknown field is an Error that names it.
 */
export interface AttentionNativeOptions {
  causal: boolean;
  /** i32 [B]: per batch row, the number of real keys. */
  keyLengths: NativeTensor | null;
  leftPadding: boolean;
  /** null: 1 / sqrt(D). */
  scale: number | null;
  dropout: number;
  seed: bigint;
  offset: bigint;
}

interface NativeAttentionArgs {
  /** Everything but keyLengths, whose tensor the forward and the backward each pass. */
  options: Omit<AttentionNativeOptions, 'keyLengths'>;
  lengths: Tensor | null;
}

function toBigInt(value: number | bigint, name: string): bigint {
  if (typeof value === 'bigint') return value;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`scaledDotProductAttention: dropout.${name} must be a non-negative integer, got ${value}`);
  return BigInt(value);
}

function resolveArgs(q: Tensor, k: Tensor, options: AttentionOptions): NativeAttentionArgs {
  const padding = options.keyPadding;
  let lengths: Tensor | null = null;
  if (padding !== undefined) {
    if (padding.side !== 'left' && padding.side !== 'right')
      throw new Error(
        `scaledDotProductAttention: keyPadding.side must be 'left' or 'right', got '${String(padding.side)}'`,
      );
    if (!(padding.lengths instanceof Tensor)) {
      // Lengths in a tensor are checked by the kernel (they may still be on their way to the device).
      const keys = k.shape[2] ?? 0;
      const bad = Array.from(padding.lengths).findIndex((n) => !Number.isInteger(n) || n < 0 || n > keys);
      if (bad >= 0)
        throw new Error(
          `scaledDotProductAttention: keyPadding.lengths[${bad}] = ${padding.lengths[bad]} must be an integer in [0, ${keys}] (the key length)`,
        );
    }
    lengths =
      padding.lengths instanceof Tensor
        ? padding.lengths.share()
        : tensor(Int32Array.from(padding.lengths), { dtype: 'i32', device: q.device });
  }
  const dropout = options.dropout?.p ?? 0;
  let seed = 0n;
  let offset = 0n;
  if (dropout > 0) {
    const d = options.dropout!;
    if (d.seed !== undefined) {
      seed = toBigInt(d.seed, 'seed');
      offset = d.offset === undefined ? 0n : toBigInt(d.offset, 'offset');
    } else {
      // One Philox counter covers four probabilities.
      const probabilities = BigInt(q.shape[0]! * q.shape[1]! * q.shape[2]!) * BigInt(k.shape[2] ?? 0);
      seed = generator.seed;
      offset = generator.next((probabilities + 3n) / 4n);
    }
  }
  return {
    options: {
      causal: options.causal ?? false,
      leftPadding: padding?.side === 'left',
      scale: options.scale ?? null,
      dropout,
      seed,
      offset,
    },
    lengths,
  };
}

/**
 * softmax(q kᵀ · scale + mask) v, fused: the Lq×Lk scores never sit in memory.
 *
 * q is [B, Hq, Lq, D]; k and v are [B, Hkv, Lk, D] with Hq a multiple of Hkv (grouped-query
 * attention: query head h reads kv head h / (Hq / Hkv)). Inputs are f32 or bf16 (computed in
 * f32). A query that sees no key (all masked) outputs zeros and gets zero gradients.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  expectArgs('scaledDotProductAttention', { q, k, v }, Tensor);
  expectArgs('scaledDotProductAttention', { options }, 'options');
  const a = resolveArgs(q, k, options);
  let outHandle: NativeTensor;
  let lseHandle: NativeTensor;
  try {
    [outHandle, lseHandle] = native.attentionForward(q.native, k.native, v.native, {
      ...a.options,
      keyLengths: a.lengths?.native ?? null,
    });
  } catch (error) {
    a.lengths?.dispose();
    throw error;
  }
  const out = new Tensor(outHandle);
  const lse = new Tensor(lseHandle);
  const nativeOptions = a.options;
  const hasLengths = a.lengths !== null;
  record(
    'scaledDotProductAttention',
    [q, k, v],
    [out],
    ([g], saved) => {
      if (!g) return [null, null, null];
      const [sq, sk, sv, so, slse, slengths] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor?];
      const grads = native.attentionBackward(sq.native, sk.native, sv.native, so.native, slse.native, g.native, {
        ...nativeOptions,
        keyLengths: hasLengths ? slengths!.native : null,
      });
      return grads.map((h) => new Tensor(h));
    },
    [q, k, v, out, lse, ...(a.lengths ? [a.lengths] : [])],
  );
  lse.dispose();
  a.lengths?.dispose();
  return out;
}

/**
 * Rotary position embedding in the rotate-half convention of HF Llama and Qwen2: dims k and
 * k + D/2 rotate by position · theta^(-2k/D). x is [B, H, L, D] (D even); positions are
 * integers, [L] shared by the batch or [B, L].
 */
export function rope(x: Tensor, positions: Tensor | readonly number[] | Int32Array, theta = 10000): Tensor {
  expectArgs('rope', { x }, Tensor);
  if (!(positions instanceof Tensor)) expectArgs('rope', { positions }, 'iterable');
  expectArgs('rope', { theta }, 'number');
  const pos =
    positions instanceof Tensor
      ? positions.share()
      : tensor(Int32Array.from(positions), { dtype: 'i32', device: x.device });
  let out: Tensor;
  try {
    out = new Tensor(native.rope(x.native, pos.native, theta, false));
  } catch (error) {
    pos.dispose();
    throw error;
  }
  record(
    'rope',
    [x],
    [out],
    ([g], [savedPositions]) => [g ? new Tensor(native.rope(g.native, savedPositions!.native, theta, true)) : null],
    [pos],
  );
  pos.dispose();
  return out;
}
