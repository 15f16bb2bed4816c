// Parameter initialisers the pipelines use. Each returns a new tensor drawn from the global
// generator (or a given seed), so manualSeed() makes model construction repeatable.
import { randn, rand, zeros, full, type Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

export interface InitOptions {
  device?: string;
  dtype?: 'f32' | 'bf16';
  seed?: number;
  /**
   * Fans to use instead of the shape's, for a tensor that is one slice of a larger parameter in
   * torch (MultiheadAttention initialises q, k and v as one [3·d, d] in_proj_weight).
   */
  fans?: { fanIn: number; fanOut: number };
}

/** fan_in and fan_out as torch computes them: [out, in, ...receptive field]. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  expectArgs('fans', { shape }, 'array');
  if (shape.length < 2) throw new Error(`init: fan in/out need at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** N(0, gain² · 2 / (fan_in + fan_out)): torch.nn.init.xavier_normal_ (SASRec's init). */
export function xavierNormal(shape: readonly number[], gain = 1, options: InitOptions = {}): Tensor {
  expectArgs('xavierNormal', { shape }, 'array');
  expectArgs('xavierNormal', { gain }, 'number');
  expectArgs('xavierNormal', { options }, 'options');
  const { fanIn, fanOut } = options.fans ?? fans(shape);
  return randn(shape, { ...options, std: gain * Math.sqrt(2 / (fanIn + fanOut)) });
}

/** U(±gain·sqrt(6 / (fan_in + fan_out))): torch.nn.init.xavier_uniform_. */
export function xavierUniform(shape: readonly number[], gain = 1, options: InitOptions = {}): Tensor {
  expectArgs('xavierUniform', { shape }, 'array');
  expectArgs('xavierUniform', { gain }, 'number');
  expectArgs('xavierUniform', { options }, 'options');
  const { fanIn, fanOut } = options.fans ?? fans(shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return rand(shape, { ...options, low: -bound, high: bound });
}

/** U(±1/sqrt(fan_in)): what torch.nn.Linear uses for its weight (kaiming_uniform with a=√5) and bias. */
export function linearUniform(shape: readonly number[], fanIn: number, options: InitOptions = {}): Tensor {
  expectArgs('linearUniform', { shape }, 'array');
  expectArgs('linearUniform', { fanIn }, 'number');
  expectArgs('linearUniform', { options }, 'options');
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return rand(shape, { ...options, low: -bound, high: bound });
}

/** N(mean, std²): e.g. the LLMs' normal(0, 0.02). */
export function normal(shape: readonly number[], mean = 0, std = 1, options: InitOptions = {}): Tensor {
  if (!(std >= 0)) throw new Error(`init.normal: 'std' must be >= 0, got ${std}`);
  return randn(shape, { ...options, mean, std });
}

export function constant(shape: readonly number[], value: number, options: InitOptions = {}): Tensor {
  return full(shape, value, options);
}

export function zerosInit(shape: readonly number[], options: InitOptions = {}): Tensor {
  return zeros(shape, options);
}
