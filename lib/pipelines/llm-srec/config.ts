// The LLM-SRec pipeline's config. The paper's values (papers.md, "LLM-SRec") are in
// configs/llm-srec-paper.json; the defaults here are the same recipe sized for a 2-core CPU, so
// `llmrec llm-srec all` with no flags finishes in minutes on the embedded data. Each default that
// differs from the paper says so in its help.
import { defineConfig, type ConfigOf } from '../config.js';
import { commonConfig } from '../data.js';

export const llmSRecConfig = defineConfig({
  ...commonConfig,
  lm: {
    type: 'string',
    default: '',
    help: 'a Qwen2/Llama Hugging Face folder with tokenizer.json (default: the shipped LM); the paper: Llama-3.2-3B-Instruct',
    input: true,
    stages: ['distill', 'eval'],
  },
  cf: {
    type: 'string',
    default: '',
    help: 'a trained SASRec: a seqrec run folder or a model folder of `llmrec train sasrec` (default: the cf stage trains one)',
    input: true,
    stages: ['cf'],
  },
  cfEpochs: { type: 'int', default: 30, min: 1, help: 'SASRec epochs (the paper: 200)', stages: ['cf'] },
  cfBatchSize: { type: 'int', default: 128, min: 1, help: 'SASRec batch size', stages: ['cf'] },
  cfLr: { type: 'float', default: 1e-3, min: 0, help: 'SASRec learning rate', stages: ['cf'] },
  historyItems: {
    type: 'int',
    default: 10,
    min: 1,
    help: 'the most recent items in a user prompt',
    stages: ['distill', 'eval'],
  },
  batchSize: { type: 'int', default: 20, min: 2, help: 'users per LLM batch', stages: ['distill'] },
  negatives: {
    type: 'int',
    default: 3,
    min: 1,
    help: 'random negatives beside the target in the retrieval loss',
    stages: ['distill'],
  },
  lr: { type: 'float', default: 1e-4, min: 0, help: 'Adam learning rate (betas 0.9, 0.98)', stages: ['distill'] },
  epochs: { type: 'int', default: 1, min: 1, help: 'the most training epochs (the paper: 10)', stages: ['distill'] },
  validationsPerEpoch: {
    type: 'int',
    default: 2,
    min: 1,
    help: 'validations per epoch; the learning rate is multiplied by lrDecay after each (the paper: 10)',
    stages: ['distill'],
  },
  lrDecay: {
    type: 'float',
    default: 0.95,
    min: 0,
    max: 1,
    help: 'lr factor after each validation',
    stages: ['distill'],
  },
  patience: {
    type: 'int',
    default: 5,
    min: 1,
    help: 'stop after this many validations without a better NDCG@10; the best weights are kept',
    stages: ['distill'],
  },
  trainUsers: {
    type: 'int',
    default: 400,
    min: 0,
    help: 'users drawn (by seed) to train on, 0 for all (the paper: all)',
    stages: ['distill'],
  },
  validUsers: {
    type: 'int',
    default: 30,
    min: 1,
    help: 'users of each validation (1+99 on the validation item; the paper: up to 10,000)',
    stages: ['distill'],
  },
  evalUsers: {
    type: 'int',
    default: 500,
    min: 1,
    help: 'test users of the 1+99 evaluation (the paper: up to 10,000)',
    stages: ['eval'],
  },
  userHidden: {
    type: 'int',
    default: 2048,
    min: 1,
    help: 'hidden width of f_user and f_item (LLM hidden → this → outDim)',
    stages: ['distill', 'eval'],
  },
  cfHidden: { type: 'int', default: 128, min: 1, help: 'hidden width of f_CF-user', stages: ['distill', 'eval'] },
  outDim: { type: 'int', default: 128, min: 1, help: 'the shared representation width', stages: ['distill', 'eval'] },
  distillation: {
    type: 'bool',
    default: true,
    help: 'the MSE between the normalised LLM and SASRec user representations (off: an ablation)',
    stages: ['distill'],
  },
  uniformity: {
    type: 'bool',
    default: true,
    help: 'the two uniformity terms (off: an ablation)',
    stages: ['distill'],
  },
  shuffleTrain: {
    type: 'bool',
    default: false,
    help: "train on histories shuffled in time (the paper's sequence test)",
    stages: ['distill'],
  },
  shuffleTest: {
    type: 'bool',
    default: false,
    help: "also evaluate on histories shuffled at test time (the paper's sequence test)",
    stages: ['eval'],
  },
  maxPromptTokens: {
    type: 'int',
    default: 0,
    min: 0,
    help: "longest prompt in tokens; the oldest items are dropped to fit (0: the LM's context)",
    stages: ['distill', 'eval'],
  },
  itemBatch: {
    type: 'int',
    default: 64,
    min: 1,
    help: 'item prompts per forward pass when the item table is computed',
    stages: [],
  },
});

export type LLMSRecConfig = ConfigOf<typeof llmSRecConfig>;
