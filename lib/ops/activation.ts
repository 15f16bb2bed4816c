// Activations and dropout, each one autograd node with a native backward.
import { record } from '../autograd.js';
import { native } from '../binding.js';
import { generator, Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

export { ACTIVATION_ALIASES, ACTIVATION_NAMES, activationName, type ActivationName } from './activation-name.js';

/** The addon's spelling of the activation kernels (native/addon/activation.cc); not a public name. */
type KernelOp = 'gelu' | 'geluTanh' | 'relu' | 'leakyRelu' | 'silu' | 'swiglu';

declare module '../binding.js' {
  interface NativeAddon {
    activation(op: KernelOp, x: NativeTensor, slope: number): NativeTensor;
    activationBackward(op: KernelOp, gradOut: NativeTensor, x: NativeTensor, slope: number): NativeTensor;
    dropout(x: NativeTensor, p: number, seed: number | bigint, offset: number | bigint): NativeTensor;
  }
}

function activation(op: KernelOp, x: Tensor, slope = 0): Tensor {
  const out = new Tensor(native.activation(op, x.native, slope));
  record(
    op,
    [x],
    [out],
    ([g], [xs]) => [new Tensor(native.activationBackward(op, g!.native, xs!.native, slope))],
    [x],
    {
      freshGradients: true,
    },
  );
  return out;
}

/** GELU with the exact erf form: x * Φ(x). */
export function gelu(x: Tensor): Tensor {
  expectArgs('gelu', { x }, Tensor);
  return activation('gelu', x);
}

/** GELU with the tanh approximation (GPT-2, "gelu_new"). */
export function geluTanh(x: Tensor): Tensor {
  expectArgs('geluTanh', { x }, Tensor);
  return activation('geluTanh', x);
}

export function relu(x: Tensor): Tensor {
  expectArgs('relu', { x }, Tensor);
  return activation('relu', x);
}

/** x for x > 0, slope * x otherwise. */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  expectArgs('leakyRelu', { x }, Tensor);
  expectArgs('leakyRelu', { slope }, 'number');
  return activation('leakyRelu', x, slope);
}

/** x * sigmoid(x). */
export function silu(x: Tensor): Tensor {
  expectArgs('silu', { x }, Tensor);
  return activation('silu', x);
}

/**
 * silu(gate) * up from ONE tensor [..., 2h] whose first half along the last axis is the gate and
 * second half the up projection (a fused gate_up projection; torch's x.chunk(2, -1)). Returns
 * [..., h].
 */
export function swiglu(gateUp: Tensor): Tensor {
  expectArgs('swiglu', { gateUp }, Tensor);
  return activation('swiglu', gateUp);
}

export interface DropoutOptions {
  /** Eval mode returns the input unchanged (default true: training). */
  training?: boolean;
  /** Philox seed; without it the global generator (manualSeed) supplies seed and offset. */
  seed?: number | bigint;
  /** Philox counter offset (default 0 with an explicit seed). */
  offset?: number | bigint;
}

/**
 * Zeroes each element with probability p and scales the rest by 1/(1-p). The mask is a function
 * of (seed, offset, element index) only, so CPU and CUDA agree bit for bit and the backward
 * regenerates it instead of storing it.
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  expectArgs('dropout', { x }, Tensor);
  expectArgs('dropout', { options }, 'options');
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: 'p' must be in [0, 1], got ${p}`);
  if (options.training === false || p === 0) return x.share();
  if (p === 1) return x.scale(0);
  let seed: number | bigint;
  let offset: number | bigint;
  if (options.seed !== undefined) {
    seed = options.seed;
    offset = options.offset ?? 0;
  } else {
    seed = generator.seed;
    offset = generator.next(BigInt(Math.ceil(x.size / 4)));
  }
  const out = new Tensor(native.dropout(x.native, p, seed, offset));
  record('dropout', [x], [out], ([g]) => [new Tensor(native.dropout(g!.native, p, seed, offset))], [], {
    freshGradients: true,
  });
  return out;
}
