// The export fuzz's child process (fuzz-exports.test.ts starts it): calls every function, class
// and static method the package exports, and every Tensor method, with arguments of the wrong
// kind, and prints one JSON line per case. A native crash or a hang kills only this process; the
// parent then restarts it after the case that was running (`node fuzz-worker.js <first case>`).
import * as fs from 'node:fs';

import * as lib from '../../lib/index.js';

/** A value of the wrong kind for nearly every parameter, and how a report shows it. */
const wrongKinds: [string, () => unknown][] = [
  ['undefined', () => undefined],
  ['null', () => null],
  ['42', () => 42],
  ['NaN', () => Number.NaN],
  ["'x'", () => 'x'],
  ['{}', () => ({})],
  ['[]', () => []],
  ['true', () => true],
  ['() => {}', () => () => undefined],
  ['1n', () => 1n],
];

interface Target {
  name: string;
  call: (args: unknown[]) => unknown;
  arity: number;
}

const isClass = (f: unknown): f is new (...a: unknown[]) => unknown =>
  typeof f === 'function' && /^class\b/.test(Function.prototype.toString.call(f));

/** Every callable the package exports, by its dotted name, in a stable order. */
export function exportedTargets(): Target[] {
  const targets: Target[] = [];
  const seen = new Set<unknown>();
  const visit = (prefix: string, object: Record<string, unknown>, depth: number) => {
    for (const key of Object.keys(object).sort()) {
      const value = object[key];
      const name = `${prefix}${key}`;
      if (seen.has(value) && typeof value !== 'function') continue;
      if (typeof value === 'function') {
        const f = value as (...a: unknown[]) => unknown;
        if (isClass(f)) {
          targets.push({ name: `new ${name}`, call: (args) => new f(...args), arity: f.length });
          for (const stat of Object.getOwnPropertyNames(f).sort()) {
            const member = (f as unknown as Record<string, unknown>)[stat];
            if (typeof member === 'function' && !isClass(member))
              targets.push({
                name: `${name}.${stat}`,
                call: (args) => (member as (...a: unknown[]) => unknown).apply(f, args),
                arity: (member as () => void).length,
              });
          }
        } else targets.push({ name, call: (args) => f(...args), arity: f.length });
      } else if (value && typeof value === 'object' && depth < 2 && !ArrayBuffer.isView(value)) {
        seen.add(value);
        visit(`${name}.`, value as Record<string, unknown>, depth + 1);
      }
    }
  };
  visit('', lib as unknown as Record<string, unknown>, 0);
  // Tensor methods on a valid tensor: the arguments are what is wrong.
  for (const method of Object.getOwnPropertyNames(lib.Tensor.prototype).sort()) {
    const descriptor = Object.getOwnPropertyDescriptor(lib.Tensor.prototype, method)!;
    if (method === 'constructor' || typeof descriptor.value !== 'function') continue;
    const f = descriptor.value as (...a: unknown[]) => unknown;
    if (f.length === 0) continue; // nothing to get wrong
    targets.push({
      name: `Tensor#${method}`,
      call: (args) => {
        const t = lib.zeros([2, 3]);
        try {
          return f.apply(t, args);
        } finally {
          t.dispose();
        }
      },
      arity: f.length,
    });
  }
  return targets;
}

export interface FuzzCase {
  target: Target;
  args: string;
  values: () => unknown[];
}

/** Each target with each wrong kind as its first argument, and (two or more parameters) as all of them. */
export function fuzzCases(): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const target of exportedTargets()) {
    const n = Math.min(Math.max(target.arity, 1), 4);
    for (const [shown, make] of wrongKinds) {
      cases.push({ target, args: shown, values: () => [make()] });
      if (n >= 2)
        cases.push({
          target,
          args: Array.from({ length: n }, () => shown).join(', '),
          values: () => Array.from({ length: n }, make),
        });
    }
  }
  return cases;
}

/**
 * An error that shows the library did not check its argument: the engine's own message about a
 * property, call or conversion on a value of the wrong kind.
 */
export const internalError =
  /Cannot read (properties|private member)|Cannot (set|destructure|convert|mix BigInt|create property)|is not (a function|iterable|a constructor|defined)|Invalid (array length|typed array length)|Maximum call stack|Do not know how to serialize|reading '|Class constructor|\bundefined is not\b|\bnull is not\b/;

function classify(error: unknown): { outcome: string; message: string } {
  if (!(error instanceof Error)) return { outcome: 'non-error', message: String(error) };
  return { outcome: internalError.test(error.message) ? 'internal' : 'threw', message: error.message };
}

/** Undoes what a case may have set process-wide, so that it cannot change the cases after it. */
function resetGlobals(): void {
  lib.setDefaultDevice('cpu');
  lib.setGradEnabled(true);
}

async function main(): Promise<void> {
  const first = Number(process.argv[2] ?? 0);
  const cases = fuzzCases();
  const out = (line: object) => fs.writeSync(1, `${JSON.stringify(line)}\n`);
  out({ total: cases.length });
  for (let i = first; i < cases.length; i++) {
    const c = cases[i]!;
    out({ begin: i });
    let result: { outcome: string; message: string };
    try {
      const value = c.target.call(c.values());
      if (value instanceof Promise) {
        result = await Promise.race([
          value.then(
            () => ({ outcome: 'returned', message: '' }),
            (e: unknown) => classify(e),
          ),
          new Promise<{ outcome: string; message: string }>((resolve) =>
            setTimeout(() => resolve({ outcome: 'pending', message: 'still pending after 5 s' }), 5000).unref(),
          ),
        ]);
      } else {
        result = { outcome: 'returned', message: '' };
        if (value instanceof lib.Tensor) value.dispose();
      }
    } catch (error) {
      result = classify(error);
    }
    out({ case: i, name: c.target.name, args: c.args, ...result, message: result.message.slice(0, 300) });
    resetGlobals();
  }
  out({ done: true });
}

// Unhandled rejections from fire-and-forget work count as the case's failure, not a crash.
process.on('unhandledRejection', (e) => fs.writeSync(1, `${JSON.stringify({ unhandled: String(e) })}\n`));
await main();
process.exit(0);
