// Gradient-norm clipping. The norm and the clipping factor stay on the device, so clipping never
// waits for the GPU; read `totalNorm` only when you want to log it.
import { native } from '../binding.js';
import { noGrad } from '../autograd.js';
import { keep, tidy } from '../scope.js';
import { Tensor } from '../tensor.js';
import './native.js';
import { expectArgs } from '../guard.js';

export interface GradNorm {
  /** The global L2 norm of the gradients before clipping (one-element f32 tensor). */
  totalNorm: Tensor;
  /** min(1, maxNorm / (totalNorm + 1e-6)): what every gradient is (or would be) multiplied by. */
  scale: Tensor;
}

/** The global gradient norm of `params` (those with a gradient) and the factor that clips it to maxNorm. */
export function gradNorm(params: Iterable<Tensor>, maxNorm = Infinity): GradNorm | null {
  expectArgs('gradNorm', { params }, 'iterable');
  expectArgs('gradNorm', { maxNorm }, 'number');
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: 'maxNorm' must be > 0, got ${maxNorm}`);
  const grads = [...params].flatMap((p) => (p.grad ? [p.grad] : []));
  if (grads.length === 0) return null;
  const device = grads[0]!.device;
  const strayed = grads.find((g) => g.device !== device);
  if (strayed)
    throw new Error(`clipGradNorm: gradients live on ${device} and ${strayed.device}; keep a model on one device`);
  return noGrad(() =>
    tidy(() => {
      const perTensor = new Tensor(native.squaredNorms(grads.map((g) => g.native)));
      const totalNorm = keep(perTensor.sum().sqrt().reshape([1]));
      const scale = keep(
        Number.isFinite(maxNorm)
          ? totalNorm.add(1e-6).reciprocal().mul(maxNorm).minimum(tensorOne(device))
          : tensorOne(device),
      );
      return { totalNorm, scale };
    }),
  );
}

/**
 * Scales every gradient in place so that their global L2 norm is at most maxNorm (torch's
 * clip_grad_norm_). Returns the norm before clipping, as a one-element tensor.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor | null {
  expectArgs('clipGradNorm', { params }, 'iterable');
  expectArgs('clipGradNorm', { maxNorm }, 'number');
  const list = [...params];
  const norm = gradNorm(list, maxNorm);
  if (norm === null) return null;
  const bf16Scale = list.some((p) => p.grad?.dtype === 'bf16') ? norm.scale.cast('bf16') : null;
  for (const p of list) {
    if (!p.grad) continue;
    const scale = p.grad.dtype === 'bf16' ? bf16Scale! : norm.scale;
    native.binary('mul', p.grad.native, scale.native, p.grad.native);
  }
  bf16Scale?.dispose();
  norm.scale.dispose();
  return norm.totalNorm;
}

function tensorOne(device: string): Tensor {
  return new Tensor(native.full([1], 1, 'f32', device));
}
