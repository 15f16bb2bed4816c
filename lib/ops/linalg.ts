// Matrix products: gemm (every option of the kernel), matmul (torch.matmul for 2-D and 3-D) and
// linear (torch.nn.functional.linear, weight [out, in]), with autograd.
//
// Backward of an activation epilogue needs the value before the activation. The forward asks
// the kernel to write it as a second output, but only when a gradient will be needed: the fused
// epilogue stays one pass over the output, and inference pays nothing for training.
import { record, needsGrad } from '../autograd.js';
import { native, type DType } from '../binding.js';
import { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';
import type { ActivationName } from './activation-name.js';

/** The activations the GEMM epilogue fuses (spelled as ActivationName). */
export type Activation = Extract<ActivationName, 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu'>;

declare module '../binding.js' {
  interface NativeAddon {
    gemm(
      a: NativeTensor,
      b: NativeTensor,
      c: NativeTensor | null,
      bias: NativeTensor | null,
      transA: boolean,
      transB: boolean,
      alpha: number,
      beta: number,
      activation: Activation,
      outDtype: DType | null,
      keepPreActivation: boolean,
    ): [NativeTensor, NativeTensor | null];
    epilogueBackward(activation: Activation, preActivation: NativeTensor, grad: NativeTensor): NativeTensor;
  }
}

export interface GemmOptions {
  /** Use aᵀ: a is stored [k, m] (or [batch, k, m]). */
  transA?: boolean;
  /** Use bᵀ: b is stored [n, k] (or [batch, n, k]). */
  transB?: boolean;
  alpha?: number;
  /** Scales `c`; c is required when beta is not 0. */
  beta?: number;
  /** Added as beta * c; the result's shape and dtype. */
  c?: Tensor;
  /** Per output column, [n]; the result's dtype. */
  bias?: Tensor;
  activation?: Activation;
  /** The result's dtype; defaults to the inputs'. Accumulation is f32 either way. */
  outDtype?: DType;
}

/**
 * act(alpha · op(a) · op(b) + beta · c + bias). a and b are matrices or [batch, rows, cols]
 * stacks; a matrix (or a stack of one) is shared by every problem of the other's batch.
 */
export function gemm(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  expectArgs('gemm', { a, b }, Tensor);
  expectArgs('gemm', { options }, 'options');
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const alpha = options.alpha ?? 1;
  const beta = options.beta ?? 0;
  const activation = options.activation ?? 'none';
  const c = beta !== 0 ? options.c : undefined;
  const bias = options.bias;
  const inputs = [a, b, c ?? null, bias ?? null];
  const keepPre = activation !== 'none' && needsGrad(inputs);
  const [outHandle, preHandle] = native.gemm(
    a.native,
    b.native,
    c?.native ?? null,
    bias?.native ?? null,
    transA,
    transB,
    alpha,
    beta,
    activation,
    options.outDtype ?? null,
    keepPre,
  );
  const out = new Tensor(outHandle);
  const pre = preHandle ? new Tensor(preHandle) : null;
  const shapes = { a: [...a.shape], b: [...b.shape], out: [...out.shape] };
  // Only the gradients some input needs are computed, and only what they read is kept: a frozen
  // weight (LLM-SRec's and A-LLMRec's LLMs) costs no dW GEMM and its input activation is not saved.
  const wantA = a.requiresGrad;
  const wantB = b.requiresGrad;
  const wantBias = bias?.requiresGrad === true;
  const saved = [wantB ? a : b, ...(wantA && wantB ? [b] : []), ...(pre ? [pre] : [])];
  record(
    'gemm',
    inputs,
    [out],
    ([g], s) => {
      const aSaved = wantB ? s[0]! : null;
      const bSaved = wantB ? (wantA ? s[1]! : null) : s[0]!;
      const preSaved = pre ? s[s.length - 1]! : null;
      const gz = preSaved ? new Tensor(native.epilogueBackward(activation, preSaved.native, g!.native)) : g!;
      return [
        wantA ? gradA(gz, bSaved!, transA, transB, alpha, shapes.a) : null,
        wantB ? gradB(gz, aSaved!, transA, transB, alpha, shapes.b) : null,
        beta !== 0 ? gz.scale(beta) : null,
        wantBias ? gz.reshape(-1, shapes.out[shapes.out.length - 1]!).sum(0) : null,
      ];
    },
    saved,
  );
  pre?.dispose();
  return out;
}

/** Sums a batched gradient over the batch when the input was one shared matrix. */
function unbroadcast(grad: Tensor, shape: readonly number[]): Tensor {
  if (grad.ndim === shape.length)
    return shape.length === 3 && shape[0] === 1 && grad.shape[0] !== 1 ? grad.sum(0, true) : grad;
  return grad.sum(0);
}

// d op(A) = alpha · gZ · op(B)ᵀ; for a transposed A, dA is its transpose: alpha · op(B) · gZᵀ.
function gradA(gz: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha: number, shape: number[]): Tensor {
  const g = transA
    ? gemm(b, gz, { transA: transB, transB: true, alpha })
    : gemm(gz, b, { transA: false, transB: !transB, alpha });
  return unbroadcast(g, shape);
}

// d op(B) = alpha · op(A)ᵀ · gZ; for a transposed B: alpha · gZᵀ · op(A).
function gradB(gz: Tensor, a: Tensor, transA: boolean, transB: boolean, alpha: number, shape: number[]): Tensor {
  const g = transB
    ? gemm(gz, a, { transA: true, transB: transA, alpha })
    : gemm(a, gz, { transA: !transA, transB: false, alpha });
  return unbroadcast(g, shape);
}

/**
 * torch.matmul for matrices and stacks: [m,k]·[k,n], [B,m,k]·[B,k,n], and a matrix on either
 * side of a stack (broadcast over the batch).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  expectArgs('matmul', { a, b }, Tensor);
  if (a.ndim < 2 || a.ndim > 3 || b.ndim < 2 || b.ndim > 3) {
    throw new Error(
      `matmul: needs matrices or [batch, rows, cols] stacks, got a [${a.shape.join(', ')}] and b [${b.shape.join(', ')}]`,
    );
  }
  // A stack times a shared matrix is one tall GEMM: fold the batch into the rows.
  if (a.ndim === 3 && b.ndim === 2) {
    const [batch, m] = [a.shape[0]!, a.shape[1]!];
    return gemm(a.reshape(batch * m, a.shape[2]!), b).reshape(batch, m, b.shape[1]!);
  }
  return gemm(a, b);
}

/**
 * torch.nn.functional.linear: x [..., in] · weightᵀ + bias, weight [out, in], then the
 * activation, all in one kernel.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, activation: Activation = 'none'): Tensor {
  expectArgs('linear', { x, weight }, Tensor);
  if (weight.ndim !== 2) throw new Error(`linear: 'weight' must be [out, in], got [${weight.shape.join(', ')}]`);
  const inFeatures = weight.shape[1]!;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inFeatures) {
    throw new Error(
      `linear: the last axis of 'x' [${x.shape.join(', ')}] must equal in_features of 'weight' [${weight.shape.join(', ')}]`,
    );
  }
  const lead = x.shape.slice(0, -1);
  const rows = lead.reduce((p, d) => p * d, 1);
  // The views in between are released here, not left to the garbage collector: outside tidy()
  // a leaked product holds its memory until a GC, and every call then pays for fresh pages.
  const rowsView = x.reshape(rows, inFeatures);
  const y = gemm(rowsView, weight, { transB: true, bias, activation });
  rowsView.dispose();
  const out = y.reshape(...lead, weight.shape[0]!);
  y.dispose();
  return out;
}

declare module '../tensor.js' {
  interface Tensor {
    /** torch.matmul: see {@link matmul}. */
    matmul(other: Tensor): Tensor;
  }
}

Tensor.prototype.matmul = function (this: Tensor, other: Tensor): Tensor {
  return matmul(this, other);
};
