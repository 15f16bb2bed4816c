// Recommendations for Node applications. A trained model loads once; concurrent recommend()
// calls are gathered into one batch, scored on the model's device, and top-k is selected there
// with the user's history masked. The JS thread only queues work and awaits the results, so the
// event loop keeps serving while a batch runs.
import { noGrad } from '../autograd.js';
import type { SavedModelConfig } from '../models/factory.js';
import { leftPad, type SequenceRecommender } from '../models/recommender-model.js';
import { scoreTopk } from '../ops/topk.js';
import { keep, tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { MicroBatcher, type BatchingStats } from './batcher.js';
import { loadRecommenderModel } from './kinds.js';
import {
  RequestError,
  type ModelInfo,
  type Recommendation,
  type RecommendOptions,
  type ServableModel,
} from './servable.js';

export type { Recommendation, RecommendOptions } from './servable.js';

export interface RecommenderOptions {
  device?: string;
  /** Calls per forward pass (default 64). */
  maxBatch?: number;
  /** How long a call may wait for others to share its forward pass, in ms (default 0: only calls of the same tick). */
  maxWaitMs?: number;
}

interface Call {
  ids: number[];
  k: number;
  exclude: number[];
  /** UTC ms aligned with ids, when the caller gave times. */
  times?: number[];
}

/** A caller's time (UTC ms or an ISO date string) as UTC ms, or a RequestError naming the entry. */
function parseTime(value: number | string, index: number): number {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new RequestError(
      'times',
      `recommend: times[${index}] = ${JSON.stringify(value)} is not a time (UTC ms or an ISO date)`,
    );
  return ms;
}

export class Recommender implements ServableModel {
  private readonly itemIndex = new Map<string, number>();
  private readonly popularOrder: number[];
  /** Item representations, computed once: the model is frozen while it serves. */
  private readonly itemTable: Tensor;
  private readonly batcher: MicroBatcher<Call, Recommendation[]>;
  private closed = false;

  private constructor(
    readonly model: SequenceRecommender,
    readonly config: SavedModelConfig,
    batching: { maxBatch: number; maxWaitMs: number },
  ) {
    const keys = config.dataset!.itemKeys;
    keys.forEach((key, id) => {
      if (id > 0) this.itemIndex.set(key, id);
    });
    const popularity = config.dataset!.popularity;
    this.popularOrder = keys.map((_, id) => id).filter((id) => id > 0);
    this.popularOrder.sort((a, b) => popularity[b]! - popularity[a]! || a - b);
    model.eval();
    this.itemTable = keep(noGrad(() => model.itemEmbeddings()));
    this.batcher = new MicroBatcher({ ...batching, run: (batch) => this.run(batch) });
  }

  /**
   * Loads a run folder (by its manifest's pipeline) or a model folder of an earlier `llmrec
   * train` (config.json + model.safetensors), through the kinds registered in ./kinds.ts.
   */
  static async load(dir: string, options: RecommenderOptions = {}): Promise<Recommender> {
    const maxBatch = options.maxBatch ?? 64;
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new Error(`Recommender.load: 'maxBatch' must be a positive integer, got ${maxBatch}`);
    const maxWaitMs = options.maxWaitMs ?? 0;
    if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0 && maxWaitMs <= 60_000))
      throw new Error(`Recommender.load: 'maxWaitMs' must be a number of ms in 0..60000, got ${String(maxWaitMs)}`);
    let loaded;
    try {
      loaded = await loadRecommenderModel(dir, { device: options.device ?? 'cpu' });
    } catch (error) {
      throw new Error(`Recommender.load: ${(error as Error).message}`, { cause: error });
    }
    return new Recommender(loaded.model, loaded.config, { maxBatch, maxWaitMs });
  }

  /** Number of items the model knows. */
  get numItems(): number {
    return this.model.config.numItems;
  }

  /** Resolves caller ids to model ids, or rejects per `unknownItems`. */
  private resolveIds(items: readonly (string | number)[], policy: 'ignore' | 'error', what: string): number[] {
    const ids: number[] = [];
    const unknown: string[] = [];
    for (const raw of items) {
      const id = this.itemIndex.get(String(raw));
      if (id === undefined) unknown.push(String(raw));
      else ids.push(id);
    }
    if (unknown.length > 0 && policy === 'error')
      throw new RequestError(
        what,
        `recommend: ${what} has ${unknown.length} unknown item id(s): ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', ...' : ''}`,
      );
    return ids;
  }

  /**
   * The top-k items for a user whose history (oldest first, in the training data's item ids) is
   * given. Unknown ids are dropped (or rejected, see options). An empty history, or one with no
   * known item, gets the most popular items of the training data. With `candidates`, only those
   * items are ranked.
   */
  recommend(history: readonly (string | number)[], options: RecommendOptions = {}): Promise<Recommendation[]> {
    if (this.closed) return Promise.reject(new Error('recommend: this Recommender is closed'));
    if (!Array.isArray(history))
      return Promise.reject(new RequestError('history', 'recommend: history must be an array of item ids'));
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > Math.min(1024, this.numItems))
      return Promise.reject(
        new RequestError('k', `recommend: k must be an integer in 1..${Math.min(1024, this.numItems)}, got ${k}`),
      );
    let ids: number[];
    let exclude: number[];
    let times: number[] | undefined;
    try {
      if (options.times !== undefined) {
        if (!Array.isArray(options.times) || options.times.length !== history.length)
          throw new RequestError('times', `recommend: times must hold one time per history item (${history.length})`);
        // Aligned with the ids that resolve (unknown items are dropped with their times).
        times = options.times.map((t, i) => parseTime(t, i)).filter((_, i) => this.itemIndex.has(String(history[i])));
      }
      ids = this.resolveIds(history, options.unknownItems ?? 'ignore', 'history');
      exclude = this.resolveIds(options.exclude ?? [], 'ignore', 'exclude');
      // Ranking a candidate set is ranking the catalogue with everything else excluded.
      if (options.candidates !== undefined) {
        const allowed = new Set(this.resolveIds(options.candidates, options.unknownItems ?? 'ignore', 'candidates'));
        for (let id = 1; id <= this.numItems; id++) if (!allowed.has(id)) exclude.push(id);
      }
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (options.excludeHistory ?? true) exclude = [...exclude, ...ids];
    if (ids.length === 0) return Promise.resolve(this.popular(k, exclude));
    return this.batcher.submit(times ? { ids, k, exclude, times } : { ids, k, exclude });
  }

  info(): ModelInfo {
    return {
      kind: this.config.kind,
      device: this.model.device,
      numItems: this.numItems,
      maxK: Math.min(1024, this.numItems),
      features: { candidates: true, addItems: false, text: false },
    };
  }

  get batching(): BatchingStats {
    return this.batcher;
  }

  /** One batch through the model (the most popular item as history); refuses non-finite scores. */
  async warmUp(): Promise<void> {
    const top = this.popularOrder[0];
    if (top === undefined) return;
    const answer = await this.recommend([this.config.dataset!.itemKeys[top]!], { k: 1 });
    if (answer.some((r) => !Number.isFinite(r.score)))
      throw new Error(
        `Recommender: the model scores items as ${answer[0]!.score}; its weights are not finite (a diverged or corrupt checkpoint)`,
      );
  }

  private popular(k: number, exclude: number[]): Recommendation[] {
    const skip = new Set(exclude);
    const popularity = this.config.dataset!.popularity;
    const out: Recommendation[] = [];
    for (const id of this.popularOrder) {
      if (out.length === k) break;
      if (!skip.has(id)) out.push(this.describe(id, popularity[id]!));
    }
    return out;
  }

  private describe(id: number, score: number): Recommendation {
    const dataset = this.config.dataset!;
    return { item: dataset.itemKeys[id]!, title: dataset.titles[id] ?? '', score };
  }

  private async run(batch: Call[]): Promise<Recommendation[][]> {
    const maxlen = this.model.config.maxlen;
    const rows = batch.length;
    const k = Math.max(...batch.map((p) => p.k));
    const input = new Int32Array(rows * maxlen);
    batch.forEach((p, r) => leftPad(p.ids, maxlen, input, r));
    let times: Float64Array | undefined;
    if (batch.some((p) => p.times)) {
      times = new Float64Array(rows * maxlen).fill(NaN);
      batch.forEach((p, r) => {
        if (p.times) leftPad(p.times, maxlen, times!, r);
      });
    }
    const offsets = [0];
    const excluded: number[] = [];
    for (const p of batch) {
      for (const id of new Set(p.exclude)) excluded.push(id);
      offsets.push(excluded.length);
    }
    // Queue the forward pass and top-k; only the read-back is awaited (off the JS thread).
    const { values, indices } = noGrad(() =>
      tidy(() => {
        const users = this.model.userRepresentation(input, rows, times);
        return scoreTopk(users, this.itemTable, k, {
          exclude: { offsets, ids: excluded },
          excludePadding: true,
        });
      }),
    );
    try {
      const [scores, items] = await Promise.all([values.data(), indices.data()]);
      return batch.map((p, r) => {
        const out: Recommendation[] = [];
        for (let j = 0; j < p.k; j++) {
          const id = items[r * k + j]!;
          if (id <= 0) break; // fewer than k items were left after exclusion
          out.push(this.describe(id, scores[r * k + j]!));
        }
        return out;
      });
    } finally {
      values.dispose();
      indices.dispose();
    }
  }

  /** Rejects new calls, waits for queued ones, and frees the model. */
  async close(): Promise<void> {
    this.closed = true;
    await this.batcher.drain();
    this.itemTable.dispose(); // the table parameter itself when the model has its own (dispose is idempotent)
    this.model.dispose();
  }
}
