// The frozen LM of A-LLMRec (the shipped default or `--lm DIR`) and the item-text embeddings of
// stage 1, both through lib/llm's shared loader and TextEmbedder.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { defaultLanguageModelDir, loadLanguageModel } from '../../llm/default-model.js';
import { TextEmbedder } from '../../llm/embedder.js';
import type { CausalLM } from '../../llm/model.js';
import type { Tokenizer } from '../../llm/tokenizer.js';
import type { SequenceDataset } from '../../data/dataset.js';
import { ConfigError } from '../config.js';
import { readRunManifest } from '../run-folder.js';

export interface FrozenLanguageModel {
  dir: string;
  model: CausalLM;
  tokenizer: Tokenizer;
  /** The id that ends an answer (config.json's first EOS, else the tokenizer's). */
  eos: number;
  dispose(): void;
}

/** The LM folder a config names: `--lm DIR`, else the shipped default LM. */
export function languageModelDir(lm: string): string {
  return lm || defaultLanguageModelDir();
}

/** A Qwen2/Llama folder (config.json, safetensors, tokenizer.json) in f32, frozen, in eval mode. */
export function loadFrozenLanguageModel(dir: string, device: string): FrozenLanguageModel {
  if (!fs.existsSync(dir)) throw new ConfigError(`--lm ${dir} does not exist`);
  if (!fs.existsSync(path.join(dir, 'tokenizer.json')))
    throw new ConfigError(`--lm ${dir} has no tokenizer.json; A-LLMRec needs the LM's tokenizer to write prompts`);
  const { model, tokenizer } = loadLanguageModel(dir, { device, dtype: 'f32' });
  model.freeze().eval();
  const eos = model.config.eosTokenIds[0] ?? tokenizer.eosTokenId;
  if (eos === undefined || eos === null) {
    model.dispose();
    throw new ConfigError(`--lm ${dir}: neither config.json nor the tokenizer names an EOS token`);
  }
  return { dir, model, tokenizer, eos, dispose: () => model.dispose() };
}

/** `--text-encoder llm2rec:DIR`: an LLM2Rec run folder's item encoder (its SimCSE model). */
export const LLM2REC_ENCODER = 'llm2rec:';

/** How stage 1 embeds item texts: which HF folder, and how its hidden states are pooled. */
export interface TextEncoderSpec {
  /** The HF folder whose model embeds (the --lm, another folder, or an LLM2Rec run's simcse/). */
  dir: string;
  attention: 'causal' | 'bidirectional';
  pooling: 'mean';
  /** Tokens per text (right-truncated). */
  maxTokens: number;
  /** For `llm2rec:DIR`: the run folder, whose embed stage may already hold the item table. */
  llm2recRun?: string;
}

/** The tokens per item text of the default encoders. */
export const TEXT_TOKENS = 64;

/**
 * The stage-1 text encoder a config names: '' is the --lm (causal attention, mean pooling over
 * the text), a folder is any Qwen2/Llama HF folder (the same pooling), and `llm2rec:DIR` is the
 * item encoder of an LLM2Rec run (bidirectional attention, mean pooling, as its embed stage).
 */
export function resolveTextEncoder(textEncoder: string, lm: string): TextEncoderSpec {
  if (!textEncoder.startsWith(LLM2REC_ENCODER))
    return { dir: textEncoder || languageModelDir(lm), attention: 'causal', pooling: 'mean', maxTokens: TEXT_TOKENS };
  const run = textEncoder.slice(LLM2REC_ENCODER.length);
  if (!run) throw new ConfigError(`--text-encoder ${textEncoder}: name the LLM2Rec run folder after 'llm2rec:'`);
  if (!fs.existsSync(run)) throw new ConfigError(`--text-encoder ${textEncoder}: ${run} does not exist`);
  const manifest = readRunManifest(run);
  if (manifest?.pipeline !== 'llm2rec')
    throw new ConfigError(
      `--text-encoder ${textEncoder}: ${run} is not an LLM2Rec run folder (${manifest ? `it holds a ${manifest.pipeline} run` : 'no manifest.json'}); make one with \`llmrec llm2rec all --out ${run}\` (its stages up to embed suffice)`,
    );
  if (manifest.stages.simcse?.status !== 'done')
    throw new ConfigError(
      `--text-encoder ${textEncoder}: the run's simcse stage is ${manifest.stages.simcse?.status ?? 'not run'}, so it has no item encoder yet; run \`llmrec llm2rec simcse --out ${run}\``,
    );
  const stageConfig = (manifest.stages.embed?.config ?? manifest.stages.simcse.config) as { titleTokens?: number };
  return {
    dir: path.join(run, 'simcse'),
    attention: 'bidirectional',
    pooling: 'mean',
    maxTokens: stageConfig.titleTokens ?? TEXT_TOKENS,
    llm2recRun: run,
  };
}

/** The folders a --text-encoder value reads (hashed into the manifest). */
export function textEncoderInputs(value: string | undefined): string[] {
  if (!value) return [];
  if (!value.startsWith(LLM2REC_ENCODER)) return [value];
  const run = value.slice(LLM2REC_ENCODER.length);
  return ['simcse', 'embed/item-embeddings.safetensors', 'embed/item-ids.json']
    .map((name) => path.join(run, name))
    .filter((file) => fs.existsSync(file));
}

/** The item texts of stage 1: each item's text, else its title, else its key (index 0 unused). */
export function stageOneTexts(dataset: SequenceDataset): string[] {
  return dataset.itemKeys.map((key, i) => (i === 0 ? '' : dataset.texts[i] || dataset.titles[i] || `item ${key}`));
}

/** Opens a text encoder's folder as a TextEmbedder (dispose() frees its model). */
export function openTextEmbedder(spec: TextEncoderSpec, device: string): TextEmbedder {
  if (!fs.existsSync(spec.dir)) throw new ConfigError(`text encoder ${spec.dir} does not exist`);
  if (!fs.existsSync(path.join(spec.dir, 'tokenizer.json')))
    throw new ConfigError(`text encoder ${spec.dir} has no tokenizer.json`);
  return TextEmbedder.load(spec.dir, {
    device,
    dtype: 'f32',
    pooling: spec.pooling,
    attention: spec.attention,
    maxTokens: spec.maxTokens,
    batchTokens: Math.max(4096, spec.maxTokens),
  });
}

/**
 * One embedding per text from a text encoder: its last hidden state mean-pooled over the text's
 * tokens (TextEmbedder), [texts.length × hidden] row-major.
 */
export function itemTextVectors(
  spec: TextEncoderSpec,
  texts: readonly string[],
  device: string,
): { vectors: Float32Array; dim: number } {
  const embedder = openTextEmbedder(spec, device);
  try {
    return { vectors: embedder.embed(texts), dim: embedder.dimension };
  } finally {
    embedder.dispose();
  }
}
