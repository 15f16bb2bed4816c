// How Recommender.load serves a folder: a registry of run kinds. A run folder's kind is its
// manifest's pipeline; a model folder of an earlier `llmrec train --out` (no manifest) is served
// by the kind named like its config.json's model. Each pipeline registers a loader here.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { SavedModelConfig } from '../models/factory.js';
import type { ItemTextEncoder, SequenceRecommender } from '../models/recommender-model.js';
import { modelNames } from '../models/registry.js';
import { readRunManifest } from '../pipelines/run-folder.js';
import { loadLLMSRecRun } from '../pipelines/llm-srec/serving.js';
import { loadLLM2RecRun } from '../pipelines/llm2rec/serving.js';
import { ALLMRecRecommender } from '../pipelines/a-llmrec/serving.js';
import { loadSavedSequenceModel, loadSeqrecRun } from '../pipelines/seqrec/serving.js';
import type { ServableModel } from './servable.js';
import { expectArgs } from '../guard.js';

/** What a Recommender serves: a model that scores every item, and the item vocabulary. */
export interface LoadedRecommenderModel {
  model: SequenceRecommender;
  config: SavedModelConfig;
  /** Embeds new items' texts into the model's external item table: the `addItems` capability. */
  itemTextEncoder?: ItemTextEncoder;
}

export type RecommenderKindLoader = (dir: string, options: { device: string }) => Promise<LoadedRecommenderModel>;

const kinds = new Map<string, RecommenderKindLoader>();

/** Makes Recommender.load serve folders of `kind` (a pipeline name, or a model name for old model folders). */
export function registerRecommenderKind(kind: string, loader: RecommenderKindLoader): void {
  if (kinds.has(kind)) throw new Error(`registerRecommenderKind: '${kind}' is already registered`);
  kinds.set(kind, loader);
}

/**
 * A kind that serves through its own ServableModel rather than Recommender's score-every-item
 * path (e.g. one that generates text); `Recommender.open` and `llmrec serve` use it.
 */
export type ServableKindLoader = (
  dir: string,
  options: { device: string; maxBatch: number; maxWaitMs: number },
) => Promise<ServableModel>;

const servableKinds = new Map<string, ServableKindLoader>();

/** Makes `Recommender.open` (and `llmrec serve`) serve folders of `kind` through `loader`. */
export function registerServableKind(kind: string, loader: ServableKindLoader): void {
  if (kinds.has(kind) || servableKinds.has(kind))
    throw new Error(`registerServableKind: '${kind}' is already registered`);
  servableKinds.set(kind, loader);
}

/** The loader of a servable kind, or undefined when the folder's kind is served by Recommender. */
export function servableKindLoader(dir: string): ServableKindLoader | undefined {
  return servableKinds.get(recommenderKindOf(dir));
}

/** The kind of the folder `dir`, or an Error that says what a servable folder holds. */
export function recommenderKindOf(dir: string): string {
  expectArgs('recommenderKindOf', { dir }, 'string');
  const manifest = readRunManifest(dir);
  if (manifest) return manifest.pipeline;
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath))
    throw new Error(
      `${dir} is not a model directory (it needs the manifest.json of an llmrec run, or config.json and model.safetensors); train one with \`llmrec train sasrec --out ${dir}\``,
    );
  let kind: unknown;
  try {
    kind = (JSON.parse(fs.readFileSync(configPath, 'utf-8')) as { kind?: unknown }).kind;
  } catch (error) {
    throw new Error(`${configPath} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof kind !== 'string') throw new Error(`${configPath} does not name its model ('kind')`);
  return kind;
}

/** Loads the model of `dir` through the loader of its kind. */
export function loadRecommenderModel(dir: string, options: { device: string }): Promise<LoadedRecommenderModel> {
  const kind = recommenderKindOf(dir);
  const loader = kinds.get(kind);
  if (!loader)
    throw new Error(
      servableKinds.has(kind)
        ? `${dir} holds a '${kind}' run, which does not score every item; open it with Recommender.open`
        : `${dir} holds a '${kind}' run, which llmrec cannot serve (it serves: ${[...kinds.keys(), ...servableKinds.keys()].join(', ')})`,
    );
  return loader(dir, options);
}

registerRecommenderKind('seqrec', (dir, { device }) => loadSeqrecRun(dir, device));
for (const model of modelNames())
  registerRecommenderKind(model, (dir, { device }) => loadSavedSequenceModel(dir, device));
registerRecommenderKind('llm2rec', (dir, { device }) => loadLLM2RecRun(dir, device));
registerRecommenderKind('llm-srec', (dir, { device }) => loadLLMSRecRun(dir, device));
registerServableKind('a-llmrec', (dir, options) => ALLMRecRecommender.load(dir, options));
