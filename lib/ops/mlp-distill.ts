// Fused MLP distillation: loss(Linear2(act(LN?(Linear1(x)))), teacher) as ONE autograd node,
// the student MLPs of LLM-SRec (f_CF-user, f_user) and A-LLMRec (autoencoders, projector).
// The forward is one native op (both GEMMs plus the LN/activation and loss epilogues); it
// already computes dLoss/dy in its loss pass, so the backward (also one native op) starts from
// there and never recomputes the loss.
import { needsGrad, record } from '../autograd.js';
import { native } from '../binding.js';
import { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';
import type { ActivationName } from './activation-name.js';

/** The activations the fused distillation MLP supports (spelled as ActivationName). */
export type DistillActivation = Extract<ActivationName, 'gelu' | 'leaky_relu' | 'sigmoid' | 'relu'>;
/**
 * mse: mean over all elements of (y − t)²; cosine: mean over rows of 1 − cos(y_r, t_r);
 * normalized_mse: mean over all elements of (y/‖y‖ − t/‖t‖)² with per-row norms (F.normalize).
 */
export type DistillLoss = 'mse' | 'cosine' | 'normalized_mse';

export interface MlpDistillOptions {
  /** LayerNorm between the first Linear and the activation. */
  layerNorm?: { weight: Tensor; bias: Tensor; eps?: number };
  activation: DistillActivation;
  /** Negative slope of leaky_relu (torch's default 0.01). */
  slope?: number;
  loss: DistillLoss;
  /** Let the gradient reach the teacher (when it requires grad); by default it is a constant. */
  teacherTrainable?: boolean;
}

declare module '../binding.js' {
  interface NativeAddon {
    mlpDistill(
      x: NativeTensor,
      w1: NativeTensor,
      b1: NativeTensor,
      w2: NativeTensor,
      b2: NativeTensor,
      teacher: NativeTensor,
      lnWeight: NativeTensor | null,
      lnBias: NativeTensor | null,
      lnEps: number,
      activation: DistillActivation,
      slope: number,
      loss: DistillLoss,
      teacherGrad: boolean,
    ): [
      NativeTensor,
      NativeTensor,
      NativeTensor | null,
      NativeTensor | null,
      NativeTensor,
      NativeTensor,
      NativeTensor | null,
    ];
    mlpDistillBackward(
      gradLoss: NativeTensor,
      x: NativeTensor,
      w1: NativeTensor,
      w2: NativeTensor,
      lnWeight: NativeTensor | null,
      lnBias: NativeTensor | null,
      pre: NativeTensor,
      mean: NativeTensor | null,
      rstd: NativeTensor | null,
      hidden: NativeTensor,
      outGrad: NativeTensor,
      teacherGrad: NativeTensor | null,
      activation: DistillActivation,
      slope: number,
      wantXGrad: boolean,
    ): (NativeTensor | null)[];
  }
}

/**
 * loss(act(LN?(x·w1ᵀ + b1))·w2ᵀ + b2, teacher) as a scalar f32 tensor. x [B, in], w1 [h, in],
 * b1 [h], w2 [out, h], b2 [out], teacher [B, out]; all f32 or all bf16 (f32 accumulation).
 * One autograd node: gradients for x, w1, b1, w2, b2, the LayerNorm weight and bias and, with
 * teacherTrainable, the teacher.
 */
export function mlpDistill(
  x: Tensor,
  w1: Tensor,
  b1: Tensor,
  w2: Tensor,
  b2: Tensor,
  teacher: Tensor,
  options: MlpDistillOptions,
): Tensor {
  expectArgs('mlpDistill', { x, w1, b1, w2, b2, teacher }, Tensor);
  expectArgs('mlpDistill', { options }, 'object');
  const ln = options.layerNorm;
  const slope = options.slope ?? 0.01;
  const activation = options.activation;
  const teacherInput = options.teacherTrainable ? teacher : null;
  const inputs = [x, w1, b1, w2, b2, ln?.weight ?? null, ln?.bias ?? null, teacherInput];
  const training = needsGrad(inputs);
  const wantTeacherGrad = training && teacherInput !== null && teacherInput.requiresGrad;
  const [lossH, preH, meanH, rstdH, hiddenH, outGradH, teacherGradH] = native.mlpDistill(
    x.native,
    w1.native,
    b1.native,
    w2.native,
    b2.native,
    teacher.native,
    ln?.weight.native ?? null,
    ln?.bias.native ?? null,
    ln?.eps ?? 1e-5,
    activation,
    slope,
    options.loss,
    wantTeacherGrad,
  );
  const loss = new Tensor(lossH);
  const intermediates = [preH, meanH, rstdH, hiddenH, outGradH, teacherGradH].map((h) => (h ? new Tensor(h) : null));
  if (training) {
    // saved = [x, w1, w2, pre, hidden, outGrad, teacherGrad?, lnWeight?, lnBias?, mean?, rstd?]
    const [pre, mean, rstd, hidden, outGrad, teacherGrad] = intermediates;
    const saved = [x, w1, w2, pre!, hidden!, outGrad!];
    if (teacherGrad) saved.push(teacherGrad);
    if (ln) saved.push(ln.weight, ln.bias, mean!, rstd!);
    const hasTeacherGrad = teacherGrad !== null;
    const hasLn = ln !== undefined;
    const wantXGrad = x.requiresGrad;
    record(
      'mlpDistill',
      inputs,
      [loss],
      ([g], s) => {
        const [xS, w1S, w2S, preS, hiddenS, outGradS] = s;
        const teacherGradS = hasTeacherGrad ? s[6]! : null;
        const lnAt = hasTeacherGrad ? 7 : 6;
        const [lnW, lnB, meanS, rstdS] = hasLn ? s.slice(lnAt, lnAt + 4) : [];
        const grads = native.mlpDistillBackward(
          g!.native,
          xS!.native,
          w1S!.native,
          w2S!.native,
          lnW?.native ?? null,
          lnB?.native ?? null,
          preS!.native,
          meanS?.native ?? null,
          rstdS?.native ?? null,
          hiddenS!.native,
          outGradS!.native,
          teacherGradS?.native ?? null,
          activation,
          slope,
          wantXGrad,
        );
        return grads.map((h) => (h ? new Tensor(h) : null));
      },
      saved,
    );
  }
  for (const t of intermediates) t?.dispose();
  return loss;
}
