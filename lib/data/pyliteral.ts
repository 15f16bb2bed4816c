// A reader for Python literal expressions, the syntax of the Amazon 2014 metadata files (one dict
// literal per line, written by Python 2's repr). The papers' code calls eval() on those lines;
// this parser reads the literal grammar only (strings, numbers, True/False/None, lists, tuples,
// sets, dicts) and never executes anything: a name or a call in the input is an error.
import { expectArgs } from '../guard.js';

export type PyValue = string | number | boolean | null | PyValue[] | PyDict;
export interface PyDict {
  [key: string]: PyValue;
}

/** A syntax error, with the 1-based column where the parser stopped. */
export class PythonLiteralError extends Error {
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} at column ${column}`);
  }
}

export interface PythonLiteralOptions {
  /** Deepest nesting of containers accepted (default 200), so hostile input cannot overflow the stack. */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const simpleEscapes: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\u0007',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': '',
};

const numberPattern =
  /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)[lLjJ]?/;

const isDigit = (c: number) => c >= 48 && c <= 57;
const isNameStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isNamePart = (c: number) => isNameStart(c) || isDigit(c);
const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

class Parser {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  parse(): PyValue {
    const value = this.value();
    this.space();
    if (this.i < this.s.length) this.fail('unexpected text after the literal');
    return value;
  }

  private fail(message: string, at = this.i): never {
    throw new PythonLiteralError(message, at + 1);
  }

  private space(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) this.i++;
      else return;
    }
  }

  private value(): PyValue {
    this.space();
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === 39 || c === 34) return this.strings('');
    if (c === 123) return this.container('}');
    if (c === 91) return this.container(']');
    if (c === 40) return this.container(')');
    if (isDigit(c) || c === 46 || c === 45 || c === 43) return this.number();
    if (isNameStart(c)) {
      const start = this.i;
      while (isNamePart(s.charCodeAt(this.i))) this.i++;
      const name = s.slice(start, this.i);
      const next = s.charCodeAt(this.i);
      // String prefixes: u'', b'', r'' and the Python 2 combinations ur'', br''.
      if ((next === 39 || next === 34) && /^(?:[uU]|[bB]|[rR]|[uUbB][rR]|[rR][bB])$/.test(name)) {
        return this.strings(name.toLowerCase());
      }
      if (name === 'True') return true;
      if (name === 'False') return false;
      if (name === 'None') return null;
      this.fail(`'${name}' is not a literal (only strings, numbers, True, False, None and containers are read; nothing is evaluated)`, start);
    }
    if (this.i >= s.length) this.fail('unexpected end of input');
    this.fail(`unexpected character ${JSON.stringify(s[this.i])}`);
  }

  /** One string literal, then any adjacent ones ('a' 'b' is 'ab' in Python). */
  private strings(prefix: string): string {
    let out = this.string(prefix);
    for (;;) {
      const save = this.i;
      this.space();
      const c = this.s.charCodeAt(this.i);
      if (c === 39 || c === 34) {
        out += this.string('');
        continue;
      }
      if (isNameStart(c)) {
        const m = /^(?:[uU]|[bB]|[rR]|[uUbB][rR]|[rR][bB])(?=['"])/.exec(this.s.slice(this.i, this.i + 3));
        if (m) {
          this.i += m[0].length;
          out += this.string(m[0].toLowerCase());
          continue;
        }
      }
      this.i = save;
      return out;
    }
  }

  private string(prefix: string): string {
    const s = this.s;
    const quote = s[this.i]!;
    const triple = s.startsWith(quote.repeat(3), this.i);
    const start = this.i;
    this.i += triple ? 3 : 1;
    const raw = prefix.includes('r');
    // Python 2 wrote these files: a literal without the u prefix is a byte string, whose \xNN
    // escapes are bytes (UTF-8, as a rule); they are decoded as UTF-8 when they form valid UTF-8.
    // A \u escape only occurs in text written by Python 3, where \xNN is a code point.
    const byteString = !prefix.includes('u');
    const unicodeEscapes = !prefix.includes('b');
    let out = '';
    let highByte = false;
    let sawUnicodeEscape = false;
    const bodyStart = this.i;
    for (;;) {
      const next = this.nextStringStop(quote);
      if (next < 0) this.fail('unterminated string', start);
      out += s.slice(this.i, next);
      this.i = next;
      if (s[next] === quote) {
        if (!triple) {
          this.i++;
          break;
        }
        if (s.startsWith(quote.repeat(3), next)) {
          this.i += 3;
          break;
        }
        out += quote;
        this.i++;
        continue;
      }
      // A backslash.
      const e = s[next + 1];
      if (e === undefined) this.fail('unterminated string', start);
      if (raw) {
        out += `\\${e}`;
        this.i = next + 2;
        continue;
      }
      const simple = simpleEscapes[e];
      if (simple !== undefined) {
        out += simple;
        this.i = next + 2;
        continue;
      }
      if (e === 'x') {
        const hex = s.slice(next + 2, next + 4);
        if (!(hex.length === 2 && isHex(hex.charCodeAt(0)) && isHex(hex.charCodeAt(1)))) this.fail('bad \\x escape', next);
        const code = parseInt(hex, 16);
        if (code >= 0x80) highByte = true;
        out += String.fromCharCode(code);
        this.i = next + 4;
        continue;
      }
      if (e >= '0' && e <= '7') {
        const m = /^[0-7]{1,3}/.exec(s.slice(next + 1, next + 4))!;
        const code = parseInt(m[0], 8);
        if (code >= 0x80) highByte = true;
        out += String.fromCharCode(code);
        this.i = next + 1 + m[0].length;
        continue;
      }
      if ((e === 'u' || e === 'U') && unicodeEscapes) {
        sawUnicodeEscape = true;
        const width = e === 'u' ? 4 : 8;
        const hex = s.slice(next + 2, next + 2 + width);
        if (!(hex.length === width && /^[0-9a-fA-F]+$/.test(hex))) this.fail(`bad \\${e} escape`, next);
        const code = parseInt(hex, 16);
        if (code > 0x10ffff) this.fail(`\\${e} escape out of range`, next);
        out += String.fromCodePoint(code);
        this.i = next + 2 + width;
        continue;
      }
      if (e === 'N' && unicodeEscapes) this.fail('\\N{...} escapes are not supported', next);
      // Python keeps an unknown escape as written.
      out += `\\${e}`;
      this.i = next + 2;
    }
    if (highByte && byteString && !sawUnicodeEscape) return this.decodeByteString(s.slice(bodyStart, this.i - (triple ? 3 : 1)), out);
    return out;
  }

  /** The next quote or backslash at or after the cursor, or -1. */
  private nextStringStop(quote: string): number {
    const q = this.s.indexOf(quote, this.i);
    const b = this.s.indexOf('\\', this.i);
    return b >= 0 && (q < 0 || b < q) ? b : q;
  }

  /**
   * A byte string's text: its bytes (characters as UTF-8, escapes as single bytes) decoded as
   * UTF-8, or, when they are not valid UTF-8, the characters as Python 3 reads them.
   */
  private decodeByteString(body: string, asPython3: string): string {
    const parts: number[] = [];
    for (let k = 0; k < body.length; ) {
      const ch = body[k]!;
      if (ch !== '\\') {
        const cp = body.codePointAt(k)!;
        for (const byte of Buffer.from(String.fromCodePoint(cp), 'utf8')) parts.push(byte);
        k += cp > 0xffff ? 2 : 1;
        continue;
      }
      const e = body[k + 1]!;
      if (e === 'x') {
        parts.push(parseInt(body.slice(k + 2, k + 4), 16));
        k += 4;
      } else if (e >= '0' && e <= '7') {
        const m = /^[0-7]{1,3}/.exec(body.slice(k + 1, k + 4))!;
        parts.push(parseInt(m[0], 8) & 0xff);
        k += 1 + m[0].length;
      } else {
        const simple = simpleEscapes[e];
        if (simple !== undefined) {
          for (const byte of Buffer.from(simple, 'utf8')) parts.push(byte);
        } else {
          parts.push(92);
          for (const byte of Buffer.from(e, 'utf8')) parts.push(byte);
        }
        k += 2;
      }
    }
    try {
      return utf8.decode(Uint8Array.from(parts));
    } catch {
      return asPython3;
    }
  }

  private number(): number {
    const s = this.s;
    const start = this.i;
    let sign = 1;
    while (s[this.i] === '-' || s[this.i] === '+') {
      if (s[this.i] === '-') sign = -sign;
      this.i++;
      this.space();
    }
    const m = numberPattern.exec(s.slice(this.i, this.i + 400));
    if (!m) this.fail('expected a number', start);
    const text = m[0];
    this.i += text.length;
    if (isNamePart(s.charCodeAt(this.i))) this.fail('malformed number', start);
    const suffix = text[text.length - 1]!;
    if (suffix === 'j' || suffix === 'J') this.fail('complex numbers are not supported', start);
    const body = (suffix === 'l' || suffix === 'L' ? text.slice(0, -1) : text).replace(/_/g, '');
    let value: number;
    if (/^0[xX]/.test(body)) value = parseInt(body.slice(2), 16);
    else if (/^0[oO]/.test(body)) value = parseInt(body.slice(2), 8);
    else if (/^0[bB]/.test(body)) value = parseInt(body.slice(2), 2);
    else if (/^0\d+$/.test(body)) value = parseInt(body, 8); // Python 2 octal: 017
    else value = Number(body);
    if (!Number.isFinite(value)) this.fail('number out of range', start);
    return sign * value;
  }

  private container(close: '}' | ']' | ')'): PyValue {
    const start = this.i;
    if (++this.depth > this.maxDepth) this.fail(`containers nested deeper than ${this.maxDepth}`);
    this.i++;
    const items: PyValue[] = [];
    let dict: PyDict | undefined;
    let isSet = false;
    let sawComma = false;
    for (;;) {
      this.space();
      if (this.s[this.i] === close) {
        this.i++;
        break;
      }
      if (this.i >= this.s.length) this.fail(`unclosed ${{ '}': '{', ']': '[', ')': '(' }[close]}`, start);
      const item = this.value();
      this.space();
      if (close === '}') {
        if (this.s[this.i] === ':' && !isSet) {
          if (items.length > 0) this.fail("expected ',' or '}'");
          dict ??= Object.create(null) as PyDict;
          this.i++;
          const value = this.value();
          dict[dictKey(item)] = value;
          this.space();
        } else if (dict) {
          this.fail("expected ':' after a dict key");
        } else {
          isSet = true;
          items.push(item);
        }
      } else {
        items.push(item);
      }
      const c = this.s[this.i];
      if (c === ',') {
        sawComma = true;
        this.i++;
        continue;
      }
      if (c === close) {
        this.i++;
        break;
      }
      this.fail(`expected ',' or '${close}'`);
    }
    this.depth--;
    if (close === '}') return dict ?? (isSet ? items : (Object.create(null) as PyDict));
    // (x) is x in parentheses; (x,) and () are tuples, read as lists.
    if (close === ')' && items.length === 1 && !sawComma) return items[0]!;
    return items;
  }
}

/** Dict keys become strings: as Python's str() for numbers and constants, JSON for tuples. */
function dictKey(key: PyValue): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number') return String(key);
  if (key === true) return 'True';
  if (key === false) return 'False';
  if (key === null) return 'None';
  if (Array.isArray(key)) return JSON.stringify(key);
  throw new PythonLiteralError('a dict cannot be a dict key', 0);
}

/**
 * Parses one Python literal (as `ast.literal_eval` would, without arithmetic). Dicts become
 * objects without a prototype, tuples and sets become arrays, and non-u strings written by Python
 * 2 are decoded as UTF-8 when their escaped bytes are UTF-8. Throws PythonLiteralError.
 */
export function parsePythonLiteral(text: string, options: PythonLiteralOptions = {}): PyValue {
  expectArgs('parsePythonLiteral', { text }, 'string');
  expectArgs('parsePythonLiteral', { options }, 'options');
  return new Parser(text, options.maxDepth ?? 200).parse();
}
