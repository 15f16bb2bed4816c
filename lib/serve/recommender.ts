// Recommendations for Node applications. A trained model loads once; concurrent recommend()
// calls are gathered into one batch, scored on the model's device, and top-k is selected there
// with the user's history masked. The JS thread only queues work and awaits the results, so the
// event loop keeps serving while a batch runs.
import { noGrad } from '../autograd.js';
import type { SavedModelConfig } from '../models/factory.js';
import { leftPad, type ItemTextEncoder, type SequenceRecommender } from '../models/recommender-model.js';
import { scoreTopk } from '../ops/topk.js';
import { keep, tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { MicroBatcher, type BatchingStats } from './batcher.js';
import { loadRecommenderModel, servableKindLoader } from './kinds.js';
import {
  RequestError,
  resolveItemIds,
  type ModelInfo,
  type NewItem,
  type Recommendation,
  type RecommendOptions,
  type ServableModel,
} from './servable.js';
import { Module } from '../nn/module.js';
import { expectArgs, expectFields } from '../guard.js';

export type { Recommendation, RecommendOptions } from './servable.js';

export interface RecommenderOptions {
  device?: string;
  /** Calls per forward pass (default 64). */
  maxBatch?: number;
  /** How long a call may wait for others to share its forward pass, in ms (default 0: only calls of the same tick). */
  maxWaitMs?: number;
}

/** A value as a message shows it. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
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
  /** Item representations, computed once (and again when items are added): the model is frozen while it serves. */
  private itemTable: Tensor;
  /** addItems calls, one after another. */
  private adding: Promise<unknown> = Promise.resolve();
  private readonly batcher: MicroBatcher<Call, Recommendation[]>;
  private closed = false;

  private constructor(
    readonly model: SequenceRecommender,
    readonly config: SavedModelConfig,
    batching: { maxBatch: number; maxWaitMs: number },
    private readonly itemTextEncoder?: ItemTextEncoder,
  ) {
    expectArgs('new Recommender', { model }, Module);
    expectArgs('new Recommender', { config, batching }, 'object');
    expectFields('new Recommender', 'config.dataset', config.dataset, { itemKeys: 'array', popularity: 'array' });
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
    expectArgs('Recommender.load', { dir }, 'string');
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
    return new Recommender(loaded.model, loaded.config, { maxBatch, maxWaitMs }, loaded.itemTextEncoder);
  }

  /**
   * Opens any servable folder: a kind with its own ServableModel (A-LLMRec's candidates + text)
   * through its loader, every other through Recommender.load.
   */
  static async open(dir: string, options: RecommenderOptions = {}): Promise<ServableModel> {
    expectArgs('Recommender.open', { dir }, 'string');
    let loader;
    try {
      loader = servableKindLoader(dir);
    } catch (error) {
      throw new Error(`Recommender.open: ${(error as Error).message}`, { cause: error });
    }
    if (!loader) return Recommender.load(dir, options);
    return loader(dir, {
      device: options.device ?? 'cpu',
      maxBatch: options.maxBatch ?? 8,
      maxWaitMs: options.maxWaitMs ?? 0,
    });
  }

  /** Number of items the model knows. */
  get numItems(): number {
    return this.model.config.numItems;
  }

  /** Resolves caller ids to model ids, or rejects per `unknownItems`. */
  private resolveIds(items: readonly (string | number)[], policy: 'ignore' | 'error', what: string): number[] {
    return resolveItemIds(this.itemIndex, items, policy, what);
  }

  /**
   * The top-k items for a user whose history (oldest first, in the training data's item ids) is
   * given. Unknown ids are dropped (or rejected, see options). An empty history, or one with no
   * known item, gets the most popular items of the training data. With `candidates`, only those
   * items are ranked.
   */
  recommend(history: readonly (string | number)[], options: RecommendOptions = {}): Promise<Recommendation[]> {
    if (this.closed) return Promise.reject(new Error('recommend: this Recommender is closed'));
    // Every refusal is a rejected promise, never a synchronous throw: callers await, not try.
    let call: Call;
    try {
      call = this.prepare(history, options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (call.ids.length === 0) return Promise.resolve(this.popular(call.k, call.exclude));
    return this.batcher.submit(call);
  }

  /** Checks a call's arguments (a RequestError naming the field) and resolves its ids. */
  private prepare(history: readonly (string | number)[], options: RecommendOptions | undefined): Call {
    const isIdList = (v: unknown) =>
      Array.isArray(v) && v.every((id) => typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)));
    if (!isIdList(history))
      throw new RequestError('history', 'recommend: history must be an array of item ids (strings or numbers)');
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new RequestError('options', `recommend: options must be an object, got ${describe(options)}`);
    const maxK = Math.min(1024, this.numItems);
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > maxK)
      throw new RequestError('k', `recommend: k must be an integer in 1..${maxK}, got ${describe(k)}`);
    const policy = options.unknownItems ?? 'ignore';
    if (policy !== 'ignore' && policy !== 'error')
      throw new RequestError(
        'unknownItems',
        `recommend: unknownItems must be 'ignore' or 'error', got ${describe(policy)}`,
      );
    for (const field of ['exclude', 'candidates'] as const)
      if (options[field] !== undefined && !isIdList(options[field]))
        throw new RequestError(
          field,
          `recommend: ${field} must be an array of item ids, got ${describe(options[field])}`,
        );
    if (options.excludeHistory !== undefined && typeof options.excludeHistory !== 'boolean')
      throw new RequestError(
        'excludeHistory',
        `recommend: excludeHistory must be true or false, got ${describe(options.excludeHistory)}`,
      );
    const ids = this.resolveIds(history, policy, 'history');
    let exclude = this.resolveIds(options.exclude ?? [], 'ignore', 'exclude');
    // Ranking a candidate set is ranking the catalogue with everything else excluded.
    if (options.candidates !== undefined) {
      const allowed = new Set(this.resolveIds(options.candidates, policy, 'candidates'));
      for (let id = 1; id <= this.numItems; id++) if (!allowed.has(id)) exclude.push(id);
    }
    if (options.excludeHistory ?? true) exclude = [...exclude, ...ids];
    let times: number[] | undefined;
    if (options.times !== undefined) {
      if (!Array.isArray(options.times) || options.times.length !== history.length)
        throw new RequestError('times', `recommend: times must hold one time per history item (${history.length})`);
      // Aligned with the ids that resolve (unknown items are dropped with their times).
      times = options.times.map((t, i) => parseTime(t, i)).filter((_, i) => this.itemIndex.has(String(history[i])));
    }
    return times ? { ids, k, exclude, times } : { ids, k, exclude };
  }

  info(): ModelInfo {
    return {
      kind: this.config.kind,
      device: this.model.device,
      numItems: this.numItems,
      maxK: Math.min(1024, this.numItems),
      features: { candidates: true, addItems: this.canAddItems, text: false },
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
      // Load refuses non-finite weights, but a finite model can still overflow on some history:
      // an answer ranked by NaN is arbitrary, so it is an error, never a result.
      const bad = scores.findIndex((v) => Number.isNaN(v));
      if (bad >= 0)
        throw new Error(
          `recommend: the model scored an item NaN for history ${batch[Math.floor(bad / k)]!.ids.length} items long; its weights or this input overflow`,
        );
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

  private get canAddItems(): boolean {
    if (typeof this.model.addItemTitles === 'function') return true;
    return this.itemTextEncoder !== undefined && this.model.items?.external === true;
  }

  /**
   * Embeds items by title with the run's item encoder and makes them recommendable at once (and
   * usable in histories). A known id gets its title and embedding replaced. Resolves with how
   * many ids were new. Calls run one after another.
   */
  addItems(items: readonly NewItem[]): Promise<number> {
    if (this.closed) return Promise.reject(new Error('addItems: this Recommender is closed'));
    if (!this.canAddItems)
      return Promise.reject(
        new Error(`addItems: a ${this.config.kind} model cannot embed new items from their titles`),
      );
    if (!Array.isArray(items) || items.length === 0)
      return Promise.reject(new RequestError('items', 'addItems: items must be a non-empty array of { id, title }'));
    const latest = new Map<string, string>();
    for (const [i, item] of items.entries()) {
      const id = (item as { id?: unknown } | null)?.id;
      const title = (item as { title?: unknown } | null)?.title;
      if ((typeof id !== 'string' && typeof id !== 'number') || String(id) === '')
        return Promise.reject(
          new RequestError('items', `addItems: items[${i}].id must be a non-empty string or number`),
        );
      if (typeof title !== 'string' || title.trim() === '')
        return Promise.reject(new RequestError('items', `addItems: items[${i}].title must be a non-empty string`));
      latest.set(String(id), title);
    }
    const run = this.adding.then(() => this.insertItems([...latest.keys()], [...latest.values()]));
    this.adding = run.catch(() => undefined);
    return run;
  }

  private async insertItems(keys: string[], titles: string[]): Promise<number> {
    const dataset = this.config.dataset!;
    // A known key keeps its id; new keys continue the catalogue. The model takes the items
    // first, so a failure leaves the catalogue as it was.
    let next = dataset.itemKeys.length;
    const ids = keys.map((key) => this.itemIndex.get(key) ?? next++);
    if (this.model.addItemTitles) this.model.addItemTitles(ids, titles);
    else this.model.items!.setExternalRows(ids, await this.itemTextEncoder!.embed(titles));
    let added = 0;
    ids.forEach((id, i) => {
      if (id < dataset.itemKeys.length) {
        dataset.titles[id] = titles[i]!;
        return;
      }
      dataset.itemKeys.push(keys[i]!);
      dataset.titles.push(titles[i]!);
      dataset.popularity.push(0);
      this.itemIndex.set(keys[i]!, id);
      this.popularOrder.push(id);
      added++;
    });
    (this.model.config as { numItems: number }).numItems = dataset.itemKeys.length - 1;
    const previous = this.itemTable;
    this.itemTable = keep(noGrad(() => this.model.itemEmbeddings()));
    previous.dispose();
    return added;
  }

  /** Rejects new calls, waits for queued ones, and frees the model. */
  async close(): Promise<void> {
    this.closed = true;
    await this.adding;
    await this.batcher.drain();
    this.itemTextEncoder?.close();
    this.itemTable.dispose(); // the table parameter itself when the model has its own (dispose is idempotent)
    this.model.dispose();
  }
}
