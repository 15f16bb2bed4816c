// llmrec: LLM-enhanced sequential recommendation on hand-written CUDA kernels with C++ CPU twins.
export * from './tensor.js';
export { tidy, keep } from './scope.js';
export { noGrad, setGradEnabled, isGradEnabled, type BackwardOptions } from './autograd.js';
export * from './device.js';
export type { DType, HostArray } from './binding.js';
export * from './ops/linalg.js';
export * from './ops/topk.js';
