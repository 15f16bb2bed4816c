// The CPU kernels' run-time ISA dispatch (AVX2 baseline, AVX-512 where the CPU has it): each path
// against float64 references, and the bits of every result the same for both paths and for any
// thread count. Each configuration runs in a child process, since the ISA and the thread count
// are fixed when the addon loads.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { devices } from '../lib/index.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'cpu-isa-child.js');

interface ChildResult {
  isa: string;
  avx512: boolean;
  worst: number;
  digest: string;
}

function runChild(isa: string | undefined, threads: number, isaOnly = false): ChildResult {
  const env: NodeJS.ProcessEnv = { ...process.env, LLMREC_NUM_THREADS: String(threads) };
  if (isa === undefined) delete env.LLMREC_CPU_ISA;
  else env.LLMREC_CPU_ISA = isa;
  const r = spawnSync(process.execPath, [child, ...(isaOnly ? ['--isa-only'] : [])], {
    encoding: 'utf8',
    env,
    timeout: 300_000,
  });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout.trim()) as ChildResult;
}

/** AVX-512 as the kernels need it (F, BW, DQ, VL), read independently of the addon. */
function cpuinfoHasAvx512(): boolean | undefined {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
    return ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl'].every((f) => flags.includes(f));
  } catch {
    return undefined; // not Linux
  }
}

describe('CPU ISA dispatch', function () {
  this.timeout(600_000);

  it('detects AVX-512 as /proc/cpuinfo reports it and uses it unless LLMREC_CPU_ISA=avx2', function () {
    const expected = cpuinfoHasAvx512();
    if (process.arch !== 'x64' || expected === undefined) this.skip();
    expect(devices().cpu.avx512).to.equal(expected);
    const best = runChild(undefined, 2, true);
    expect(best.isa).to.equal(expected ? 'avx512' : 'avx2');
    const forced = runChild('avx2', 2, true);
    expect(forced.isa).to.equal('avx2');
    expect(forced.avx512).to.equal(expected); // the CPU's report does not change, only the choice
    // Asking for AVX-512 never runs it on a CPU without it.
    expect(runChild('avx512', 2, true).isa).to.equal(expected ? 'avx512' : 'avx2');
  });

  it('GEMM and activations match float64 and are bit-identical across ISAs and thread counts', function () {
    if (process.arch !== 'x64') this.skip();
    const runs = [runChild('avx2', 1), runChild('avx2', 3), runChild(undefined, 1), runChild(undefined, 3)];
    for (const r of runs) expect(r.worst, `${r.isa}: worst relative error`).to.be.below(1e-5);
    expect(runs[0]!.digest).to.match(/^[0-9a-f]{64}$/);
    for (const r of runs.slice(1)) expect(r.digest, `${r.isa}`).to.equal(runs[0]!.digest);
  });
});
