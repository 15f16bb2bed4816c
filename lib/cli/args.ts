// A small typed argument parser: each command declares its options once, and gets parsing,
// validation and --help from that declaration.
import { closeMatches, parseDecimal } from '../pipelines/config.js';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionSpec {
  type: OptionType;
  description: string;
  default?: string | number | boolean;
  /** Allowed values, for string options. */
  choices?: readonly string[];
  /** One-letter alias, e.g. 'k' for -k. */
  short?: string;
  /** The option may be given several times; its value is the list of them, in order (string options). */
  multiple?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'string'
    ? string
    : number;

export type ParsedOptions<S extends OptionSpecs> = {
  [K in keyof S]: S[K]['multiple'] extends true
    ? string[]
    : S[K]['default'] extends undefined
      ? ValueOf<S[K]> | undefined
      : ValueOf<S[K]>;
};

export interface Command<S extends OptionSpecs = OptionSpecs> {
  name: string;
  summary: string;
  /** Positional arguments, for the usage line, e.g. '<model>'. */
  positionals?: string;
  options: S;
  /** `given` holds the options named on the command line (the others have their defaults). */
  run(options: ParsedOptions<S>, positionals: string[], given: ReadonlySet<string>): Promise<void>;
}

export class UsageError extends Error {}

export function defineCommand<S extends OptionSpecs>(command: Command<S>): Command<S> {
  return command;
}

function convert(name: string, spec: OptionSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new UsageError(`--${name} takes true or false, got '${raw}'`);
    case 'number': {
      const value = parseDecimal(raw);
      if (!Number.isFinite(value)) throw new UsageError(`--${name} takes a number, got '${raw}'`);
      return value;
    }
    case 'integer': {
      const value = parseDecimal(raw);
      if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(value))
        throw new UsageError(`--${name} takes an integer, got '${raw}'`);
      return value;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got '${raw}'`);
      }
      return raw;
  }
}

/** Parses `argv` against `specs`; throws UsageError with a message for the user. */
export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: string[],
): { options: ParsedOptions<S>; positionals: string[]; given: Set<string> } {
  const values: Record<string, string | number | boolean | string[] | undefined> = {};
  // The options the user named (the others hold their defaults): what overrides a config file.
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.multiple ? [] : spec.default;
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(specs).flatMap(([name, spec]) => (spec.short ? [[spec.short, name] as const] : [])),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      if (!(name in specs) && name.startsWith('no-') && specs[name.slice(3)]?.type === 'boolean') {
        values[name.slice(3)] = false;
        given.add(name.slice(3));
        continue;
      }
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      name = byShort.get(arg.slice(1));
      if (name === undefined) throw new UsageError(`unknown option ${arg}`);
    } else {
      positionals.push(arg);
      continue;
    }
    const spec = specs[name];
    if (!spec) {
      const close = closeMatches(name, Object.keys(specs));
      throw new UsageError(
        `unknown option --${name}${close.length ? `; did you mean ${close.map((c) => `--${c}`).join(' or ')}?` : ''}`,
      );
    }
    given.add(name);
    if (spec.type === 'boolean' && inline === undefined) {
      values[name] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    const value = convert(name, spec, raw);
    if (spec.multiple) (values[name] as string[]).push(String(value));
    else values[name] = value;
  }
  return { options: values as ParsedOptions<S>, positionals, given };
}

export function formatHelp(program: string, command: Command): string {
  const lines = [
    `usage: ${program} ${command.name}${command.positionals ? ` ${command.positionals}` : ''} [options]`,
    '',
    command.summary,
    '',
  ];
  const entries = Object.entries(command.options);
  if (entries.length > 0) {
    lines.push('options:');
    const left = entries.map(
      ([name, spec]) =>
        `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'boolean' ? '' : ` <${spec.type}>`}`,
    );
    const width = Math.max(...left.map((l) => l.length));
    entries.forEach(([, spec], i) => {
      const extra = [
        spec.choices ? `one of ${spec.choices.join('|')}` : '',
        spec.multiple ? 'repeatable' : '',
        spec.default !== undefined ? `default ${String(spec.default)}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      lines.push(`  ${left[i]!.padEnd(width)}  ${spec.description}${extra ? ` (${extra})` : ''}`);
    });
  }
  lines.push(`  ${'    --help'.padEnd(0)}  show this help`);
  return lines.join('\n');
}
