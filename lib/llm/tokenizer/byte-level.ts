// Byte-level alphabet: GPT-2's bijection between the 256 bytes and printable code points, so
// every byte string is a string of visible characters and no token holds a space or control.

const BYTE_TO_CHAR: string[] = [];
export const CHAR_TO_BYTE = new Map<string, number>();
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

export const utf8Encoder = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

export function toByteLevel(text: string): string {
  const bytes = utf8Encoder.encode(text);
  let out = '';
  for (const b of bytes) out += BYTE_TO_CHAR[b]!;
  return out;
}
