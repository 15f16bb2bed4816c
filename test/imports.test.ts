// The import graph of lib/: no module may import, directly or through others, a module that
// imports it back (type-only imports included, which is how lib/tensor.ts ↔ lib/autograd.ts
// crept in). lib/autograd.ts knows tensors through its GradTensor interface and lib/scope.ts
// through Trackable, so the modules below them never name Tensor.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { packageRoot } from '../lib/binding.js';

const libDir = path.join(packageRoot, 'lib');

/** Every .ts file under lib/, relative to lib/ with '/' separators. */
function sources(dir = libDir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')
      ? [path.relative(libDir, full).split(path.sep).join('/')]
      : [];
  });
}

// `import … from './x.js'`, `import type …`, `export … from`, and `import('./x.js')` types.
const specifier =
  /(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources()) {
    const text = readFileSync(path.join(libDir, file), 'utf8');
    const deps = new Set<string>();
    for (const match of text.matchAll(specifier)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), (match[1] ?? match[2])!));
      deps.add(target.replace(/\.js$/, '.ts'));
    }
    graph.set(
      file,
      [...deps].filter((dep) => dep !== file),
    );
  }
  return graph;
}

/** The strongly connected components with more than one module (Tarjan), each sorted. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles
    .map((c) => c.join(' ↔ '))
    .sort()
    .map((c) => c.split(' ↔ '));
}

// Cycles through type-only imports that predate this test. Remove an entry when its cycle goes;
// never add one.
const KNOWN_TYPE_ONLY_CYCLES = [
  ['data/dataset.ts', 'data/log.ts'],
  ['pipelines/registry.ts', 'pipelines/stage.ts'],
];

describe('lib/ import graph', () => {
  const graph = importGraph();

  it('reads the imports of every module', () => {
    expect(graph.size).to.be.greaterThan(100);
    expect(graph.get('tensor.ts')).to.include.members(['autograd.ts', 'binding.ts', 'scope.ts']);
    expect(graph.get('index.ts')).to.include('tensor.ts'); // export … from
  });

  it('finds a cycle, type-only imports included', () => {
    const withCycle = new Map(graph);
    withCycle.set('autograd.ts', [...(graph.get('autograd.ts') ?? []), 'tensor.ts']);
    expect(importCycles(withCycle)).to.deep.include(['autograd.ts', 'tensor.ts']);
  });

  it('has no import cycles beyond the known type-only ones', () => {
    expect(graph.get('autograd.ts'), 'autograd.ts must not import tensor.ts').to.not.include('tensor.ts');
    expect(importCycles(graph)).to.deep.equal(KNOWN_TYPE_ONLY_CYCLES);
  });
});
