// Argument checks at the entry of exported functions: one line names the arguments (by object
// shorthand, so the names cannot drift from the parameters) and the kind they must be, and a
// value of the wrong kind becomes an Error that names the function, the argument, what was
// expected and what came, instead of an engine TypeError deep inside ("Cannot read properties
// of undefined"). It depends on nothing, so data/, eval/ and io/ can use it without loading the
// addon; tensors are checked by passing the Tensor class as the kind.
//
//   expectArgs('gatherDot', { table, idx }, Tensor);
//   expectArgs('loadTable', { file }, 'string');
//   expectArgs('loadTable', { options }, 'options');

/** A plain kind, or a class whose instances are expected. */
export type ArgKind =
  | 'object' // a non-null object that is not an array (a config, a record, an instance)
  | 'options' // such an object, or undefined (an optional trailing options argument)
  | 'string'
  | 'number' // not NaN
  | 'integer' // a safe integer
  | 'boolean'
  | 'function'
  | 'array'
  | 'arrayLike' // an array or a typed array (a list of numbers)
  | 'iterable' // an array, Set, Map, generator... (not a string)
  | ClassKind;

/** A class (its constructor may be private: instances come from factory functions). */
export interface ClassKind {
  readonly prototype: unknown;
  readonly name: string;
}

/** What a value is, for messages about an argument of the wrong kind. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name === 'Object' || !name ? 'an object' : `a ${name}`;
  }
  if (typeof value === 'string') return `the string '${value.slice(0, 40)}'`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `bigint ${value}n`;
  return `${typeof value} ${String(value)}`;
}

function describe(kind: ArgKind): string {
  if (typeof kind !== 'string') return `a ${kind.name}`;
  switch (kind) {
    case 'object':
      return 'an object';
    case 'options':
      return 'an options object (or omitted)';
    case 'integer':
      return 'an integer';
    case 'array':
      return 'an array';
    case 'arrayLike':
      return 'an array or a typed array';
    case 'iterable':
      return 'an array or another iterable';
    default:
      return `a ${kind}`;
  }
}

/** Whether `value` is of `kind`. */
export function isKind(value: unknown, kind: ArgKind): boolean {
  if (typeof kind !== 'string') return value instanceof (kind as unknown as abstract new () => unknown);
  switch (kind) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'options':
      return value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value));
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && !Number.isNaN(value);
    case 'integer':
      return Number.isSafeInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'function':
      return typeof value === 'function';
    case 'array':
      return Array.isArray(value);
    case 'arrayLike':
      return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
    case 'iterable':
      return (
        typeof value === 'object' &&
        value !== null &&
        typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'
      );
  }
}

/**
 * Each value of `args` (named by its key) must be of `kind`; otherwise an Error
 * "op: 'name' must be <kind>, got <what came>". Checked in order, so the first wrong one is named.
 */
export function expectArgs(op: string, args: Record<string, unknown>, kind: ArgKind): void {
  for (const name in args)
    if (!isKind(args[name], kind))
      throw new Error(`${op}: '${name}' must be ${describe(kind)}, got ${kindOf(args[name])}`);
}

/** Like expectArgs for one array argument whose every element must be of `kind` (a list of tensors). */
export function expectArrayOf(op: string, args: Record<string, unknown>, kind: ArgKind): void {
  expectArgs(op, args, 'array');
  for (const name in args)
    (args[name] as unknown[]).forEach((element, i) => {
      if (!isKind(element, kind))
        throw new Error(`${op}: '${name}[${i}]' must be ${describe(kind)}, got ${kindOf(element)}`);
    });
}

/**
 * `value` (the argument `name`) must be an object whose listed fields are of the given kinds; an
 * Error names the field as 'name.field'. For records passed whole (metrics, configs, batches).
 */
export function expectFields(op: string, name: string, value: unknown, fields: Record<string, ArgKind>): void {
  expectArgs(op, { [name]: value }, 'object');
  for (const field in fields) {
    const got = (value as Record<string, unknown>)[field];
    if (!isKind(got, fields[field]!))
      throw new Error(`${op}: '${name}.${field}' must be ${describe(fields[field]!)}, got ${kindOf(got)}`);
  }
}
