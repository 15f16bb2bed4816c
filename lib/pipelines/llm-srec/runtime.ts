// Assembling LLM-SRec from its parts on disk: the LM folder (weights + tokenizer.json), the
// SASRec of the cf stage (or --cf), and the dataset's catalogue. Shared by the distill and eval
// stages and the serving path.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { SequenceDataset } from '../../data/dataset.js';
import { emptyCache } from '../../device.js';
import { defaultLanguageModelDir, loadLanguageModel, type LanguageModel } from '../../llm/default-model.js';
import type { CausalLM } from '../../llm/model.js';
import type { SavedModelConfig } from '../../models/factory.js';
import { readRunManifest } from '../run-folder.js';
import { loadSavedSequenceModel, type LoadedSequenceModel } from '../seqrec/serving.js';
import { LLMSRec, LLMSRecHeads, type LLMSRecShape } from './model.js';
import { PromptBuilder, type ItemCatalogue, type PromptOptions } from './prompts.js';
import { Module } from '../../nn/module.js';
import { expectArgs, expectFields } from '../../guard.js';

/** The LM folder a config names: --lm, or the shipped default LM (an Error names the command that builds it). */
export function languageModelDir(lm: string): string {
  if (lm) expectArgs('languageModelDir', { lm }, 'string');
  return lm ? path.resolve(lm) : defaultLanguageModelDir();
}

/** The LM (f32 on the CPU) and its tokenizer; errors name what the folder lacks. */
export function loadLLMSRecLanguageModel(dir: string, device: string): LanguageModel {
  expectArgs('loadLLMSRecLanguageModel', { dir, device }, 'string');
  if (!fs.existsSync(path.join(dir, 'tokenizer.json')))
    throw new Error(`LLM-SRec: the LM folder ${dir} has no tokenizer.json (the prompts are text)`);
  return loadLanguageModel(dir, { device, dtype: device === 'cpu' ? 'f32' : undefined });
}

/** The SASRec model folder of a --cf value: a seqrec run folder, an llm-srec run folder, or a model folder. */
export function cfModelDir(cf: string): string {
  if (cf) expectArgs('cfModelDir', { cf }, 'string');
  const manifest = readRunManifest(cf);
  if (!manifest) return cf;
  const stage = manifest.pipeline === 'seqrec' ? 'train' : manifest.pipeline === 'llm-srec' ? 'cf' : null;
  if (!stage) throw new Error(`LLM-SRec: --cf ${cf} is a ${manifest.pipeline} run, not a SASRec (seqrec or llm-srec)`);
  if (manifest.stages[stage]?.status !== 'done')
    throw new Error(`LLM-SRec: --cf ${cf}: its ${stage} stage is not done, so it has no trained SASRec`);
  return path.join(cf, stage);
}

/**
 * The trained SASRec of `dir`, checked against the dataset: the same items under the same ids,
 * or an Error that says what differs (nothing is written).
 */
export async function loadCheckedSASRec(
  dir: string,
  dataset: ItemCatalogue & { name: string },
  device: string,
): Promise<LoadedSequenceModel> {
  expectArgs('loadCheckedSASRec', { dir, device }, 'string');
  const loaded = await loadSavedSequenceModel(dir, device);
  const keys = loaded.config.dataset?.itemKeys ?? [];
  const problem =
    loaded.config.kind !== 'sasrec'
      ? `is a ${loaded.config.kind}, not a SASRec`
      : keys.length !== dataset.itemKeys.length
        ? `has ${keys.length - 1} items but the dataset ${dataset.name} has ${dataset.itemKeys.length - 1}`
        : (() => {
            const at = keys.findIndex((key, id) => key !== dataset.itemKeys[id]);
            return at >= 0
              ? `numbers its items differently from the dataset ${dataset.name} (item ${at} is '${keys[at]}' there, '${dataset.itemKeys[at]}' here): it was trained on other data`
              : null;
          })();
  if (problem) {
    loaded.model.dispose();
    throw new Error(`LLM-SRec: the SASRec in ${dir} ${problem}`);
  }
  return loaded;
}

/** What the distill stage saves beside the trained modules, and serving reads back. */
export interface LLMSRecSavedConfig {
  kind: 'llm-srec';
  shape: LLMSRecShape;
  /** Absolute LM folder. */
  lm: string;
  /** Absolute SASRec model folder. */
  cf: string;
  prompt: PromptOptions;
  dataset: NonNullable<SavedModelConfig['dataset']>;
}

/** The prompt options of a config, bounded by the LM's context. */
export function promptOptions(
  config: { historyItems: number; maxPromptTokens: number },
  lm: CausalLM,
  dates: boolean,
): PromptOptions {
  expectArgs('promptOptions', { config, lm }, 'object');
  expectArgs('promptOptions', { dates }, 'boolean');
  const context = lm.config.maxPositionEmbeddings;
  return {
    historyItems: config.historyItems,
    maxTokens: config.maxPromptTokens > 0 ? Math.min(config.maxPromptTokens, context) : context,
    dates,
  };
}

/** LLM-SRec from loaded parts, with new (or given) trained modules. */
export function assembleLLMSRec(
  language: LanguageModel,
  sasrec: LoadedSequenceModel,
  catalogue: ItemCatalogue,
  options: { prompt: PromptOptions; userHidden: number; cfHidden: number; outDim: number; device: string },
): LLMSRec {
  expectFields('assembleLLMSRec', 'language', language, { model: Module, tokenizer: 'object' });
  expectFields('assembleLLMSRec', 'sasrec', sasrec, { model: Module });
  expectArgs('assembleLLMSRec', { catalogue, options }, 'object');
  const shape: LLMSRecShape = {
    cfDim: sasrec.model.config.hidden,
    lmHidden: language.model.config.hiddenSize,
    userHidden: options.userHidden,
    cfHidden: options.cfHidden,
    outDim: options.outDim,
  };
  const heads = new LLMSRecHeads(shape, {
    device: options.device,
    tokenTable: language.model.model.embed_tokens.weight,
  });
  const prompts = new PromptBuilder(language.tokenizer, catalogue, options.prompt);
  return new LLMSRec(language.model, sasrec.model, heads, prompts);
}

/** Frees the LM, the SASRec and the trained modules. */
export function disposeLLMSRec(model: LLMSRec): void {
  expectArgs('disposeLLMSRec', { model }, LLMSRec);
  model.cfItems.dispose();
  model.heads.dispose();
  model.sasrec.dispose();
  model.lm.dispose();
}

/** The dataset's catalogue as serving needs it (ids, titles, training popularity). */
export function catalogueOf(dataset: SequenceDataset, popularity: ArrayLike<number>): LLMSRecSavedConfig['dataset'] {
  expectArgs('catalogueOf', { dataset }, SequenceDataset);
  expectArgs('catalogueOf', { popularity }, 'arrayLike');
  return { name: dataset.name, itemKeys: dataset.itemKeys, titles: dataset.titles, popularity: Array.from(popularity) };
}

/**
 * Hands the allocator's cached free blocks back to the system between phases. Each phase
 * (SASRec training, each variant's distill and eval) allocates tensors of its own sizes (prompt
 * widths, batch shapes), so blocks one phase cached are rarely reused by the next, and the
 * cache (up to 2 GiB on the CPU) would otherwise add up across phases: what made the ablation's
 * peak RSS about twice `all`'s (BENCHMARKS.md).
 */
export function releaseCachedMemory(device: string): void {
  if (typeof device !== 'string') throw new Error(`releaseCachedMemory: device must be a string, got ${typeof device}`);
  emptyCache(device);
}
