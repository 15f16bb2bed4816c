// The LLM-SRec pipeline (KDD'25): a frozen LLM taught the order of a user's history by
// distilling a pretrained SASRec's user representation into it. Stages cf → distill → eval;
// `ablation` runs the paper's ablation and sequence (shuffle) tables.
import { registerPipeline } from '../registry.js';
import { ablationCommand } from './ablation.js';
import { llmSRecConfig } from './config.js';
import { cfStage, distillStage, evalStage } from './stages.js';

export * from './ablation.js';
export * from './config.js';
export * from './data.js';
export * from './evaluate.js';
export * from './model.js';
export * from './prompts.js';
export * from './runtime.js';
export * from './serving.js';
export * from './stages.js';

export const llmSRecPipeline = registerPipeline({
  name: 'llm-srec',
  summary: "LLM-SRec: distil a pretrained SASRec into a frozen LLM (cf → distill → eval), with the paper's ablations.",
  config: llmSRecConfig,
  stages: [cfStage, distillStage, evalStage],
  commands: [ablationCommand],
});
