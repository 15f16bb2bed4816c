// The Hugging Face config.json of the Qwen2 and Llama causal LMs, parsed and validated into one
// typed shape, and the rotary inverse frequencies it implies (including Llama 3's scaling).
import { expectArgs, kindOf } from '../guard.js';
import { activationName } from '../ops/activation-name.js';

export type ModelType = 'qwen2' | 'llama';

/** Llama 3's rope_scaling: long-context frequency scaling of the low frequencies. */
export interface Llama3RopeScaling {
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Plain position interpolation: every frequency divided by `factor`. */
export interface LinearRopeScaling {
  ropeType: 'linear';
  factor: number;
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling;

export interface CausalLMConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** hidden_size / num_attention_heads unless config.json says otherwise (head_dim). */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Biases on q/k/v (Qwen2 always; Llama when attention_bias is true). o_proj never has one in Qwen2. */
  attentionBias: boolean;
  /** Bias on o_proj too (Llama's attention_bias applies to all four projections). */
  outputBias: boolean;
  mlpBias: boolean;
  torchDtype: 'float32' | 'bfloat16' | 'float16';
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  initializerRange: number;
  /** Dropout on attention probabilities in training mode (LLM2Rec's SimCSE stage sets it). */
  attentionDropout: number;
}

type Json = Record<string, unknown>;

function fail(message: string): never {
  throw new Error(`CausalLMConfig: ${message}`);
}

function integer(json: Json, key: string, fallback?: number): number {
  const value = json[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    fail(`'${key}' must be a positive integer, got ${JSON.stringify(json[key])}`);
  return value;
}

function positive(json: Json, key: string, fallback?: number): number {
  const value = json[key] ?? fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))
    fail(`'${key}' must be a positive number, got ${JSON.stringify(json[key])}`);
  return value;
}

function probability(json: Json, key: string): number {
  const value = json[key] ?? 0;
  if (typeof value !== 'number' || !(value >= 0 && value < 1))
    fail(`'${key}' must be a probability in [0, 1), got ${JSON.stringify(json[key])}`);
  return value;
}

function flag(json: Json, key: string, fallback: boolean): boolean {
  const value = json[key] ?? fallback;
  if (typeof value !== 'boolean') fail(`'${key}' must be true or false, got ${JSON.stringify(json[key])}`);
  return value;
}

function tokenIds(json: Json, key: string): number[] {
  const value = json[key];
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const id of list)
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
      fail(`'${key}' must be a token id or a list of them, got ${JSON.stringify(value)}`);
  return list as number[];
}

function parseRopeScaling(value: unknown): RopeScaling | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object') fail(`'rope_scaling' must be an object, got ${JSON.stringify(value)}`);
  const json = value as Json;
  const type = json.rope_type ?? json.type;
  if (type === 'default') return null;
  if (type === 'linear') return { ropeType: 'linear', factor: positive(json, 'factor') };
  if (type === 'llama3') {
    const scaling: Llama3RopeScaling = {
      ropeType: 'llama3',
      factor: positive(json, 'factor'),
      lowFreqFactor: positive(json, 'low_freq_factor'),
      highFreqFactor: positive(json, 'high_freq_factor'),
      originalMaxPositionEmbeddings: integer(json, 'original_max_position_embeddings'),
    };
    if (scaling.highFreqFactor <= scaling.lowFreqFactor)
      fail(
        `rope_scaling: high_freq_factor ${scaling.highFreqFactor} must exceed low_freq_factor ${scaling.lowFreqFactor}`,
      );
    return scaling;
  }
  return fail(`rope_scaling type ${JSON.stringify(type)} is not supported (supported: llama3, linear, default)`);
}

/** Parses a config.json object of model_type 'qwen2' or 'llama'; every problem is an Error naming the key. */
export function parseConfig(json: unknown): CausalLMConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('config.json must hold a JSON object');
  const c = json as Json;
  const modelType = c.model_type;
  if (modelType !== 'qwen2' && modelType !== 'llama')
    fail(
      `model_type ${modelType === undefined ? 'is missing' : `${JSON.stringify(modelType)} is not supported`} (supported: qwen2, llama)`,
    );
  const hiddenSize = integer(c, 'hidden_size');
  const numAttentionHeads = integer(c, 'num_attention_heads');
  const numKeyValueHeads = integer(c, 'num_key_value_heads', numAttentionHeads);
  if (c.head_dim === undefined && hiddenSize % numAttentionHeads !== 0)
    fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`);
  const headDim = c.head_dim === undefined ? hiddenSize / numAttentionHeads : integer(c, 'head_dim');
  if (headDim % 2 !== 0) fail(`the head dim ${headDim} must be even for rotary embeddings`);
  if (numAttentionHeads % numKeyValueHeads !== 0)
    fail(`num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`);
  const torchDtype = (c.torch_dtype ?? 'float32') as string;
  if (torchDtype !== 'float32' && torchDtype !== 'bfloat16' && torchDtype !== 'float16')
    fail(`torch_dtype ${JSON.stringify(torchDtype)} is not supported (float32, bfloat16, float16)`);
  // The MLP is SwiGLU: its gate activation is SiLU ('silu', or 'swish' in older configs).
  let hiddenAct: string;
  try {
    hiddenAct = activationName(c.hidden_act ?? 'silu', "'hidden_act'");
  } catch (error) {
    return fail((error as Error).message);
  }
  if (hiddenAct !== 'silu')
    fail(`hidden_act ${JSON.stringify(c.hidden_act)} is not supported: the Qwen2/Llama MLP here gates with silu`);
  const llamaBias = modelType === 'llama' && flag(c, 'attention_bias', false);
  const pad = c.pad_token_id;
  return {
    modelType,
    vocabSize: integer(c, 'vocab_size'),
    hiddenSize,
    intermediateSize: integer(c, 'intermediate_size'),
    numHiddenLayers: integer(c, 'num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: positive(c, 'rms_norm_eps', 1e-6),
    ropeTheta: positive(c, 'rope_theta', 10000),
    ropeScaling: parseRopeScaling(c.rope_scaling),
    maxPositionEmbeddings: integer(c, 'max_position_embeddings', 32768),
    tieWordEmbeddings: flag(c, 'tie_word_embeddings', false),
    attentionBias: modelType === 'qwen2' ? true : llamaBias,
    outputBias: llamaBias,
    mlpBias: modelType === 'llama' && flag(c, 'mlp_bias', false),
    torchDtype,
    bosTokenId: tokenIds(c, 'bos_token_id')[0] ?? null,
    eosTokenIds: tokenIds(c, 'eos_token_id'),
    padTokenId: typeof pad === 'number' ? pad : null,
    initializerRange: positive(c, 'initializer_range', 0.02),
    attentionDropout: probability(c, 'attention_dropout'),
  };
}

const sizeFields = [
  'vocabSize',
  'hiddenSize',
  'intermediateSize',
  'numHiddenLayers',
  'numAttentionHeads',
  'numKeyValueHeads',
  'headDim',
  'maxPositionEmbeddings',
] as const;
const positiveFields = ['rmsNormEps', 'ropeTheta', 'initializerRange'] as const;
const flagFields = ['tieWordEmbeddings', 'attentionBias', 'outputBias', 'mlpBias'] as const;

/**
 * Checks a CausalLMConfig object built in code (parseConfig checks config.json): every size must
 * be a positive integer and every rate a finite number in range, so that NaN, Infinity or 1.5
 * becomes an Error naming the field ("new CausalLM: 'config.intermediateSize' must be a positive
 * integer, got number NaN") instead of a failure deep inside the model's construction.
 */
export function checkConfig(op: string, config: CausalLMConfig): void {
  expectArgs(op, { config }, 'object');
  const bad = (field: string, what: string): never => {
    throw new Error(
      `${op}: 'config.${field}' must be ${what}, got ${kindOf((config as unknown as Record<string, unknown>)[field])}`,
    );
  };
  if (config.modelType !== 'qwen2' && config.modelType !== 'llama') bad('modelType', "'qwen2' or 'llama'");
  for (const field of sizeFields)
    if (!Number.isSafeInteger(config[field]) || config[field] < 1) bad(field, 'a positive integer');
  for (const field of positiveFields)
    if (typeof config[field] !== 'number' || !(config[field] > 0) || !Number.isFinite(config[field]))
      bad(field, 'a finite positive number');
  const dropout = config.attentionDropout as unknown;
  if (dropout !== undefined && (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)))
    bad('attentionDropout', 'a probability in [0, 1)');
  for (const field of flagFields)
    if (typeof config[field] !== 'boolean' && config[field] !== undefined) bad(field, 'true or false');
  if (!Array.isArray(config.eosTokenIds) || !config.eosTokenIds.every((id) => Number.isSafeInteger(id) && id >= 0))
    bad('eosTokenIds', 'an array of token ids');
  if (config.headDim % 2 !== 0) bad('headDim', 'even (rotary embeddings rotate pairs)');
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0)
    bad('numKeyValueHeads', `a divisor of numAttentionHeads (${config.numAttentionHeads})`);
}

/** The config.json object for a config, as Hugging Face's Qwen2Config/LlamaConfig write it. */
export function configToJson(config: CausalLMConfig): Record<string, unknown> {
  checkConfig('configToJson', config);
  const json: Record<string, unknown> = {
    architectures: [config.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    hidden_act: 'silu',
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: config.torchDtype,
    initializer_range: config.initializerRange,
    attention_dropout: config.attentionDropout,
    use_cache: true,
  };
  if (config.headDim !== config.hiddenSize / config.numAttentionHeads) json.head_dim = config.headDim;
  if (config.modelType === 'llama') {
    json.attention_bias = config.attentionBias;
    json.mlp_bias = config.mlpBias;
  }
  if (config.ropeScaling) {
    // rope_type, and the legacy `type` that transformers before 4.43 reads. Both, as transformers
    // 4.43 itself saves a legacy config (its LlamaConfig copies type into rope_type); 4.43.4 then
    // logs "Unrecognized keys in rope_scaling: {'type'}", a harmless warning.
    const s = config.ropeScaling;
    json.rope_scaling =
      s.ropeType === 'linear'
        ? { rope_type: 'linear', type: 'linear', factor: s.factor }
        : {
            rope_type: 'llama3',
            type: 'llama3',
            factor: s.factor,
            low_freq_factor: s.lowFreqFactor,
            high_freq_factor: s.highFreqFactor,
            original_max_position_embeddings: s.originalMaxPositionEmbeddings,
          };
  }
  if (config.bosTokenId !== null) json.bos_token_id = config.bosTokenId;
  if (config.eosTokenIds.length > 0)
    json.eos_token_id = config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds;
  if (config.padTokenId !== null) json.pad_token_id = config.padTokenId;
  return json;
}

/** Keys HF's configs declare as floats: JSON.stringify writes 8.0 as 8, and transformers warns on an integer rope factor. */
const FLOAT_KEYS = new Set([
  'rms_norm_eps',
  'rope_theta',
  'initializer_range',
  'attention_dropout',
  'factor',
  'low_freq_factor',
  'high_freq_factor',
]);

/**
 * config.json's text: configToJson pretty-printed with the float keys written as floats (8.0), as
 * transformers writes them (it warns on an integer rope factor).
 */
export function configJsonText(config: CausalLMConfig): string {
  if (typeof config !== 'object' || config === null) fail('configJsonText needs a CausalLMConfig object');
  let json: Record<string, unknown>;
  try {
    json = configToJson(config);
  } catch {
    return fail('configJsonText needs a complete CausalLMConfig (as parseConfig returns)');
  }
  const text = JSON.stringify(json, null, 2);
  return (
    text.replace(/^(\s*"(\w+)": )(-?\d+)(,?)$/gm, (line, head: string, key: string, value: string, comma: string) =>
      FLOAT_KEYS.has(key) ? `${head}${value}.0${comma}` : line,
    ) + '\n'
  );
}

/**
 * The rotary inverse frequencies theta^(-2k/D), k < D/2, after the config's scaling. Llama 3's
 * rule (HF's _compute_llama3_parameters): wavelengths above original/low_freq_factor are divided
 * by `factor`, those below original/high_freq_factor are kept, and the band between is a smooth
 * blend of the two.
 */
export function ropeInverseFrequencies(
  config: Pick<CausalLMConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>,
): Float64Array {
  expectArgs('ropeInverseFrequencies', { config }, 'object');
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let k = 0; k < half; k++) inv[k] = 1 / Math.pow(config.ropeTheta, (2 * k) / config.headDim);
  const s = config.ropeScaling;
  if (!s) return inv;
  if (s.ropeType === 'linear') return inv.map((f) => f / s.factor);
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}
