// Building a sequential recommender from a saved config: what checkpoints and Recommender.load use.
import { SequenceSplit } from '../data/dataset.js';
import { zeros } from '../tensor.js';
import { saveModel } from '../train/checkpoint.js';
import { trainingPopularity } from './popularity.js';
import type { SequenceRecommender } from './recommender-model.js';
import { modelEntry, type SequenceModelConfig } from './registry.js';
import { Module } from '../nn/module.js';
import { expectArgs, expectFields } from '../guard.js';

/** What a saved model's config.json holds. */
export interface SavedModelConfig {
  /** The model's name in the model registry ('sasrec', 'gru4rec', ...). */
  kind: string;
  model: SequenceModelConfig;
  /** The dataset's item keys and titles, so a loaded model can answer in the caller's ids. */
  dataset?: { name: string; itemKeys: string[]; titles: string[]; popularity: number[] };
}

/** A model with the saved config's shapes (weights to be loaded); a frozen external table starts as zeros. */
export function buildModel(saved: SavedModelConfig, device = 'cpu'): SequenceRecommender {
  expectFields('buildModel', 'saved', saved, { kind: 'string', model: 'object' });
  expectArgs('buildModel', { device }, 'string');
  const { numItems, externalDim } = saved.model;
  const externalItems = externalDim > 0 ? zeros([numItems + 1, externalDim], { device }) : undefined;
  return modelEntry(saved.kind).build(saved.model, device, externalItems);
}

/** The config a trained model is saved with: its kind, shapes and the dataset's item vocabulary. */
export function savedConfigFor(model: SequenceRecommender, split: SequenceSplit): SavedModelConfig {
  expectArgs('savedConfigFor', { model }, Module);
  expectArgs('savedConfigFor', { split }, SequenceSplit);
  const dataset = split.dataset;
  return {
    kind: model.kind,
    model: { ...(model.config as SequenceModelConfig) },
    dataset: {
      name: dataset.name,
      itemKeys: dataset.itemKeys,
      titles: dataset.titles,
      popularity: [...trainingPopularity(split)],
    },
  };
}

/** Writes `<dir>/model.safetensors` and `<dir>/config.json`, each atomically. */
export function saveTrainedModel(dir: string, model: SequenceRecommender, split: SequenceSplit): void {
  expectArgs('saveTrainedModel', { dir }, 'string');
  expectArgs('saveTrainedModel', { model }, 'object');
  expectArgs('saveTrainedModel', { split }, SequenceSplit);
  saveModel(dir, model, savedConfigFor(model, split) as unknown as Record<string, unknown>);
}
