// llmrec lm init|pretrain|generate: a random-weight causal LM, or one pretrained from scratch on a
// text corpus, in exactly the Hugging Face folder format; and greedy continuations of prompts from
// any such folder (the shipped default model when --lm is not given).
import { manualSeed } from '../../tensor.js';
import type { CausalLMConfig } from '../../llm/config.js';
import { loadLanguageModel } from '../../llm/default-model.js';
import { generate } from '../../llm/generate.js';
import { saveCausalLM } from '../../llm/loader.js';
import { CausalLM } from '../../llm/model.js';
import { presetConfig, type PresetName } from '../../llm/presets.js';
import { pretrainLanguageModel } from '../../llm/pretrain.js';
import { defaultSink } from '../../train/progress.js';
import { defineCommand, UsageError, type ParsedOptions } from '../args.js';
import { resolveDevice } from './common.js';

const actions = ['init', 'pretrain', 'generate'] as const;

/** WordNet-style prompts (a gloss opens with the word and a colon), as data/models/README.md shows. */
export const DEFAULT_GENERATE_PROMPTS = ['lantern:', 'mug:', 'christmas tree:'] as const;

const options = {
  preset: {
    type: 'string',
    description: 'model shape (default: tiny for init, mini for pretrain)',
    choices: ['tiny', 'mini', 'small'],
  },
  out: { type: 'string', description: 'output folder (config.json, model.safetensors; pretrain adds the tokenizer)' },
  'vocab-size': { type: 'integer', description: "vocabulary size, specials included (default: the preset's)" },
  seed: { type: 'integer', description: 'initialisation, held-out split and batch order seed', default: 0 },
  'hidden-size': { type: 'integer', description: 'pretrain: override the preset hidden size' },
  layers: { type: 'integer', description: 'pretrain: override the number of layers' },
  heads: { type: 'integer', description: 'pretrain: override the attention heads' },
  'kv-heads': { type: 'integer', description: 'pretrain: override the key/value heads' },
  'intermediate-size': { type: 'integer', description: 'pretrain: override the MLP width' },
  context: { type: 'integer', description: 'pretrain: tokens per training window', default: 256 },
  corpus: {
    type: 'string',
    description:
      'pretrain: wordnet (Debian wordnet-base), retail (embedded item titles) or a text file, one document a line; repeatable or comma-separated',
    multiple: true,
  },
  'wordnet-dir': { type: 'string', description: 'pretrain: the WordNet data.* folder', default: '/usr/share/wordnet' },
  tokens: { type: 'integer', description: 'pretrain: training token budget', default: 2_000_000 },
  'batch-size': { type: 'integer', description: 'pretrain: windows per step', default: 16 },
  lr: {
    type: 'number',
    description: 'pretrain: peak AdamW learning rate (warm-up, cosine decay to 10%)',
    default: 2e-3,
  },
  'warmup-steps': { type: 'integer', description: 'pretrain: warm-up steps (default 2% of the steps)' },
  'held-out-per-mille': { type: 'integer', description: 'pretrain: documents held out per thousand', default: 5 },
  dtype: { type: 'string', description: 'pretrain: weights on disk', choices: ['bf16', 'f32'], default: 'bf16' },
  device: { type: 'string', description: 'pretrain: cpu, cuda or cuda:N', default: 'cpu' },
  'checkpoint-dir': { type: 'string', description: 'pretrain: checkpoint folder (default <out>.checkpoints)' },
  'checkpoint-every': { type: 'integer', description: 'pretrain: steps between checkpoints', default: 200 },
  resume: { type: 'boolean', description: 'pretrain: continue from the latest checkpoint', default: false },
  lm: {
    type: 'string',
    description:
      'generate: a Qwen2/Llama Hugging Face folder with tokenizer.json (default: the shipped LM in data/models/)',
  },
  prompt: {
    type: 'string',
    description: `generate: a prompt to continue; repeatable (default: ${DEFAULT_GENERATE_PROMPTS.map((p) => `'${p}'`).join(', ')})`,
    multiple: true,
  },
  'max-new-tokens': { type: 'integer', description: 'generate: tokens generated per prompt at most', default: 24 },
  'repetition-penalty': {
    type: 'number',
    description: 'generate: divides the logits of tokens already in the text (1: off)',
    default: 1.2,
  },
  'num-beams': { type: 'integer', description: 'generate: beam width (1: greedy)', default: 1 },
} as const;

function modelShape(o: ParsedOptions<typeof options>, preset: PresetName): CausalLMConfig {
  const base = presetConfig(preset, o['vocab-size']);
  const config: CausalLMConfig = {
    ...base,
    hiddenSize: o['hidden-size'] ?? base.hiddenSize,
    numHiddenLayers: o.layers ?? base.numHiddenLayers,
    numAttentionHeads: o.heads ?? base.numAttentionHeads,
    numKeyValueHeads: o['kv-heads'] ?? base.numKeyValueHeads,
    intermediateSize: o['intermediate-size'] ?? base.intermediateSize,
  };
  for (const [flag, value] of [
    ['--hidden-size', config.hiddenSize],
    ['--layers', config.numHiddenLayers],
    ['--heads', config.numAttentionHeads],
    ['--kv-heads', config.numKeyValueHeads],
    ['--intermediate-size', config.intermediateSize],
  ] as const)
    if (!(value >= 1)) throw new UsageError(`${flag} must be a positive integer, got ${value}`);
  if (config.hiddenSize % config.numAttentionHeads !== 0)
    throw new UsageError(`--hidden-size ${config.hiddenSize} is not divisible by --heads ${config.numAttentionHeads}`);
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0)
    throw new UsageError(
      `--heads ${config.numAttentionHeads} is not a multiple of --kv-heads ${config.numKeyValueHeads}`,
    );
  config.headDim = config.hiddenSize / config.numAttentionHeads;
  if (config.headDim % 2 !== 0)
    throw new UsageError(`the head dim ${config.headDim} must be even for rotary embeddings`);
  return config;
}

export const lmCommand = defineCommand({
  name: 'lm',
  summary:
    'Create a Qwen2-format language model folder: random weights (init) or pretrained on a corpus (pretrain); or continue prompts with one (generate).',
  positionals: 'init|pretrain|generate',
  options,
  async run(o, positionals) {
    const [action, ...extra] = positionals;
    if (!actions.includes(action as (typeof actions)[number]) || extra.length > 0)
      throw new UsageError(`expected init, pretrain or generate, got '${positionals.join(' ')}'`);
    if (action === 'generate') return generateContinuations(o);
    if (!o.out) throw new UsageError('--out is required');
    if (action === 'init') {
      const preset = (o.preset ?? 'tiny') as PresetName;
      manualSeed(o.seed);
      const config = presetConfig(preset, o['vocab-size']);
      const model = new CausalLM(config, { seed: o.seed });
      try {
        saveCausalLM(o.out, model);
      } finally {
        model.dispose();
      }
      console.log(
        `wrote ${o.out}: qwen2 '${preset}', ${model.numParameters().toLocaleString('en-US')} parameters, vocab ${config.vocabSize}`,
      );
      return;
    }
    const corpus = (o.corpus.length > 0 ? o.corpus : ['wordnet,retail']).flatMap((c) =>
      c.split(',').filter((s) => s.length > 0),
    );
    const report = await pretrainLanguageModel({
      out: o.out,
      config: modelShape(o, (o.preset ?? 'mini') as PresetName),
      context: o.context,
      corpus,
      wordnetDir: o['wordnet-dir'],
      tokens: o.tokens,
      batchSize: o['batch-size'],
      lr: o.lr,
      warmupSteps: o['warmup-steps'],
      heldOutPerMille: o['held-out-per-mille'],
      seed: o.seed,
      device: resolveDevice(o.device),
      dtype: o.dtype as 'bf16' | 'f32',
      checkpointDir: o['checkpoint-dir'],
      checkpointEvery: o['checkpoint-every'],
      resume: o.resume,
      progress: defaultSink('pretrain'),
      log: (line) => console.log(line),
    });
    console.log(
      `wrote ${report.out}: ${report.parameters.toLocaleString('en-US')} parameters, vocab ${report.vocabSize}; ` +
        `${report.steps} steps, ${report.tokensSeen.toLocaleString('en-US')} tokens seen ` +
        `(${Math.round(report.tokensPerSecond)} tokens/s); train loss ${report.trainLoss.toFixed(4)} ` +
        `(perplexity ${report.trainPerplexity.toFixed(2)}), held-out loss ${report.heldOutLoss.toFixed(4)} ` +
        `(perplexity ${report.heldOutPerplexity.toFixed(2)})`,
    );
  },
});

/**
 * Greedy (or beam) continuations of each prompt, one line each: the prompt, then the generated
 * text. Each prompt follows an EOS, as every training document of `lm pretrain` does, so the model
 * reads it as the start of a document.
 */
function generateContinuations(o: ParsedOptions<typeof options>): void {
  const prompts = o.prompt.length > 0 ? o.prompt : [...DEFAULT_GENERATE_PROMPTS];
  const empty = prompts.findIndex((p) => p.trim().length === 0);
  if (empty >= 0) throw new UsageError(`--prompt ${empty + 1} is empty; give the text to continue`);
  if (o['max-new-tokens'] < 1) throw new UsageError(`--max-new-tokens must be at least 1, got ${o['max-new-tokens']}`);
  if (!(o['repetition-penalty'] > 0))
    throw new UsageError(`--repetition-penalty must be positive, got ${o['repetition-penalty']}`);
  if (o['num-beams'] < 1) throw new UsageError(`--num-beams must be at least 1, got ${o['num-beams']}`);
  const { dir, model, tokenizer } = loadLanguageModel(o.lm, { device: resolveDevice(o.device) });
  try {
    const eos = tokenizer.eosTokenId ?? model.config.eosTokenIds[0];
    if (eos === undefined) throw new Error(`lm generate: ${dir} names no EOS token in its tokenizer or config`);
    const ids = prompts.map((p) => [eos, ...tokenizer.encode(p, { addSpecialTokens: false })]);
    const result = generate(model, ids, {
      maxNewTokens: o['max-new-tokens'],
      repetitionPenalty: o['repetition-penalty'],
      numBeams: o['num-beams'],
    });
    console.log(`# ${dir}`);
    prompts.forEach((prompt, i) => {
      const text = tokenizer.decode(result.tokens[i]!, { skipSpecialTokens: true });
      console.log(`${prompt}${text.replace(/\n/g, ' ')}`);
    });
  } finally {
    model.dispose();
  }
}
