// Pre-tokenizers: each maps one piece of text to the pieces BPE sees, in order.
import { toByteLevel } from './byte-level.js';
import { booleanAt, describe, formatError, type Json, objectAt, stringAt } from './format.js';
import { compilePattern, escapeRegExp } from './oniguruma.js';

export type PreTokenizer = (piece: string) => string[];

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

export function buildPreTokenizer(config: Json | undefined, field: string): PreTokenizer | null {
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
