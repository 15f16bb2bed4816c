// Serving an A-LLMRec run folder: `recommend(history, { candidates })` asks the frozen LM, with
// the run's soft prompt, which candidate comes next. The answer is the candidates ranked (the
// LM's constrained choice first, the rest by SASRec score) and the LM's free-text answer.
// Concurrent calls share one batched greedy decode through the micro-batcher.
import { noGrad } from '../../autograd.js';
import { leftPad } from '../../models/recommender-model.js';
import { tidy } from '../../scope.js';
import { MicroBatcher, type BatchingStats } from '../../serve/batcher.js';
import {
  RequestError,
  resolveItemIds,
  type GeneratedRecommendation,
  type ItemId,
  type ModelInfo,
  type Recommendation,
  type RecommendOptions,
  type ServableModel,
} from '../../serve/servable.js';
import { readRunManifest } from '../run-folder.js';
import type { ALLMRecConfig } from './config.js';
import { constrainedAnswers, freeAnswers } from './evaluate.js';
import { loadStageTwo, type StageTwoModels } from './generate.js';
import type { PromptRow } from './soft-prompt.js';

/** Candidates a call may name at most (a prompt shows each one). */
export const MAX_CANDIDATES = 100;
/** Without `candidates`, the SASRec's top items (outside the history) are the candidates. */
export const DEFAULT_CANDIDATES = 20;

interface Call {
  row: PromptRow;
  k: number;
}

export interface ALLMRecServeOptions {
  device: string;
  maxBatch?: number;
  maxWaitMs?: number;
}

export class ALLMRecRecommender implements ServableModel {
  private readonly itemIndex = new Map<string, number>();
  private readonly batcher: MicroBatcher<Call, GeneratedRecommendation>;
  /** The SASRec's item table on the host (it is small: items × 50). */
  private readonly itemTable: Float32Array;
  private closed = false;

  private constructor(
    readonly models: StageTwoModels,
    private readonly itemKeys: readonly string[],
    private readonly decode: { maxNewTokens: number; repetitionPenalty: number },
    batching: { maxBatch: number; maxWaitMs: number },
  ) {
    if (!models?.cf || !Array.isArray(itemKeys))
      throw new Error('ALLMRecRecommender: open a run folder with ALLMRecRecommender.load(dir, { device })');
    itemKeys.forEach((key, id) => id > 0 && this.itemIndex.set(key, id));
    this.itemTable = noGrad(() => tidy(() => models.cf.itemEmbeddings().dataSync() as Float32Array));
    this.batcher = new MicroBatcher({ ...batching, run: (batch) => this.run(batch) });
  }

  /** Opens a run folder whose cf, align and generate stages are done. */
  static async load(dir: string, options: ALLMRecServeOptions): Promise<ALLMRecRecommender> {
    if (typeof dir !== 'string' || dir === '')
      throw new Error('ALLMRecRecommender.load: dir must be a run folder path');
    if (typeof options?.device !== 'string')
      throw new Error("ALLMRecRecommender.load: options.device must be 'cpu' or 'cuda:N'");
    const manifest = readRunManifest(dir);
    for (const stage of ['cf', 'align', 'generate']) {
      const status = manifest?.stages[stage]?.status;
      if (status !== 'done')
        throw new Error(
          `${dir}: its ${stage} stage is ${status ?? 'not run'}, so there is no A-LLMRec to serve; run \`llmrec a-llmrec all --out ${dir}\``,
        );
    }
    const config = manifest!.stages.generate!.config as unknown as ALLMRecConfig;
    const evalConfig = (manifest!.stages.eval?.config ?? {}) as Partial<ALLMRecConfig>;
    const models = await loadStageTwo(config, (stage) => `${dir}/${stage}`, options.device, `${dir}/generate`);
    return new ALLMRecRecommender(
      models,
      models.catalogue.itemKeys,
      { maxNewTokens: evalConfig.maxNewTokens ?? 32, repetitionPenalty: evalConfig.repetitionPenalty ?? 1.5 },
      { maxBatch: options.maxBatch ?? 8, maxWaitMs: options.maxWaitMs ?? 0 },
    );
  }

  private resolve(items: readonly ItemId[], policy: 'ignore' | 'error', field: string): number[] {
    return resolveItemIds(this.itemIndex, items, policy, field);
  }

  /**
   * The candidates ranked for a history (oldest first): the LM's constrained choice first, the
   * rest by SASRec score; `text` is the LM's free answer. Without `candidates`, the SASRec's top
   * 20 items outside the history are the candidates. `k` cuts the list (default: all of it).
   */
  recommend(history: readonly ItemId[], options: RecommendOptions = {}): Promise<GeneratedRecommendation> {
    if (this.closed) return Promise.reject(new Error('recommend: this recommender is closed'));
    try {
      if (!Array.isArray(history)) throw new RequestError('history', 'recommend: history must be an array of item ids');
      const policy = options.unknownItems ?? 'ignore';
      const ids = this.resolve(history, policy, 'history');
      if (ids.length === 0)
        throw new RequestError(
          'history',
          'recommend: A-LLMRec needs at least one known item in the history (its prompt and user token are built from it)',
        );
      let candidates: number[];
      if (options.candidates !== undefined) {
        if (!Array.isArray(options.candidates))
          throw new RequestError('candidates', 'recommend: candidates must be an array of item ids');
        candidates = [...new Set(this.resolve(options.candidates, policy, 'candidates'))];
        if (candidates.length === 0)
          throw new RequestError('candidates', 'recommend: no known item among the candidates');
        if (candidates.length > MAX_CANDIDATES)
          throw new RequestError(
            'candidates',
            `recommend: at most ${MAX_CANDIDATES} candidates, got ${candidates.length}`,
          );
      } else {
        candidates = this.sasrecTop(ids, DEFAULT_CANDIDATES, new Set(options.excludeHistory === false ? [] : ids));
      }
      const exclude = new Set(this.resolve(options.exclude ?? [], 'ignore', 'exclude'));
      candidates = candidates.filter((id) => !exclude.has(id));
      if (candidates.length === 0) throw new RequestError('exclude', 'recommend: every candidate is excluded');
      const k = options.k ?? candidates.length;
      if (!Number.isInteger(k) || k < 1)
        throw new RequestError('k', `recommend: k must be a positive integer, got ${k}`);
      return this.batcher.submit({ row: { history: ids, candidates, target: 0 }, k });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** The SASRec's `count` best items for a history, outside `skip`. */
  private sasrecTop(history: number[], count: number, skip: Set<number>): number[] {
    const scores = this.sasrecScores([history], null)[0]!;
    const order = Array.from({ length: scores.length - 1 }, (_, i) => i + 1).filter((id) => !skip.has(id));
    order.sort((a, b) => scores[b]! - scores[a]! || a - b);
    return order.slice(0, count);
  }

  /** SASRec scores of `items` (null: every item, index = id) for each history. */
  private sasrecScores(histories: number[][], items: number[][] | null): Float32Array[] {
    const { cf } = this.models;
    const maxlen = cf.config.maxlen;
    const d = cf.config.hidden;
    const input = new Int32Array(histories.length * maxlen);
    histories.forEach((h, r) => leftPad(h, maxlen, input, r));
    const users = noGrad(() => tidy(() => cf.userRepresentation(input, histories.length).dataSync() as Float32Array));
    const table = this.itemTable;
    return histories.map((_, r) => {
      const ids = items ? items[r]! : Array.from({ length: table.length / d }, (_, i) => i);
      return Float32Array.from(ids, (id) => {
        let s = 0;
        for (let j = 0; j < d; j++) s += users[r * d + j]! * table[id * d + j]!;
        return s;
      });
    });
  }

  private async run(batch: Call[]): Promise<GeneratedRecommendation[]> {
    const rows = batch.map((c) => c.row);
    const texts = freeAnswers(this.models, rows, this.decode);
    const chosen = constrainedAnswers(this.models, rows, true);
    const scores = this.sasrecScores(
      rows.map((r) => Array.from(r.history)),
      rows.map((r) => Array.from(r.candidates)),
    );
    return batch.map((call, r) => {
      const candidates = Array.from(call.row.candidates);
      const order = candidates.map((_, j) => j).filter((j) => j !== chosen[r]);
      order.sort((a, b) => scores[r]![b]! - scores[r]![a]! || a - b);
      const ranked = [chosen[r]!, ...order].slice(0, call.k);
      const items: Recommendation[] = ranked.map((j) => ({
        item: this.itemKeys[candidates[j]!]!,
        title: this.models.context.titles[candidates[j]!]!,
        score: scores[r]![j]!,
      }));
      return { items, text: texts[r]! };
    });
  }

  info(): ModelInfo {
    return {
      kind: 'a-llmrec',
      device: this.models.cf.device,
      numItems: this.itemKeys.length - 1,
      maxK: MAX_CANDIDATES,
      features: { candidates: true, addItems: false, text: true },
    };
  }

  get batching(): BatchingStats {
    return this.batcher;
  }

  /** One answer for the first item's history; a model whose scores are not finite is refused. */
  async warmUp(): Promise<void> {
    const answer = await this.recommend([this.itemKeys[1]!], { k: 1 });
    if (answer.items.some((r) => !Number.isFinite(r.score)))
      throw new Error('a-llmrec: the SASRec scores items as non-finite; its weights are corrupt');
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.batcher.drain();
    this.models.dispose();
  }
}
