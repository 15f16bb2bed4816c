// Normalizers: tokenizer.json's normalizer (Unicode forms, Lowercase, Sequence), text to text.
import { describe, formatError, type Json, objectAt, stringAt } from './format.js';

export type Normalizer = (text: string) => string;

export function buildNormalizer(config: Json | undefined, field: string): Normalizer | null {
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
