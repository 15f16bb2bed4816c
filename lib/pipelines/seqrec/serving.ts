// Loading a trained sequential model for serving: from a seqrec run folder (its `train/` stage
// folder) or from a model folder of an earlier `llmrec train --out` (config.json +
// model.safetensors at the top). lib/serve/kinds.ts registers both with Recommender.load.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { buildModel, type SavedModelConfig } from '../../models/factory.js';
import { divergedModel, type SequenceRecommender } from '../../models/recommender-model.js';
import { noGrad } from '../../autograd.js';
import { loadModel, MODEL_FILE } from '../../train/checkpoint.js';
import { digestOutputs } from '../digest.js';
import { readRunManifest, type StageRecord } from '../run-folder.js';
import { expectArgs } from '../../guard.js';

export interface LoadedSequenceModel {
  model: SequenceRecommender;
  config: SavedModelConfig;
}

/** A folder holding config.json and model.safetensors as saveTrainedModel writes them. */
export async function loadSavedSequenceModel(dir: string, device: string): Promise<LoadedSequenceModel> {
  expectArgs('loadSavedSequenceModel', { dir, device }, 'string');
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath) || !fs.existsSync(path.join(dir, MODEL_FILE)))
    throw new Error(`${dir} is not a model directory (it needs config.json and ${MODEL_FILE})`);
  let saved: SavedModelConfig;
  try {
    saved = JSON.parse(await fs.promises.readFile(configPath, 'utf-8')) as SavedModelConfig;
  } catch (error) {
    throw new Error(`${configPath} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  checkSavedConfig(configPath, saved);
  const model = buildModel(saved, device);
  try {
    loadModel(dir, model);
    const diverged = noGrad(() => divergedModel(model));
    if (diverged)
      throw new Error(
        `${path.join(dir, MODEL_FILE)}: a diverged or corrupt model, with ${diverged}; it would rank items by NaN: train it again`,
      );
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, config: saved };
}

/**
 * The item vocabulary must cover every item the model scores: a short `itemKeys` would answer
 * `item: undefined`, a short `popularity` would rank the cold-start answer by undefined.
 */
function checkSavedConfig(configPath: string, saved: SavedModelConfig): void {
  if (typeof saved !== 'object' || saved === null || !saved.dataset?.itemKeys || !saved.model)
    throw new Error(`${configPath} lacks the model or dataset section; it was not written by llmrec train`);
  const { numItems } = saved.model;
  if (!Number.isSafeInteger(numItems) || numItems < 1)
    throw new Error(`${configPath}: model.numItems must be a positive integer, got ${JSON.stringify(numItems)}`);
  const { itemKeys, titles, popularity } = saved.dataset;
  const wrong = (name: string, list: unknown, ok: (v: unknown) => boolean) =>
    !Array.isArray(list)
      ? `dataset.${name} is not a list`
      : list.length !== numItems + 1
        ? `dataset.${name} has ${list.length} entries where the model has ${numItems} items (${numItems + 1} with the padding row 0)`
        : list.slice(1).some((v) => !ok(v))
          ? `dataset.${name} holds a value of the wrong kind`
          : undefined;
  const problem =
    wrong('itemKeys', itemKeys, (v) => typeof v === 'string') ??
    wrong('titles', titles, (v) => typeof v === 'string') ??
    wrong('popularity', popularity, (v) => typeof v === 'number' && Number.isFinite(v));
  if (problem) throw new Error(`${configPath}: ${problem}; the file was edited or truncated: train the model again`);
}

/**
 * The model of a seqrec run folder: its `train` stage must be done, or (a rerun running or
 * failed) have a last done run whose model files are still the ones it recorded.
 */
export async function loadSeqrecRun(dir: string, device: string): Promise<LoadedSequenceModel> {
  expectArgs('loadSeqrecRun', { dir, device }, 'string');
  const record = readRunManifest(dir)?.stages.train;
  const stageDir = path.join(dir, 'train');
  if (record?.status === 'done' || (record?.lastDone && (await outputsIntact(stageDir, record.lastDone))))
    return loadSavedSequenceModel(stageDir, device);
  throw new Error(
    `${dir}: its train stage is ${record?.status ?? 'not run'}, so there is no finished model to serve; run \`llmrec train <model> --out ${dir}\``,
  );
}

/** Whether the model files a done run recorded are still on disk, byte for byte. */
async function outputsIntact(stageDir: string, done: StageRecord): Promise<boolean> {
  const names = [MODEL_FILE, 'config.json'];
  if (!names.every((n) => done.outputs[n])) return false;
  try {
    const now = await digestOutputs(stageDir, names);
    return names.every((n) => now[n]!.sha256 === done.outputs[n]!.sha256);
  } catch {
    return false;
  }
}
