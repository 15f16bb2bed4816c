// LayerNorm and RMSNorm over the last axis, each one autograd node with a native backward. The
// residual variants fuse `sum = x + residual` into the norm and return the sum as well, for the
// next block's residual stream (pre-LN transformers).
import { record } from '../autograd.js';
import { native } from '../binding.js';
import { Tensor } from '../tensor.js';

declare module '../binding.js' {
  interface NativeAddon {
    norm(
      x: NativeTensor,
      residual: NativeTensor | null,
      weight: NativeTensor,
      bias: NativeTensor | null,
      eps: number,
      rms: boolean,
    ): [NativeTensor, NativeTensor | null, NativeTensor | null, NativeTensor];
    normBackward(
      gradOut: NativeTensor,
      gradSum: NativeTensor | null,
      input: NativeTensor,
      weight: NativeTensor,
      mean: NativeTensor | null,
      rstd: NativeTensor,
      rms: boolean,
      withBias: boolean,
    ): [NativeTensor, NativeTensor, NativeTensor | null];
  }
}

export interface NormWithResidual {
  /** norm(x + residual) * weight (+ bias). */
  out: Tensor;
  /** x + residual, the input of the next residual add. */
  sum: Tensor;
}

function normOp(
  rms: boolean,
  x: Tensor,
  residual: Tensor | null,
  weight: Tensor,
  bias: Tensor | null,
  eps: number,
): { out: Tensor; sum: Tensor | null } {
  const [outH, sumH, meanH, rstdH] = native.norm(
    x.native,
    residual?.native ?? null,
    weight.native,
    bias?.native ?? null,
    eps,
    rms,
  );
  const out = new Tensor(outH);
  const sum = sumH ? new Tensor(sumH) : null;
  const mean = meanH ? new Tensor(meanH) : null;
  const rstd = new Tensor(rstdH);
  const input = sum ?? x;
  const withBias = bias !== null;
  const withResidual = residual !== null;
  // Saved: [input, weight, rstd, mean?]; the statistics are freed with the graph.
  const saved = mean ? [input, weight, rstd, mean] : [input, weight, rstd];
  record(
    rms ? 'rmsNorm' : 'layerNorm',
    [x, residual, weight, bias],
    sum ? [out, sum] : [out],
    ([gOut, gSum], [inputS, weightS, rstdS, meanS]) => {
      if (!gOut) return [gSum!, withResidual ? gSum! : null, null, null];
      const [dx, dw, db] = native.normBackward(
        gOut.native,
        gSum?.native ?? null,
        inputS!.native,
        weightS!.native,
        meanS?.native ?? null,
        rstdS!.native,
        rms,
        withBias,
      );
      const gradInput = new Tensor(dx);
      return [gradInput, withResidual ? gradInput : null, new Tensor(dw), db ? new Tensor(db) : null];
    },
    saved,
    // Without a residual the backward only reads the output gradient and writes fresh buffers,
    // so backward() lends it the caller's gradient instead of a copy (one pass over [rows, cols]).
    { freshGradients: !withResidual },
  );
  rstd.dispose();
  mean?.dispose();
  return { out, sum };
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias (bias may be null). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps = 1e-5): Tensor {
  return normOp(false, x, null, weight, bias, eps).out;
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  return normOp(true, x, null, weight, null, eps).out;
}

/** layerNorm(x + residual), fused; also returns the sum. */
export function addLayerNorm(
  x: Tensor,
  residual: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  eps = 1e-5,
): NormWithResidual {
  const { out, sum } = normOp(false, x, residual, weight, bias, eps);
  return { out, sum: sum! };
}

/** rmsNorm(x + residual), fused; also returns the sum. */
export function addRmsNorm(x: Tensor, residual: Tensor, weight: Tensor, eps = 1e-6): NormWithResidual {
  const { out, sum } = normOp(true, x, residual, weight, null, eps);
  return { out, sum: sum! };
}
