// The A-LLMRec pipeline's config (papers.md, "A-LLMRec"). Where the paper's value would take hours
// on a 2-core CPU, the default is CPU-sized and the paper's value is given in the help;
// `configs/a-llmrec-paper.json` holds the paper's values (`--config configs/a-llmrec-paper.json`).
import { resolveSource, sourceFiles } from '../../data/formats.js';
import { embeddedSource } from '../../data/source.js';
import { defaultLanguageModelDir } from '../../llm/default-model.js';
import { defineConfig, type ConfigOf } from '../config.js';
import { commonConfig } from '../data.js';
import { textEncoderInputs } from './language-model.js';

/** --cross-data's name for the embedded Online Retail 2009-2010 set. */
export const CROSS_EMBEDDED = '2009-2010';

/** The scenarios of the paper: which users train stage 2 and which are tested. */
export const scenarios = [
  'standard',
  'warm',
  'cold-items',
  'cold-users',
  'few-shot:128',
  'few-shot:256',
  'cross-domain',
] as const;
export type Scenario = (typeof scenarios)[number];

/** A folder the result depends on: hashed into the manifest. */
function folderInput(value: string | undefined): string[] {
  return value ? [value] : [];
}

/** The LM folder: `--lm DIR`, else the shipped default (nothing to hash while it is not built). */
function languageModelInput(value: string | undefined): string[] {
  if (value) return [value];
  try {
    return [defaultLanguageModelDir()];
  } catch {
    return [];
  }
}

export const aLLMRecConfig = defineConfig({
  ...commonConfig,
  // ---- cf: the collaborative model (SASRec, the `a-llmrec` preset: d 50, 2 blocks, 1 head, dropout 0.5, maxlen 50)
  cf: {
    type: 'string',
    default: '',
    help: 'take a trained SASRec instead of training one: a seqrec run folder (llmrec train sasrec --out DIR) or a model folder',
    input: folderInput,
    stages: ['cf'],
  },
  cfEpochs: { type: 'int', default: 20, min: 1, help: 'SASRec epochs (the paper: 200)', stages: ['cf'] },
  cfBatchSize: { type: 'int', default: 128, min: 1, help: 'SASRec batch size', stages: ['cf'] },
  cfLr: { type: 'float', default: 1e-3, min: 0, help: 'SASRec learning rate', stages: ['cf'] },
  // ---- align (stage 1): item and text autoencoders
  textEncoder: {
    type: 'string',
    default: '',
    help: "the item-text encoder of stage 1: '' (the --lm model) or another Qwen2/Llama folder, its last hidden state mean-pooled over the item text; or llm2rec:DIR, the item encoder of an LLM2Rec run folder (bidirectional, mean-pooled, as LLM2Rec embeds)",
    input: textEncoderInputs,
    stages: ['align', 'generate', 'eval'],
  },
  tuneTextEncoder: {
    type: 'bool',
    default: false,
    help: 'fine-tune the text encoder with the autoencoders in stage 1, as the paper fine-tunes SBERT (default: frozen; the tuned encoder is saved in align/text-encoder)',
    stages: ['align', 'generate', 'eval'],
  },
  latentDim: {
    type: 'int',
    default: 128,
    min: 1,
    help: 'width of the joint latent (the paper: 128)',
    stages: ['align', 'generate', 'eval'],
  },
  itemReconWeight: {
    type: 'float',
    default: 0.5,
    min: 0,
    help: "weight of the item reconstruction loss (the paper's β: 0.5)",
    stages: ['align'],
  },
  textReconWeight: {
    type: 'float',
    default: 0.2,
    min: 0,
    help: 'weight of the text reconstruction loss (0.2)',
    stages: ['align'],
  },
  alignEpochs: { type: 'int', default: 10, min: 1, help: 'stage-1 epochs (the paper: 10)', stages: ['align'] },
  alignBatchSize: { type: 'int', default: 32, min: 1, help: 'stage-1 batch size (32)', stages: ['align'] },
  alignLr: {
    type: 'float',
    default: 1e-4,
    min: 0,
    help: 'stage-1 Adam learning rate (1e-4, betas 0.9/0.98)',
    stages: ['align'],
  },
  // ---- generate (stage 2): soft prompts into a frozen LM
  lm: {
    type: 'string',
    default: '',
    help: 'the frozen causal LM of stage 2, a Qwen2/Llama Hugging Face folder (default: the shipped LM)',
    input: languageModelInput,
    stages: ['align', 'generate', 'eval'],
  },
  historyItems: {
    type: 'int',
    default: 10,
    min: 1,
    help: 'history items shown in the prompt (the code: the last 10)',
    stages: ['generate', 'eval'],
  },
  negatives: {
    type: 'int',
    default: 19,
    min: 1,
    help: 'negative candidates beside the target (the paper: 19, so 20 candidates)',
    stages: ['generate', 'eval'],
  },
  trainUsers: {
    type: 'int',
    default: 256,
    min: 0,
    help: 'stage-2 training users, drawn by seed (0: every user, as the paper)',
    stages: ['generate'],
  },
  generateEpochs: { type: 'int', default: 1, min: 1, help: 'stage-2 epochs (the paper: 5)', stages: ['generate'] },
  generateBatchSize: {
    type: 'int',
    default: 4,
    min: 1,
    help: 'stage-2 prompts per step (the paper: 2-4)',
    stages: ['generate'],
  },
  generateLr: { type: 'float', default: 1e-4, min: 0, help: 'stage-2 Adam learning rate (1e-4)', stages: ['generate'] },
  textOnlyBelow: {
    type: 'int',
    default: 0,
    min: 0,
    help: "items with fewer training interactions use their text latent instead of the item latent (the paper's text-only variant; 0: off)",
    stages: ['generate', 'eval'],
  },
  scenario: {
    type: 'enum',
    choices: scenarios,
    default: 'standard',
    help: 'warm/cold-items: test users whose target is in the top/bottom 35% by interactions; cold-users: users with exactly 3 interactions; few-shot:K: K stage-2 training users; cross-domain: trained on --data, tested on --cross-data; standard reports all test users and each group',
    stages: ['generate', 'eval'],
  },
  crossData: {
    type: 'string',
    default: CROSS_EMBEDDED,
    help: `the test dataset of --scenario cross-domain: a dataset file or folder (read with the same --kcore and --item-text), or "${CROSS_EMBEDDED}", the embedded Online Retail 2009-2010 set`,
    input: async (value: string | undefined) => {
      if (!value) return [];
      if (value === CROSS_EMBEDDED) return sourceFiles(embeddedSource('2009-2010'));
      try {
        return sourceFiles(await resolveSource(value));
      } catch {
        return []; // the load itself refuses the path and says why
      }
    },
    stages: ['eval'],
  },
  // ---- eval: Hit@1 among the candidates
  evalUsers: {
    type: 'int',
    default: 200,
    min: 1,
    help: 'test users at most, drawn by seed (the paper: 10000)',
    stages: ['eval'],
  },
  maxNewTokens: { type: 'int', default: 32, min: 1, help: 'tokens generated per answer at most', stages: ['eval'] },
  repetitionPenalty: {
    type: 'float',
    default: 1.5,
    min: 0.01,
    help: 'repetition penalty of greedy decoding (the paper: 1.5)',
    stages: ['eval'],
  },
  evalBatchSize: { type: 'int', default: 8, min: 1, help: 'prompts decoded together', stages: ['eval'] },
  baselines: {
    type: 'bool',
    default: true,
    help: 'also score SASRec and the titles-only LM on the same candidates (compare turns it off for a variant whose baselines are another run)',
    stages: ['eval'],
  },
});

export type ALLMRecConfig = ConfigOf<typeof aLLMRecConfig>;
