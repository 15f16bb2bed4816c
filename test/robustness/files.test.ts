// Mutated real files through every reader (files-worker.ts, in a child process so that a crash
// in native code fails this test instead of killing mocha): each read must load or refuse with
// an Error of its own, never crash, hang or fail inside the library.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { distRoot, runCaseWorker, tempDir } from './support.js';

const worker = path.join(distRoot, 'test', 'robustness', 'files-worker.js');

describe('robustness: mutated safetensors, tokenizer.json, CSV, JSON lines, RecBole and checkpoint files', function () {
  this.timeout(300_000);
  let cwd: string;
  before(() => (cwd = tempDir('files')));
  after(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('are loaded or refused with an Error, never a crash, a hang or an engine TypeError', async () => {
    const { cases, failures } = await runCaseWorker(worker, [], cwd);
    for (const c of cases)
      if (c.outcome === 'internal') failures.push(`${c.name} (${c.args}) fails inside the reader: ${c.message}`);
    expect(cases.length).to.be.greaterThan(100);
    const refused = cases.filter((c) => c.outcome === 'threw').length;
    if (process.env.LLMREC_FUZZ_REPORT)
      console.log(
        `      ${JSON.stringify({ cases: cases.length, refused, loaded: cases.length - refused - failures.length })}`,
      );
    expect(refused, 'most mutations must be refused').to.be.greaterThan(cases.length / 4);
    expect(failures, failures.slice(0, 40).join('\n')).to.deep.equal([]);
  });
});
