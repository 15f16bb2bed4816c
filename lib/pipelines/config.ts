// Typed pipeline configs. A pipeline declares its keys once, as a schema:
//
//   const schema = defineConfig({
//     epochs: { type: 'int', default: 20, min: 1, help: 'training epochs' },
//     loss: { type: 'enum', choices: ['bce', 'ce'], default: 'bce', help: '...' },
//   });
//   type Config = ConfigOf<typeof schema>;   // { epochs: number; loss: 'bce' | 'ce' }
//
// and from that one object come the TypeScript type, the command-line flags (camelCase keys
// become kebab-case flags: batchSize → --batch-size), their --help, and the validation of
// both flags and `--config` files. Values merge as RecBole does: the schema's defaults (the
// paper's), then the config file, then the flags.
import * as fs from 'node:fs';
import { expectArgs } from '../guard.js';

export type KeyType = 'int' | 'float' | 'string' | 'bool' | 'enum' | 'list';

interface KeyBase {
  help: string;
  /**
   * The stages whose results depend on this key (default: all). A stage's recorded config, and
   * so whether `all` may skip it, covers only its keys.
   */
  stages?: readonly string[];
}

export interface IntKey extends KeyBase {
  type: 'int';
  default?: number;
  min?: number;
  max?: number;
}
export interface FloatKey extends KeyBase {
  type: 'float';
  default?: number;
  min?: number;
  max?: number;
}
export interface StringKey extends KeyBase {
  type: 'string';
  default?: string;
  /**
   * This key names an input (a file or folder) whose content a stage's result depends on: it is
   * hashed into the manifest. A function maps the value to the files to hash (e.g. a dataset
   * name to its interaction and item files; '' to the embedded data).
   */
  input?: true | ((value: string | undefined) => Promise<string[]> | string[]);
}
export interface BoolKey extends KeyBase {
  type: 'bool';
  default?: boolean;
}
export interface EnumKey extends KeyBase {
  type: 'enum';
  choices: readonly string[];
  default?: string;
}
export interface ListKey extends KeyBase {
  type: 'list';
  of: 'int' | 'float' | 'string';
  default?: readonly (number | string)[];
}

export type KeySpec = IntKey | FloatKey | StringKey | BoolKey | EnumKey | ListKey;
export type ConfigSchema = Readonly<Record<string, KeySpec>>;

type ValueOf<K extends KeySpec> = K extends { type: 'int' | 'float' }
  ? number
  : K extends { type: 'bool' }
    ? boolean
    : K extends { type: 'enum'; choices: readonly (infer C)[] }
      ? C
      : K extends { type: 'list'; of: 'string' }
        ? string[]
        : K extends { type: 'list' }
          ? number[]
          : string;

/** The typed config a schema describes; a key without a default may be undefined. */
export type ConfigOf<S extends ConfigSchema> = {
  -readonly [K in keyof S]: S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

/** camelCase key → its kebab-case flag name (batchSize → batch-size). */
export function flagName(key: string): string {
  expectArgs('flagName', { key }, 'string');
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const describeType: Record<KeyType, string> = {
  int: 'an integer',
  float: 'a number',
  string: 'a string',
  bool: 'true or false',
  enum: 'one of',
  list: 'a list',
};

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return `${JSON.stringify(value)} (a list)`;
  if (value === null) return 'null';
  return `${JSON.stringify(value)} (${typeof value === 'string' ? 'a string' : `a ${typeof value}`})`;
}

/** Why `value` is not valid for `spec`, or undefined when it is. */
function problemWith(spec: KeySpec, value: unknown): string | undefined {
  const range = (v: number, s: IntKey | FloatKey): string | undefined => {
    if (s.min !== undefined && v < s.min) return `must be at least ${s.min}, got ${v}`;
    if (s.max !== undefined && v > s.max) return `must be at most ${s.max}, got ${v}`;
    return undefined;
  };
  switch (spec.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        return `must be an integer, got ${describeValue(value)}`;
      return range(value, spec);
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value))
        return `must be a finite number, got ${describeValue(value)}`;
      return range(value, spec);
    case 'string':
      return typeof value === 'string' ? undefined : `must be a string, got ${describeValue(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${describeValue(value)}`;
    case 'enum':
      return typeof value === 'string' && spec.choices.includes(value)
        ? undefined
        : `must be one of ${spec.choices.join(', ')}, got ${describeValue(value)}`;
    case 'list': {
      if (!Array.isArray(value)) return `must be a list of ${spec.of} values, got ${describeValue(value)}`;
      const element = { type: spec.of, help: '' } as KeySpec;
      for (const [i, v] of value.entries()) {
        const bad = problemWith(element, v);
        if (bad) return `element ${i} ${bad}`;
      }
      return undefined;
    }
  }
}

/** Checks a schema once, where it is defined: key names, defaults, choices. Returns it unchanged. */
export function defineConfig<const S extends ConfigSchema>(schema: S): S {
  expectArgs('defineConfig', { schema }, 'object');
  for (const [key, spec] of Object.entries(schema)) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(key))
      throw new Error(`defineConfig: key '${key}' must be camelCase letters and digits (it becomes --${key})`);
    if (!(spec.type in describeType)) throw new Error(`defineConfig: '${key}' has unknown type '${String(spec.type)}'`);
    if (spec.type === 'enum' && spec.choices.length === 0) throw new Error(`defineConfig: '${key}' has no choices`);
    if (spec.default !== undefined) {
      const bad = problemWith(spec, spec.default);
      if (bad) throw new Error(`defineConfig: the default of '${key}' ${bad}`);
    }
  }
  return schema;
}

/** Levenshtein distance (small strings: key and flag names). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Up to three of `candidates` close to `name` (edit distance, ignoring case, '-' and '_'), best
 * first: what "did you mean" offers.
 */
export function closeMatches(name: string, candidates: readonly string[]): string[] {
  expectArgs('closeMatches', { name }, 'string');
  expectArgs('closeMatches', { candidates }, 'array');
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const target = norm(name);
  return candidates
    .map((c) => {
      const n = norm(c);
      const d = n.includes(target) || target.includes(n) ? Math.abs(n.length - target.length) / 2 : distance(n, target);
      return { c, d };
    })
    .filter(({ d }) => d <= Math.max(2, Math.floor(target.length / 3)))
    .sort((x, y) => x.d - y.d)
    .slice(0, 3)
    .map(({ c }) => c);
}

function unknownKeyMessage(
  where: string,
  key: string,
  valid: readonly string[],
  show = (k: string) => `'${k}'`,
): string {
  const close = closeMatches(key, valid);
  return `${where}unknown key ${show(key)}${close.length ? `; did you mean ${close.map(show).join(' or ')}?` : ''} (valid keys: ${valid.map(show).join(', ')})`;
}

/**
 * A decimal number as written on a command line, or NaN: Number() alone would also take '' and
 * ' ' (as 0), '0x10' and '0b1'.
 */
export function parseDecimal(raw: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
}

/** A value from the command line (a string for lists) as the schema's type, or an Error naming the flag. */
function fromFlag(key: string, spec: KeySpec, raw: unknown): unknown {
  let value = raw;
  if (spec.type === 'list' && typeof raw === 'string') {
    const parts = raw.split(',').map((s) => s.trim());
    value = spec.of === 'string' ? parts : parts.map(parseDecimal);
  }
  const bad = problemWith(spec, value);
  if (bad) throw new ConfigError(`--${flagName(key)} ${bad}`);
  return value;
}

/** A wrong key or value in a config file or on the command line: a usage error. */
export class ConfigError extends Error {}

export interface ResolveConfigOptions {
  /** A JSON file of { key: value } (camelCase keys, as in the schema). */
  file?: string;
  /** Values from a caller (library use), validated like the file's. */
  values?: Record<string, unknown>;
  /** Values given on the command line, by key; lists may still be comma-separated strings. */
  flags?: Record<string, unknown>;
}

/** The config: the schema's defaults ← `file` ← `values` ← `flags`; every key and value checked. */
export function resolveConfig<S extends ConfigSchema>(schema: S, options: ResolveConfigOptions = {}): ConfigOf<S> {
  expectArgs('resolveConfig', { schema }, 'object');
  expectArgs('resolveConfig', { options }, 'options');
  const keys = Object.keys(schema);
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema))
    config[key] = Array.isArray(spec.default) ? [...(spec.default as unknown[])] : spec.default;
  const layer = (values: Record<string, unknown>, where: string): void => {
    for (const [key, value] of Object.entries(values)) {
      const spec = schema[key];
      if (!spec) throw new ConfigError(unknownKeyMessage(where, key, keys));
      const bad = problemWith(spec, value);
      if (bad) throw new ConfigError(`${where}'${key}' ${bad}`);
      config[key] = value;
    }
  };
  if (options.file !== undefined) layer(readConfigFile(options.file), `${options.file}: `);
  if (options.values) layer(options.values, 'config: ');
  for (const [key, raw] of Object.entries(options.flags ?? {})) {
    const spec = schema[key];
    if (!spec) throw new ConfigError(unknownKeyMessage('', key, keys, (k) => `--${flagName(k)}`));
    if (raw !== undefined) config[key] = fromFlag(key, spec, raw);
  }
  return config as ConfigOf<S>;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf-8');
  } catch (error) {
    throw new ConfigError(`--config ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`--config ${file}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(
      `--config ${file}: must hold a JSON object of { "key": value }, got ${describeValue(parsed)}`,
    );
  return parsed as Record<string, unknown>;
}

/** The keys of `schema` that `stage` depends on (see KeySpec.stages), with their values. */
export function stageConfig(
  schema: ConfigSchema,
  config: Record<string, unknown>,
  stage: string,
): Record<string, unknown> {
  expectArgs('stageConfig', { schema, config }, 'object');
  expectArgs('stageConfig', { stage }, 'string');
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema))
    if (!spec.stages || spec.stages.includes(stage)) out[key] = config[key];
  return out;
}

/** The flag declarations of the command-line parser (lib/cli/args.ts) for a schema. */
export function schemaOptions(schema: ConfigSchema): Record<
  string,
  {
    type: 'integer' | 'number' | 'string' | 'boolean';
    description: string;
    default?: string | number | boolean;
    choices?: readonly string[];
  }
> {
  expectArgs('schemaOptions', { schema }, 'object');
  const cliType = {
    int: 'integer',
    float: 'number',
    string: 'string',
    bool: 'boolean',
    enum: 'string',
    list: 'string',
  };
  return Object.fromEntries(
    Object.entries(schema).map(([key, spec]) => [
      flagName(key),
      {
        type: cliType[spec.type] as 'integer' | 'number' | 'string' | 'boolean',
        description: spec.type === 'list' ? `${spec.help} (comma-separated)` : spec.help,
        ...(spec.default !== undefined
          ? {
              default: Array.isArray(spec.default)
                ? spec.default.join(',')
                : (spec.default as string | number | boolean),
            }
          : {}),
        ...(spec.type === 'enum' ? { choices: spec.choices } : {}),
      },
    ]),
  );
}

/** Flag values by flag name (as parsed) → by schema key, keeping only those the user gave. */
export function flagsToKeys(schema: ConfigSchema, options: Record<string, unknown>, given: ReadonlySet<string>) {
  expectArgs('flagsToKeys', { schema, options }, 'object');
  expectArgs('flagsToKeys', { given }, Set);
  const flags: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) if (given.has(flagName(key))) flags[key] = options[flagName(key)];
  return flags;
}
