// The A-LLMRec pipeline (KDD'24): a frozen LM uses a pretrained SASRec through aligned item
// latents and soft prompts. Stages: cf → align (stage 1) → generate (stage 2) → eval.
import { registerPipeline } from '../registry.js';
import { alignStage } from './align.js';
import { cfStage } from './cf.js';
import { compareCommand } from './compare.js';
import { aLLMRecConfig } from './config.js';
import { describeCommand } from './describe.js';
import { evalStage } from './evaluate.js';
import { generateStage } from './generate.js';

// The public surface; the stages' helpers are imported from their modules.
export { aLLMRecConfig, scenarios, type ALLMRecConfig, type Scenario } from './config.js';
export type { EvalResult, GroupResult } from './evaluate.js';
export { alignmentLoss, Autoencoder, ItemTextAligner, SoftPromptProjectors } from './model.js';
export { ALLMRecRecommender } from './serving.js';

export const aLLMRecPipeline = registerPipeline({
  name: 'a-llmrec',
  summary:
    'A-LLMRec: align SASRec item embeddings with item text, then prompt a frozen LM with soft tokens (Hit@1 among 20 candidates).',
  config: aLLMRecConfig,
  stages: [cfStage, alignStage, generateStage, evalStage],
  commands: [compareCommand, describeCommand],
});
