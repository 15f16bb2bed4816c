// What a loaded model offers to whoever serves it (`llmrec serve`, or an application's own
// server): every run kind that `Recommender.load` can open answers `recommend` and `info` and can
// be closed; what only some kinds can do (rank a given candidate set, embed new items, generate
// text) is declared in `info().features`, so a server checks a capability, never a model name.
import type { BatchingStats } from './batcher.js';

export type ItemId = string | number;

export interface RecommendOptions {
  /** How many items (default 10; at most `info().maxK`). */
  k?: number;
  /** Items never to return, in the caller's ids (e.g. out of stock). */
  exclude?: readonly ItemId[];
  /** Leave out the items of the history itself (default true). */
  excludeHistory?: boolean;
  /**
   * What an item id the model has never seen does: 'ignore' (default) drops it from the history,
   * 'error' rejects the call naming it.
   */
  unknownItems?: 'ignore' | 'error';
  /** Rank only these items (e.g. A-LLMRec's 1 + 19 candidates); needs `features.candidates`. */
  candidates?: readonly ItemId[];
  /**
   * When each history item was interacted with (UTC ms or an ISO date string), aligned with
   * `history`: models whose inputs carry dates (LLM-SRec's prompts) read them; others ignore them.
   */
  times?: readonly (number | string)[];
}

export interface Recommendation {
  /** The item's id as in the training data. */
  item: string;
  title: string;
  score: number;
}

/** The answer of a kind that generates text (`features.text`): the ranked items and what it wrote. */
export interface GeneratedRecommendation {
  items: Recommendation[];
  text: string;
}

/** A new item for kinds that embed items from their text (`features.addItems`). */
export interface NewItem {
  id: string;
  title: string;
}

export interface ModelFeatures {
  /** `recommend` accepts `candidates`. */
  candidates: boolean;
  /** `addItems` embeds new items by title. */
  addItems: boolean;
  /** `recommend` answers a `GeneratedRecommendation` with the generated text. */
  text: boolean;
}

export interface ModelInfo {
  /** What model serves (e.g. 'sasrec'); a pipeline's run may name its own. */
  kind: string;
  device: string;
  /** Items the model can recommend now. */
  numItems: number;
  /** The largest k a call may ask for. */
  maxK: number;
  features: ModelFeatures;
}

export interface ServableModel {
  recommend(
    history: readonly ItemId[],
    options?: RecommendOptions,
  ): Promise<Recommendation[] | GeneratedRecommendation>;
  info(): ModelInfo;
  /** One pass through the whole scoring path, so the first caller pays no start-up cost; throws if the model is unusable. */
  warmUp(): Promise<void>;
  /** Adds items; present when `info().features.addItems`. Resolves with how many were new. */
  addItems?(items: readonly NewItem[]): Promise<number>;
  /** The micro-batcher behind `recommend`, for queue-depth and batch-size metrics. */
  readonly batching?: BatchingStats;
  /** Rejects new calls, finishes queued ones and frees the model's memory. */
  close(): Promise<void>;
}

/**
 * A call the model refuses because of what the caller sent (an unknown item under
 * `unknownItems: 'error'`, k out of range...), as opposed to a failure of the model itself. A
 * server answers it with 400 naming `field`.
 */
export class RequestError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/**
 * Maps caller item ids to model ids through `itemIndex`, dropping unknown ones, or refusing them
 * with a RequestError naming `field` when `policy` is 'error'.
 */
export function resolveItemIds(
  itemIndex: ReadonlyMap<string, number>,
  items: readonly ItemId[],
  policy: 'ignore' | 'error',
  field: string,
): number[] {
  const ids: number[] = [];
  const unknown: string[] = [];
  for (const raw of items) {
    const id = itemIndex.get(String(raw));
    if (id === undefined) unknown.push(String(raw));
    else ids.push(id);
  }
  if (unknown.length > 0 && policy === 'error')
    throw new RequestError(
      field,
      `recommend: ${field} has ${unknown.length} unknown item id(s): ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', ...' : ''}`,
    );
  return ids;
}
