// Post-processors: wrap the ids of one sequence with template special tokens.
import { describe, formatError, idAt, isObject, type Json, objectAt, stringAt } from './format.js';

export type PostProcessor = (ids: number[]) => number[];

export function buildPostProcessor(config: Json | undefined, field: string): PostProcessor | null {
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
