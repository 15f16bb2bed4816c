// Ranking metrics for next-item recommendation with one held-out target per user.
//
// Rank convention: 0-based, the number of candidates placed above the target. Ties between the
// target and other candidates are resolved by a TieRule:
// - 'optimistic' (default): rank = number of candidates with a strictly higher score. This is
//   what pmixer/SASRec.pytorch computes with `(-scores).argsort().argsort()[0]` when the target
//   sits at index 0 and the sort keeps equal keys in index order (numpy's default quicksort
//   does for short rows; for 101 candidates the order of exact ties is formally unspecified, and
//   float scores rarely tie exactly);
// - 'pessimistic': every tied candidate is placed above the target;
// - 'mean': the expected metric when the target lands uniformly among its ties.
// Recall@K equals HR@K here (one relevant item). NDCG@K = 1/log2(rank + 2) when rank < K. MRR is
// 1/(rank + 1), untruncated, and MRR@K is the same for rank < K and 0 beyond; from top-k lists
// the plain MRR is MRR@k (a target outside the list adds 0).
// K larger than the candidate count is allowed: every target then counts as a hit.
import { expectArgs } from '../guard.js';

export type TieRule = 'optimistic' | 'pessimistic' | 'mean';

/** The cut-offs of the papers' tables. */
export const defaultKs: readonly number[] = [1, 5, 10, 20];

/** The fields of RankingMetrics, for the argument checks of functions that take one. */
export const rankingMetricFields = { ks: 'array', hr: 'object', recall: 'object', ndcg: 'object' } as const;

export interface RankingMetrics {
  /** Targets evaluated. */
  count: number;
  ks: number[];
  /** Hit ratio at K (= Recall@K with one target). */
  hr: Record<number, number>;
  recall: Record<number, number>;
  ndcg: Record<number, number>;
  /** MRR truncated at K: 1/(rank + 1) when rank < K, else 0. */
  mrrAt: Record<number, number>;
  mrr: number;
}

export interface MetricOptions {
  ks?: readonly number[];
  tie?: TieRule;
}

function checkKs(ks: readonly number[], op: string): number[] {
  for (const k of ks) {
    if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`${op}: every K must be a positive integer, got ${k}`);
  }
  return [...ks];
}

/** Sums HR, NDCG and MRR contributions of targets one at a time. */
export class RankingAccumulator {
  readonly ks: number[];
  readonly tie: TieRule;
  private count = 0;
  private readonly hits: Float64Array;
  private readonly gains: Float64Array;
  private readonly reciprocals: Float64Array;
  private reciprocal = 0;

  constructor(options: MetricOptions = {}) {
    expectArgs('new RankingAccumulator', { options }, 'options');
    this.ks = checkKs(options.ks ?? defaultKs, 'RankingAccumulator');
    this.tie = options.tie ?? 'optimistic';
    this.hits = new Float64Array(this.ks.length);
    this.gains = new Float64Array(this.ks.length);
    this.reciprocals = new Float64Array(this.ks.length);
  }

  /** Adds one target whose rank is known (0-based); a non-finite or negative rank is a miss. */
  addRank(rank: number): void {
    this.count++;
    if (!(rank >= 0 && Number.isFinite(rank))) return;
    const gain = 1 / Math.log2(rank + 2);
    for (let j = 0; j < this.ks.length; j++) {
      if (rank < this.ks[j]!) {
        this.hits[j]!++;
        this.gains[j]! += gain;
        this.reciprocals[j]! += 1 / (rank + 1);
      }
    }
    this.reciprocal += 1 / (rank + 1);
  }

  /** Adds one target from score comparisons: `greater` candidates above it, `ties` equal to it. */
  addCounts(greater: number, ties: number): void {
    if (ties === 0 || this.tie === 'optimistic') return this.addRank(greater);
    if (this.tie === 'pessimistic') return this.addRank(greater + ties);
    // Mean: average every metric over the ties + 1 equally likely positions.
    this.count++;
    const positions = ties + 1;
    for (let p = greater; p <= greater + ties; p++) {
      const gain = 1 / Math.log2(p + 2) / positions;
      for (let j = 0; j < this.ks.length; j++) {
        if (p < this.ks[j]!) {
          this.hits[j]! += 1 / positions;
          this.gains[j]! += gain;
          this.reciprocals[j]! += 1 / (p + 1) / positions;
        }
      }
      this.reciprocal += 1 / (p + 1) / positions;
    }
  }

  result(): RankingMetrics {
    const n = this.count;
    const hr: Record<number, number> = {};
    const recall: Record<number, number> = {};
    const ndcg: Record<number, number> = {};
    const mrrAt: Record<number, number> = {};
    this.ks.forEach((k, j) => {
      hr[k] = n ? this.hits[j]! / n : 0;
      recall[k] = hr[k];
      ndcg[k] = n ? this.gains[j]! / n : 0;
      mrrAt[k] = n ? this.reciprocals[j]! / n : 0;
    });
    return { count: n, ks: [...this.ks], hr, recall, ndcg, mrrAt, mrr: n ? this.reciprocal / n : 0 };
  }
}

/** Scores as any numeric array (JS arrays, Float32Array, Float64Array). */
export type Scores = ArrayLike<number>;

/**
 * Counts the candidates in scores[from..to) (excluding the target's own column) that score
 * strictly higher than, and equal to, scores[target]. A NaN target score ranks below everything.
 */
export function compareToTarget(
  scores: Scores,
  target: number,
  from = 0,
  to?: number,
): { greater: number; ties: number } {
  expectArgs('compareToTarget', { scores }, 'arrayLike');
  to ??= scores.length;
  expectArgs('compareToTarget', { target, from, to }, 'number');
  const s = scores[target]!;
  if (Number.isNaN(s)) return { greater: to - from - (target >= from && target < to ? 1 : 0), ties: 0 };
  let greater = 0;
  let ties = 0;
  // Branch-free counting: with random scores the comparison is a coin flip for the predictor.
  for (let i = from; i < to; i++) {
    const v = scores[i]!;
    greater += +(v > s);
    ties += +(v === s);
  }
  if (target >= from && target < to) ties--;
  return { greater, ties };
}

/** The 0-based rank of scores[target] among scores under a tie rule ('mean' gives a fraction). */
export function rankOfTarget(scores: Scores, target: number, tie: TieRule = 'optimistic'): number {
  expectArgs('rankOfTarget', { scores }, 'arrayLike');
  expectArgs('rankOfTarget', { target }, 'number');
  if (!(Number.isInteger(target) && target >= 0 && target < scores.length)) {
    throw new RangeError(`rankOfTarget: target index ${target} is outside the ${scores.length} scores`);
  }
  const { greater, ties } = compareToTarget(scores, target);
  return tie === 'optimistic' ? greater : tie === 'pessimistic' ? greater + ties : greater + ties / 2;
}

function rowsOf(op: string, scores: Scores, rows: number): number {
  if (!(Number.isInteger(rows) && rows >= 0))
    throw new RangeError(`${op}: rows must be a non-negative integer, got ${rows}`);
  if (rows === 0) return 0;
  if (scores.length % rows !== 0) {
    throw new RangeError(`${op}: scores has ${scores.length} values, not a multiple of ${rows} rows`);
  }
  return scores.length / rows;
}

export interface FullRankingOptions extends MetricOptions {
  /**
   * Item ids to leave out of the ranking for a row (e.g. the user's history). The target is
   * never excluded, even when it appears in the list (repeat purchases).
   */
  exclude?: (row: number) => ArrayLike<number> | undefined;
}

/**
 * Full-ranking metrics. `scores` is row-major [rows × (numItems + 1)] over item ids, where
 * column 0 (padding) is ignored; `targets[r]` is row r's held-out item id.
 */
export function fullRankingMetrics(
  scores: Scores,
  rows: number,
  targets: ArrayLike<number>,
  options: FullRankingOptions = {},
): RankingMetrics {
  const op = 'fullRankingMetrics';
  const width = rowsOf(op, scores, rows);
  if (targets.length !== rows) throw new RangeError(`${op}: targets has ${targets.length} entries for ${rows} rows`);
  const accumulator = new RankingAccumulator(options);
  const marks = new Int32Array(width);
  const isView = ArrayBuffer.isView(scores) && 'subarray' in scores;
  for (let r = 0; r < rows; r++) {
    const target = targets[r]!;
    if (!(Number.isInteger(target) && target >= 1 && target < width)) {
      throw new RangeError(
        `${op}: targets[${r}] = ${target} is not an item id in 1..${width - 1} (scores are [${rows}, ${width}])`,
      );
    }
    const row: Scores = isView
      ? (scores as Float32Array).subarray(r * width, (r + 1) * width)
      : Array.prototype.slice.call(scores, r * width, (r + 1) * width);
    let { greater, ties } = compareToTarget(row, target, 1, width);
    const excluded = options.exclude?.(r);
    const s = row[target]!;
    if (excluded && !Number.isNaN(s)) {
      const stamp = r + 1;
      for (let i = 0; i < excluded.length; i++) {
        const item = excluded[i]!;
        if (item < 1 || item >= width || item === target || marks[item] === stamp) continue;
        marks[item] = stamp;
        const v = row[item]!;
        if (v > s) greater--;
        else if (v === s) ties--;
      }
    }
    accumulator.addCounts(greater, ties);
  }
  return accumulator.result();
}

export interface SampledOptions extends MetricOptions {
  /** Column of the target in each row (default 0 for every row). */
  targetIndex?: ArrayLike<number>;
}

/** Sampled-candidate metrics over row-major [rows × candidates] scores. */
export function sampledMetrics(scores: Scores, rows: number, options: SampledOptions = {}): RankingMetrics {
  const op = 'sampledMetrics';
  const width = rowsOf(op, scores, rows);
  if (options.targetIndex && options.targetIndex.length !== rows) {
    throw new RangeError(`${op}: targetIndex has ${options.targetIndex.length} entries for ${rows} rows`);
  }
  const accumulator = new RankingAccumulator(options);
  const isView = ArrayBuffer.isView(scores) && 'subarray' in scores;
  for (let r = 0; r < rows; r++) {
    const t = options.targetIndex ? options.targetIndex[r]! : 0;
    if (!(Number.isInteger(t) && t >= 0 && t < width)) {
      throw new RangeError(`${op}: targetIndex[${r}] = ${t} is outside 0..${width - 1}`);
    }
    const row: Scores = isView
      ? (scores as Float32Array).subarray(r * width, (r + 1) * width)
      : Array.prototype.slice.call(scores, r * width, (r + 1) * width);
    const { greater, ties } = compareToTarget(row, t);
    accumulator.addCounts(greater, ties);
  }
  return accumulator.result();
}

/**
 * Metrics from ranks computed elsewhere (e.g. on the GPU): 0-based ranks of each target;
 * Infinity, NaN or a negative value means the target was not ranked (a miss).
 */
export function metricsFromRanks(ranks: ArrayLike<number>, options: { ks?: readonly number[] } = {}): RankingMetrics {
  expectArgs('metricsFromRanks', { ranks }, 'arrayLike');
  expectArgs('metricsFromRanks', { options }, 'options');
  const accumulator = new RankingAccumulator(options);
  for (let i = 0; i < ranks.length; i++) accumulator.addRank(ranks[i]!);
  return accumulator.result();
}

/**
 * The 0-based position of each target in row-major [rows × k] top-k lists (best first), or
 * Infinity when the target is not in its list.
 */
export function ranksFromTopK(topK: ArrayLike<number>, k: number, targets: ArrayLike<number>): Float64Array {
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`ranksFromTopK: k must be a positive integer, got ${k}`);
  if (topK.length !== targets.length * k) {
    throw new RangeError(`ranksFromTopK: topK has ${topK.length} ids, expected ${targets.length} rows × ${k}`);
  }
  const ranks = new Float64Array(targets.length).fill(Infinity);
  for (let r = 0; r < targets.length; r++) {
    for (let j = 0; j < k; j++) {
      if (topK[r * k + j] === targets[r]) {
        ranks[r] = j;
        break;
      }
    }
  }
  return ranks;
}

/**
 * A-LLMRec's answer span: the lower-cased generation with a leading `"item title" : ` removed,
 * between its first and last double quote. Without any quote the reference code's slice
 * text[0:-1] drops the last character, and with one quote the span is empty; both are kept so
 * that numbers compare with the published ones.
 */
export function answerSpan(generation: string): string {
  expectArgs('answerSpan', { generation }, 'string');
  const text = generation.trim().toLowerCase().replaceAll('"item title" : ', '');
  const start = text.indexOf('"');
  const end = text.lastIndexOf('"');
  if (start < 0) return text.slice(0, -1);
  return end > start ? text.slice(start + 1, end) : '';
}

/** Whether the answer title (case-insensitive) is a substring of the generation's answer span. */
export function titleHit(generation: string, answerTitle: string): boolean {
  expectArgs('titleHit', { generation, answerTitle }, 'string');
  const answer = answerTitle.trim().toLowerCase();
  if (answer === '') throw new Error('titleHit: the answer title is empty; every generation would match it');
  return answerSpan(generation).includes(answer);
}

/** Hit@1 of generated titles: the fraction of generations that name their answer title. */
export function generatedHitAt1(generations: readonly string[], answerTitles: readonly string[]): number {
  expectArgs('generatedHitAt1', { generations, answerTitles }, 'array');
  if (generations.length !== answerTitles.length) {
    throw new RangeError(`generatedHitAt1: ${generations.length} generations for ${answerTitles.length} answers`);
  }
  if (generations.length === 0) return 0;
  let hits = 0;
  for (let i = 0; i < generations.length; i++) if (titleHit(generations[i]!, answerTitles[i]!)) hits++;
  return hits / generations.length;
}

/** The RankingMetrics fields flattenMetrics can write; mrrAt is written as 'mrr@K'. */
export type MetricField = 'hr' | 'recall' | 'ndcg' | 'mrrAt' | 'mrr' | 'count';
const METRIC_FIELDS: readonly MetricField[] = ['hr', 'recall', 'ndcg', 'mrrAt', 'mrr', 'count'];

/**
 * Flattens metrics to named numbers, lower case as in the pipelines' results.json and the
 * trainers' `metric` option: 'hr@10', 'recall@10', 'ndcg@10', 'mrr@10' for each K, then 'mrr'
 * and 'count'. `fields` keeps only those (the pipelines write hr, ndcg and mrr). Earlier versions
 * wrote 'HR@10', 'Recall@10', 'NDCG@10', 'MRR@10' and 'MRR' here.
 */
export function flattenMetrics(
  metrics: RankingMetrics,
  fields: readonly MetricField[] = METRIC_FIELDS,
): Record<string, number> {
  if (typeof metrics !== 'object' || metrics === null || !Array.isArray(metrics.ks))
    throw new Error(
      `flattenMetrics: 'metrics' must be RankingMetrics (with ks), got ${metrics === null ? 'null' : typeof metrics}`,
    );
  if (!Array.isArray(fields) || fields.some((f) => !METRIC_FIELDS.includes(f)))
    throw new Error(
      `flattenMetrics: 'fields' must list some of ${METRIC_FIELDS.join(', ')}, got ${JSON.stringify(fields)}`,
    );
  const want = new Set(fields);
  const out: Record<string, number> = {};
  for (const k of metrics.ks) {
    if (want.has('hr')) out[`hr@${k}`] = metrics.hr[k]!;
    if (want.has('recall')) out[`recall@${k}`] = metrics.recall[k]!;
    if (want.has('ndcg')) out[`ndcg@${k}`] = metrics.ndcg[k]!;
    if (want.has('mrrAt')) out[`mrr@${k}`] = metrics.mrrAt[k]!;
  }
  if (want.has('mrr')) out.mrr = metrics.mrr;
  if (want.has('count')) out.count = metrics.count;
  return out;
}
