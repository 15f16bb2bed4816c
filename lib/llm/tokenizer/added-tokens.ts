// Added tokens: tokenizer.json's added_tokens, found in text before the normalizer and
// pre-tokenizer run, leftmost and then longest, with their single_word/lstrip/rstrip rules.
import { type AddedToken, booleanAt, idAt, type Json, objectAt, stringAt } from './format.js';
import { escapeRegExp } from './oniguruma.js';

/** A special token added after the vocabulary, as tokenizer.json writes one (matched whole, never normalised). */
export function specialAddedToken(id: number, content: string): AddedToken {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function parseAddedToken(value: Json | undefined, field: string): AddedToken {
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
export class AddedTokenMatcher {
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
