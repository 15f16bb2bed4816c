// Every typed flag of every command given a value of the wrong form ('', ' ', '0x1', '1.5',
// 'NaN', '1e999', an unknown choice...) must be refused as a usage error (exit code 2) naming
// the flag, before any work starts. Runs cli-worker.ts in a child process.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { distRoot, tempDir } from './support.js';

describe('robustness: command-line flags with values of the wrong form', function () {
  this.timeout(120_000);
  it('are refused with exit code 2 and a message naming the flag', () => {
    const r = spawnSync(process.execPath, [path.join(distRoot, 'test', 'robustness', 'cli-worker.js')], {
      encoding: 'utf8',
      cwd: tempDir('cli'),
      timeout: 100_000,
    });
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"'))
      .map((l) => JSON.parse(l) as { argv?: string[]; code?: number; stderr?: string; done?: boolean });
    expect(lines.at(-1)?.done, `the worker did not finish (${r.status} ${r.signal}): ${r.stderr}`).to.equal(true);
    const cases = lines.filter((l) => l.argv);
    expect(cases.length).to.be.greaterThan(100);
    const failures = cases
      .filter((c) => {
        const flag = c.argv![1]!.replace(/=.*$/, '');
        return c.code !== 2 || !c.stderr!.includes(flag) || c.stderr!.split('\n').filter(Boolean).length !== 2;
      })
      .map((c) => `llmrec ${c.argv!.map((a) => JSON.stringify(a)).join(' ')} → ${c.code}: ${c.stderr}`);
    if (process.env.LLMREC_FUZZ_REPORT) console.log(`      ${cases.length} flag cases`);
    expect(failures, failures.slice(0, 20).join('\n')).to.deep.equal([]);
  });
});
