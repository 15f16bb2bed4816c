// A bounded fuzz of every exported function, class, static method and Tensor method with
// arguments of the wrong kind (fuzz-worker.ts), run in a child process so that a native crash
// or a hang fails this test instead of killing mocha. Each call must throw an Error (or return,
// where the kind happens to be valid); it must never crash, hang, throw a non-Error, or end in
// an engine TypeError such as "Cannot read properties of undefined (reading 'native')", which
// says the library never checked the argument.
//
// unchecked-exports.json lists the exports that still end in such engine errors (issue 12 item
// 15, left for their owners). It is a ratchet: an export not on it that regresses fails, and an
// export on it that is fixed fails until it is taken off, so the list only shrinks.
// `npm run test:fuzz-update` rewrites it from a run (for a new export that cannot be fixed now).
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { distRoot, fixtures, runCaseWorker, tempDir, type CaseLine } from './support.js';

const worker = path.join(distRoot, 'test', 'robustness', 'fuzz-worker.js');
const uncheckedFile = path.join(path.dirname(fixtures), 'robustness', 'unchecked-exports.json');

describe('robustness: every export with arguments of the wrong kind', function () {
  this.timeout(300_000);
  let cwd: string;
  before(() => (cwd = tempDir('fuzz'))); // where calls that write files (named 'x'...) write them
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('throws an Error, never crashes, hangs or fails inside the library (the unchecked ratchet aside)', async () => {
    const { cases, failures } = await runCaseWorker(worker, [], cwd);
    expect(cases.length + failures.length).to.be.greaterThan(3000);

    if (process.env.LLMREC_FUZZ_UPDATE) {
      // npm run test:fuzz-update: rewrite the list from this run (review the diff: it should shrink).
      const current = JSON.parse(fs.readFileSync(uncheckedFile, 'utf-8')) as { note: string; exports: string[] };
      const exports = [...new Set(cases.filter((c) => c.outcome === 'internal').map((c) => c.name))].sort();
      fs.writeFileSync(uncheckedFile, `${JSON.stringify({ note: current.note, exports }, null, 2)}\n`);
    }
    const unchecked = JSON.parse(fs.readFileSync(uncheckedFile, 'utf-8')) as { exports: string[] };
    const listed = new Set(unchecked.exports);
    const internal = new Map<string, CaseLine>();
    for (const c of cases) if (c.outcome === 'internal' && !internal.has(c.name)) internal.set(c.name, c);
    for (const [name, c] of internal)
      if (!listed.has(name)) failures.push(`${name}(${c.args}) fails inside the library: ${c.message}`);
    const fixed = [...listed].filter((name) => !internal.has(name));
    if (fixed.length > 0) failures.push(`now checked, take them off unchecked-exports.json: ${fixed.join(', ')}`);

    const counts = { cases: cases.length, threw: 0, returned: 0, internal: 0 };
    for (const c of cases) if (c.outcome in counts) counts[c.outcome as 'threw' | 'returned' | 'internal']++;
    if (process.env.LLMREC_FUZZ_REPORT) console.log(`      ${JSON.stringify({ ...counts, exports: internal.size })}`);
    expect(failures, failures.slice(0, 40).join('\n')).to.deep.equal([]);
  });
});
