// The LLM2Rec pipeline's config (papers.md, "LLM2Rec"). The no-flag defaults are sized for a
// 2-core CPU, so `llmrec llm2rec all` on the embedded data finishes in minutes; the paper's own
// values (Qwen2-0.5B scale: 10,000 CSFT steps at batch 128, and so on) are in
// configs/llm2rec-paper.json (`--config configs/llm2rec-paper.json`). Each key's help says the
// paper's value where it differs.
import { resolveSource, sourceFiles } from '../../data/formats.js';
import { embeddedSource } from '../../data/source.js';
import { defineConfig, type ConfigOf } from '../config.js';
import { commonConfig } from '../data.js';

/** The embedded next-period set, the out-of-domain data of the ablation. */
export const OOD_EMBEDDED = '2009-2010';

const lmStages = ['csft', 'mntp', 'simcse', 'embed', 'downstream'];

export const llm2recConfig = defineConfig({
  ...commonConfig,
  lm: {
    type: 'string',
    default: '',
    help: 'a Qwen2/Llama folder in Hugging Face layout with tokenizer.json (default: the shipped LM in data/models/)',
    input: true,
    stages: lmStages,
  },
  checkpointEvery: {
    type: 'int',
    default: 50,
    min: 1,
    help: 'CSFT, MNTP, SimCSE: save a checkpoint every N steps (for --resume; no effect on the result)',
    stages: [],
  },
  // Stage 1: CSFT
  historyItems: {
    type: 'int',
    default: 10,
    min: 1,
    help: 'CSFT: the last N history titles in a prompt',
    stages: ['csft'],
  },
  maxTokens: {
    type: 'int',
    default: 128,
    min: 8,
    help: 'CSFT: prompt + target tokens, left-truncated (paper 1024)',
    stages: ['csft'],
  },
  csftSteps: { type: 'int', default: 150, min: 1, help: 'CSFT optimiser steps (paper 10000)', stages: ['csft'] },
  csftBatch: { type: 'int', default: 16, min: 1, help: 'CSFT examples per step (paper 128)', stages: ['csft'] },
  csftLr: { type: 'float', default: 3e-4, min: 0, help: 'CSFT AdamW learning rate', stages: ['csft'] },
  csftWarmup: { type: 'int', default: 15, min: 0, help: 'CSFT warm-up steps (paper 200)', stages: ['csft'] },
  // Stage 2a: MNTP
  mntpSteps: { type: 'int', default: 100, min: 1, help: 'MNTP optimiser steps (paper 1000)', stages: ['mntp'] },
  mntpBatch: { type: 'int', default: 32, min: 1, help: 'MNTP titles per step', stages: ['mntp'] },
  mntpLr: { type: 'float', default: 5e-5, min: 0, help: 'MNTP AdamW learning rate', stages: ['mntp'] },
  maskProbability: {
    type: 'float',
    default: 0.2,
    min: 0,
    max: 1,
    help: 'MNTP: share of tokens masked (80% mask token, 10% random, 10% kept)',
    stages: ['mntp'],
  },
  maskToken: { type: 'string', default: '_', help: "MNTP: the mask token's text (LLM2Vec: '_')", stages: ['mntp'] },
  titleTokens: {
    type: 'int',
    default: 64,
    min: 2,
    help: 'MNTP, SimCSE, embedding: tokens per title, right-truncated (paper 512)',
    stages: ['mntp', 'simcse', 'embed', 'downstream'],
  },
  // Stage 2b: item-level SimCSE
  simcseSteps: { type: 'int', default: 100, min: 1, help: 'SimCSE optimiser steps (paper 1000)', stages: ['simcse'] },
  simcseBatch: { type: 'int', default: 64, min: 2, help: 'SimCSE titles per step (paper 256)', stages: ['simcse'] },
  simcseLr: { type: 'float', default: 2e-4, min: 0, help: 'SimCSE AdamW learning rate', stages: ['simcse'] },
  simcseWarmup: { type: 'int', default: 30, min: 0, help: 'SimCSE warm-up steps (paper 300)', stages: ['simcse'] },
  simcseDropout: {
    type: 'float',
    default: 0.2,
    min: 0,
    max: 0.99,
    help: 'SimCSE: attention dropout that makes the two views',
    stages: ['simcse'],
  },
  tau: {
    type: 'float',
    default: 0.1,
    min: 1e-4,
    help: "SimCSE temperature: cosine × 1/τ (the code's 0.1; the paper says 0.2)",
    stages: ['simcse'],
  },
  clipNorm: { type: 'float', default: 1, min: 0, help: 'SimCSE gradient-norm clip (0: none)', stages: ['simcse'] },
  // Embedding
  embedBatch: {
    type: 'int',
    default: 64,
    min: 1,
    help: 'titles per forward pass when embedding (no effect on the result)',
    stages: [],
  },
  // Downstream
  models: {
    type: 'list',
    of: 'string',
    default: ['sasrec', 'gru4rec'],
    help: 'downstream models on the frozen item table (sasrec, gru4rec)',
    stages: ['downstream'],
  },
  epochs: {
    type: 'int',
    default: 10,
    min: 1,
    help: 'downstream epochs at most (paper: until early stopping)',
    stages: ['downstream'],
  },
  batchSize: { type: 'int', default: 256, min: 1, help: 'downstream sequences per batch', stages: ['downstream'] },
  sasrecLr: {
    type: 'float',
    default: 1e-3,
    min: 0,
    help: 'downstream SASRec AdamW learning rate',
    stages: ['downstream'],
  },
  gru4recLr: {
    type: 'float',
    default: 1e-3,
    min: 0,
    help: 'downstream GRU4Rec AdamW learning rate (paper 1e-4, with hundreds of epochs)',
    stages: ['downstream'],
  },
  weightDecay: { type: 'float', default: 1e-4, min: 0, help: 'downstream AdamW weight decay', stages: ['downstream'] },
  evalEvery: {
    type: 'int',
    default: 2,
    min: 1,
    help: 'downstream: validate every N epochs (paper 5)',
    stages: ['downstream'],
  },
  patience: {
    type: 'int',
    default: 2,
    min: 0,
    help: 'downstream: stop after N validations without a better Recall@20 (paper 20; 0: never)',
    stages: ['downstream'],
  },
  seeds: {
    type: 'int',
    default: 2,
    min: 1,
    help: 'downstream: seeds seed, seed+1, ... (mean ± std; paper 3)',
    stages: ['downstream'],
  },
  oodData: {
    type: 'string',
    help: 'downstream: also train and test on this dataset (out-of-domain), embedded with the same model; "2009-2010" names the embedded next-period set',
    stages: ['downstream'],
    input: async (value: string | undefined) => {
      if (!value) return [];
      if (value === OOD_EMBEDDED) return sourceFiles(embeddedSource(OOD_EMBEDDED));
      try {
        return sourceFiles(await resolveSource(value));
      } catch {
        return []; // the load itself refuses the path and says why
      }
    },
  },
});

export type LLM2RecConfig = ConfigOf<typeof llm2recConfig>;
