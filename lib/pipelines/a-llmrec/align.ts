// Stage `align` (stage 1): the item autoencoder and the text autoencoder learn a joint latent on
// the last training position of each user with one negative, against the frozen SASRec:
// L = L_rec + L_matching + β·L_item-recon + 0.2·L_text-recon; Adam 1e-4, betas 0.9/0.98, batch 32.
import * as path from 'node:path';

import { noGrad } from '../../autograd.js';
import type { SequenceDataset, SequenceSplit } from '../../data/dataset.js';
import { trainingBatches } from '../../data/sampler.js';
import { saveSafetensorsSync, loadSafetensors } from '../../io/safetensors.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { embedding } from '../../ops/embedding.js';
import { Adam } from '../../optim/adam.js';
import { tidy } from '../../scope.js';
import { manualSeed, tensor, type Tensor } from '../../tensor.js';
import { loadModel, readModelConfig, saveModel } from '../../train/checkpoint.js';
import { train } from '../../train/trainer.js';
import { defineStage } from '../stage.js';
import { loadCfStage } from './cf.js';
import type { ALLMRecConfig } from './config.js';
import { itemTextVectors, languageModelDir } from './language-model.js';
import { alignmentLoss, ItemTextAligner, type AlignmentBatch, type AlignmentLossWeights } from './model.js';

export const TEXT_EMBEDDINGS_FILE = 'text-embeddings.safetensors';

/** Row i: item i's text embedding (row 0, padding, is zeros): [numItems + 1, d_text]. */
export function itemTextEmbeddings(config: ALLMRecConfig, dataset: SequenceDataset, device: string): Tensor {
  const texts = dataset.itemKeys
    .slice(1)
    .map((key, i) => dataset.texts[i + 1] || dataset.titles[i + 1] || `item ${key}`);
  const { vectors, dim } = itemTextVectors(config.textEncoder || languageModelDir(config.lm), texts, device);
  const rows = new Float32Array((dataset.numItems + 1) * dim);
  rows.set(vectors, dim);
  return tensor(rows, { shape: [dataset.numItems + 1, dim], device });
}

/** The last training position of each user in a batch: (input, positive, negative) per row. */
export interface LastPositionBatch {
  rows: number;
  input: Int32Array;
  positive: Int32Array;
  negative: Int32Array;
}

/** Stage 1's batches of an epoch (they depend only on (epoch, seed): exact resume). */
export function* lastPositionBatches(
  split: SequenceSplit,
  maxlen: number,
  batchSize: number,
  epoch: number,
  seed: number,
): Generator<LastPositionBatch> {
  for (const b of trainingBatches(split, { maxlen, batchSize, seed, epoch })) {
    const last = (values: Int32Array) =>
      Int32Array.from({ length: b.batchSize }, (_, r) => values[r * maxlen + maxlen - 1]!);
    yield { rows: b.batchSize, input: b.input, positive: last(b.positive), negative: last(b.negative) };
  }
}

/** The tensors of one stage-1 batch from the frozen SASRec and the text table. */
export function alignmentInputs(cf: SequenceRecommender, textTable: Tensor, batch: LastPositionBatch): AlignmentBatch {
  return noGrad(() => {
    const ids = (values: Int32Array) => tensor(values, { dtype: 'i32', device: cf.device });
    const items = cf.itemEmbeddings();
    return {
      user: cf.userRepresentation(batch.input, batch.rows),
      positiveItem: embedding(ids(batch.positive), items),
      negativeItem: embedding(ids(batch.negative), items),
      positiveText: embedding(ids(batch.positive), textTable),
      negativeText: embedding(ids(batch.negative), textTable),
    };
  });
}

/** Mean of each loss term over every user's last position (epoch-0 negatives). */
function alignmentTerms(
  aligner: ItemTextAligner,
  cf: SequenceRecommender,
  textTable: Tensor,
  split: SequenceSplit,
  weights: AlignmentLossWeights,
  seed: number,
): Record<string, number> {
  const sums = { total: 0, rec: 0, matching: 0, itemRecon: 0, textRecon: 0 };
  let rows = 0;
  aligner.eval();
  noGrad(() => {
    for (const batch of lastPositionBatches(split, cf.config.maxlen, 256, 0, seed)) {
      tidy(() => {
        const terms = alignmentLoss(aligner, alignmentInputs(cf, textTable, batch), weights);
        for (const key of Object.keys(sums) as (keyof typeof sums)[]) sums[key] += terms[key].item() * batch.rows;
      });
      rows += batch.rows;
    }
  });
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, rows ? v / rows : NaN]));
}

/** The stage's aligner (weights loaded), in eval mode, with the text table it was trained with. */
export function loadAlignStage(dir: string, device: string): { aligner: ItemTextAligner; textTable: Tensor } {
  const textTable = loadSafetensors(path.join(dir, TEXT_EMBEDDINGS_FILE), { device }).get('text');
  if (!textTable) throw new Error(`${dir}/${TEXT_EMBEDDINGS_FILE} has no 'text' tensor; rerun the align stage`);
  const config = readModelConfig(dir) as { cfDim: number; textDim: number; latentDim: number };
  const aligner = new ItemTextAligner(config.cfDim, config.textDim, config.latentDim, { device });
  loadModel(dir, aligner);
  aligner.freeze().eval();
  return { aligner, textTable };
}

export const alignStage = defineStage<ALLMRecConfig>({
  name: 'align',
  summary: 'stage 1: align SASRec item embeddings and item-text embeddings with two autoencoders',
  requires: ['cf'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    const { model: cf } = await loadCfStage(ctx.stageDir('cf'), ctx.device);
    const textTable = itemTextEmbeddings(c, dataset, ctx.device);
    const weights = { itemRecon: c.itemReconWeight, textRecon: c.textReconWeight };
    manualSeed(ctx.seed);
    const aligner = new ItemTextAligner(cf.config.hidden, textTable.shape[1]!, c.latentDim, { device: ctx.device });
    const optimizer = new Adam(aligner.trainableParameters(), { lr: c.alignLr, betas: [0.9, 0.98] });
    try {
      saveSafetensorsSync(path.join(ctx.dir, TEXT_EMBEDDINGS_FILE), new Map([['text', textTable]]));
      const result = await train({
        model: aligner,
        optimizer,
        batches: (epoch, seed) => lastPositionBatches(split, cf.config.maxlen, c.alignBatchSize, epoch, seed),
        loss: (batch) => alignmentLoss(aligner, alignmentInputs(cf, textTable, batch), weights).total,
        epochs: c.alignEpochs,
        seed: ctx.seed,
        checkpoint: { dir: ctx.checkpoints },
        resume: ctx.resume,
        progress: ctx.progress,
      });
      if (result.stopReason === 'non-finite')
        throw new Error(`align diverged (${result.nonFinite}); nothing was saved: try a lower --align-lr`);
      const terms = alignmentTerms(aligner, cf, textTable, split, weights, ctx.seed);
      saveModel(ctx.dir, aligner, { cfDim: aligner.cfDim, textDim: aligner.textDim, latentDim: aligner.latentDim });
      return {
        metrics: { epochs: result.epochs, loss: result.history.at(-1)?.loss, terms },
        outputs: ['model.safetensors', 'config.json', TEXT_EMBEDDINGS_FILE],
      };
    } finally {
      optimizer.dispose();
      aligner.dispose();
      textTable.dispose();
      cf.dispose();
    }
  },
});
