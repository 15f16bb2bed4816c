// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) for the byte-level BPE family
// that Qwen2, Llama-3 and GPT-2 use: reading, encoding, decoding, adding special tokens, saving.
// The pipeline follows the Rust crate step by step (added tokens → normalizer → pre-tokenizer →
// BPE → post-processor), so ids agree with `tokenizers` in Python on the same files.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expectArgs } from '../guard.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The fields of an added token, as tokenizer.json spells them. */
export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface EncodeOptions {
  /** Apply the post-processor (BOS/EOS templates). Default true, as in HF. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop added tokens marked special. Default false, as in HF. */
  skipSpecialTokens?: boolean;
}

/** The token roles tokenizer_config.json names. */
export type SpecialTokenRole = 'bos' | 'eos' | 'pad' | 'unk';
const ROLES: readonly SpecialTokenRole[] = ['bos', 'eos', 'pad', 'unk'];

class TokenizerFormatError extends Error {}

function formatError(field: string, message: string): never {
  throw new TokenizerFormatError(`${field}: ${message}`);
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function objectAt(value: Json | undefined, field: string): JsonObject {
  if (!isObject(value)) formatError(field, `expected an object, got ${describe(value)}`);
  return value;
}

function stringAt(value: Json | undefined, field: string): string {
  if (typeof value !== 'string') formatError(field, `expected a string, got ${describe(value)}`);
  return value;
}

function booleanAt(value: Json | undefined, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') formatError(field, `expected a boolean, got ${describe(value)}`);
  return value;
}

function idAt(value: Json | undefined, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    formatError(field, `expected a non-negative integer id, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Byte-level alphabet: GPT-2's bijection between the 256 bytes and printable code points, so
// every byte string is a string of visible characters and no token holds a space or control.

const BYTE_TO_CHAR: string[] = [];
const CHAR_TO_BYTE = new Map<string, number>();
{
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const code = printable(b) ? b : 256 + shifted++;
    BYTE_TO_CHAR[b] = String.fromCharCode(code);
    CHAR_TO_BYTE.set(String.fromCharCode(code), b);
  }
}

/** The 256 byte-level characters in code-point order (the order HF's trainer gives them ids). */
export function byteLevelAlphabet(): string[] {
  return [...BYTE_TO_CHAR].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

function toByteLevel(text: string): string {
  const bytes = utf8Encoder.encode(text);
  let out = '';
  for (const b of bytes) out += BYTE_TO_CHAR[b]!;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Oniguruma patterns → JavaScript RegExp. tokenizer.json regexes are written for Oniguruma:
// Llama-3 uses the inline flag group (?i:...), which Node 20 lacks, and Oniguruma's \s is the
// Unicode White_Space set (with U+0085, without U+FEFF), unlike JavaScript's.

const ONIG_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const flipCase = (ch: string) => {
  const lower = ch.toLowerCase();
  const upper = ch.toUpperCase();
  return lower === ch ? upper : lower;
};
const hasCase = (ch: string) => [...ch].length === 1 && ch.toLowerCase() !== ch.toUpperCase();
const literal = (ch: string) => `\\u{${ch.codePointAt(0)!.toString(16)}}`;

/** Translates an Oniguruma pattern into a JavaScript source for the 'u' flag. */
export function onigurumaToJs(pattern: string): string {
  const chars = [...pattern];
  let out = '';
  let inClass = false;
  // One entry per open group: whether case-insensitivity is on inside it.
  const groups: boolean[] = [false];
  const caseless = () => groups[groups.length - 1]!;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new Error(`pattern ends in a lone backslash`);
      if ((next === 'p' || next === 'P') && chars[i + 1] === '{') {
        const close = chars.indexOf('}', i);
        out += '\\' + chars.slice(i, close + 1).join('');
        i = close;
      } else if (next === 's') {
        out += inClass ? ONIG_SPACE : `[${ONIG_SPACE}]`;
      } else if (next === 'S' && !inClass) {
        out += `[^${ONIG_SPACE}]`;
      } else if (next === 'x' || next === 'u') {
        const width = chars[i + 1] === '{' ? chars.indexOf('}', i) - i : next === 'x' ? 2 : 4;
        out += '\\' + chars.slice(i, i + width + 1).join('');
        i += width;
      } else if (/[A-Za-z0-9]/.test(next)) {
        out += '\\' + next;
      } else {
        // JavaScript's 'u' mode rejects identity escapes of most punctuation; a code point is exact.
        out += literal(next);
      }
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      if (caseless() && hasCase(ch)) {
        const to = chars[i + 2];
        if (chars[i + 1] === '-' && to !== undefined && to !== ']' && hasCase(to)) {
          out += `${ch}-${to}${flipCase(ch)}-${flipCase(to)}`;
          i += 2;
        } else {
          out += ch + flipCase(ch);
        }
        continue;
      }
      out += ch;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      out += ch;
      if (chars[i + 1] === '^') out += chars[++i];
      continue;
    }
    if (ch === '(') {
      const rest = chars.slice(i, i + 5).join('');
      if (rest.startsWith('(?i:')) {
        groups.push(true);
        out += '(?:';
        i += 3;
        continue;
      }
      if (rest.startsWith('(?i)')) {
        groups[groups.length - 1] = true;
        i += 3;
        continue;
      }
      groups.push(caseless());
      out += ch;
      continue;
    }
    if (ch === ')') {
      if (groups.length > 1) groups.pop();
      out += ch;
      continue;
    }
    if (caseless() && hasCase(ch)) {
      out += `[${ch}${flipCase(ch)}]`;
      continue;
    }
    out += ch;
  }
  return out;
}

function compilePattern(pattern: string, field: string): RegExp {
  try {
    return new RegExp(onigurumaToJs(pattern), 'gu');
  } catch (error) {
    formatError(field, `cannot compile the regex ${describe(pattern)}: ${(error as Error).message}`);
  }
}

// Only the characters 'u' mode lets one escape outside a class (it rejects \-).
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// ---------------------------------------------------------------------------------------------
// Normalizers

type Normalizer = (text: string) => string;

function buildNormalizer(config: Json | undefined, field: string): Normalizer | null {
  if (config === undefined || config === null) return null;
  const obj = objectAt(config, field);
  const type = stringAt(obj.type, `${field}.type`);
  switch (type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (text) => text.normalize(type);
    case 'Lowercase':
      return (text) => text.toLowerCase();
    case 'Sequence': {
      const list = obj.normalizers;
      if (!Array.isArray(list)) formatError(`${field}.normalizers`, `expected an array, got ${describe(list)}`);
      const steps = list
        .map((item, i) => buildNormalizer(item, `${field}.normalizers[${i}]`))
        .filter((step): step is Normalizer => step !== null);
      return (text) => steps.reduce((acc, step) => step(acc), text);
    }
    default:
      formatError(`${field}.type`, `normalizer '${type}' is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Sequence)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers: each maps one piece of text to the pieces BPE sees, in order.

type PreTokenizer = (piece: string) => string[];

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/** Qwen2's pre-tokenizer regex, which the trainer emits too. */
export const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

type SplitBehavior = 'Isolated' | 'Removed' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const SPLIT_BEHAVIORS: readonly string[] = [
  'Isolated',
  'Removed',
  'MergedWithPrevious',
  'MergedWithNext',
  'Contiguous',
];

/** Cuts text into alternating [text, isMatch] spans; empty matches are ignored, as in HF. */
function spans(text: string, regex: RegExp): [string, boolean][] {
  const out: [string, boolean][] = [];
  let last = 0;
  regex.lastIndex = 0;
  for (const match of text.matchAll(regex)) {
    const start = match.index;
    const end = start + match[0].length;
    if (end === start) continue;
    if (start > last) out.push([text.slice(last, start), false]);
    out.push([match[0], true]);
    last = end;
  }
  if (last < text.length) out.push([text.slice(last), false]);
  return out;
}

function splitBy(text: string, regex: RegExp, behavior: SplitBehavior, invert: boolean): string[] {
  const parts = spans(text, regex).map(([s, m]): [string, boolean] => [s, m !== invert]);
  const out: string[] = [];
  switch (behavior) {
    case 'Isolated':
      return parts.map(([s]) => s);
    case 'Removed':
      return parts.filter(([, m]) => !m).map(([s]) => s);
    case 'MergedWithPrevious': {
      let previousWasText = false;
      for (const [s, m] of parts) {
        if (m && previousWasText && out.length > 0) out[out.length - 1] += s;
        else out.push(s);
        previousWasText = !m;
      }
      return out;
    }
    case 'MergedWithNext': {
      // As HF: walking backwards, a delimiter joins the text after it unless that is a delimiter.
      let nextWasMatch = false;
      for (let i = parts.length - 1; i >= 0; i--) {
        const [s, m] = parts[i]!;
        if (m && !nextWasMatch && out.length > 0) out[out.length - 1] = s + out[out.length - 1]!;
        else out.push(s);
        nextWasMatch = m;
      }
      return out.reverse();
    }
    case 'Contiguous': {
      let previousWasMatch = false;
      for (const [s, m] of parts) {
        if (m && previousWasMatch) out[out.length - 1] += s;
        else out.push(s);
        previousWasMatch = m;
      }
      return out;
    }
  }
}

function buildPreTokenizer(config: Json | undefined, field: string): PreTokenizer | null {
  if (config === undefined || config === null) return null;
  const obj = objectAt(config, field);
  const type = stringAt(obj.type, `${field}.type`);
  switch (type) {
    case 'ByteLevel': {
      const addPrefixSpace = booleanAt(obj.add_prefix_space, `${field}.add_prefix_space`, true);
      const useRegex = booleanAt(obj.use_regex, `${field}.use_regex`, true);
      const regex = useRegex ? compilePattern(GPT2_PATTERN, `${field}`) : null;
      return (piece) => {
        const text = addPrefixSpace && !piece.startsWith(' ') ? ' ' + piece : piece;
        const pieces = regex ? splitBy(text, regex, 'Isolated', false) : [text];
        return pieces.map(toByteLevel);
      };
    }
    case 'Split': {
      const pattern = objectAt(obj.pattern, `${field}.pattern`);
      let regex: RegExp;
      if (typeof pattern.Regex === 'string') regex = compilePattern(pattern.Regex, `${field}.pattern.Regex`);
      else if (typeof pattern.String === 'string') regex = new RegExp(escapeRegExp(pattern.String), 'gu');
      else
        formatError(`${field}.pattern`, `expected {"Regex": string} or {"String": string}, got ${describe(pattern)}`);
      const behavior = stringAt(obj.behavior, `${field}.behavior`);
      if (!SPLIT_BEHAVIORS.includes(behavior)) {
        formatError(`${field}.behavior`, `expected one of ${SPLIT_BEHAVIORS.join(', ')}, got ${describe(behavior)}`);
      }
      const invert = booleanAt(obj.invert, `${field}.invert`, false);
      return (piece) => splitBy(piece, regex, behavior as SplitBehavior, invert);
    }
    case 'Sequence': {
      const list = obj.pretokenizers;
      if (!Array.isArray(list)) formatError(`${field}.pretokenizers`, `expected an array, got ${describe(list)}`);
      const steps = list
        .map((item, i) => buildPreTokenizer(item, `${field}.pretokenizers[${i}]`))
        .filter((step): step is PreTokenizer => step !== null);
      return (piece) => steps.reduce<string[]>((pieces, step) => pieces.flatMap(step), [piece]);
    }
    default:
      formatError(`${field}.type`, `pre-tokenizer '${type}' is not supported (ByteLevel, Split, Sequence)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Post-processors: wrap the ids of one sequence with template special tokens.

type PostProcessor = (ids: number[]) => number[];

function buildPostProcessor(config: Json | undefined, field: string): PostProcessor | null {
  if (config === undefined || config === null) return null;
  const obj = objectAt(config, field);
  const type = stringAt(obj.type, `${field}.type`);
  switch (type) {
    case 'ByteLevel':
      return null; // only trims offsets, which ids do not carry
    case 'TemplateProcessing': {
      const single = obj.single;
      if (!Array.isArray(single)) formatError(`${field}.single`, `expected an array, got ${describe(single)}`);
      const specials = objectAt(obj.special_tokens ?? {}, `${field}.special_tokens`);
      const parts = single.map((item, i): number[] | 'sequence' => {
        const entry = objectAt(item, `${field}.single[${i}]`);
        if (isObject(entry.Sequence)) return 'sequence';
        if (isObject(entry.SpecialToken)) {
          const name = stringAt(entry.SpecialToken.id, `${field}.single[${i}].SpecialToken.id`);
          const special = objectAt(specials[name], `${field}.special_tokens[${JSON.stringify(name)}]`);
          const ids = special.ids;
          if (!Array.isArray(ids))
            formatError(`${field}.special_tokens[${JSON.stringify(name)}].ids`, 'expected an array');
          return ids.map((id, k) => idAt(id, `${field}.special_tokens[${JSON.stringify(name)}].ids[${k}]`));
        }
        formatError(
          `${field}.single[${i}]`,
          `expected {"Sequence": ...} or {"SpecialToken": ...}, got ${describe(entry)}`,
        );
      });
      return (ids) => parts.flatMap((part) => (part === 'sequence' ? ids : part));
    }
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const tokenId = (key: string) => {
        const pair = obj[key];
        if (!Array.isArray(pair) || pair.length !== 2) formatError(`${field}.${key}`, 'expected [token, id]');
        return idAt(pair[1], `${field}.${key}[1]`);
      };
      const cls = tokenId('cls');
      const sep = tokenId('sep');
      return (ids) => [cls, ...ids, sep];
    }
    case 'Sequence': {
      const list = obj.processors;
      if (!Array.isArray(list)) formatError(`${field}.processors`, `expected an array, got ${describe(list)}`);
      const steps = list
        .map((item, i) => buildPostProcessor(item, `${field}.processors[${i}]`))
        .filter((step): step is PostProcessor => step !== null);
      return (ids) => steps.reduce((acc, step) => step(acc), ids);
    }
    default:
      formatError(
        `${field}.type`,
        `post-processor '${type}' is not supported (ByteLevel, TemplateProcessing, Sequence)`,
      );
  }
}

type Decoder = (tokens: string[]) => string;

function buildDecoder(config: Json | undefined, field: string): Decoder {
  if (config === undefined || config === null) return (tokens) => tokens.join(' ');
  const obj = objectAt(config, field);
  const type = stringAt(obj.type, `${field}.type`);
  if (type !== 'ByteLevel') formatError(`${field}.type`, `decoder '${type}' is not supported (ByteLevel)`);
  return (tokens) => {
    const bytes: number[] = [];
    for (const token of tokens) {
      // As in HF: a token with any character outside the byte alphabet is taken as raw UTF-8.
      const mapped: number[] = [];
      let whole = true;
      for (const ch of token) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b === undefined) {
          whole = false;
          break;
        }
        mapped.push(b);
      }
      if (whole) bytes.push(...mapped);
      else bytes.push(...utf8Encoder.encode(token));
    }
    return utf8Decoder.decode(Uint8Array.from(bytes));
  };
}

// ---------------------------------------------------------------------------------------------
// The BPE model

const PAIR_STRIDE = 2 ** 21;
const pairKey = (left: number, right: number) => left * PAIR_STRIDE + right;

interface BpeModel {
  vocab: Map<string, number>;
  merges: [string, string][];
  /** pairKey(left, right) → rank * PAIR_STRIDE + merged id, one number so lookups allocate nothing. */
  mergeTable: Map<number, number>;
  ignoreMerges: boolean;
  unkToken: string | null;
  fuseUnk: boolean;
}

function parseBpe(config: Json | undefined): BpeModel {
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
function bpeWord(model: BpeModel, word: string): number[] {
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

// ---------------------------------------------------------------------------------------------
// Added tokens

function parseAddedToken(value: Json | undefined, field: string): AddedToken {
  const obj = objectAt(value, field);
  return {
    id: idAt(obj.id, `${field}.id`),
    content: stringAt(obj.content, `${field}.content`),
    single_word: booleanAt(obj.single_word, `${field}.single_word`, false),
    lstrip: booleanAt(obj.lstrip, `${field}.lstrip`, false),
    rstrip: booleanAt(obj.rstrip, `${field}.rstrip`, false),
    normalized: booleanAt(obj.normalized, `${field}.normalized`, true),
    special: booleanAt(obj.special, `${field}.special`, false),
  };
}

const isWordChar = (ch: string | undefined) => ch !== undefined && /[\p{L}\p{N}_]/u.test(ch);
const isSpace = (ch: string | undefined) => ch !== undefined && /\s/u.test(ch);

/** Finds added tokens in text, leftmost and then longest, and cuts the text around them. */
class AddedTokenMatcher {
  private readonly regex: RegExp | null;
  private readonly byContent: Map<string, AddedToken>;

  constructor(tokens: AddedToken[]) {
    this.byContent = new Map(tokens.map((t) => [t.content, t]));
    const contents = tokens.map((t) => t.content).filter((c) => c.length > 0);
    contents.sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
    this.regex = contents.length ? new RegExp(contents.map(escapeRegExp).join('|'), 'gu') : null;
  }

  /** Pieces of text (strings) and matched tokens (ids), in order. */
  split(text: string): (string | number)[] {
    if (this.regex === null || text.length === 0) return text.length ? [text] : [];
    const out: (string | number)[] = [];
    let last = 0;
    this.regex.lastIndex = 0;
    for (let match = this.regex.exec(text); match !== null; match = this.regex.exec(text)) {
      const token = this.byContent.get(match[0])!;
      let start = match.index;
      let end = start + match[0].length;
      if (token.single_word && (isWordChar(text[start - 1]) || isWordChar(text[end]))) {
        this.regex.lastIndex = start + 1;
        continue;
      }
      if (token.lstrip) while (start > last && isSpace(text[start - 1])) start--;
      if (token.rstrip) while (end < text.length && isSpace(text[end])) end++;
      if (start > last) out.push(text.slice(last, start));
      out.push(token.id);
      last = end;
      this.regex.lastIndex = end;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// tokenizer_config.json

function roleToken(value: Json | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  // transformers also writes the AddedToken form {"__type": "AddedToken", "content": ...}.
  return stringAt(objectAt(value, field).content, `${field}.content`);
}

const WORD_CACHE_LIMIT = 100_000;

/** A Hugging Face byte-level BPE tokenizer (the tokenizer.json format of Qwen2 / Llama-3 / GPT-2). */
export class Tokenizer {
  private readonly model: BpeModel;
  private readonly normalize: Normalizer | null;
  private readonly preTokenize: PreTokenizer | null;
  private readonly postProcess: PostProcessor | null;
  private readonly decodeTokens: Decoder;
  private readonly addedTokens: AddedToken[];
  private rawMatcher!: AddedTokenMatcher;
  private normalizedMatcher!: AddedTokenMatcher;
  private idToTokenTable: (string | undefined)[] = [];
  private addedById = new Map<number, AddedToken>();
  private addedByContent = new Map<string, AddedToken>();
  private readonly roles = new Map<SpecialTokenRole, string>();
  private readonly wordCache = new Map<string, number[]>();

  private constructor(
    private readonly json: JsonObject,
    private readonly config: JsonObject,
  ) {
    expectArgs('new Tokenizer', { json, config }, 'object');
    this.model = parseBpe(json.model);
    this.normalize = buildNormalizer(json.normalizer, 'normalizer');
    this.preTokenize = buildPreTokenizer(json.pre_tokenizer, 'pre_tokenizer');
    this.postProcess = buildPostProcessor(json.post_processor, 'post_processor');
    this.decodeTokens = buildDecoder(json.decoder, 'decoder');
    const added = json.added_tokens ?? [];
    if (!Array.isArray(added)) formatError('added_tokens', `expected an array, got ${describe(added)}`);
    this.addedTokens = added.map((t, i) => parseAddedToken(t, `added_tokens[${i}]`));
    this.reindex();
    for (const role of ROLES) {
      const content = roleToken(config[`${role}_token`], `tokenizer_config.${role}_token`);
      if (content === null) continue;
      if (this.tokenToId(content) === undefined) {
        formatError(
          `tokenizer_config.${role}_token`,
          `${JSON.stringify(content)} is neither in the vocab nor an added token`,
        );
      }
      this.roles.set(role, content);
    }
  }

  /** Parses tokenizer.json (and optionally tokenizer_config.json) already read into objects. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}): Tokenizer {
    expectArgs('Tokenizer.fromJson', { tokenizerJson }, 'object');
    try {
      return new Tokenizer(
        objectAt(tokenizerJson as Json, 'tokenizer.json'),
        objectAt((tokenizerConfig ?? {}) as Json, 'tokenizer_config.json'),
      );
    } catch (error) {
      if (error instanceof TokenizerFormatError) throw new Error(`Tokenizer: ${error.message}`, { cause: error });
      throw error;
    }
  }

  /**
   * Reads a tokenizer from a directory holding tokenizer.json (and tokenizer_config.json when
   * present), or from the path of a tokenizer.json itself.
   */
  static fromFile(location: string): Tokenizer {
    if (!existsSync(location)) throw new Error(`Tokenizer.fromFile: ${location} does not exist`);
    const isDir = statSync(location).isDirectory();
    const dir = isDir ? location : path.dirname(location);
    const file = isDir ? path.join(location, 'tokenizer.json') : location;
    if (!existsSync(file)) throw new Error(`Tokenizer.fromFile: ${dir} has no tokenizer.json`);
    const read = (p: string) => {
      try {
        return JSON.parse(readFileSync(p, 'utf8')) as unknown;
      } catch (error) {
        throw new Error(`Tokenizer.fromFile: ${p} is not valid JSON: ${(error as Error).message}`, { cause: error });
      }
    };
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? read(configFile) : {};
    try {
      return new Tokenizer(
        objectAt(read(file) as Json, 'tokenizer.json'),
        objectAt(config as Json, 'tokenizer_config.json'),
      );
    } catch (error) {
      if (error instanceof TokenizerFormatError)
        throw new Error(`Tokenizer.fromFile: ${file}: ${error.message}`, { cause: error });
      throw error;
    }
  }

  private reindex(): void {
    this.idToTokenTable = [];
    for (const [token, id] of this.model.vocab) this.idToTokenTable[id] = token;
    this.addedById = new Map(this.addedTokens.map((t) => [t.id, t]));
    this.addedByContent = new Map(this.addedTokens.map((t) => [t.content, t]));
    for (const token of this.addedTokens) this.idToTokenTable[token.id] = token.content;
    this.rawMatcher = new AddedTokenMatcher(this.addedTokens.filter((t) => !t.normalized || this.normalize === null));
    this.normalizedMatcher = new AddedTokenMatcher(
      this.addedTokens.filter((t) => t.normalized && this.normalize !== null),
    );
  }

  /** The embedding rows a model needs: one past the largest id (HF's len(tokenizer)). */
  get vocabSize(): number {
    return this.idToTokenTable.length;
  }

  /** The tokens of the BPE vocabulary and the added tokens, as [token, id]. */
  vocab(): Map<string, number> {
    const out = new Map(this.model.vocab);
    for (const token of this.addedTokens) out.set(token.content, token.id);
    return out;
  }

  /** The BPE merges in rank order. */
  merges(): [string, string][] {
    return this.model.merges.map(([a, b]) => [a, b]);
  }

  /** The added tokens (special and normal), as tokenizer.json lists them. */
  get added(): AddedToken[] {
    return this.addedTokens.map((t) => ({ ...t }));
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.idToTokenTable[id];
  }

  /** The token playing a role in tokenizer_config.json (bos_token, eos_token, ...), if any. */
  specialToken(role: SpecialTokenRole): string | null {
    return this.roles.get(role) ?? null;
  }

  specialTokenId(role: SpecialTokenRole): number | null {
    const token = this.roles.get(role);
    return token === undefined ? null : this.tokenToId(token)!;
  }

  get bosTokenId(): number | null {
    return this.specialTokenId('bos');
  }
  get eosTokenId(): number | null {
    return this.specialTokenId('eos');
  }
  get padTokenId(): number | null {
    return this.specialTokenId('pad');
  }

  /**
   * Adds special tokens (like HF add_special_tokens): ones already known keep their id (and become
   * special), new ones get ids after the current largest. Returns the id of each token given.
   * The caller resizes its embedding table to `vocabSize`.
   */
  addSpecialTokens(tokens: readonly string[]): number[] {
    const ids = tokens.map((content, i) => {
      if (typeof content !== 'string' || content.length === 0) {
        throw new Error(
          `Tokenizer.addSpecialTokens: tokens[${i}] must be a non-empty string, got ${describe(content)}`,
        );
      }
      const existing = this.addedByContent.get(content);
      if (existing) {
        existing.special = true;
        return existing.id;
      }
      const id = this.model.vocab.get(content) ?? this.vocabSize;
      this.addedTokens.push({
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      });
      this.reindex();
      return id;
    });
    this.reindex();
    this.wordCache.clear();
    return ids;
  }

  /** Makes `token` the tokenizer's bos/eos/pad/unk token, adding it as a special token if needed. */
  setSpecialToken(role: SpecialTokenRole, token: string): number {
    if (!ROLES.includes(role))
      throw new Error(`Tokenizer.setSpecialToken: role must be one of ${ROLES.join(', ')}, got ${describe(role)}`);
    const [id] = this.addSpecialTokens([token]);
    this.roles.set(role, token);
    return id!;
  }

  /** Token ids of text. With addSpecialTokens (default true) the post-processor's template applies. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`Tokenizer.encode: text must be a string, got ${describe(text)}`);
    const ids: number[] = [];
    for (const piece of this.rawMatcher.split(text)) {
      if (typeof piece === 'number') {
        ids.push(piece);
        continue;
      }
      const normalized = this.normalize ? this.normalize(piece) : piece;
      for (const part of this.normalizedMatcher.split(normalized)) {
        if (typeof part === 'number') ids.push(part);
        else this.encodePlain(part, ids);
      }
    }
    return options.addSpecialTokens !== false && this.postProcess ? this.postProcess(ids) : ids;
  }

  /** Encodes many texts; the same as mapping encode. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): number[][] {
    return texts.map((text) => this.encode(text, options));
  }

  /** The tokens (strings) text encodes to. */
  tokenize(text: string, options: EncodeOptions = {}): string[] {
    return this.encode(text, options).map((id) => this.idToTokenTable[id]!);
  }

  /** Forgets the memoised BPE of words seen so far (it holds at most 100k words). */
  clearCache(): void {
    this.wordCache.clear();
  }

  /** The byte-level words BPE sees for text (normalized and pre-tokenized; no added tokens). */
  preTokenizeForTraining(text: string): string[] {
    const normalized = this.normalize ? this.normalize(text) : text;
    return (this.preTokenize ? this.preTokenize(normalized) : [normalized]).filter((w) => w.length > 0);
  }

  private encodePlain(text: string, out: number[]): void {
    const words = this.preTokenize ? this.preTokenize(text) : [text];
    for (const word of words) {
      if (word.length === 0) continue;
      let ids = this.wordCache.get(word);
      if (ids === undefined) {
        ids = bpeWord(this.model, word);
        if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
        this.wordCache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** Text of token ids; exact inverse of encode for text the normalizer leaves unchanged. */
  decode(ids: readonly number[] | Int32Array, options: DecodeOptions = {}): string {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.idToTokenTable[id];
      if (token === undefined) {
        throw new Error(`Tokenizer.decode: ids[${i}] = ${id} is not a token id (vocabSize ${this.vocabSize})`);
      }
      if (options.skipSpecialTokens && this.addedById.get(id)?.special) continue;
      tokens.push(token);
    }
    return this.decodeTokens(tokens);
  }

  /** tokenizer.json as an object, in the HF format. */
  toJson(): JsonObject {
    const vocab: JsonObject = {};
    const entries = [...this.model.vocab].sort((a, b) => a[1] - b[1]);
    for (const [token, id] of entries) vocab[token] = id;
    const pairsNeeded = this.model.merges.some(([a, b]) => a.includes(' ') || b.includes(' '));
    const model: JsonObject = isObject(this.json.model) ? { ...this.json.model } : {};
    Object.assign(model, {
      type: 'BPE',
      dropout: model.dropout ?? null,
      unk_token: this.model.unkToken,
      continuing_subword_prefix: model.continuing_subword_prefix ?? null,
      end_of_word_suffix: model.end_of_word_suffix ?? null,
      fuse_unk: this.model.fuseUnk,
      byte_fallback: false,
      ignore_merges: this.model.ignoreMerges,
      vocab,
      // "a b" strings are what every tokenizers version reads; pairs only when a token has a space.
      merges: this.model.merges.map(([a, b]) => (pairsNeeded ? [a, b] : `${a} ${b}`)),
    });
    return {
      version: this.json.version ?? '1.0',
      truncation: this.json.truncation ?? null,
      padding: this.json.padding ?? null,
      added_tokens: [...this.addedTokens].sort((a, b) => a.id - b.id).map((t) => ({ ...t })),
      normalizer: this.json.normalizer ?? null,
      pre_tokenizer: this.json.pre_tokenizer ?? null,
      post_processor: this.json.post_processor ?? null,
      decoder: this.json.decoder ?? null,
      model,
    };
  }

  /** tokenizer_config.json as an object, in the format transformers writes. */
  toConfigJson(): JsonObject {
    const decoderTable: JsonObject = {};
    for (const t of [...this.addedTokens].sort((a, b) => a.id - b.id)) {
      decoderTable[String(t.id)] = {
        content: t.content,
        lstrip: t.lstrip,
        normalized: t.normalized,
        rstrip: t.rstrip,
        single_word: t.single_word,
        special: t.special,
      };
    }
    const roleTokens = new Set(this.roles.values());
    const out: JsonObject = { ...this.config };
    out.added_tokens_decoder = decoderTable;
    out.additional_special_tokens = this.addedTokens
      .filter((t) => t.special && !roleTokens.has(t.content))
      .map((t) => t.content);
    for (const role of ROLES) out[`${role}_token`] = this.roles.get(role) ?? null;
    out.clean_up_tokenization_spaces ??= false;
    out.model_max_length ??= 32768;
    out.tokenizer_class ??= 'PreTrainedTokenizerFast';
    return out;
  }

  /** Writes tokenizer.json and tokenizer_config.json into dir, readable by HF tokenizers/transformers. */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(this.toJson(), null, 2) + '\n');
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(this.toConfigJson(), null, 2) + '\n');
  }
}
