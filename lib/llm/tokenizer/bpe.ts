// The BPE model: vocab and ranked merges from tokenizer.json's model, and BPE on one pre-tokenized
// word (a scan for short words, a heap for long ones).
import { booleanAt, describe, formatError, idAt, type Json, objectAt, stringAt } from './format.js';

const PAIR_STRIDE = 2 ** 21;
const pairKey = (left: number, right: number) => left * PAIR_STRIDE + right;

export interface BpeModel {
  vocab: Map<string, number>;
  merges: [string, string][];
  /** pairKey(left, right) → rank * PAIR_STRIDE + merged id, one number so lookups allocate nothing. */
  mergeTable: Map<number, number>;
  ignoreMerges: boolean;
  unkToken: string | null;
  fuseUnk: boolean;
}

export function parseBpe(config: Json | undefined): BpeModel {
  const obj = objectAt(config, 'model');
  const type = obj.type === undefined ? 'BPE' : stringAt(obj.type, 'model.type');
  if (type !== 'BPE') formatError('model.type', `only 'BPE' models are supported, got ${describe(type)}`);
  if (booleanAt(obj.byte_fallback, 'model.byte_fallback', false)) {
    formatError('model.byte_fallback', 'byte_fallback BPE (SentencePiece style) is not supported');
  }
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (obj[key] !== undefined && obj[key] !== null && obj[key] !== '') {
      formatError(`model.${key}`, `is not supported by byte-level BPE, got ${describe(obj[key])}`);
    }
  }
  if (typeof obj.dropout === 'number' && obj.dropout > 0) {
    formatError('model.dropout', `BPE dropout is for training only, got ${obj.dropout}`);
  }
  const vocabJson = objectAt(obj.vocab, 'model.vocab');
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(vocabJson)) {
    const value = idAt(id, `model.vocab[${JSON.stringify(token)}]`);
    if (value >= PAIR_STRIDE) formatError(`model.vocab[${JSON.stringify(token)}]`, `id ${value} is too large`);
    vocab.set(token, value);
  }
  const mergesJson = obj.merges ?? [];
  if (!Array.isArray(mergesJson)) formatError('model.merges', `expected an array, got ${describe(mergesJson)}`);
  const merges: [string, string][] = [];
  const mergeTable = new Map<number, number>();
  mergesJson.forEach((entry, rank) => {
    const field = `model.merges[${rank}]`;
    let pair: string[];
    if (typeof entry === 'string') pair = entry.split(' ');
    else if (Array.isArray(entry) && entry.every((part) => typeof part === 'string')) pair = entry as string[];
    else formatError(field, `expected "left right" or [left, right], got ${describe(entry)}`);
    if (pair.length !== 2) formatError(field, `expected exactly two tokens, got ${describe(entry)}`);
    const [left, right] = pair as [string, string];
    const leftId = vocab.get(left);
    const rightId = vocab.get(right);
    const mergedId = vocab.get(left + right);
    if (leftId === undefined) formatError(field, `token ${JSON.stringify(left)} is not in model.vocab`);
    if (rightId === undefined) formatError(field, `token ${JSON.stringify(right)} is not in model.vocab`);
    if (mergedId === undefined)
      formatError(field, `merged token ${JSON.stringify(left + right)} is not in model.vocab`);
    merges.push([left, right]);
    const key = pairKey(leftId, rightId);
    if (!mergeTable.has(key)) mergeTable.set(key, rank * PAIR_STRIDE + mergedId);
  });
  const unk = obj.unk_token;
  const unkToken = unk === undefined || unk === null ? null : stringAt(unk, 'model.unk_token');
  if (unkToken !== null && !vocab.has(unkToken))
    formatError('model.unk_token', `${JSON.stringify(unkToken)} is not in model.vocab`);
  return {
    vocab,
    merges,
    mergeTable,
    ignoreMerges: booleanAt(obj.ignore_merges, 'model.ignore_merges', false),
    unkToken,
    fuseUnk: booleanAt(obj.fuse_unk, 'model.fuse_unk', false),
  };
}

/** BPE on one pre-tokenized word: the lowest-ranked pair first, leftmost among equals (as HF). */
export function bpeWord(model: BpeModel, word: string): number[] {
  if (model.ignoreMerges) {
    const whole = model.vocab.get(word);
    if (whole !== undefined) return [whole];
  }
  const symbols: number[] = [];
  const unkId = model.unkToken === null ? undefined : model.vocab.get(model.unkToken);
  let lastWasUnk = false;
  for (const ch of word) {
    const id = model.vocab.get(ch);
    if (id !== undefined) {
      symbols.push(id);
      lastWasUnk = false;
    } else if (unkId !== undefined) {
      if (!(model.fuseUnk && lastWasUnk)) symbols.push(unkId);
      lastWasUnk = true;
    }
  }
  return symbols.length > LONG_WORD ? mergeWithHeap(model, symbols) : mergeByScan(model, symbols);
}

/** Words longer than this merge through a heap; rescanning would be quadratic in their length. */
const LONG_WORD = 48;

function mergeByScan(model: BpeModel, symbols: number[]): number[] {
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const entry = model.mergeTable.get(pairKey(symbols[i]!, symbols[i + 1]!));
      if (entry !== undefined && entry < best) {
        best = entry;
        at = i;
      }
    }
    if (at < 0) return symbols;
    symbols.splice(at, 2, best % PAIR_STRIDE);
  }
}

/**
 * The same merges in O(n log n), as HF's Word::merge_all: candidate pairs in a heap by (rank,
 * position) over a linked list of symbols; entries whose pair has since changed are skipped.
 */
function mergeWithHeap(model: BpeModel, symbols: number[]): number[] {
  const n = symbols.length;
  const ids = Int32Array.from(symbols);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const alive = new Uint8Array(n).fill(1);
  const entries: number[] = [];
  const positions: number[] = [];
  const before = (a: number, b: number) =>
    entries[a]! < entries[b]! || (entries[a] === entries[b] && positions[a]! < positions[b]!);
  const swap = (a: number, b: number) => {
    [entries[a], entries[b]] = [entries[b]!, entries[a]!];
    [positions[a], positions[b]] = [positions[b]!, positions[a]!];
  };
  const push = (at: number) => {
    const right = next[at]!;
    if (right < 0) return;
    const entry = model.mergeTable.get(pairKey(ids[at]!, ids[right]!));
    if (entry === undefined) return;
    entries.push(entry);
    positions.push(at);
    for (let i = entries.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(i, parent)) break;
      swap(i, parent);
      i = parent;
    }
  };
  const pop = (): [number, number] => {
    const top: [number, number] = [entries[0]!, positions[0]!];
    const lastEntry = entries.pop()!;
    const lastPosition = positions.pop()!;
    if (entries.length > 0) {
      entries[0] = lastEntry;
      positions[0] = lastPosition;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < entries.length && before(l, m)) m = l;
        if (r < entries.length && before(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  while (entries.length > 0) {
    const [entry, at] = pop();
    const right = next[at]!;
    if (!alive[at] || right < 0 || model.mergeTable.get(pairKey(ids[at]!, ids[right]!)) !== entry) continue;
    ids[at] = entry % PAIR_STRIDE;
    alive[right] = 0;
    next[at] = next[right]!;
    if (next[at]! >= 0) prev[next[at]!] = at;
    if (prev[at]! >= 0) push(prev[at]!);
    push(at);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0 && i < n; i = next[i]!) out.push(ids[i]!);
  return out;
}
