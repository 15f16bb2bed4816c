// The language model every pipeline uses when --lm is not given: a small Qwen2 pretrained by
// `llmrec lm pretrain` on WordNet glosses and the embedded catalogues' item titles, shipped in
// data/models/. Any other Qwen2/Llama Hugging Face folder loads through the same function.
import { existsSync } from 'node:fs';
import path from 'node:path';

import { dataDirectory } from '../data/source.js';
import { loadCausalLM, type LoadOptions } from './loader.js';
import type { CausalLM } from './model.js';
import { Tokenizer } from './tokenizer.js';

/** The shipped default model's folder name under data/models/. */
export const DEFAULT_LANGUAGE_MODEL = 'wordnet-retail-lm';

/** The command that (re)builds the shipped default model from the package root. */
export const DEFAULT_LANGUAGE_MODEL_COMMAND = `npx llmrec lm pretrain --preset mini --context 512 --batch-size 8 --lr 0.003 --corpus wordnet,retail --tokens 2539520 --out data/models/${DEFAULT_LANGUAGE_MODEL}`;

/** The files a model folder must hold for loadLanguageModel. */
const REQUIRED_FILES = ['config.json', 'tokenizer.json'] as const;

/**
 * `dir` when it holds a built model (config.json and tokenizer.json); otherwise throws, naming the
 * command that builds the shipped default model.
 */
export function builtLanguageModelDir(dir: string): string {
  if (typeof dir !== 'string') throw new Error(`builtLanguageModelDir: 'dir' must be a folder path, got ${typeof dir}`);
  const missing = REQUIRED_FILES.filter((file) => !existsSync(path.join(dir, file)));
  if (missing.length > 0)
    throw new Error(
      `the default language model ${dir} is not built (missing ${missing.join(', ')}); build it with: ${DEFAULT_LANGUAGE_MODEL_COMMAND}`,
    );
  return dir;
}

/** data/models/<DEFAULT_LANGUAGE_MODEL>, the shipped default model; throws, naming the build command, while it is absent. */
export function defaultLanguageModelDir(): string {
  return builtLanguageModelDir(path.join(dataDirectory(), 'models', DEFAULT_LANGUAGE_MODEL));
}

export interface LanguageModel {
  /** The folder it was loaded from. */
  dir: string;
  model: CausalLM;
  tokenizer: Tokenizer;
}

/**
 * A Qwen2/Llama Hugging Face folder (config.json, safetensors weights, tokenizer.json) as model +
 * tokenizer; the shipped default model when `dir` is not given. The caller disposes the model.
 */
export function loadLanguageModel(dir?: string, options: LoadOptions = {}): LanguageModel {
  if (dir !== undefined && typeof dir !== 'string')
    throw new Error(`loadLanguageModel: 'dir' must be a folder path, got ${dir === null ? 'null' : typeof dir}`);
  if (typeof options !== 'object' || options === null)
    throw new Error(
      `loadLanguageModel: 'options' must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  const folder = dir ?? defaultLanguageModelDir();
  if (!existsSync(folder)) throw new Error(`loadLanguageModel: ${folder} does not exist`);
  const tokenizer = Tokenizer.fromFile(folder);
  const model = loadCausalLM(folder, options);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    model.dispose();
    throw new Error(
      `loadLanguageModel: ${folder}: the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.config.vocabSize} rows`,
    );
  }
  return { dir: folder, model, tokenizer };
}
