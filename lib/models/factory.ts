// Building a sequential recommender from a saved config: what checkpoints and Recommender.load use.
import type { SequenceSplit } from '../data/dataset.js';
import { zeros } from '../tensor.js';
import { saveModel } from '../train/checkpoint.js';
import { trainingPopularity } from './popularity.js';
import { GRU4Rec, type GRU4RecConfig } from './gru4rec.js';
import type { SequenceRecommender } from './recommender-model.js';
import { SASRec, type SASRecConfig } from './sasrec.js';

export type ModelKind = 'sasrec' | 'gru4rec';

/** What a checkpoint's config.json holds. */
export interface SavedModelConfig {
  kind: ModelKind;
  model: SASRecConfig | GRU4RecConfig;
  /** The dataset's item keys and titles, so a loaded model can answer in the caller's ids. */
  dataset?: { name: string; itemKeys: string[]; titles: string[]; popularity: number[] };
}

/** A model with the saved config's shapes (weights to be loaded); a frozen external table starts as zeros. */
export function buildModel(saved: SavedModelConfig, device = 'cpu'): SequenceRecommender {
  const { numItems, externalDim } = saved.model;
  const externalItems = externalDim > 0 ? zeros([numItems + 1, externalDim], { device }) : undefined;
  switch (saved.kind) {
    case 'sasrec':
      return new SASRec(saved.model as SASRecConfig, { device, externalItems });
    case 'gru4rec':
      return new GRU4Rec(saved.model as GRU4RecConfig, { device, externalItems });
    default:
      throw new Error(`model: unknown kind '${String((saved as { kind: unknown }).kind)}'; expected sasrec or gru4rec`);
  }
}

/** The config a trained model is saved with: its kind, shapes and the dataset's item vocabulary. */
export function savedConfigFor(model: SequenceRecommender, split: SequenceSplit): SavedModelConfig {
  const dataset = split.dataset;
  return {
    kind: model.kind as ModelKind,
    model: { ...(model.config as SASRecConfig | GRU4RecConfig) },
    dataset: {
      name: dataset.name,
      itemKeys: dataset.itemKeys,
      titles: dataset.titles,
      popularity: [...trainingPopularity(split)],
    },
  };
}

/** Writes `<dir>/model.safetensors` and `<dir>/config.json` atomically. */
export function saveTrainedModel(dir: string, model: SequenceRecommender, split: SequenceSplit): void {
  saveModel(dir, model, savedConfigFor(model, split) as unknown as Record<string, unknown>);
}
