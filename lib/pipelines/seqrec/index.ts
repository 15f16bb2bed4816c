// The seqrec pipeline: one stage, `train`, that trains and tests a sequential model. It is what
// `llmrec train sasrec|gru4rec` runs, and the example the other pipelines follow (README.md).
import { registerPipeline } from '../registry.js';
import { seqrecConfig } from './config.js';
import { trainStage } from './train.js';

export * from './config.js';
export * from './evaluate.js';
export * from './fit.js';
export * from './serving.js';
export * from './train.js';

export const seqrecPipeline = registerPipeline({
  name: 'seqrec',
  summary: 'Train and test a sequential recommender (SASRec, GRU4Rec) on one dataset.',
  config: seqrecConfig,
  stages: [trainStage],
});
