// Loading a trained sequential model for serving: from a seqrec run folder (its `train/` stage
// folder) or from a model folder of an earlier `llmrec train --out` (config.json +
// model.safetensors at the top). lib/serve/kinds.ts registers both with Recommender.load.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildModel, type SavedModelConfig } from '../../models/factory.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { loadModel, MODEL_FILE } from '../../train/checkpoint.js';
import { readRunManifest } from '../run-folder.js';

export interface LoadedSequenceModel {
  model: SequenceRecommender;
  config: SavedModelConfig;
}

/** A folder holding config.json and model.safetensors as saveTrainedModel writes them. */
export async function loadSavedSequenceModel(dir: string, device: string): Promise<LoadedSequenceModel> {
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath) || !fs.existsSync(path.join(dir, MODEL_FILE)))
    throw new Error(`${dir} is not a model directory (it needs config.json and ${MODEL_FILE})`);
  let saved: SavedModelConfig;
  try {
    saved = JSON.parse(await fs.promises.readFile(configPath, 'utf-8')) as SavedModelConfig;
  } catch (error) {
    throw new Error(`${configPath} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!saved.dataset?.itemKeys || !saved.model)
    throw new Error(`${configPath} lacks the model or dataset section; it was not written by llmrec train`);
  const model = buildModel(saved, device);
  try {
    loadModel(dir, model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, config: saved };
}

/** The model of a seqrec run folder; its `train` stage must be done. */
export async function loadSeqrecRun(dir: string, device: string): Promise<LoadedSequenceModel> {
  const status = readRunManifest(dir)?.stages.train?.status;
  if (status !== 'done')
    throw new Error(
      `${dir}: its train stage is ${status ?? 'not run'}, so there is no finished model to serve; run \`llmrec train <model> --out ${dir}\``,
    );
  return loadSavedSequenceModel(path.join(dir, 'train'), device);
}
