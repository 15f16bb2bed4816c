// LLM-SRec's evaluation: 100 candidates per user (the target plus 99 uniform negatives outside
// the history, fixed by a seed), scored as f_user(h_U) · f_item(h_I) against item
// representations computed once per evaluation; NDCG and HR at 10 and 20.
import { noGrad } from '../../autograd.js';
import { SequenceSplit } from '../../data/dataset.js';
import { hash32, Rng } from '../../data/rng.js';
import { candidateSets } from '../../data/sampler.js';
import { rankingMetricFields, sampledMetrics, type RankingMetrics } from '../../eval/metrics.js';
import { tidy } from '../../scope.js';
import { historyOf, sampleUsers, shuffledHistory } from './data.js';
import { leftPad, type SequenceRecommender } from '../../models/recommender-model.js';
import { LLMSRec, type UserHistory } from './model.js';
import { Module } from '../../nn/module.js';
import { expectArgs, expectFields } from '../../guard.js';

export interface LLMSRecEvalOptions {
  stage: 'valid' | 'test';
  /** At most this many users with a target (drawn by seed; the paper: 10,000). */
  users: number;
  /** Seed of the user draw and of the candidates. */
  seed: number;
  /** User prompts per forward pass (default 32). */
  batch?: number;
  /** Histories shuffled at test time (the paper's sequence test). */
  shuffle?: boolean;
  /**
   * Item representations [numItems + 1, D] computed before (the cached table of the eval
   * stage); without it, only the candidates' rows are computed, `itemBatch` prompts at a time.
   */
  itemTable?: Float32Array;
  itemBatch?: number;
}

export interface LLMSRecEvalResult {
  metrics: RankingMetrics;
  users: number;
}

/** Users with a target for `stage`. */
export function evaluationUsers(split: SequenceSplit, stage: 'valid' | 'test'): Int32Array {
  expectArgs('evaluationUsers', { split }, SequenceSplit);
  expectArgs('evaluationUsers', { stage }, 'string');
  const users: number[] = [];
  for (let u = 1; u <= split.dataset.numUsers; u++) if (split.target(u, stage) > 0) users.push(u);
  return Int32Array.from(users);
}

/** What the 1+99 protocol needs of a model: user vectors of histories and item vectors. */
export interface CandidateScorer {
  dim: number;
  /** [histories.length × dim] user representations. */
  users(histories: readonly UserHistory[]): Float32Array;
  /** [numItems + 1 × dim] item representations; only the rows of `candidates` are read. */
  items(candidates: Int32Array): Float32Array;
}

/** 1+99 metrics of any scorer on `stage`: the same users and candidates for a given seed. */
export function evaluateOnCandidates(
  split: SequenceSplit,
  options: LLMSRecEvalOptions,
  scorer: CandidateScorer,
): LLMSRecEvalResult {
  expectArgs('evaluateOnCandidates', { split }, SequenceSplit);
  expectArgs('evaluateOnCandidates', { options }, 'object');
  expectFields('evaluateOnCandidates', 'scorer', scorer, { dim: 'integer', users: 'function' });
  const users = sampleUsers(evaluationUsers(split, options.stage), options.users, options.seed, 0xe7a1);
  if (users.length === 0) throw new Error(`LLM-SRec: no user has a ${options.stage} target`);
  const sets = candidateSets(split, { stage: options.stage, negatives: 99, seed: options.seed, users });
  const dim = scorer.dim;
  const table = scorer.items(sets.candidates);
  const scores = new Float32Array(users.length * sets.width);
  const batch = options.batch ?? 32;
  for (let start = 0; start < users.length; start += batch) {
    const chunk = users.subarray(start, Math.min(users.length, start + batch));
    const histories = Array.from(chunk, (user) => {
      const history = historyOf(split, user, options.stage);
      return options.shuffle ? shuffledHistory(history, new Rng(options.seed, hash32(user, 0x5f5f))) : history;
    });
    const u = scorer.users(histories);
    for (let r = 0; r < chunk.length; r++) {
      const row = start + r;
      for (let j = 0; j < sets.width; j++) {
        const item = sets.candidates[row * sets.width + j]!;
        let dot = 0;
        for (let c = 0; c < dim; c++) dot += u[r * dim + c]! * table[item * dim + c]!;
        scores[row * sets.width + j] = dot;
      }
    }
  }
  return { metrics: sampledMetrics(scores, users.length, { targetIndex: sets.targetIndex }), users: users.length };
}

/** 1+99 metrics of `model` on `stage`. */
export function evaluateLLMSRec(model: LLMSRec, split: SequenceSplit, options: LLMSRecEvalOptions): LLMSRecEvalResult {
  expectArgs('evaluateLLMSRec', { model }, LLMSRec);
  expectArgs('evaluateLLMSRec', { split }, SequenceSplit);
  expectArgs('evaluateLLMSRec', { options }, 'object');
  return evaluateOnCandidates(split, options, {
    dim: model.heads.shape.outDim,
    users: (histories) => noGrad(() => tidy(() => model.userRepresentations(histories).dataSync() as Float32Array)),
    items: (candidates) => options.itemTable ?? candidateItemTable(model, candidates, split.dataset.numItems, options),
  });
}

/** 1+99 metrics of the SASRec alone on the same users and candidates (the paper's SASRec row). */
export function evaluateSASRecOnCandidates(
  sasrec: SequenceRecommender,
  split: SequenceSplit,
  options: LLMSRecEvalOptions,
): LLMSRecEvalResult {
  expectArgs('evaluateSASRecOnCandidates', { sasrec }, Module);
  expectArgs('evaluateSASRecOnCandidates', { split }, SequenceSplit);
  expectArgs('evaluateSASRecOnCandidates', { options }, 'object');
  const maxlen = sasrec.config.maxlen;
  return noGrad(() =>
    evaluateOnCandidates(split, options, {
      dim: sasrec.config.hidden,
      users: (histories) =>
        tidy(() => {
          const ids = new Int32Array(histories.length * maxlen);
          histories.forEach((h, r) => leftPad(h.items, maxlen, ids, r));
          return sasrec.userRepresentation(ids, histories.length).dataSync() as Float32Array;
        }),
      items: () => tidy(() => sasrec.itemEmbeddings().dataSync() as Float32Array),
    }),
  );
}

/** A [numItems + 1, D] table with only the rows of `candidates` filled. */
function candidateItemTable(
  model: LLMSRec,
  candidates: Int32Array,
  numItems: number,
  options: LLMSRecEvalOptions,
): Float32Array {
  const dim = model.heads.shape.outDim;
  const items = [...new Set(candidates)].sort((a, b) => a - b);
  const table = new Float32Array((numItems + 1) * dim);
  const batch = options.itemBatch ?? 64;
  noGrad(() => {
    for (let start = 0; start < items.length; start += batch) {
      const chunk = items.slice(start, start + batch);
      const rows = tidy(() => model.itemRepresentations(chunk).dataSync() as Float32Array);
      chunk.forEach((item, r) => table.set(rows.subarray(r * dim, (r + 1) * dim), item * dim));
    }
  });
  return table;
}

/** 'ndcg@10', 'hr@10', ... at 10 and 20 (the paper's columns). */
export function paperMetrics(m: RankingMetrics): Record<string, number> {
  expectFields('paperMetrics', 'm', m, rankingMetricFields);
  return { 'ndcg@10': m.ndcg[10]!, 'hr@10': m.hr[10]!, 'ndcg@20': m.ndcg[20]!, 'hr@20': m.hr[20]! };
}
