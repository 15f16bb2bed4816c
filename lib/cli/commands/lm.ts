// llmrec lm init|pretrain: a random-weight causal LM, or one pretrained from scratch on a text
// corpus, in exactly the Hugging Face folder format.
import { manualSeed } from '../../tensor.js';
import type { CausalLMConfig } from '../../llm/config.js';
import { saveCausalLM } from '../../llm/loader.js';
import { CausalLM } from '../../llm/model.js';
import { presetConfig, type PresetName } from '../../llm/presets.js';
import { pretrainLanguageModel } from '../../llm/pretrain.js';
import { defaultSink } from '../../train/progress.js';
import { defineCommand, UsageError, type ParsedOptions } from '../args.js';
import { resolveDevice } from './common.js';

const actions = ['init', 'pretrain'] as const;

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
  summary: 'Create a Qwen2-format language model folder: random weights (init) or pretrained on a corpus (pretrain).',
  positionals: 'init|pretrain',
  options,
  async run(o, positionals) {
    const [action, ...extra] = positionals;
    if (!actions.includes(action as (typeof actions)[number]) || extra.length > 0)
      throw new UsageError(`expected init or pretrain, got '${positionals.join(' ')}'`);
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
