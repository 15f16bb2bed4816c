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
import { loadRecommenderModel } from './kinds.js';

export interface RecommendOptions {
  /** How many items (default 10; at most 1024 and the catalogue size). */
  k?: number;
  /** Items never to return, in the caller's ids (e.g. out of stock). */
  exclude?: readonly (string | number)[];
  /** Leave out the items of the history itself (default true). */
  excludeHistory?: boolean;
  /**
   * What an item id the model has never seen does: 'ignore' (default) drops it from the history,
   * 'error' rejects the call naming it.
   */
  unknownItems?: 'ignore' | 'error';
}

export interface Recommendation {
  /** The item's id as in the training data. */
  item: string;
  title: string;
  score: number;
}

export interface RecommenderOptions {
  device?: string;
  /** Calls per forward pass (default 64). */
  maxBatch?: number;
}

interface Pending {
  ids: number[];
  k: number;
  exclude: number[];
  resolve: (value: Recommendation[]) => void;
  reject: (error: Error) => void;
}

export class Recommender {
  private readonly itemIndex = new Map<string, number>();
  private readonly popularOrder: number[];
  /** Item representations, computed once: the model is frozen while it serves. */
  private readonly itemTable: Tensor;
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;

  private constructor(
    readonly model: SequenceRecommender,
    readonly config: SavedModelConfig,
    private readonly maxBatch: number,
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
  }

  /**
   * Loads a run folder (by its manifest's pipeline) or a model folder of an earlier `llmrec
   * train` (config.json + model.safetensors), through the kinds registered in ./kinds.ts.
   */
  static async load(dir: string, options: RecommenderOptions = {}): Promise<Recommender> {
    const maxBatch = options.maxBatch ?? 64;
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new Error(`Recommender.load: 'maxBatch' must be a positive integer, got ${maxBatch}`);
    let loaded;
    try {
      loaded = await loadRecommenderModel(dir, { device: options.device ?? 'cpu' });
    } catch (error) {
      throw new Error(`Recommender.load: ${(error as Error).message}`, { cause: error });
    }
    return new Recommender(loaded.model, loaded.config, maxBatch);
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
      throw new Error(
        `recommend: ${what} has ${unknown.length} unknown item id(s): ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', ...' : ''}`,
      );
    return ids;
  }

  /**
   * The top-k items for a user whose history (oldest first, in the training data's item ids) is
   * given. Unknown ids are dropped (or rejected, see options). An empty history, or one with no
   * known item, gets the most popular items of the training data.
   */
  recommend(history: readonly (string | number)[], options: RecommendOptions = {}): Promise<Recommendation[]> {
    if (this.closed) return Promise.reject(new Error('recommend: this Recommender is closed'));
    if (!Array.isArray(history)) return Promise.reject(new Error('recommend: history must be an array of item ids'));
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > Math.min(1024, this.numItems))
      return Promise.reject(
        new Error(`recommend: k must be an integer in 1..${Math.min(1024, this.numItems)}, got ${k}`),
      );
    let ids: number[];
    let exclude: number[];
    try {
      ids = this.resolveIds(history, options.unknownItems ?? 'ignore', 'history');
      exclude = this.resolveIds(options.exclude ?? [], 'ignore', 'exclude');
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (options.excludeHistory ?? true) exclude = [...exclude, ...ids];
    if (ids.length === 0) return Promise.resolve(this.popular(k, exclude));
    return new Promise((resolve, reject) => {
      this.queue.push({ ids, k, exclude, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Gather every call made in this tick (and while a batch runs) into the next batch.
        setImmediate(() => void this.flush());
      }
    });
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

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.run(batch);
      } catch (error) {
        for (const p of batch) p.reject(error as Error);
      }
    }
    this.flushing = false;
  }

  private async run(batch: Pending[]): Promise<void> {
    const maxlen = this.model.config.maxlen;
    const rows = batch.length;
    const k = Math.max(...batch.map((p) => p.k));
    const input = new Int32Array(rows * maxlen);
    batch.forEach((p, r) => leftPad(p.ids, maxlen, input, r));
    const offsets = [0];
    const excluded: number[] = [];
    for (const p of batch) {
      excluded.push(...new Set(p.exclude));
      offsets.push(excluded.length);
    }
    // Queue the forward pass and top-k; only the read-back is awaited (off the JS thread).
    const { values, indices } = noGrad(() =>
      tidy(() => {
        const users = this.model.userRepresentation(input, rows);
        return scoreTopk(users, this.itemTable, k, {
          exclude: { offsets, ids: excluded },
          excludePadding: true,
        });
      }),
    );
    try {
      const [scores, items] = await Promise.all([values.data(), indices.data()]);
      batch.forEach((p, r) => {
        const out: Recommendation[] = [];
        for (let j = 0; j < p.k; j++) {
          const id = items[r * k + j]!;
          if (id <= 0) break; // fewer than k items were left after exclusion
          out.push(this.describe(id, scores[r * k + j]!));
        }
        p.resolve(out);
      });
    } finally {
      values.dispose();
      indices.dispose();
    }
  }

  /** Rejects new calls, waits for queued ones, and frees the model. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((resolve) => setImmediate(resolve));
    this.itemTable.dispose(); // the table parameter itself when the model has its own (dispose is idempotent)
    this.model.dispose();
  }
}
