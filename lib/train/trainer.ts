// The training loop shared by every model and pipeline stage: micro-batch accumulation,
// schedules, evaluation with early stopping, periodic atomic checkpoints, exact resume, and
// detection of non-finite values. Each step runs inside tidy(), so intermediates are freed
// every step and memory stays flat however long the run.
import * as path from 'node:path';

import { noGrad } from '../autograd.js';
import { native } from '../binding.js';
import type { LossContext } from '../losses/registry.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LrScheduler } from '../optim/schedule.js';
import { keep, tidy } from '../scope.js';
import { generator, Tensor } from '../tensor.js';
import {
  latestCheckpoint,
  loadCheckpoint,
  loadModel,
  pruneCheckpoints,
  saveCheckpoint,
  saveModel,
  STATE_FILE,
} from './checkpoint.js';
import { silentSink, type ProgressSink } from './progress.js';
import { expectArgs } from '../guard.js';

export interface EarlyStopping {
  /** The metric returned by evaluate() to watch, e.g. 'ndcg@10'. */
  metric: string;
  mode?: 'max' | 'min';
  /** Evaluations without improvement before stopping. */
  patience: number;
  /** Load the best weights back at the end (default true; needs checkpoint.dir). */
  restoreBest?: boolean;
}

export interface TrainerConfig<B> {
  model: Module;
  optimizer: Optimizer;
  scheduler?: LrScheduler;
  /** The batches of one epoch, in order. They must depend only on (epoch, seed): that is what makes resume exact. */
  batches: (epoch: number, seed: number) => Iterable<B>;
  /** Batches in an epoch, for the progress bar. */
  batchesPerEpoch?: number;
  /** Forward pass and loss for one batch: a scalar tensor. */
  loss: (batch: B, context: LossContext) => Tensor;
  epochs: number;
  seed?: number;
  /** Micro-batches whose gradients add up before one optimiser step (default 1). */
  accumulate?: number;
  /** Returns validation metrics; called every `evalEvery` epochs (default 1). */
  evaluate?: (epoch: number) => Promise<Record<string, number>> | Record<string, number>;
  evalEvery?: number;
  earlyStopping?: EarlyStopping;
  checkpoint?: {
    dir: string;
    /** Also save every N optimiser steps (the end of each epoch is always saved). */
    everySteps?: number;
    /** Step checkpoints to keep (default 2). */
    keep?: number;
    /** Saved beside the weights, e.g. the model's hyperparameters. */
    config?: Record<string, unknown>;
  };
  /** Continue from checkpoint.dir's latest checkpoint when there is one (default false). */
  resume?: boolean;
  /** What a NaN or Inf in the loss or a gradient does: stop (default), skip the step, or nothing. */
  onNonFinite?: 'stop' | 'skip' | 'ignore';
  progress?: ProgressSink;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  metrics?: Record<string, number>;
}

export interface TrainResult {
  epochs: number;
  steps: number;
  history: EpochRecord[];
  best?: { epoch: number; value: number; metrics: Record<string, number> };
  stopReason: 'completed' | 'early-stopping' | 'non-finite';
  /** Where a non-finite value first appeared, when that stopped or skipped steps. */
  nonFinite?: string;
}

interface LoopState {
  epoch: number;
  /** Batches of `epoch` already consumed (a mid-epoch checkpoint resumes after them). */
  batchInEpoch: number;
  step: number;
  lossSum: number;
  lossCount: number;
  history: EpochRecord[];
  best: TrainResult['best'];
  badEvaluations: number;
  generator: { seed: string; offset: string };
  nonFinite?: string;
}

function checkConfig<B>(c: TrainerConfig<B>): void {
  if (!Number.isInteger(c.epochs) || c.epochs < 1)
    throw new Error(`train: 'epochs' must be a positive integer, got ${c.epochs}`);
  const accumulate = c.accumulate ?? 1;
  if (!Number.isInteger(accumulate) || accumulate < 1)
    throw new Error(`train: 'accumulate' must be a positive integer, got ${accumulate}`);
  if (c.earlyStopping && !c.evaluate) throw new Error('train: earlyStopping needs an evaluate() function');
  if (c.earlyStopping && (!Number.isInteger(c.earlyStopping.patience) || c.earlyStopping.patience < 1))
    throw new Error(`train: earlyStopping.patience must be a positive integer, got ${c.earlyStopping.patience}`);
  if (c.resume && !c.checkpoint) throw new Error('train: resume needs checkpoint.dir');
  const every = c.checkpoint?.everySteps;
  if (every !== undefined && (!Number.isInteger(every) || every < 1))
    throw new Error(`train: checkpoint.everySteps must be a positive integer, got ${every}`);
}

/**
 * The trainer's state from a checkpoint's trainer.json, every field checked: a file damaged by
 * hand or by a flipped byte is refused with an Error naming the file and the field, instead of
 * resuming with a NaN step or failing later in BigInt() or the scheduler. A loss that was not
 * finite is written by JSON as null and read back as NaN.
 */
function restoredState(raw: Record<string, unknown>, file: string): LoopState & { scheduler?: { step: number } } {
  const fail = (field: string, wanted: string, got: unknown): never => {
    throw new Error(
      `train: ${file} is damaged: "${field}" must be ${wanted}, got ${JSON.stringify(got) ?? 'nothing'}; delete that checkpoint folder to resume from the one before`,
    );
  };
  const count = (value: unknown, field: string): number =>
    Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fail(field, 'an integer >= 0', value);
  const loss = (value: unknown, field: string): number =>
    value === null ? NaN : typeof value === 'number' ? value : fail(field, 'a number (or null)', value);
  const object = (value: unknown, field: string): Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : fail(field, 'an object', value);
  const metrics = (value: unknown, field: string): Record<string, number> | undefined => {
    if (value === undefined) return undefined;
    const m = object(value, field);
    for (const [k, v] of Object.entries(m)) loss(v, `${field}.${k}`);
    return m as Record<string, number>;
  };
  const digits = (value: unknown, field: string): string =>
    typeof value === 'string' && /^\d+$/.test(value) ? value : fail(field, 'a string of decimal digits', value);

  const history = Array.isArray(raw.history) ? raw.history : fail('history', 'an array', raw.history);
  const generatorState = object(raw.generator, 'generator');
  const state: LoopState & { scheduler?: { step: number } } = {
    epoch: count(raw.epoch, 'epoch'),
    batchInEpoch: count(raw.batchInEpoch, 'batchInEpoch'),
    step: count(raw.step, 'step'),
    lossSum: loss(raw.lossSum, 'lossSum'),
    lossCount: count(raw.lossCount, 'lossCount'),
    history: history.map((entry, i) => {
      const e = object(entry, `history[${i}]`);
      const record: EpochRecord = {
        epoch: count(e.epoch, `history[${i}].epoch`),
        loss: loss(e.loss, `history[${i}].loss`),
      };
      const m = metrics(e.metrics, `history[${i}].metrics`);
      if (m) record.metrics = m;
      return record;
    }),
    best: undefined,
    badEvaluations: count(raw.badEvaluations, 'badEvaluations'),
    generator: {
      seed: digits(generatorState.seed, 'generator.seed'),
      offset: digits(generatorState.offset, 'generator.offset'),
    },
  };
  if (raw.best !== undefined && raw.best !== null) {
    const b = object(raw.best, 'best');
    state.best = {
      epoch: count(b.epoch, 'best.epoch'),
      value: loss(b.value, 'best.value'),
      metrics: metrics(b.metrics ?? {}, 'best.metrics')!,
    };
  }
  if (raw.nonFinite !== undefined)
    state.nonFinite = typeof raw.nonFinite === 'string' ? raw.nonFinite : fail('nonFinite', 'a string', raw.nonFinite);
  if (raw.scheduler !== undefined && raw.scheduler !== null)
    state.scheduler = { step: count(object(raw.scheduler, 'scheduler').step, 'scheduler.step') };
  return state;
}

/** The longest the training loop runs steps without letting the event loop turn. */
const YIELD_EVERY_MS = 10;

/** Names the parameters whose gradients hold NaN or Inf (one small read-back per step). */
function nonFiniteGradients(model: Module): string[] {
  const named = model.namedParameters().filter(([, p]) => p.grad !== null);
  if (named.length === 0) return [];
  const norms = new Tensor(native.squaredNorms(named.map(([, p]) => p.grad!.native)));
  const values = norms.dataSync();
  norms.dispose();
  return named.filter((_, i) => !Number.isFinite(values[i]!)).map(([name]) => name);
}

/** Trains `config.model`; see TrainerConfig. */
export async function train<B>(config: TrainerConfig<B>): Promise<TrainResult> {
  expectArgs('train', { config }, 'object');
  checkConfig(config);
  const { model, optimizer, scheduler } = config;
  const seed = config.seed ?? 0;
  const accumulate = config.accumulate ?? 1;
  const onNonFinite = config.onNonFinite ?? 'stop';
  const sink = config.progress ?? silentSink;
  const mode = config.earlyStopping?.mode ?? 'max';
  const root = config.checkpoint?.dir;

  let s: LoopState = {
    epoch: 0,
    batchInEpoch: 0,
    step: 0,
    lossSum: 0,
    lossCount: 0,
    history: [],
    best: undefined,
    badEvaluations: 0,
    generator: { seed: String(generator.seed), offset: String(generator.offset) },
  };
  if (config.resume && root) {
    const latest = latestCheckpoint(root);
    if (latest) {
      // Checked before anything is loaded (a damaged file changes nothing), then read.
      const check = (raw: Record<string, unknown>, file: string): void => void restoredState(raw, file);
      const restored = restoredState(loadCheckpoint(latest, model, optimizer, check), path.join(latest, STATE_FILE));
      if (restored.scheduler && scheduler) scheduler.loadStateDict(restored.scheduler);
      s = { ...s, ...restored };
      generator.seed = BigInt(s.generator.seed);
      generator.offset = BigInt(s.generator.offset);
      sink.emit({ event: 'resume', epoch: s.epoch, step: s.step, from: latest });
    }
  }

  const save = (): void => {
    if (!root) return;
    s.generator = { seed: String(generator.seed), offset: String(generator.offset) };
    const state = { ...s, scheduler: scheduler?.stateDict() } as unknown as Record<string, unknown>;
    const name = `step-${String(s.step).padStart(8, '0')}`;
    saveCheckpoint(root, name, { model, optimizer, state, config: config.checkpoint?.config });
    pruneCheckpoints(root, config.checkpoint?.keep ?? 2);
    sink.emit({ event: 'checkpoint', epoch: s.epoch, step: s.step, path: path.join(root, name) });
  };

  let stopReason: TrainResult['stopReason'] = 'completed';
  let pending = 0; // micro-batches accumulated since the last optimiser step
  let bestWeights: Map<string, Tensor> | null = null; // the best model, when there is no checkpoint dir
  const applyStep = (): void => {
    optimizer.step();
    optimizer.zeroGrad();
    scheduler?.step();
    pending = 0;
    s.step += 1;
  };
  // Steps are synchronous; between them the loop lets timers, I/O and finalisers run (a server in
  // the same process keeps answering), at most every few milliseconds so it costs next to nothing.
  let lastYield = performance.now();
  model.train();
  try {
    while (s.epoch < config.epochs && stopReason === 'completed') {
      sink.startEpoch?.(s.epoch, config.batchesPerEpoch);
      let index = 0;
      for (const batch of config.batches(s.epoch, seed)) {
        if (index++ < s.batchInEpoch) continue; // consumed before the checkpoint we resumed from
        if (performance.now() - lastYield >= YIELD_EVERY_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
        const context: LossContext = { step: s.step, epoch: s.epoch };
        const lossValue = tidy(() => {
          const loss = config.loss(batch, context);
          if (!(loss instanceof Tensor) || loss.size !== 1)
            throw new Error(`train: the loss function must return a one-element tensor, got ${String(loss)}`);
          const value = loss.item();
          if (Number.isFinite(value) || onNonFinite === 'ignore')
            (accumulate > 1 ? loss.scale(1 / accumulate) : loss).backward();
          return value;
        });
        s.batchInEpoch += 1;
        pending += 1;
        let problem: string | undefined;
        if (!Number.isFinite(lossValue) && onNonFinite !== 'ignore') problem = `the loss is ${lossValue}`;
        else if (onNonFinite !== 'ignore' && pending === accumulate) {
          const bad = nonFiniteGradients(model);
          if (bad.length > 0) problem = `non-finite gradients in ${bad.join(', ')}`;
        }
        if (problem) {
          const where = `${problem} at epoch ${s.epoch}, batch ${s.batchInEpoch - 1}, step ${s.step}`;
          s.nonFinite ??= where;
          sink.emit({ event: 'nonfinite', epoch: s.epoch, step: s.step, where, action: onNonFinite });
          optimizer.zeroGrad();
          pending = 0;
          if (onNonFinite === 'stop') {
            stopReason = 'non-finite';
            break;
          }
          continue;
        }
        s.lossSum += lossValue;
        s.lossCount += 1;
        if (pending === accumulate) {
          applyStep();
          sink.emit({ event: 'step', epoch: s.epoch, step: s.step, loss: lossValue });
          if (config.checkpoint?.everySteps && s.step % config.checkpoint.everySteps === 0) save();
        }
      }
      if (stopReason !== 'completed') break;
      if (pending > 0) applyStep(); // an epoch's last, partial accumulation still counts
      const record: EpochRecord = { epoch: s.epoch, loss: s.lossCount > 0 ? s.lossSum / s.lossCount : NaN };
      const evaluateNow =
        config.evaluate && ((s.epoch + 1) % (config.evalEvery ?? 1) === 0 || s.epoch + 1 === config.epochs);
      if (evaluateNow) {
        model.eval();
        try {
          record.metrics = await config.evaluate!(s.epoch);
        } finally {
          model.train();
        }
        sink.emit({ event: 'eval', epoch: s.epoch, step: s.step, ...record.metrics });
        const es = config.earlyStopping;
        if (es) {
          const value = record.metrics[es.metric];
          if (typeof value !== 'number')
            throw new Error(
              `train: earlyStopping watches '${es.metric}' but evaluate() returned ${Object.keys(record.metrics).join(', ')}`,
            );
          const better = !s.best || (mode === 'max' ? value > s.best.value : value < s.best.value);
          if (better) {
            s.best = { epoch: s.epoch, value, metrics: record.metrics };
            s.badEvaluations = 0;
            if (root) saveModel(path.join(root, 'best'), model, config.checkpoint?.config ?? {});
            else {
              for (const t of bestWeights?.values() ?? []) t.dispose();
              bestWeights = noGrad(
                () =>
                  new Map(
                    [...model.stateDict()].map(([k, t]) => {
                      const copy = keep(t.clone());
                      t.dispose();
                      return [k, copy];
                    }),
                  ),
              );
            }
          } else if (++s.badEvaluations >= es.patience) {
            stopReason = 'early-stopping';
          }
        }
      }
      sink.emit({ event: 'epoch', epoch: s.epoch, step: s.step, loss: record.loss });
      s.history.push(record);
      s.epoch += 1;
      s.batchInEpoch = 0;
      s.lossSum = 0;
      s.lossCount = 0;
      save();
    }
  } finally {
    sink.close?.();
  }
  if (config.earlyStopping && s.best && (config.earlyStopping.restoreBest ?? true)) {
    if (root) loadModel(path.join(root, 'best'), model);
    else if (bestWeights) model.loadStateDict(bestWeights);
  }
  for (const t of bestWeights?.values() ?? []) t.dispose();
  sink.emit({ event: 'stop', epoch: s.epoch, step: s.step, reason: stopReason });
  return { epochs: s.epoch, steps: s.step, history: s.history, best: s.best, stopReason, nonFinite: s.nonFinite };
}
