// Stage `cf`: the collaborative model A-LLMRec builds on, a SASRec with the paper's shape (the
// `a-llmrec` preset: d 50, 2 blocks, 1 head, dropout 0.5, maxlen 50), trained here or taken from
// `--cf DIR` (a seqrec run folder or a model folder). Either way it lands in `<run>/cf/`.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { SequenceDataset } from '../../data/dataset.js';
import { saveTrainedModel, type SavedModelConfig } from '../../models/factory.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { ConfigError } from '../config.js';
import { readRunManifest } from '../run-folder.js';
import { loadSavedSequenceModel, loadSeqrecRun } from '../seqrec/serving.js';
import { trainAndTest } from '../seqrec/train.js';
import { defineStage } from '../stage.js';
import type { ALLMRecConfig } from './config.js';

/** The SASRec of `--cf DIR`, checked against the dataset it will be used with. */
async function takeCfModel(dir: string, dataset: SequenceDataset, device: string): Promise<SequenceRecommender> {
  if (!fs.existsSync(dir)) throw new ConfigError(`--cf ${dir} does not exist`);
  const manifest = readRunManifest(dir);
  const loaded = manifest
    ? manifest.pipeline === 'a-llmrec'
      ? await loadSavedSequenceModel(path.join(dir, 'cf'), device)
      : await loadSeqrecRun(dir, device)
    : await loadSavedSequenceModel(dir, device);
  const { model, config } = loaded;
  const keys = config.dataset?.itemKeys ?? [];
  const same = keys.length === dataset.itemKeys.length && keys.every((k, i) => k === dataset.itemKeys[i]);
  if (model.kind !== 'sasrec' || !same) {
    model.dispose();
    throw new ConfigError(
      `--cf ${dir}: ${model.kind !== 'sasrec' ? `holds a ${model.kind}, not a SASRec` : `was trained on another item vocabulary (${keys.length - 1} items, this dataset has ${dataset.numItems})`}; train it on the same --data`,
    );
  }
  return model;
}

export const cfStage = defineStage<ALLMRecConfig>({
  name: 'cf',
  summary: 'pretrain the SASRec (a-llmrec preset) or take --cf DIR',
  requires: [],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    let model: SequenceRecommender;
    let metrics: Record<string, unknown>;
    if (c.cf) {
      model = await takeCfModel(c.cf, dataset, ctx.device);
      metrics = { source: c.cf };
    } else {
      const run = await trainAndTest(split, {
        model: 'sasrec',
        preset: 'a-llmrec',
        epochs: c.cfEpochs,
        batchSize: c.cfBatchSize,
        lr: c.cfLr,
        seed: ctx.seed,
        device: ctx.device,
        evalEvery: Math.max(5, Math.ceil(c.cfEpochs / 4)),
        checkpointDir: ctx.checkpoints,
        resume: ctx.resume,
        progress: ctx.progress,
      });
      model = run.model;
      metrics = { epochs: run.epochs, seconds: run.seconds, test: { sampled: run.sampled } };
    }
    try {
      saveTrainedModel(ctx.dir, model, split);
    } finally {
      model.dispose();
    }
    return { metrics, outputs: ['model.safetensors', 'config.json'] };
  },
});

/** The stage's SASRec, frozen and in eval mode, and its catalogue (item keys, titles, training popularity). */
export async function loadCfStage(
  dir: string,
  device: string,
): Promise<{ model: SequenceRecommender; catalogue: NonNullable<SavedModelConfig['dataset']> }> {
  const { model, config } = await loadSavedSequenceModel(dir, device);
  if (!config.dataset) {
    model.dispose();
    throw new Error(`${dir}/config.json has no dataset section; rerun the cf stage`);
  }
  model.freeze().eval();
  return { model, catalogue: config.dataset };
}
