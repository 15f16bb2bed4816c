// The export fuzz's child process (fuzz-exports.test.ts starts it): calls every function, class
// and static method the package exports, and every Tensor method, with arguments of the wrong
// kind, and prints one JSON line per case. A native crash or a hang kills only this process; the
// parent then restarts it after the case that was running (`node fuzz-worker.js <first case>`).
import * as lib from '../../lib/index.js';
import { runCases } from './case-runner.js';

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

/** Undoes what a case may have set process-wide, so that it cannot change the cases after it. */
function resetGlobals(): void {
  lib.setDefaultDevice('cpu');
  lib.setGradEnabled(true);
}

await runCases(
  fuzzCases().map((c) => ({ name: c.target.name, args: c.args, run: () => c.target.call(c.values()) })),
  {
    after: resetGlobals,
    dispose: (value) => {
      if (value instanceof lib.Tensor) value.dispose();
    },
  },
);
