// Serving an LLM2Rec run: its downstream model (the first of --models, first seed) answers
// recommendations, and the run's own item encoder (the SimCSE model, bidirectional, mean
// pooling) embeds items added at serving time into the same frozen table, so they can be
// recommended at once. lib/serve/kinds.ts registers this loader for 'llm2rec' run folders.
import * as path from 'node:path';

import type { ItemTextEncoder } from '../../models/recommender-model.js';
import { readRunManifest } from '../run-folder.js';
import { loadSavedSequenceModel, type LoadedSequenceModel } from '../seqrec/serving.js';
import { llm2recEmbedding } from './embed.js';
import { embedTexts, openLanguageModel, type StageLanguageModel } from './language-model.js';

/** Embeds texts as the run's embed stage did; the LM loads on the first call. */
export function runItemEncoder(
  lmDir: string,
  dim: number,
  o: { maxTokens: number; batch: number; device: string },
): ItemTextEncoder {
  let lm: StageLanguageModel | null = null;
  return {
    dim,
    async embed(texts) {
      lm ??= openLanguageModel(lmDir, o.device);
      return embedTexts(lm, texts, { ...llm2recEmbedding, maxTokens: o.maxTokens, batch: o.batch });
    },
    close() {
      lm?.model.dispose();
      lm = null;
    },
  };
}

/** The downstream model of an llm2rec run folder and its item encoder; the stages must be done. */
export async function loadLLM2RecRun(
  dir: string,
  device: string,
): Promise<LoadedSequenceModel & { itemTextEncoder: ItemTextEncoder }> {
  const manifest = readRunManifest(dir);
  for (const stage of ['simcse', 'embed', 'downstream']) {
    const status = manifest?.stages[stage]?.status;
    if (status !== 'done')
      throw new Error(
        `${dir}: its ${stage} stage is ${status ?? 'not run'}, so there is no finished LLM2Rec model to serve; run \`llmrec llm2rec all --out ${dir}\``,
      );
  }
  const embedConfig = manifest!.stages.embed!.config as { titleTokens?: number; embedBatch?: number };
  const loaded = await loadSavedSequenceModel(path.join(dir, 'downstream'), device);
  const dim = loaded.config.model.externalDim;
  return {
    ...loaded,
    itemTextEncoder: runItemEncoder(path.join(dir, 'simcse'), dim, {
      maxTokens: embedConfig.titleTokens ?? 64,
      batch: embedConfig.embedBatch ?? 64,
      device,
    }),
  };
}
