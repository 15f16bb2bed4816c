// scripts/build-native.mjs decides what `npm install` compiles: with LLMREC_CUDA=auto (the
// default) CUDA only for a GPU the NVIDIA driver reports, for that GPU's architecture alone.
// `--plan` prints the decision without building. The driver is stood in for by an `nvidia-smi`
// script on PATH that prints what the real one prints for `--query-gpu=compute_cap,name`.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { packageRoot } from '../lib/binding.js';

interface Plan {
  cuda: string;
  architectures: string;
  line: string;
}

const script = path.join(packageRoot, 'scripts', 'build-native.mjs');

function plan(
  env: Record<string, string | undefined>,
  nvidiaSmi?: string,
): { status: number | null; plan?: Plan; stderr: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llmrec-plan-'));
  try {
    // PATH is that folder alone: without a stand-in, no nvidia-smi is found, as on a machine without the driver.
    if (nvidiaSmi !== undefined) {
      const file = path.join(dir, 'nvidia-smi');
      writeFileSync(file, `#!/bin/sh\n${nvidiaSmi}\n`);
      chmodSync(file, 0o755);
    }
    const childEnv: Record<string, string> = { PATH: dir };
    for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
    const run = spawnSync(process.execPath, [script, '--plan'], { env: childEnv, encoding: 'utf8' });
    return {
      status: run.status,
      stderr: run.stderr,
      ...(run.status === 0 ? { plan: JSON.parse(run.stdout) as Plan } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('build-native.mjs: what npm install compiles', () => {
  it('auto without an NVIDIA driver: the CPU backend alone, and says how to get CUDA', () => {
    const r = plan({});
    expect(r.plan?.cuda).to.equal('off');
    expect(r.plan?.line).to.match(/^CPU backend only: LLMREC_CUDA=auto and no NVIDIA driver/);
    expect(r.plan?.line).to.contain('LLMREC_CUDA=on');
  });

  it('auto where the driver sees no GPU: the CPU backend alone, with the driver message', () => {
    const r = plan({}, 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9');
    expect(r.plan?.cuda).to.equal('off');
    expect(r.plan?.line).to.contain("nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate");
  });

  it("auto with a GPU: CUDA for that GPU's architecture only", () => {
    const r = plan({ LLMREC_CUDA: 'auto' }, "echo '9.0, NVIDIA H200'");
    expect(r.plan?.cuda).to.equal('auto');
    expect(r.plan?.architectures).to.equal('90-real');
    expect(r.plan?.line).to.match(/CUDA for sm_90 only, the GPU found here \(NVIDIA H200/);
  });

  it('auto with two kinds of GPU: each architecture once', () => {
    const r = plan({}, "printf '8.6, NVIDIA RTX A6000\\n9.0, NVIDIA H100\\n8.6, NVIDIA RTX A6000\\n'");
    expect(r.plan?.architectures).to.equal('86-real;90-real');
  });

  it('on: sm_80 + sm_90 + compute_90 PTX whatever the machine has', () => {
    const r = plan({ LLMREC_CUDA: 'on' }, "echo '9.0, NVIDIA H200'");
    expect(r.plan).to.deep.include({ cuda: 'on', architectures: '80-real;90-real;90-virtual' });
    expect(plan({ LLMREC_CUDA: 'ON' }).plan?.architectures).to.equal('80-real;90-real;90-virtual');
  });

  it('on with LLMREC_CUDA_ARCH: the architectures named', () => {
    expect(plan({ LLMREC_CUDA: 'on', LLMREC_CUDA_ARCH: '90' }).plan?.architectures).to.equal('90-real');
    expect(plan({ LLMREC_CUDA: 'on', LLMREC_CUDA_ARCH: '80,90' }).plan?.architectures).to.equal('80-real;90-real');
  });

  it('off: no CUDA even with a GPU', () => {
    expect(plan({ LLMREC_CUDA: 'off' }, "echo '9.0, NVIDIA H200'").plan?.cuda).to.equal('off');
  });

  it('refuses values it cannot use, naming them', () => {
    const bad = plan({ LLMREC_CUDA: 'yes' });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.contain("LLMREC_CUDA must be auto, on or off (got 'yes')");
    const arch = plan({ LLMREC_CUDA: 'on', LLMREC_CUDA_ARCH: 'sm_90' });
    expect(arch.status).to.equal(1);
    expect(arch.stderr).to.contain("LLMREC_CUDA_ARCH must list compute capabilities such as 90 or 80,90 (got 'sm_90')");
    const withoutOn = plan({ LLMREC_CUDA_ARCH: '90' });
    expect(withoutOn.status).to.equal(1);
    expect(withoutOn.stderr).to.contain('LLMREC_CUDA_ARCH needs LLMREC_CUDA=on');
  });
});
