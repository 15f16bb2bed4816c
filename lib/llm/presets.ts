// Named model shapes: tiny and small for tests, demos and CPU benchmarks; mini for the shipped
// default model (the shape that trains well in about half an hour on two CPU cores); qwen2-0.5b for
// GPU benchmarks only (its weights are random, never a substitute for the real checkpoint).
import type { CausalLMConfig } from './config.js';

export type PresetName = 'tiny' | 'mini' | 'small' | 'qwen2-0.5b';

export const PRESET_NAMES: readonly PresetName[] = ['tiny', 'mini', 'small', 'qwen2-0.5b'];

const QWEN2_DEFAULTS = {
  modelType: 'qwen2',
  rmsNormEps: 1e-6,
  ropeTheta: 1_000_000,
  ropeScaling: null,
  attentionBias: true,
  outputBias: false,
  mlpBias: false,
  torchDtype: 'float32',
  bosTokenId: null,
  padTokenId: null,
  initializerRange: 0.02,
  attentionDropout: 0,
} as const;

/** The Qwen2 config of a preset; the vocabulary comes from the tokenizer in use (or --vocab-size). */
export function presetConfig(name: PresetName, vocabSize?: number): CausalLMConfig {
  const shapes = {
    tiny: {
      hiddenSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 172,
      vocab: 1024,
      ctx: 2048,
      tie: true,
    },
    mini: {
      hiddenSize: 128,
      numHiddenLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      intermediateSize: 352,
      vocab: 8192,
      ctx: 512,
      tie: true,
    },
    small: {
      hiddenSize: 256,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 2,
      intermediateSize: 688,
      vocab: 4096,
      ctx: 4096,
      tie: true,
    },
    'qwen2-0.5b': {
      hiddenSize: 896,
      numHiddenLayers: 24,
      numAttentionHeads: 14,
      numKeyValueHeads: 2,
      intermediateSize: 4864,
      vocab: 151936,
      ctx: 32768,
      tie: true,
    },
  } as const;
  const shape = shapes[name];
  if (!shape) throw new Error(`presetConfig: unknown preset '${String(name)}' (known: ${PRESET_NAMES.join(', ')})`);
  const vocab = vocabSize ?? shape.vocab;
  if (!Number.isInteger(vocab) || vocab < 2)
    throw new Error(`presetConfig: 'vocabSize' must be an integer >= 2, got ${vocab}`);
  return {
    ...QWEN2_DEFAULTS,
    vocabSize: vocab,
    hiddenSize: shape.hiddenSize,
    intermediateSize: shape.intermediateSize,
    numHiddenLayers: shape.numHiddenLayers,
    numAttentionHeads: shape.numAttentionHeads,
    numKeyValueHeads: shape.numKeyValueHeads,
    headDim: shape.hiddenSize / shape.numAttentionHeads,
    maxPositionEmbeddings: shape.ctx,
    tieWordEmbeddings: shape.tie,
    // The last id ends text, as <|endoftext|> does for a tokenizer whose specials come last.
    eosTokenIds: [vocab - 1],
  };
}
