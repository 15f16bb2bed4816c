// The tokenizer.json / tokenizer_config.json shapes: the public option types, and the readers that
// check a field and name it in a TokenizerFormatError.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

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
export const ROLES: readonly SpecialTokenRole[] = ['bos', 'eos', 'pad', 'unk'];

export class TokenizerFormatError extends Error {}

export function formatError(field: string, message: string): never {
  throw new TokenizerFormatError(`${field}: ${message}`);
}

export const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function objectAt(value: Json | undefined, field: string): JsonObject {
  if (!isObject(value)) formatError(field, `expected an object, got ${describe(value)}`);
  return value;
}

export function stringAt(value: Json | undefined, field: string): string {
  if (typeof value !== 'string') formatError(field, `expected a string, got ${describe(value)}`);
  return value;
}

export function booleanAt(value: Json | undefined, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') formatError(field, `expected a boolean, got ${describe(value)}`);
  return value;
}

export function idAt(value: Json | undefined, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    formatError(field, `expected a non-negative integer id, got ${describe(value)}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
