export { Optimizer, type GroupOptions, type ParamGroup, type ParamsInput, type OptimizerState } from './optimizer.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { clipGradNorm, gradNorm, type GradNorm } from './clip.js';
export {
  LrScheduler,
  linearWarmupDecay,
  cosineWarmupDecay,
  type LrLambda,
  type WarmupDecayOptions,
} from './schedule.js';
