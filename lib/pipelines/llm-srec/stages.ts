// LLM-SRec's three stages:
//   cf       pretrain the SASRec (the llm-srec preset: d 64, 2 blocks, maxlen 128), or check the
//            one of --cf against the dataset;
//   distill  train f_I, f_user, f_item, f_CF-user and the two tokens with the LM and SASRec frozen;
//   eval     1+99 NDCG/HR@10/20 on the test users, with the item table cached in the run folder.
import * as path from 'node:path';

import type { SequenceSplit } from '../../data/dataset.js';
import { saveSafetensorsSync, loadSafetensors } from '../../io/safetensors.js';
import { saveTrainedModel } from '../../models/factory.js';
import { trainingPopularity } from '../../models/popularity.js';
import { Adam } from '../../optim/adam.js';
import { manualSeed } from '../../tensor.js';
import { loadModel, saveModel } from '../../train/checkpoint.js';
import { train } from '../../train/trainer.js';
import { defineStage, type StageContext } from '../stage.js';
import { evaluateFullRanking, evaluateSampled, flatten } from '../seqrec/evaluate.js';
import { trainAndTest } from '../seqrec/train.js';
import type { LLMSRecConfig } from './config.js';
import { hasDates, periodBatches, sampleUsers, trainableUsers, trainingBatch, type UserBatch } from './data.js';
import { evaluateLLMSRec, evaluateSASRecOnCandidates, paperMetrics } from './evaluate.js';
import type { LLMSRec } from './model.js';
import {
  assembleLLMSRec,
  catalogueOf,
  cfModelDir,
  disposeLLMSRec,
  languageModelDir,
  loadCheckedSASRec,
  loadLLMSRecLanguageModel,
  promptOptions,
  releaseCachedMemory,
  type LLMSRecSavedConfig,
} from './runtime.js';
import { expectArgs } from '../../guard.js';

export const SASREC_PRESET = 'llm-srec';

export const cfStage = defineStage<LLMSRecConfig>({
  name: 'cf',
  summary: 'pretrain the SASRec (d 64, 2 blocks, maxlen 128), or check the one given with --cf',
  requires: [],
  async run(ctx) {
    const c = ctx.config;
    // The LM is distill's, but a missing one should stop `all` before minutes of SASRec training.
    languageModelDir(c.lm);
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    if (c.cf) {
      // Checked here, so a mismatch fails before any LLM work; distill reads it from there.
      const dir = path.resolve(cfModelDir(c.cf));
      const loaded = await loadCheckedSASRec(dir, dataset, ctx.device);
      try {
        const test = flatten(evaluateSampled(loaded.model, split, 'test', { seed: ctx.seed }));
        ctx.writeJson('source.json', { cf: dir, test });
        return { metrics: { test, source: dir }, outputs: ['source.json'] };
      } finally {
        loaded.model.dispose();
      }
    }
    const run = await trainAndTest(split, {
      model: 'sasrec',
      preset: SASREC_PRESET,
      epochs: c.cfEpochs,
      batchSize: c.cfBatchSize,
      lr: c.cfLr,
      seed: ctx.seed,
      device: ctx.device,
      evalEvery: Math.max(1, Math.ceil(c.cfEpochs / 10)),
      checkpointDir: ctx.checkpoints,
      resume: ctx.resume,
      progress: ctx.progress,
    });
    try {
      saveTrainedModel(ctx.dir, run.model, split);
      // The paper's SASRec row: 1+99 on the test users, with the same candidate seed as eval.
      const test = flatten(evaluateSampled(run.model, split, 'test', { seed: ctx.seed }));
      const full = flatten(evaluateFullRanking(run.model, split, 'test'));
      const result = { epochs: run.epochs, seconds: run.seconds, test, full };
      ctx.writeJson('results.json', result);
      return { metrics: { test, epochs: run.epochs }, outputs: ['model.safetensors', 'config.json', 'results.json'] };
    } finally {
      run.model.dispose();
      releaseCachedMemory(ctx.device);
    }
  },
});

/** The SASRec folder of a run: --cf's, or the cf stage's own. */
function sasrecDir(ctx: StageContext<LLMSRecConfig>): string {
  return ctx.config.cf ? path.resolve(cfModelDir(ctx.config.cf)) : ctx.stageDir('cf');
}

/** LLM-SRec with new modules, for a run's config and dataset. */
async function buildForRun(ctx: StageContext<LLMSRecConfig>, split: SequenceSplit): Promise<LLMSRec> {
  const c = ctx.config;
  const sasrec = await loadCheckedSASRec(sasrecDir(ctx), split.dataset, ctx.device);
  let language;
  try {
    language = loadLLMSRecLanguageModel(languageModelDir(c.lm), ctx.device);
  } catch (error) {
    sasrec.model.dispose();
    throw error;
  }
  // The trained modules' initial weights come from the seed, whatever ran before in this process.
  manualSeed(ctx.seed);
  return assembleLLMSRec(language, sasrec, split.dataset, {
    prompt: promptOptions(c, language.model, hasDates(split)),
    userHidden: c.userHidden,
    cfHidden: c.cfHidden,
    outDim: c.outDim,
    device: ctx.device,
  });
}

/** Which loss terms a config trains with. */
function lossTermsOf(c: LLMSRecConfig) {
  return { distillation: c.distillation, uniformity: c.uniformity };
}

export const distillStage = defineStage<LLMSRecConfig>({
  name: 'distill',
  summary: 'train f_I, f_user, f_item, f_CF-user and the [UserOut]/[ItemOut] tokens; the LM and SASRec stay frozen',
  requires: ['cf'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    if (!hasDates(split))
      ctx.log('llm-srec: the dataset has no timestamps (only the row order); the prompts leave out "Time: ..."');
    const model = await buildForRun(ctx, split);
    const optimizer = new Adam(model.heads.parameters(), { lr: c.lr, betas: [0.9, 0.98] });
    const users = sampleUsers(trainableUsers(split), c.trainUsers, ctx.seed, 0x7a1);
    const periods = c.validationsPerEpoch;
    const terms = lossTermsOf(c);
    const started = Date.now();
    try {
      const result = await train<UserBatch>({
        model: model.heads,
        optimizer,
        // One trainer "epoch" is one validation period (a tenth of a real epoch by default); the
        // learning rate is lrDecay^period of the base, set when the period starts, so a resumed
        // run has the same rate as an uninterrupted one.
        batches: (period, seed) => {
          optimizer.scaleLearningRate(c.lrDecay ** period);
          return periodBatches(users, { batchSize: c.batchSize, periods, period, seed });
        },
        batchesPerEpoch: Math.ceil(Math.floor(users.length / c.batchSize) / periods),
        loss: (batch) =>
          model.loss(
            trainingBatch(split, batch, { negatives: c.negatives, seed: ctx.seed, shuffle: c.shuffleTrain }),
            terms,
          ).total,
        epochs: c.epochs * periods,
        seed: ctx.seed,
        evaluate: () =>
          paperMetrics(
            evaluateLLMSRec(model, split, {
              stage: 'valid',
              users: c.validUsers,
              seed: ctx.seed,
              itemBatch: c.itemBatch,
            }).metrics,
          ),
        evalEvery: 1,
        earlyStopping: { metric: 'ndcg@10', patience: c.patience },
        checkpoint: { dir: ctx.checkpoints },
        resume: ctx.resume,
        progress: ctx.progress,
      });
      if (result.stopReason === 'non-finite')
        throw new Error(`LLM-SRec diverged (${result.nonFinite}); nothing was saved: try a lower --lr`);
      const popularity = trainingPopularity(split);
      const saved: LLMSRecSavedConfig = {
        kind: 'llm-srec',
        shape: model.heads.shape,
        lm: languageModelDir(c.lm),
        cf: sasrecDir(ctx),
        prompt: model.prompts.options,
        dataset: catalogueOf(dataset, popularity),
      };
      saveModel(ctx.dir, model.heads, saved as unknown as Record<string, unknown>);
      const seconds = (Date.now() - started) / 1000;
      const steps = result.steps;
      const metrics = {
        steps,
        periods: result.epochs,
        stopReason: result.stopReason,
        best: result.best,
        usersPerSecond: (steps * c.batchSize) / seconds,
        trainedParameters: model.heads.numParameters(),
      };
      ctx.writeJson('results.json', { ...metrics, history: result.history });
      return { metrics, outputs: ['model.safetensors', 'config.json', 'results.json'] };
    } finally {
      optimizer.dispose();
      disposeLLMSRec(model);
      releaseCachedMemory(ctx.device);
    }
  },
});

export const ITEM_TABLE_FILE = 'item-table.safetensors';

/** What the eval stage writes to results.json (metrics: ndcg@10, hr@10, ndcg@20, hr@20). */
export interface EvalStageResult {
  test: Record<string, number>;
  /** The SASRec alone, on the same users and candidates. */
  sasrec: Record<string, number>;
  /** With shuffleTest: both on histories shuffled at test time. */
  shuffled?: Record<string, number>;
  sasrecShuffled?: Record<string, number>;
  users: number;
  itemTableSeconds: number;
}

export const evalStage = defineStage<LLMSRecConfig>({
  name: 'eval',
  summary: '1+99 NDCG/HR@10/20 on up to evalUsers test users; the item representations are cached here',
  requires: ['cf', 'distill'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const split = dataset.split();
    const model = await buildForRun(ctx, split);
    try {
      loadModel(ctx.stageDir('distill'), model.heads);
      const numItems = dataset.numItems;
      const started = Date.now();
      const table = model.itemTable(numItems, c.itemBatch);
      const tableSeconds = (Date.now() - started) / 1000;
      saveSafetensorsSync(path.join(ctx.dir, ITEM_TABLE_FILE), new Map([['items', table]]), { format: 'pt' });
      const values = table.dataSync() as Float32Array;
      table.dispose();
      const options = { stage: 'test' as const, users: c.evalUsers, seed: ctx.seed, itemTable: values };
      const result = evaluateLLMSRec(model, split, options);
      // The SASRec alone on the same users and candidates: the paper's baseline row.
      const sasrec = evaluateSASRecOnCandidates(model.sasrec, split, options);
      const out: EvalStageResult = {
        test: paperMetrics(result.metrics),
        sasrec: paperMetrics(sasrec.metrics),
        users: result.users,
        itemTableSeconds: tableSeconds,
      };
      if (c.shuffleTest) {
        // The sequence test: the same models on histories shuffled at test time.
        out.shuffled = paperMetrics(evaluateLLMSRec(model, split, { ...options, shuffle: true }).metrics);
        out.sasrecShuffled = paperMetrics(
          evaluateSASRecOnCandidates(model.sasrec, split, { ...options, shuffle: true }).metrics,
        );
      }
      ctx.writeJson('results.json', out);
      return { metrics: { ...out }, outputs: [ITEM_TABLE_FILE, 'results.json'] };
    } finally {
      disposeLLMSRec(model);
      releaseCachedMemory(ctx.device);
    }
  },
});

/** The cached item table of an eval stage folder, [numItems + 1, D]. */
export function readItemTable(evalDir: string, device: string) {
  expectArgs('readItemTable', { evalDir, device }, 'string');
  const tensors = loadSafetensors(path.join(evalDir, ITEM_TABLE_FILE), { device });
  const table = tensors.get('items');
  if (!table) throw new Error(`${evalDir}/${ITEM_TABLE_FILE} has no 'items' tensor`);
  return table;
}
