// Autoregressive generation on a KV cache: greedy (batched, left-padded prompts), beam search,
// HF's repetition penalty, EOS ids, stop strings, and decoding constrained to a set of candidate
// token sequences (a trie: only a candidate's next token is allowed; a finished candidate ends
// the row). Token ids in, token ids out; text only through the optional decoder.
import { noGrad } from '../autograd.js';
import { concat, narrow } from '../ops/layout.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { KVCache, type CausalLM, type SoftEmbeddings } from './model.js';
import { expectArgs } from '../guard.js';

/** What generation needs of a tokenizer: stop strings are matched on decoded text. */
export interface TokenDecoder {
  decode(ids: number[]): string;
}

export interface GenerateOptions {
  /** New tokens per prompt at most. */
  maxNewTokens: number;
  /** Generation of a row ends on these (default: the config's eos_token_id). */
  eosTokenIds?: readonly number[];
  /** Fed for finished rows and used as left padding (default: the first EOS id, else 0). */
  padTokenId?: number;
  /** HF's RepetitionPenaltyLogitsProcessor: logits of seen tokens are divided (> 0) or multiplied (< 0) by it. */
  repetitionPenalty?: number;
  /** Beam search with this many beams (default 1: greedy). */
  numBeams?: number;
  /** Default: 'beam' when numBeams > 1, else 'greedy'. 'beam' with one beam is HF's num_beams=1 beam search. */
  strategy?: 'greedy' | 'beam';
  /** Beam scores are sum(log p) / generatedLength^lengthPenalty (default 1). */
  lengthPenalty?: number;
  /** A row ends once its decoded new text contains one of these (needs `decoder`). */
  stopStrings?: readonly string[];
  decoder?: TokenDecoder;
  /** Only these token sequences may be generated (greedy only); a row ends when one is complete. */
  candidates?: readonly (readonly number[])[];
  /**
   * Soft embeddings for the prompts: batch is the prompt index and position is within the
   * unpadded prompt (the left padding is accounted for here).
   */
  softEmbeddings?: SoftEmbeddings;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'candidate';

export interface GenerateResult {
  /** The new tokens of each prompt (EOS included when one ended it). */
  tokens: number[][];
  finishReasons: FinishReason[];
  /** With candidates: which candidate each row produced (null when it ran out of tokens first). */
  candidateIndex?: (number | null)[];
  /** With beam search: the winning hypothesis' length-normalised score. */
  scores?: number[];
  /** With a decoder: the decoded new tokens. */
  texts?: string[];
}

interface TrieNode {
  children: Map<number, TrieNode>;
  /** The candidate that ends here, or -1. */
  candidate: number;
}

function buildTrie(candidates: readonly (readonly number[])[]): TrieNode {
  const root: TrieNode = { children: new Map(), candidate: -1 };
  candidates.forEach((sequence, index) => {
    if (sequence.length === 0) throw new Error(`generate: candidate ${index} is empty`);
    let node = root;
    for (const token of sequence) {
      let next = node.children.get(token);
      if (!next) {
        next = { children: new Map(), candidate: -1 };
        node.children.set(token, next);
      }
      node = next;
    }
    // A duplicate keeps the first index.
    if (node.candidate < 0) node.candidate = index;
  });
  return root;
}

/** HF semantics: each distinct seen token's score is divided by the penalty if positive, multiplied if negative. */
export function applyRepetitionPenalty(
  scores: Float32Array | Float64Array,
  seen: Iterable<number>,
  penalty: number,
): void {
  expectArgs('applyRepetitionPenalty', { scores, seen }, 'iterable');
  expectArgs('applyRepetitionPenalty', { penalty }, 'number');
  if (penalty === 1) return;
  for (const token of new Set(seen)) {
    if (token < 0 || token >= scores.length) continue;
    const s = scores[token]!;
    scores[token] = s < 0 ? s * penalty : s / penalty;
  }
}

function checkOptions(model: CausalLM, prompts: readonly (readonly number[])[], options: GenerateOptions): void {
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1)
    throw new Error(`generate: 'maxNewTokens' must be a positive integer, got ${options.maxNewTokens}`);
  if (prompts.length === 0 || prompts.some((p) => p.length === 0))
    throw new Error('generate: needs at least one prompt, each with at least one token');
  const v = model.config.vocabSize;
  prompts.forEach((p, i) =>
    p.forEach((t) => {
      if (!Number.isInteger(t) || t < 0 || t >= v)
        throw new Error(`generate: prompt ${i} holds token ${t}, outside the vocabulary [0, ${v})`);
    }),
  );
  if (options.repetitionPenalty !== undefined && !(options.repetitionPenalty > 0))
    throw new Error(`generate: 'repetitionPenalty' must be positive, got ${options.repetitionPenalty}`);
  if (options.stopStrings?.length && !options.decoder)
    throw new Error('generate: stopStrings need a decoder ({ decode(ids): string }) to read the text');
  const beams = options.numBeams ?? 1;
  if (!Number.isInteger(beams) || beams < 1)
    throw new Error(`generate: 'numBeams' must be a positive integer, got ${beams}`);
  if (options.strategy !== undefined && options.strategy !== 'greedy' && options.strategy !== 'beam')
    throw new Error(`generate: 'strategy' must be 'greedy' or 'beam', got '${String(options.strategy)}'`);
  if (options.strategy === 'greedy' && beams > 1)
    throw new Error(`generate: strategy 'greedy' cannot use numBeams ${beams}`);
  if ((beams > 1 || options.strategy === 'beam') && options.candidates)
    throw new Error('generate: constrained decoding (candidates) runs greedy only; use numBeams 1');
}

/** Host copy of f32 logits [rows, V], then disposes them. */
function hostRows(logits: Tensor): Float32Array {
  const data = logits.dataSync() as Float32Array;
  logits.dispose();
  return data;
}

/** Left-pads the prompts and shifts the soft-embedding slots by each row's padding. */
function prefillInputs(prompts: readonly (readonly number[])[], pad: number, soft?: SoftEmbeddings) {
  const width = Math.max(...prompts.map((p) => p.length));
  const ids = new Int32Array(prompts.length * width).fill(pad);
  prompts.forEach((p, r) => ids.set(p, r * width + width - p.length));
  const shifted = soft && {
    ...soft,
    position: Int32Array.from(soft.position, (pos, i) => {
      const row = soft.batch[i]!;
      const prompt = prompts[row];
      if (!prompt || pos < 0 || pos >= prompt.length)
        throw new Error(`generate: soft embedding ${i} targets (${row}, ${pos}), outside the prompts`);
      return pos + width - prompt.length;
    }),
  };
  return { ids, width, soft: shifted };
}

/**
 * Generates from token-id prompts. Greedy runs all prompts as one left-padded batch; beam search
 * runs prompt by prompt. Runs without recording gradients.
 */
export function generate(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): GenerateResult {
  expectArgs('generate', { model }, 'object');
  expectArgs('generate', { prompts }, 'array');
  expectArgs('generate', { options }, 'object');
  checkOptions(model, prompts, options);
  const beam = (options.strategy ?? ((options.numBeams ?? 1) > 1 ? 'beam' : 'greedy')) === 'beam';
  // Decoding is inference: no attention dropout, whatever mode the model was left in.
  const wasTraining = model.training;
  model.eval();
  let result: GenerateResult;
  try {
    result = noGrad(() => (beam ? beamSearch(model, prompts, options) : greedy(model, prompts, options)));
  } finally {
    model.train(wasTraining);
  }
  if (options.decoder) result.texts = result.tokens.map((t) => options.decoder!.decode(t));
  return result;
}

function greedy(model: CausalLM, prompts: readonly (readonly number[])[], options: GenerateOptions): GenerateResult {
  const eos = new Set(options.eosTokenIds ?? model.config.eosTokenIds);
  const pad = options.padTokenId ?? [...eos][0] ?? 0;
  const penalty = options.repetitionPenalty ?? 1;
  const vocab = model.config.vocabSize;
  const b = prompts.length;
  const trie = options.candidates ? buildTrie(options.candidates) : null;
  const nodes = prompts.map(() => trie);
  const { ids, width, soft } = prefillInputs(prompts, pad, options.softEmbeddings);
  const lengths = Int32Array.from(prompts, (p) => p.length);
  const tokens: number[][] = prompts.map(() => []);
  const finish: (FinishReason | null)[] = prompts.map(() => null);
  const candidateIndex: (number | null)[] = prompts.map(() => null);
  const cache = new KVCache();
  try {
    let logits = hostRows(
      tidy(
        () =>
          model.forward({
            inputIds: ids,
            shape: [b, width],
            lengths,
            paddingSide: 'left',
            softEmbeddings: soft,
            logits: 'last',
            cache,
          }).logits!,
      ),
    );
    for (let step = 0; step < options.maxNewTokens; step++) {
      const next = new Int32Array(b).fill(pad);
      for (let r = 0; r < b; r++) {
        if (finish[r]) continue;
        const row = logits.subarray(r * vocab, (r + 1) * vocab);
        applyRepetitionPenalty(row, [...prompts[r]!, ...tokens[r]!], penalty);
        const node = nodes[r];
        let allowed: Iterable<number> | null = null;
        if (node) allowed = node.candidate >= 0 ? [...node.children.keys(), ...eos] : node.children.keys();
        const token = argmax(row, allowed);
        tokens[r]!.push(token);
        next[r] = token;
        if (node) {
          const child = node.children.get(token);
          if (!child) {
            // Only an EOS can leave the trie, and only at a complete candidate.
            finish[r] = 'candidate';
            candidateIndex[r] = node.candidate;
          } else {
            nodes[r] = child;
            if (child.candidate >= 0 && (child.children.size === 0 || eos.size === 0)) {
              finish[r] = 'candidate';
              candidateIndex[r] = child.candidate;
            }
          }
        } else if (eos.has(token)) finish[r] = 'eos';
        if (!finish[r] && options.stopStrings?.length) {
          const text = options.decoder!.decode(tokens[r]!);
          if (options.stopStrings.some((s) => text.includes(s))) finish[r] = 'stop';
        }
      }
      if (finish.every(Boolean) || step + 1 === options.maxNewTokens) break;
      for (let r = 0; r < b; r++) lengths[r]! += 1;
      logits = hostRows(
        tidy(
          () =>
            model.forward({ inputIds: next, shape: [b, 1], lengths, paddingSide: 'left', logits: 'last', cache })
              .logits!,
        ),
      );
    }
  } finally {
    cache.dispose();
  }
  return {
    tokens,
    finishReasons: finish.map((f) => f ?? 'length'),
    ...(trie ? { candidateIndex } : {}),
  };
}

/** The index of the largest score (first on ties), among `allowed` when given. */
function argmax(scores: Float32Array | Float64Array, allowed: Iterable<number> | null): number {
  let best = -1;
  let bestScore = -Infinity;
  if (allowed) {
    for (const t of allowed)
      if (best < 0 || scores[t]! > bestScore || (scores[t] === bestScore && t < best))
        [best, bestScore] = [t, scores[t]!];
    if (best < 0) throw new Error('generate: no token is allowed at this step (an empty candidate trie?)');
    return best;
  }
  for (let t = 0; t < scores.length; t++) if (scores[t]! > bestScore || best < 0) [best, bestScore] = [t, scores[t]!];
  return best;
}

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

/** The k best (value, index) of a row, best first, ties to the lower index. */
function topK(row: Float64Array, k: number): { token: number; score: number }[] {
  const best: { token: number; score: number }[] = [];
  for (let t = 0; t < row.length; t++) {
    const s = row[t]!;
    if (best.length === k && s <= best[k - 1]!.score) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.score < s) at--;
    best.splice(at, 0, { token: t, score: s });
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * HF's beam search (early_stopping=False): each step keeps the numBeams best continuations of
 * 2·numBeams candidates; a candidate ending in EOS becomes a finished hypothesis scored
 * sum(log p) / generatedLength^lengthPenalty, with generatedLength the tokens before the EOS
 * (HF ≥ 4.38); the search stops once no running beam can beat the worst of numBeams finished
 * ones. The repetition penalty applies to the log-probabilities, as in HF's beam search.
 */
function beamSearch(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): GenerateResult {
  const out: GenerateResult = { tokens: [], finishReasons: [], scores: [] };
  prompts.forEach((prompt, index) => {
    const soft = options.softEmbeddings;
    const mine = soft ? [...soft.batch].map((row, i) => (row === index ? i : -1)).filter((i) => i >= 0) : [];
    const rowSoft: SoftEmbeddings | undefined =
      mine.length > 0
        ? {
            batch: mine.map(() => 0),
            position: mine.map((i) => soft!.position[i]!),
            values: soft!.values,
          }
        : undefined;
    // Only this prompt's rows of the values take part.
    if (rowSoft && mine.length !== soft!.values.shape[0]) rowSoft.values = pickRows(soft!.values, mine);
    const best = beamSearchOne(model, prompt, options, rowSoft);
    out.tokens.push(best.tokens);
    out.finishReasons.push(best.reason);
    out.scores!.push(best.score);
  });
  return out;
}

/** Rows `rows` of values [K, d], differentiably. */
function pickRows(values: Tensor, rows: number[]): Tensor {
  return concat(
    rows.map((r) => narrow(values, 0, r, 1)),
    0,
  );
}

function beamSearchOne(
  model: CausalLM,
  prompt: readonly number[],
  options: GenerateOptions,
  soft: SoftEmbeddings | undefined,
): { tokens: number[]; score: number; reason: FinishReason } {
  const numBeams = options.numBeams ?? 1;
  const eos = new Set(options.eosTokenIds ?? model.config.eosTokenIds);
  const penalty = options.repetitionPenalty ?? 1;
  const lengthPenalty = options.lengthPenalty ?? 1;
  const vocab = model.config.vocabSize;
  let beams: { tokens: number[]; score: number }[] = [{ tokens: [], score: 0 }];
  const finished: { tokens: number[]; score: number }[] = [];
  const normalise = (sum: number, length: number): number => sum / Math.pow(Math.max(length, 1), lengthPenalty);
  const worstFinished = (): number => Math.min(...finished.map((h) => h.score));
  const addFinished = (tokens: number[], score: number): void => {
    if (finished.length < numBeams || score > worstFinished()) {
      finished.push({ tokens, score });
      finished.sort((x, y) => y.score - x.score);
      if (finished.length > numBeams) finished.pop();
    }
  };
  const cache = new KVCache();
  try {
    let logits = hostRows(
      tidy(
        () =>
          model.forward({
            inputIds: Int32Array.from(prompt),
            shape: [1, prompt.length],
            softEmbeddings: soft,
            logits: 'last',
            cache,
          }).logits!,
      ),
    );
    for (let step = 0; step < options.maxNewTokens; step++) {
      const pool: { beam: number; token: number; score: number }[] = [];
      beams.forEach((beam, i) => {
        const scores = logSoftmax(logits.subarray(i * vocab, (i + 1) * vocab));
        applyRepetitionPenalty(scores, [...prompt, ...beam.tokens], penalty);
        for (const { token, score } of topK(scores, 2 * numBeams))
          pool.push({ beam: i, token, score: beam.score + score });
      });
      pool.sort((x, y) => y.score - x.score || x.beam - y.beam || x.token - y.token);
      const next: { tokens: number[]; score: number; source: number }[] = [];
      for (const [rank, c] of pool.slice(0, 2 * numBeams).entries()) {
        const tokens = [...beams[c.beam]!.tokens, c.token];
        if (eos.has(c.token)) {
          if (rank < numBeams) addFinished(tokens, normalise(c.score, tokens.length - 1));
        } else next.push({ tokens, score: c.score, source: c.beam });
        if (next.length === numBeams) break;
      }
      const generated = step + 1;
      const best = Math.max(...next.map((n) => n.score));
      if (finished.length >= numBeams && normalise(best, generated) <= worstFinished()) {
        break;
      }
      if (generated === options.maxNewTokens) {
        for (const n of next) addFinished(n.tokens, normalise(n.score, generated));
        break;
      }
      cache.selectRows(Int32Array.from(next, (n) => n.source));
      beams = next.map(({ tokens, score }) => ({ tokens, score }));
      const ids = Int32Array.from(beams, (bm) => bm.tokens[bm.tokens.length - 1]!);
      logits = hostRows(
        tidy(() => model.forward({ inputIds: ids, shape: [beams.length, 1], logits: 'last', cache }).logits!),
      );
    }
  } finally {
    cache.dispose();
  }
  const winner = finished[0]!;
  const last = winner.tokens[winner.tokens.length - 1];
  const reason: FinishReason = last !== undefined && eos.has(last) ? 'eos' : 'length';
  return { tokens: winner.tokens, score: winner.score, reason };
}
