// The frozen LM of A-LLMRec (the shipped default or `--lm DIR`) and the item-text embeddings of
// stage 1, both through lib/llm's shared loader and TextEmbedder.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { defaultLanguageModelDir, loadLanguageModel } from '../../llm/default-model.js';
import { TextEmbedder } from '../../llm/embedder.js';
import type { CausalLM } from '../../llm/model.js';
import type { Tokenizer } from '../../llm/tokenizer.js';
import { ConfigError } from '../config.js';

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

/**
 * One embedding per text from the LM folder `dir`: its last hidden state mean-pooled over the
 * text's tokens (TextEmbedder), [texts.length × hidden] row-major.
 */
export function itemTextVectors(
  dir: string,
  texts: readonly string[],
  device: string,
): { vectors: Float32Array; dim: number } {
  if (!fs.existsSync(dir)) throw new ConfigError(`text encoder ${dir} does not exist`);
  if (!fs.existsSync(path.join(dir, 'tokenizer.json')))
    throw new ConfigError(`text encoder ${dir} has no tokenizer.json`);
  const embedder = TextEmbedder.load(dir, { device, dtype: 'f32', pooling: 'mean', maxTokens: 64 });
  try {
    return { vectors: embedder.embed(texts), dim: embedder.dimension };
  } finally {
    embedder.dispose();
  }
}
