// What every LLM2Rec stage does with its language model: open a Hugging Face folder (weights and
// the tokenizer it was trained with), save a fine-tuned one as such a folder (so the next stage,
// `--lm`, and transformers all read it), tokenise item texts, and pool title embeddings.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { SequenceDataset } from '../../data/dataset.js';
import { defaultLanguageModelDir, loadLanguageModel, type LanguageModel } from '../../llm/default-model.js';
import { TextEmbedder } from '../../llm/embedder.js';
import { saveCausalLM } from '../../llm/loader.js';
import { poolHidden, type CausalLM } from '../../llm/model.js';
import type { Tokenizer } from '../../llm/tokenizer.js';
import type { Tensor } from '../../tensor.js';
import type { StageContext } from '../stage.js';

/** A loaded LM and its tokenizer, with the ids the stages need. */
export interface StageLanguageModel extends LanguageModel {
  eosId: number;
  padId: number;
}

/** The files a stage writes to make its folder a Hugging Face model folder. */
export const LM_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

/** The LM folder a config names: `--lm`, else the shipped default. */
export function languageModelDir(lm: string): string {
  return lm || defaultLanguageModelDir();
}

/** Loads an LM folder for training or embedding (f32), with a message saying what to do when the tokenizer is missing. */
export function openLanguageModel(dir: string, device: string): StageLanguageModel {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new Error(`llm2rec: the LM folder ${dir} does not exist`);
  if (!fs.existsSync(path.join(dir, 'tokenizer.json')))
    throw new Error(
      `llm2rec: the LM folder ${dir} has no tokenizer.json; LLM2Rec needs the tokenizer the LM was trained with: copy its tokenizer.json (and tokenizer_config.json) into ${dir}`,
    );
  const lm = loadLanguageModel(dir, { device, dtype: 'f32' });
  const eosId = lm.tokenizer.eosTokenId ?? lm.model.config.eosTokenIds[0];
  if (eosId === undefined) {
    lm.model.dispose();
    throw new Error(`llm2rec: ${dir} names no EOS token (tokenizer_config.json eos_token or config.json eos_token_id)`);
  }
  return { ...lm, eosId, padId: lm.tokenizer.padTokenId ?? eosId };
}

/**
 * Writes the stage's model as a Hugging Face folder in the stage folder: config.json and
 * model.safetensors (f32), then the tokenizer files, each atomically. Returns the file names.
 */
export function saveLanguageModel(ctx: StageContext<unknown>, lm: StageLanguageModel): string[] {
  saveCausalLM(ctx.dir, lm.model, { dtype: 'f32' });
  ctx.writeFile('tokenizer.json', JSON.stringify(lm.tokenizer.toJson(), null, 2) + '\n');
  ctx.writeFile('tokenizer_config.json', JSON.stringify(lm.tokenizer.toConfigJson(), null, 2) + '\n');
  return LM_FILES;
}

/**
 * The text of every item (index = item id; index 0 is padding), or an Error naming the items
 * without one: an item with no text cannot be embedded.
 */
export function itemTexts(dataset: SequenceDataset): string[] {
  const texts = dataset.texts;
  const missing: string[] = [];
  for (let id = 1; id <= dataset.numItems; id++) if (!texts[id]?.trim()) missing.push(dataset.itemKeys[id]!);
  if (missing.length > 0)
    throw new Error(
      `llm2rec: ${missing.length} of ${dataset.numItems} items of ${dataset.name} have no text (e.g. ${missing
        .slice(0, 5)
        .map((k) => `'${k}'`)
        .join(
          ', ',
        )}); LLM2Rec embeds every item from its title: give the items titles, choose fields they have with --item-text, or leave them out of the data`,
    );
  return texts;
}

/** Token ids of each text (special tokens as the tokenizer adds them), cut to `maxTokens`. */
export function tokenizeTexts(tokenizer: Tokenizer, texts: readonly string[], maxTokens: number): number[][] {
  return texts.map((text) => {
    const ids = tokenizer.encode(text);
    return ids.length > maxTokens ? ids.slice(0, maxTokens) : ids.length > 0 ? ids : [tokenizer.eosTokenId ?? 0];
  });
}

/** Right-padded rows: flat ids [B × L] and the real length of each row. */
export function padRows(
  rows: readonly (readonly number[])[],
  pad: number,
): { ids: Int32Array; lengths: Int32Array; b: number; l: number } {
  const b = rows.length;
  const l = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(b * l).fill(pad);
  const lengths = new Int32Array(b);
  rows.forEach((row, r) => {
    ids.set(row, r * l);
    lengths[r] = row.length;
  });
  return { ids, lengths, b, l };
}

export type Pooling = 'mean' | 'eos';

/**
 * One vector per row [B, hidden] from right-padded token rows: the mean of the last hidden
 * states over real tokens (LLM2Rec), or the state at the last token (the causal-LM baseline,
 * whose rows end in EOS). Differentiable; call inside tidy().
 */
export function poolRows(
  model: CausalLM,
  rows: readonly (readonly number[])[],
  options: { attention: 'causal' | 'bidirectional'; pooling: Pooling; padId: number },
): Tensor {
  const { ids, lengths, b, l } = padRows(rows, options.padId);
  const { lastHiddenState } = model.forward({
    inputIds: ids,
    shape: [b, l],
    lengths,
    attention: options.attention,
    logits: 'none',
  });
  return poolHidden(lastHiddenState, { mode: options.pooling === 'mean' ? 'mean' : 'last', lengths });
}

export interface EmbedTextsOptions {
  attention: 'causal' | 'bidirectional';
  pooling: Pooling;
  /** Tokens per text (right-truncated). */
  maxTokens: number;
  /** Texts per forward pass at most. */
  batch: number;
}

/** Embeds texts with an LM in eval mode (TextEmbedder): [texts.length × hidden] f32, row i for text i. */
export function embedTexts(lm: LanguageModel, texts: readonly string[], options: EmbedTextsOptions): Float32Array {
  const embedder = new TextEmbedder(lm.model, lm.tokenizer, {
    attention: options.attention,
    pooling: options.pooling,
    maxTokens: options.maxTokens,
    batchTokens: Math.max(4096, options.maxTokens),
    maxBatchSize: options.batch,
  });
  return embedder.embed(texts);
}
