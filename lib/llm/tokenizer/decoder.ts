// The decoder: tokens back to text (ByteLevel: byte-level characters back to UTF-8 bytes).
import { CHAR_TO_BYTE, utf8Decoder, utf8Encoder } from './byte-level.js';
import { formatError, type Json, objectAt, stringAt } from './format.js';

export type Decoder = (tokens: string[]) => string;

export function buildDecoder(config: Json | undefined, field: string): Decoder {
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
