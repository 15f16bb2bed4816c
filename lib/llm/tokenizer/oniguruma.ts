// Oniguruma patterns → JavaScript RegExp. tokenizer.json regexes are written for Oniguruma:
// Llama-3 uses the inline flag group (?i:...), which Node 20 lacks, and Oniguruma's \s is the
// Unicode White_Space set (with U+0085, without U+FEFF), unlike JavaScript's.
import { describe, formatError } from './format.js';

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

export function compilePattern(pattern: string, field: string): RegExp {
  try {
    return new RegExp(onigurumaToJs(pattern), 'gu');
  } catch (error) {
    formatError(field, `cannot compile the regex ${describe(pattern)}: ${(error as Error).message}`);
  }
}

// Only the characters 'u' mode lets one escape outside a class (it rejects \-).
export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
