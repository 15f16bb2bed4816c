// llmrec: LLM-enhanced sequential recommendation on hand-written CUDA kernels with C++ CPU twins.
export * from './tensor.js';
export { tidy, keep } from './scope.js';
export { noGrad, setGradEnabled, isGradEnabled, type BackwardOptions } from './autograd.js';
export * from './device.js';
export type { DType, HostArray } from './binding.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as nn from './nn/index.js';
export * as losses from './losses/index.js';
export * as training from './train/index.js';
export * from './ops/linalg.js';
export * from './ops/norm.js';
export * from './ops/activation.js';
export * from './ops/softmax.js';
export * from './ops/loss.js';
export * from './ops/embedding.js';
export * from './ops/attention.js';
