// Every building block of the LLM2Rec pipeline, for tests, benchmarks and code that composes
// the stages differently; the package's public surface is index.ts.
export * from './ablation.js';
export * from './config.js';
export * from './csft.js';
export * from './downstream.js';
export * from './embed.js';
export * from './language-model.js';
export * from './mntp.js';
export * from './serving.js';
export * from './simcse.js';
export * from './training.js';
