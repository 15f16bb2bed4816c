// Downstream: the frozen item table under SASRec (2 layers, 2 heads, hidden 128, FFN 256, GELU,
// dropout 0.3, post-LN, CE over all items, maxlen 10) or GRU4Rec, through one trainable Linear
// adapter for both the input and the scoring. AdamW, full-ranking validation, the model with
// the best validation Recall@20 kept; Recall/NDCG@5/10/20 on test, mean ± std over seeds. With
// --ood-data, the same on another dataset embedded by the same model (no retraining of the LM).
import * as path from 'node:path';

import type { SequenceDataset, SequenceSplit } from '../../data/dataset.js';
import { aggregateSeeds, type MeanStd } from '../../eval/report.js';
import type { RankingMetrics } from '../../eval/metrics.js';
import { saveTrainedModel } from '../../models/factory.js';
import type { SequenceRecommender } from '../../models/recommender-model.js';
import { modelEntry } from '../../models/registry.js';
import { manualSeed, tensor } from '../../tensor.js';
import { silentSink, type ProgressSink } from '../../train/progress.js';
import { loadConfiguredDataset } from '../data.js';
import { defineStage } from '../stage.js';
import { evaluateFullRanking } from '../seqrec/evaluate.js';
import { fitSequenceModel } from '../seqrec/fit.js';
import { OOD_EMBEDDED, type LLM2RecConfig } from './config.js';
import { embedItems, llm2recEmbedding, readItemTable, type ItemTable } from './embed.js';

/** The downstream models and their learning-rate keys. */
export const downstreamModels = { sasrec: 'sasrecLr', gru4rec: 'gru4recLr' } as const;
export type DownstreamModel = keyof typeof downstreamModels;

/** LLM2Rec's metrics: Recall@K and NDCG@K for K = 5, 10, 20 (full ranking, one target: Recall = HR). */
export function llm2recMetrics(m: RankingMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [5, 10, 20]) out[`recall@${k}`] = m.recall[k]!;
  for (const k of [5, 10, 20]) out[`ndcg@${k}`] = m.ndcg[k]!;
  return out;
}

export interface DownstreamOptions {
  model: DownstreamModel;
  lr: number;
  epochs: number;
  batchSize: number;
  weightDecay: number;
  evalEvery: number;
  /** Validations without a better Recall@20 before stopping (0: never stop early). */
  patience: number;
  seeds: number;
  seed: number;
  device: string;
  /** Per-seed checkpoint folders go under it (exact resume). */
  checkpointDir?: string;
  resume?: boolean;
  progress?: ProgressSink;
  /** Called with the first seed's trained model before it is freed (to save it). */
  keep?: (model: SequenceRecommender) => void;
}

export interface DownstreamRun {
  seed: number;
  epochs: number;
  seconds: number;
  valid: Record<string, number>;
  test: Record<string, number>;
}

export interface DownstreamResult {
  model: DownstreamModel;
  runs: DownstreamRun[];
  /** Test metrics, mean ± std over seeds. */
  test: Record<string, MeanStd>;
}

/** Checks model names from the config, naming the known ones. */
export function checkDownstreamModels(models: readonly string[]): DownstreamModel[] {
  for (const m of models)
    if (!(m in downstreamModels))
      throw new Error(`llm2rec: --models takes ${Object.keys(downstreamModels).join(', ')}; got '${m}'`);
  if (models.length === 0) throw new Error('llm2rec: --models names no model');
  return models as DownstreamModel[];
}

/**
 * Trains and tests `o.model` for each seed on `split`: on the frozen `table` through an adapter,
 * or (table null) on its own ID embeddings, the ablation's ID-only row.
 */
export async function trainDownstream(
  split: SequenceSplit,
  table: ItemTable | null,
  o: DownstreamOptions,
): Promise<DownstreamResult> {
  const numItems = split.dataset.numItems;
  if (table && table.numItems !== numItems)
    throw new Error(
      `llm2rec downstream: the item table has ${table.numItems} items but ${split.dataset.name} has ${numItems}`,
    );
  const entry = modelEntry(o.model);
  const runs: DownstreamRun[] = [];
  for (let s = 0; s < o.seeds; s++) {
    const seed = o.seed + s;
    manualSeed(seed);
    const config = entry.configure(numItems, 'llm2rec', { externalDim: table?.dim ?? 0 });
    const external = table ? tensor(table.rows, { shape: [numItems + 1, table.dim], device: o.device }) : undefined;
    const model = entry.build(config, o.device, external);
    external?.dispose();
    const started = performance.now();
    try {
      const fit = await fitSequenceModel(model, split, {
        epochs: o.epochs,
        batchSize: o.batchSize,
        lr: o.lr,
        weightDecay: o.weightDecay,
        optimizer: 'adamw',
        seed,
        evalEvery: o.evalEvery,
        // The best validation Recall@20 is always the one kept; patience only decides when to stop.
        patience: o.patience || Number.MAX_SAFE_INTEGER,
        metric: 'hr@20',
        validation: 'full',
        checkpointDir: o.checkpointDir ? path.join(o.checkpointDir, `${o.model}-seed-${seed}`) : undefined,
        resume: o.resume,
        progress: o.progress ?? silentSink,
      });
      if (fit.stopReason === 'non-finite')
        throw new Error(`llm2rec downstream ${o.model} diverged (${fit.nonFinite}); try a lower learning rate`);
      runs.push({
        seed,
        epochs: fit.epochs,
        seconds: (performance.now() - started) / 1000,
        valid: llm2recMetrics(evaluateFullRanking(model, split, 'valid')),
        test: llm2recMetrics(evaluateFullRanking(model, split, 'test')),
      });
      if (s === 0) o.keep?.(model);
    } finally {
      model.dispose();
    }
  }
  return { model: o.model, runs, test: aggregateSeeds(runs.map((r) => r.test)) };
}

/** The out-of-domain dataset a config names: a file, or the embedded next-period set. */
export function loadOodDataset(c: LLM2RecConfig): Promise<{ dataset: SequenceDataset }> {
  const embedded = c.oodData === OOD_EMBEDDED;
  return loadConfiguredDataset({
    ...c,
    data: embedded ? undefined : c.oodData,
    period: embedded ? OOD_EMBEDDED : c.period,
    format: 'auto',
    meta: undefined,
    itemFile: undefined,
    dataName: undefined,
  });
}

/** The downstream options of a config for one model. */
export function downstreamOptions(c: LLM2RecConfig, model: DownstreamModel, device: string): DownstreamOptions {
  return {
    model,
    lr: c[downstreamModels[model]],
    epochs: c.epochs,
    batchSize: c.batchSize,
    weightDecay: c.weightDecay,
    evalEvery: c.evalEvery,
    patience: c.patience,
    seeds: c.seeds,
    seed: c.seed,
    device,
  };
}

export interface DownstreamStageResult {
  dataset: string;
  inDomain: DownstreamResult[];
  ood?: { dataset: string; results: DownstreamResult[] };
}

export const downstream = defineStage<LLM2RecConfig, DownstreamStageResult>({
  name: 'downstream',
  summary: 'SASRec/GRU4Rec on the frozen item table through a Linear adapter; full ranking, mean ± std of seeds',
  requires: ['embed'],
  async run(ctx) {
    const c = ctx.config;
    const models = checkDownstreamModels(c.models);
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    const table = readItemTable(ctx.stageDir('embed'));
    const inDomain: DownstreamResult[] = [];
    for (const model of models)
      inDomain.push(
        await trainDownstream(split, table, {
          ...downstreamOptions(c, model, ctx.device),
          checkpointDir: ctx.checkpoints,
          resume: ctx.resume,
          progress: ctx.progress,
          // The first model's first seed is the run's servable model.
          keep: model === models[0] ? (m) => saveTrainedModel(ctx.dir, m, split) : undefined,
        }),
      );
    const result: DownstreamStageResult = { dataset: dataset.name, inDomain };
    if (c.oodData) {
      const { dataset: ood } = await loadOodDataset(c);
      const oodTable = embedItems(ctx.stageDir('simcse'), ood, {
        ...llm2recEmbedding,
        maxTokens: c.titleTokens,
        batch: c.embedBatch,
        device: ctx.device,
      });
      const results: DownstreamResult[] = [];
      for (const model of models)
        results.push(
          await trainDownstream(ood.split(), oodTable, {
            ...downstreamOptions(c, model, ctx.device),
            checkpointDir: path.join(ctx.checkpoints, 'ood'),
            resume: ctx.resume,
            progress: ctx.progress,
          }),
        );
      result.ood = { dataset: ood.name, results };
    }
    ctx.writeJson('results.json', result);
    const means = (r: DownstreamResult) => Object.fromEntries(Object.entries(r.test).map(([k, v]) => [k, v.mean]));
    const metrics: Record<string, unknown> = {};
    for (const r of inDomain) metrics[r.model] = means(r);
    if (result.ood) for (const r of result.ood.results) metrics[`${r.model} (${result.ood.dataset})`] = means(r);
    return { metrics, outputs: ['model.safetensors', 'config.json', 'results.json'], result };
  },
});
