// Pipelines: typed configs, run folders, stages and the registry that the command line and
// Recommender.load are built from. README.md in this folder says how to add one.
export * from './config.js';
export * from './data.js';
export * from './digest.js';
export * from './registry.js';
export * from './run-folder.js';
export * from './stage.js';

// Each pipeline registers itself when imported; add new ones here.
export * as seqrec from './seqrec/index.js';
export * as llmSRec from './llm-srec/index.js';
export * as llm2rec from './llm2rec/index.js';
export * as aLLMRec from './a-llmrec/index.js';
