// Softmax and log-softmax over the last axis; the backward uses the saved output only.
import { record } from '../autograd.js';
import { native } from '../binding.js';
import { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

declare module '../binding.js' {
  interface NativeAddon {
    softmax(x: NativeTensor, log: boolean): NativeTensor;
    softmaxBackward(gradOut: NativeTensor, out: NativeTensor, log: boolean): NativeTensor;
  }
}

function softmaxOp(x: Tensor, log: boolean): Tensor {
  const out = new Tensor(native.softmax(x.native, log));
  record(
    log ? 'logSoftmax' : 'softmax',
    [x],
    [out],
    ([g], [y]) => [new Tensor(native.softmaxBackward(g!.native, y!.native, log))],
    [out],
    { freshGradients: true },
  );
  return out;
}

/** exp(x - max) / sum(exp(x - max)) over the last axis. */
export function softmax(x: Tensor): Tensor {
  expectArgs('softmax', { x }, Tensor);
  return softmaxOp(x, false);
}

/** x - logsumexp(x) over the last axis. */
export function logSoftmax(x: Tensor): Tensor {
  expectArgs('logSoftmax', { x }, Tensor);
  return softmaxOp(x, true);
}
