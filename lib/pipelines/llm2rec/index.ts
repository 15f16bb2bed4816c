// The LLM2Rec pipeline (papers.md, "LLM2Rec"): CSFT → MNTP → SimCSE turn an LM into an item
// encoder that carries collaborative signal; its mean-pooled title embeddings are a frozen item
// table under SASRec or GRU4Rec. `llmrec llm2rec csft|mntp|simcse|embed|downstream|all|ablation`.
import { registerPipeline } from '../registry.js';
import { ablation } from './ablation.js';
import { llm2recConfig } from './config.js';
import { csft } from './csft.js';
import { downstream } from './downstream.js';
import { embed } from './embed.js';
import { mntp } from './mntp.js';
import { simcse } from './simcse.js';

export { ablationVariants } from './ablation.js';
export { llm2recConfig, OOD_EMBEDDED, type LLM2RecConfig } from './config.js';

export const llm2recPipeline = registerPipeline({
  name: 'llm2rec',
  summary:
    'LLM2Rec: fine-tune an LM on purchase sequences (CSFT), make it a bidirectional item encoder (MNTP, SimCSE), and train SASRec/GRU4Rec on its frozen item embeddings.',
  config: llm2recConfig,
  stages: [csft, mntp, simcse, embed, downstream],
  commands: [ablation],
});
