// The A-LLMRec pipeline (KDD'24): a frozen LM uses a pretrained SASRec through aligned item
// latents and soft prompts. Stages: cf → align (stage 1) → generate (stage 2) → eval.
import { registerPipeline } from '../registry.js';
import { alignStage } from './align.js';
import { cfStage } from './cf.js';
import { compareCommand } from './compare.js';
import { aLLMRecConfig } from './config.js';
import { evalStage } from './evaluate.js';
import { generateStage } from './generate.js';

export * from './align.js';
export * from './cf.js';
export * from './compare.js';
export * from './config.js';
export * from './evaluate.js';
export * from './generate.js';
export * from './language-model.js';
export * from './model.js';
export * from './prompt.js';
export * from './scenarios.js';
export * from './serving.js';
export * from './soft-prompt.js';

export const aLLMRecPipeline = registerPipeline({
  name: 'a-llmrec',
  summary:
    'A-LLMRec: align SASRec item embeddings with item text, then prompt a frozen LM with soft tokens (Hit@1 among 20 candidates).',
  config: aLLMRecConfig,
  stages: [cfStage, alignStage, generateStage, evalStage],
  commands: [compareCommand],
});
